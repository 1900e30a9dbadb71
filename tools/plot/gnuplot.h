/* gnuplot.h: a plot job: a folder holding plot.gp and its data files,
 * gnuplot run there, the figure copied to -o through cli_out so that it
 * appears whole or not at all. Error rule: EXITS (cli_die) on failure; a job
 * that dies still removes its temporary folder. */
#ifndef LS_GNUPLOT_H
#define LS_GNUPLOT_H

#include <stdio.h>

typedef struct {
	const char *format;      /* png, svg, pdf */
	const char *script_dir;  /* write the script and data there instead of running */
	int width, height;       /* pixels; 0: the figure's own */
} gp_opts;

typedef struct {
	const gp_opts *o;
	char *dir;               /* where the script and data go */
	int temp;                /* dir is ours to remove */
	FILE *gp;                /* the script */
	int nfiles;
	char **files;            /* data files written, relative to dir */
} plot_job;

/* png, svg or pdf; dies (usage) on anything else */
const char *gp_format(const gp_opts *o);
/* Opens the script with the terminal set up for w x h pixels (0 = the options'). */
void job_start(plot_job *j, const gp_opts *o, int w, int h);
/* A new data file NAME in the job's folder, for writing. */
FILE *job_data(plot_job *j, const char *name);
void job_data_close(plot_job *j, FILE *fp);
/* A gnuplot string literal, escaped, noenhanced. */
void gp_str(FILE *gp, const char *s);
/* Runs gnuplot (or leaves the script), the image to out ("-" = stdout). */
void job_finish(plot_job *j, const char *out);

extern const char *const plot_colors[8];

#endif
