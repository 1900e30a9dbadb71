/* exit.h: the pieces of early-exit (docs/early-exit.md): the grid of
 * (q, gamma), the rules and what each costs and scores on the tune and eval
 * splits (rules.c), the Pareto front, budgets and the bootstrap (tradeoff.c),
 * the Markdown report (report.c). early-exit.c is the front end.
 *
 * Error rule: EXITS (cli_die) on bad input or when memory runs out, like
 * the command-line layer it belongs to. */
#ifndef LS_EXIT_H
#define LS_EXIT_H

#include <stdint.h>
#include "study.h"

/* The grid: q from 0.5 in steps, below 1, then 0.99, 0.999, 0.9999 (every
 * float32 probability above the top q is resolved: saturation at 1.0f needs
 * a logit above 16.6, q = 0.9999 is a logit of 9.2); gamma from 0.5 in
 * steps up to 1. At most EXIT_GRID_MAX values per axis. */
enum { EXIT_GRID_MAX = 101 };
#define EXIT_STEP_MIN 0.005
#define EXIT_Q_MAX 0.999999   /* a fixed --q above this is decided by float32 rounding */
typedef struct {
	double q[EXIT_GRID_MAX + 3], gamma[EXIT_GRID_MAX];
	int nq, ng;
	int q_fixed, gamma_fixed;
} exit_grid;

/* Fills g from the step (EXIT_STEP_MIN..0.5) and the fixed values (< 0: searched). */
void exit_grid_make(exit_grid *g, double step, double q, double gamma);

/* A rule: layer -1 = the cascade over every layer; 0..L-2 = the paper's one
 * selected layer (exit there when the rule holds, else at the head);
 * L-1 = no exit (the head alone; q and gamma NaN). */
enum { EXIT_CASCADE = -1 };
enum { EXIT_TUNE, EXIT_EVAL };
typedef struct {
	double q, gamma;
	int layer;
	double cost[2], acc[2];   /* mean relative cost and subset accuracy on tune, eval */
	double objective;         /* the --objective on the tune split */
} exit_rule;

typedef struct {
	const study *s;
	uint8_t *correct;        /* [L,N]: subset-correct at layer l */
	/* relative cost (the whole network = 1): backbone[l] of running the
	 * network up to tap l (backbone[L-1] = 1), probe[l] of layer l's probe
	 * (K*D multiply-adds over the network's; 0 without probe weights).
	 * Without layer_flops, backbone[l] = (l+1)/L and probe = 0. */
	double *backbone, *probe;
	int have_flops, have_probes;
	int objective;           /* MT_* */
	int64_t *rows[2], n[2];  /* the tune and eval rows */
} exit_ctx;

/* rules.c */
void exit_costs(exit_ctx *c);
/* The cost of one row exiting at e under a rule of the given layer. */
double exit_row_cost(const exit_ctx *c, int layer, int e);
/* Every row's exit layer under rule r, through metrics_exit_rule (the plain
 * reference; the search's counting must agree with it). */
void exit_apply(const exit_ctx *c, const exit_rule *r, int32_t *ex);
/* The no-exit rule, scored. */
exit_rule exit_head_rule(const exit_ctx *c);
/* Every rule of the grid, each scored on both splits: the head alone first,
 * then for each q (outer) and gamma (inner) the cascade (when cascade) and
 * one selected layer for each layer in [from, to] (none when to < from). */
exit_rule *exit_search(const exit_ctx *c, const exit_grid *g, int cascade, int from, int to, int *nrules);
/* Index of the best rule among r[0..n-1] that pass keep (NULL: all): the
 * highest objective, then the lowest tune cost, then the first; -1 if none. */
int exit_best(const exit_rule *r, int n, int (*keep)(const exit_rule *, int L), int L);
/* The oracle: each eval row exits at the first layer right, else at the
 * head, cascade costs; its accuracy is the ideal accuracy. */
void exit_oracle(const exit_ctx *c, double *cost, double *acc);

/* tradeoff.c */
/* Indices of the Pareto front on the tune split (no rule with lower or equal
 * tune cost has a higher or equal tune accuracy), by increasing cost. */
int *exit_pareto(const exit_rule *r, int n, int *np);
typedef struct {
	double diff, lo, hi;     /* accuracy(rule) - accuracy(head) on eval, 95% interval */
	int64_t rescued, broken; /* eval rows right only with the rule / only at the head */
} exit_boot;
/* Paired bootstrap over the eval rows: B resamples with replacement, row
 * index = SplitMix64(seed) mod n, the 2.5% and 97.5% quantiles (numpy's
 * linear) of the resampled differences. B = 0: the interval is NaN. */
exit_boot exit_bootstrap(const exit_ctx *c, const int32_t *ex, int B, uint64_t seed);

/* ---- what the outputs and the report show ---- */

typedef struct {
	int64_t n, wrong_last;           /* eval rows, those wrong at the last layer */
	int64_t *first_right, *right;    /* [L], among the rows wrong at the last layer */
} exit_overthinking;

/* the rules the report compares: the head alone, the chosen rule (best
 * overall, the head included), the best cascade, the best one-layer rule */
enum { PICK_HEAD, PICK_CHOSEN, PICK_CASCADE, PICK_LAYER, PICK_N };
extern const char *const exit_pick_names[PICK_N];

typedef struct {
	exit_rule *rules;
	int nrules;
	int pick[PICK_N];             /* indices into rules; -1: that variant was not searched */
	exit_boot boot[PICK_N];
	int *front, nfront;           /* the tune split's Pareto front, by cost */
	double oracle_cost, oracle_acc;
	exit_grid grid;
	double (*met)[3][MT_NSCORES]; /* [L+1] layers then the chosen rule; train, val, test */
	exit_overthinking ot;
	int32_t *ex;                  /* [N] exits of the chosen rule */
	double *exit_share;           /* [L] of the chosen rule, eval rows */
	int bootstrap;                /* resamples */
	uint64_t seed;
	const char *tune, *eval;      /* split names */
} exit_result;

/* "q" / "gamma" / "q and gamma" when r's winner lies on the grid's open
 * edge (q at its top, gamma at 0.5, where the best may lie beyond), else NULL */
const char *exit_grid_edge(const exit_grid *g, const exit_rule *r, int L);
/* "cascade", "layer NAME", "head alone" into buf */
const char *exit_rule_name(const study *s, const exit_rule *r, char *buf, size_t n);

/* report.c: the Markdown report (--report) */
void exit_write_report(const char *path, const exit_ctx *c, const exit_result *x);

#endif
