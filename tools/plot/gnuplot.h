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

/* at most this many files in a job, with names of at most 31 bytes */
enum { JOB_MAX_FILES = 64, JOB_NAME_LEN = 32 };

typedef struct {
	const gp_opts *o;
	char *dir;               /* where the script and data go */
	int temp;                /* dir is ours to remove */
	int dirfd;               /* dir, open: a failing run removes the files through it */
	FILE *gp;                /* the script */
	int nfiles;
	char files[JOB_MAX_FILES][JOB_NAME_LEN];   /* written so far, relative to dir */
} plot_job;

/* png, svg or pdf; dies (usage) on anything else */
const char *gp_format(const gp_opts *o);
/* Opens the script with the terminal set up for w x h pixels (0 = the options'). */
void job_start(plot_job *j, const gp_opts *o, int w, int h);
/* A new data file NAME in the job's folder, for writing. */
FILE *job_data(plot_job *j, const char *name);
void job_data_close(plot_job *j, FILE *fp);
/* Any string from the inputs or the command line goes into the script only
 * through gp_str: a literal gnuplot reads as text, whatever it holds
 * (backquotes, @macros, quotes, backslashes, newlines). */
void gp_str(FILE *gp, const char *s);
/* A string as one field of a tab-separated data file: tabs, newlines and
 * other control characters become spaces and double quotes (gnuplot's
 * quoting in data) single ones, so the columns stay in place. Data fields
 * are never interpreted as commands; the figures draw text from the script
 * (gp_str), the data's name column is for a reader of --script's files. */
void gp_datum(FILE *fp, const char *s);
/* Runs gnuplot (or leaves the script), the image to out ("-" = stdout). */
void job_finish(plot_job *j, const char *out);

extern const char *const plot_colors[8];

#endif
