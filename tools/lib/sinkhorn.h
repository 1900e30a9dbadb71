/* sinkhorn.h: entropic optimal transport between histograms on K bins that
 * share one K x K cost (contract section 7; docs/sinkhorn.md). No file I/O,
 * nothing exits or prints; allocation failures return -1.
 *
 * Error rule: returns -1/NULL (out of memory); never exits or prints.
 *
 * OT_eps(a,b) = min over plans T with marginals a, b of
 *               <T,C> + eps * sum T_ij (log T_ij - 1).
 * Losses: SK_DIVERGENCE 2 OT(a,b) - OT(a,a) - OT(b,b); SK_ENTROPIC OT(a,b);
 * SK_TRANSPORT <T*,C> at the optimal plan (POT's ot.sinkhorn2).
 *
 * Values are evaluated from the dual potentials (f, g) of the KL form:
 * T_ij = a_i b_j exp((f_i + g_j - C_ij)/eps) and
 * OT_KL = <a,f> + <b,g> - eps (sum T - 1), which differs from OT_eps by
 * eps (<a,log a> + <b,log b> - 1) (0 log 0 = 0); the difference cancels in
 * the divergence. Zero bins are exact: they carry no mass and no term.
 *
 * Three solvers: sk_ref_ot, a plain float64 log-domain Sinkhorn (log-sum-exp
 * per entry) for one problem; sk_newton_ot, a damped Newton method on the
 * semi-dual in the log domain for one problem, which converges in a few
 * dozen steps where Sinkhorn needs O(1/eps) iterations or more; and
 * sk_batch, which iterates blocks of problems as matrix products with the
 * shared kernel exp(-C/eps) (OpenBLAS dgemm), over-relaxes the updates (a
 * problem whose error rises goes back to plain Sinkhorn), refills a slot as
 * soon as its problem converges, and hands a problem to Newton, warm, when
 * its rate is slow, or cold when its scalings leave the float64 range or
 * when one of its supports is small (2..K/16 bins: Newton is cheaper). */
#ifndef LS_SINKHORN_H
#define LS_SINKHORN_H

#include <stdint.h>
#include <stddef.h>

typedef enum { SK_DIVERGENCE, SK_ENTROPIC, SK_TRANSPORT } sk_loss;

typedef struct {
	double eps;        /* 0.01 */
	double tol;        /* 1e-6: stop when ||T 1 - a||_1 + ||T^T 1 - b||_1 <= tol */
	int max_iter;      /* 1000 (one iteration updates both scalings) */
	sk_loss loss;      /* SK_DIVERGENCE */
	int threads;       /* 1 */
	int block;         /* problems iterated together per thread: 256 */
	double omega;      /* over-relaxation of the batched pair iteration, in [1,2): 1.5 */
	int no_simd;       /* 1: plain loops instead of AVX2 for the per-entry steps: 0 */
	/* sk_batch hands a problem to Newton (from its potentials, within the
	 * same max_iter) when its rate, measured every 8 iterations from the
	 * 16th, predicts more than newton_after further iterations, or after 8 x
	 * newton_after: 32. 0: Sinkhorn only, up to max_iter, and the plain
	 * reference for a problem whose scalings leave the float64 range (the
	 * solver before issue 16) */
	int newton_after;
	/* NULL, or called (from one thread at a time) with the rows of the last
	 * pass started so far, out of n */
	void (*progress)(void *ctx, int64_t done);
	void *progress_ctx;
} sk_params;

void sk_params_default(sk_params *p);

/* problems by iterations: bins 0..63 exact, then 8 per octave */
#define SK_HIST_BINS 256

typedef struct {
	int64_t problems;     /* OT problems solved: pairs, OT(a,a), distinct OT(b,b) */
	int64_t unconverged;  /* of those, stopped by max_iter */
	int64_t fallback;     /* of those, finished in the log domain (Newton, or the reference) */
	int64_t iterations;   /* summed over problems: Sinkhorn iterations + Newton trial steps */
	int64_t newton_iterations;  /* the Newton part of that sum */
	int64_t max_iterations;     /* the most one problem took */
	int64_t hist[SK_HIST_BINS]; /* problems by iterations (sk_stats_quantile) */
	double flops;         /* in the kernel products of the batched path */
	double worst_err;     /* largest final marginal error */
} sk_stats;

/* The q-quantile (0..1) of iterations per problem over st (exact up to 63,
 * else the lower edge of its bin, at most 12.5% below); 0 when there are none. */
int64_t sk_stats_quantile(const sk_stats *st, double q);
/* Adds the counts of src into dst. */
void sk_stats_merge(sk_stats *dst, const sk_stats *src);

/* ---- costs: row-major k x k, float64 ---- */
/* 1 - I */
double *sk_cost_uniform(int k);
/* ||e_i - e_j||^p for e [k,d] */
double *sk_cost_embed(const float *e, int k, int d, double p);
/* Divides by the largest entry; returns -1 (and leaves c) when all are 0. */
int sk_cost_normalize(double *c, int k);
/* 0 when every entry is finite and >= 0; else -1 with *at = the first bad index */
int sk_cost_check(const double *c, int k, int64_t *at);
int sk_cost_symmetric(const double *c, int k);

/* ---- histograms ---- */
/* The first entry of x[n,k] that is negative or not finite: its index, or -1. */
int64_t sk_hist_bad(const float *x, int64_t n, int k);
/* out = x / sum x; returns the sum (0: empty row, out untouched). */
double sk_hist_normalize(const float *x, int k, double *out);

/* ---- the plain reference: one problem, log domain, float64 ----
 * a, b normalised. Alternates g = -eps LSE_i(log a_i + (f_i - C_ij)/eps),
 * f = -eps LSE_j(log b_j + (g_j - C_ij)/eps) over the supports. */
typedef struct {
	double entropic;   /* OT_eps(a,b), the contract's convention */
	double kl;         /* OT_KL(a,b): the dual value */
	double transport;  /* <T,C> */
	double err;        /* final marginal error */
	int iters;
	int converged;
} sk_result;
int sk_ref_ot(const double *a, const double *b, const double *c, int k, double eps, double tol,
	      int max_iter, sk_result *r);
/* Newton's method on the semi-dual, log domain, float64, cold start: the same
 * problem and result as sk_ref_ot (iters counts trial steps); max_iter caps
 * them. Each step solves the K x K (at most) Newton system of a graph
 * Laplacian, damped Levenberg-Marquardt style (docs/sinkhorn.md). */
int sk_newton_ot(const double *a, const double *b, const double *c, int k, double eps, double tol,
		 int max_iter, sk_result *r);
/* The loss of p for one pair with the reference solver (three solves for the
 * divergence); stats accumulated into st when not NULL. */
int sk_ref_loss(const double *a, const double *b, const double *c, int k, const sk_params *p,
		double *loss, sk_stats *st);

/* ---- the fast batched path ----
 * n problems: source rows src[n,k] (raw histograms, normalised here),
 * problem i against target row tgt[i % nt] (so [L,N,K] against [N,K]
 * broadcasts). Rows must pass sk_hist_bad; an empty source or target row
 * gives NaN. out[n] receives the loss. Returns 0, or -1 when out of memory. */
int sk_batch(const sk_params *p, const double *c, int k, int64_t n, const float *src, int64_t nt,
	     const float *tgt, double *out, sk_stats *st);

/* ---- other measures on a = src/sum, b = tgt/sum ---- */
/* max|a-b|; Jensen-Shannon in nats; KL(b||a) (inf where b > 0 = a); 0.5 ||a-b||_1 */
void sk_measures(const double *a, const double *b, int k, double out[4]);
/* For each problem as in sk_batch, the measures into out[m][i]
 * (m = 0 chebyshev, 1 js, 2 kl, 3 tv; NULL arrays skipped). Empty rows give NaN. */
int sk_measure_batch(int k, int64_t n, const float *src, int64_t nt, const float *tgt,
		     double *out[4]);

#endif
