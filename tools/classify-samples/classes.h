/* classes.h: the pieces of classify-samples (docs/classify-samples.md): the
 * two rules and the per-sample profile figures (rules.c), the Markdown
 * summary (summary.c); classify-samples.c is the front end.
 *
 * Error rule: EXITS (cli_die) on bad input or when memory runs out, like
 * the command-line layer it belongs to. */
#ifndef LS_CLASSES_H
#define LS_CLASSES_H

#include <stdint.h>
#include "names.h"
#include "study.h"
#include "shard.h"

typedef enum { RULE_PAPER, RULE_QUANTILE } rule_id;

typedef struct {
	const char *prob_path;   /* NULL: prob from INPUT */
	const char *distance;    /* "wdist" */
	const char *split;       /* "all" */
	const char *summary;     /* NULL: no Markdown summary */
	const char *rule;        /* "paper" or "quantile" */
	/* the paper's rule */
	double near;             /* -1: close = right (subset accuracy); else W <= near */
	int early, late;         /* -1: round((L-1)/3), round(3(L-1)/4) */
	/* the quantile rule */
	double q_easy, q_hard, q_confused;   /* 0.25, 0.75, 0.9 */
	double t_easy, t_hard, t_confused;   /* -1: from the quantiles */
	double rise_tol;         /* 0.01: a rise of the profile counts above this */
	int examples;            /* 8 */
	const char *shard;       /* "I/N": only block I of N of the rows written; NULL: all */
	shard_spec block;        /* from shard */
} options;

typedef struct {
	study s;
	rule_id rule;
	float *w;                /* [L,N] distance profile */
	double *area, *final;    /* [N]: mean over layers, last layer */
	int32_t *first, *stay;   /* [N]: first layer close, first layer from which close to the end (L: none) */
	int32_t *rises;          /* [N]: layers whose distance rises by more than rise_tol */
	uint8_t *cat, *destructive;
	int32_t *depth;
	int64_t *rows, nrows;    /* the --split rows */
	int early, late;         /* the paper's rule's layers */
	double t[CAT_N];         /* the quantile rule's thresholds: [CAT_EASY], [CAT_HARD], [CAT_CONFUSED] */
	double *layer_mean;      /* [3,L]: mean distance per split and layer (NaN: no row) */
	int64_t split_rows[3];
} classes;

/* rules.c */
/* A, F, depth, destructive, rises, layer means; then the categories. */
void classify_all(classes *c, const options *o);
/* [CAT_N,L] mean distance per category over the --split rows; count[k] the rows */
double *category_profile(const classes *c, int64_t count[CAT_N]);
/* [CAT_N,E] row numbers, the most typical first, -1 where fewer */
int64_t *category_examples(const classes *c, int E);
/* 1 when row i has a usable profile (no NaN) */
int classes_has_profile(const classes *c, int64_t i);

/* summary.c */
void write_summary(const options *o, const classes *c, const double *prof, const int64_t count[CAT_N],
		   const int64_t *ex);

#endif
