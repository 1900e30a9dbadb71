/* plot.h: the study's figures (docs/plot.md): each kind's data and script,
 * drawn through a gnuplot job (gnuplot.h). Error rule: EXITS (cli_die) on
 * bad input. */
#ifndef LS_PLOT_H
#define LS_PLOT_H

#include <stdint.h>
#include "gnuplot.h"

typedef struct {
	gp_opts gp;              /* format, script folder, size */
	const char *title;
	const char *tensor;      /* the distance tensor: wdist */
	const char *names;       /* comma-separated run names */
	const char *layers;      /* layers for `sample`/`categories`: "0,4,8" */
	const char *prob_path, *images_path, *dataset, *split;
	const char *checkpoints; /* sample-epochs: checkpoint indices "0,5,18" */
	int sample, example;
} plot_opts;

/* One figure kind: draw writes its job from the positional inputs
 * files[0..n-1]; max_inputs is how many it takes (1 or up to 8). */
typedef struct {
	const char *kind;
	void (*draw)(plot_job *j, const plot_opts *o, char **files, int n);
	int max_inputs;
} figure;
extern const figure figures[];
extern const int nfigures;

#endif
