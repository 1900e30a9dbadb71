/* figures.h: what the figure files share (figures.c defines these; the
 * kinds across a backbone's training are in figures_training.c), and the
 * draw functions each file lends to the table of kinds. Error rule: EXITS
 * (cli_die) on bad input. */
#ifndef LS_FIGURES_H
#define LS_FIGURES_H

#include <stdint.h>
#include <stdio.h>
#include "plot.h"
#include "study.h"

/* per-layer mean and quartiles of w [L,N] over rows (all N when rows is NULL; NaN skipped) */
void layer_stats(const float *w, int L, int64_t N, const int64_t *rows, int64_t nrows,
		 double *mean, double *q1, double *q3);
/* data file NAME with the columns x, mean, q1, q3 */
void write_stats(plot_job *j, const char *name, int L, const double *x, const double *mean,
		 const double *q1, const double *q3);
/* band + mean line of write_stats' file NAME, in colour number color */
void plot_band(FILE *gp, const char *name, const char *title, int color, int first);
/* --title, else fallback */
void gp_title(FILE *gp, const plot_opts *o, const char *fallback);
/* the i-th of --names, else metadata arch, else the file name; caller frees */
char *run_name(const plot_opts *o, int i, const study *s, const char *path);
/* xtics at 0..n-1 named by name(s, i), every step-th, as script literals */
void named_tics(FILE *gp, const study *s, int n, int step,
		const char *(*name)(const study *s, int i, char buf[32]));
/* the rows of --split (dies when there are none) */
int64_t *split_rows(const plot_opts *o, const study *s, int64_t *n);
/* label k's name, or "label k" */
const char *label_name(const study *s, int k, char buf[32]);
/* "sample I ID, labels: A B" */
void sample_caption(const study *s, int64_t i, char *out, size_t n);
/* metadata KEY as exactly want numbers, else NULL; caller frees */
double *number_list(const study *s, const char *key, int want);
/* OPTION's comma-separated indices 0..n-1 (at most max) into out; the count (>= 1) */
int parse_indices(const char *option, const char *spec, int n, int *out, int max);

/* figures.c: the probe-training view (snapshots of train-probe) */
void fig_probe_epochs(plot_job *j, const plot_opts *o, char **files, int n);
void fig_probe_adjacent(plot_job *j, const plot_opts *o, char **files, int n);
/* figures_training.c: across the backbone's training (epochs and adjacent
 * fall back to the probe-training view for a file without wdist_train) */
void fig_train_epochs(plot_job *j, const plot_opts *o, char **files, int n);
void fig_train_adjacent(plot_job *j, const plot_opts *o, char **files, int n);
void fig_sample_epochs(plot_job *j, const plot_opts *o, char **files, int n);
void fig_bn_drift(plot_job *j, const plot_opts *o, char **files, int n);
void fig_resplit(plot_job *j, const plot_opts *o, char **files, int n);

#endif
