/* plot.h: the figures of the study through gnuplot (docs/plot.md).
 * plot.c runs a job (script + data files in a folder, gnuplot, the image to
 * -o); figures.c writes each kind's data and script. */
#ifndef LS_PLOT_H
#define LS_PLOT_H

#include <stdio.h>
#include <stdint.h>
#include "study.h"

typedef struct {
	const char *format;      /* png, svg, pdf */
	const char *script_dir;  /* write the script and data there instead of running */
	const char *title;
	const char *tensor;      /* the distance tensor: wdist */
	const char *names;       /* comma-separated run names */
	const char *layers;      /* layers for `sample`/`categories`: "0,4,8" */
	const char *prob_path, *images_path, *dataset, *split;
	int sample, example, width, height;
} plot_opts;

typedef struct {
	const plot_opts *o;
	char *dir;               /* where the script and data go */
	int temp;                /* dir is ours to remove */
	FILE *gp;                /* the script */
	int nfiles;
	char **files;            /* data files written, relative to dir */
} plot_job;

/* Opens the script with the terminal set up for w x h pixels (0 = the options'). */
void job_start(plot_job *j, const plot_opts *o, int w, int h);
/* A new data file NAME in the job's folder, for writing. */
FILE *job_data(plot_job *j, const char *name);
void job_data_close(plot_job *j, FILE *fp);
/* A gnuplot string literal, escaped, noenhanced. */
void gp_str(FILE *gp, const char *s);
/* Runs gnuplot (or leaves the script), the image to out ("-" = stdout). */
void job_finish(plot_job *j, const char *out);

/* the figures: files are the positional inputs */
void fig_layers(plot_job *j, const plot_opts *o, char **files, int n);
void fig_sample(plot_job *j, const plot_opts *o, char **files, int n);
void fig_epochs(plot_job *j, const plot_opts *o, char **files, int n, int adjacent);
void fig_measures(plot_job *j, const plot_opts *o, char **files, int n);
void fig_overthinking(plot_job *j, const plot_opts *o, char **files, int n);
void fig_categories(plot_job *j, const plot_opts *o, char **files, int n);

/* per-layer mean and quartiles of w [L,N] over rows (NaN skipped) */
void layer_stats(const float *w, int L, int64_t N, const int64_t *rows, int64_t nrows,
		 double *mean, double *q1, double *q3);
extern const char *const plot_colors[8];

#endif
