/* The iteration distribution of sk_batch on the benchmark's problems, for
 * bench/sinkhorn.py (bin/sinkhorn prints only the mean): every problem the
 * loss needs, with the library's defaults but for the options given.
 *
 *   sinkhorn_iters K N NT LOSS EPS MAX_ITER NEWTON_AFTER THREADS COST SRC TGT
 *
 * COST: K*K float64, SRC: N*K float32, TGT: NT*K float32, raw little-endian
 * (numpy's tofile). NEWTON_AFTER -1: every pair by sk_newton_ot alone, one
 * thread (LOSS transport only), to compare with the batch. Prints one line:
 *   "problems P unconverged U worst_err E median M p99 Q max X newton_problems
 *    B newton_steps S mean A seconds T" */
#include "sinkhorn.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void die(const char *what)
{
	fprintf(stderr, "sinkhorn_iters: %s\n", what);
	exit(1);
}

static void *load(const char *path, size_t bytes)
{
	FILE *f = fopen(path, "rb");
	void *p = malloc(bytes ? bytes : 1);
	if (!f || !p || fread(p, 1, bytes, f) != bytes)
		die(path);
	fclose(f);
	return p;
}

/* every pair by Newton alone: the counts into st, each problem's iterations into its */
static void newton_pairs(const sk_params *p, const double *c, int k, long n, const float *src, long nt,
			 const float *tgt, sk_stats *st, int *its)
{
	double *a = malloc(sizeof *a * k), *b = malloc(sizeof *b * k);
	if (!a || !b || p->loss != SK_TRANSPORT)
		die("NEWTON_AFTER -1: out of memory, or LOSS is not transport");
	for (long i = 0; i < n; i++) {
		sk_result r;
		if (sk_hist_normalize(src + i * k, k, a) <= 0 || sk_hist_normalize(tgt + (i % nt) * k, k, b) <= 0)
			continue;
		if (sk_newton_ot(a, b, c, k, p->eps, p->tol, p->max_iter, &r))
			die("out of memory");
		its[st->problems++] = r.iters;
		st->unconverged += !r.converged;
		st->fallback++;
		st->iterations += r.iters;
		st->newton_iterations += r.iters;
		if (r.iters > st->max_iterations)
			st->max_iterations = r.iters;
		if (r.err > st->worst_err)
			st->worst_err = r.err;
	}
	free(a);
	free(b);
}

static int cmp_int(const void *a, const void *b)
{
	return (*(const int *)a > *(const int *)b) - (*(const int *)a < *(const int *)b);
}

/* the library's histogram, or the sorted iterations of Newton alone */
static long long quantile(const sk_stats *st, const int *its, double q)
{
	if (!its)
		return (long long)sk_stats_quantile(st, q);
	long i = (long)ceil(q * (double)st->problems) - 1;
	return st->problems ? its[i < 0 ? 0 : i] : 0;
}

int main(int argc, char **argv)
{
	if (argc != 12)
		die("usage: K N NT LOSS EPS MAX_ITER NEWTON_AFTER THREADS COST SRC TGT");
	const int k = atoi(argv[1]);
	const long n = atol(argv[2]), nt = atol(argv[3]);
	sk_params p;
	sk_params_default(&p);
	p.loss = strcmp(argv[4], "transport") == 0 ? SK_TRANSPORT :
		 strcmp(argv[4], "entropic") == 0 ? SK_ENTROPIC : SK_DIVERGENCE;
	p.eps = atof(argv[5]);
	p.max_iter = atoi(argv[6]);
	p.newton_after = atoi(argv[7]);
	p.threads = atoi(argv[8]);
	if (k < 1 || n < 1 || nt < 1)
		die("bad sizes");
	double *c = load(argv[9], sizeof(double) * k * k);
	float *src = load(argv[10], sizeof(float) * n * k), *tgt = load(argv[11], sizeof(float) * nt * k);
	double *out = malloc(sizeof *out * n);
	int *its = NULL;
	sk_stats st;
	memset(&st, 0, sizeof st);
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (!out)
		die("out of memory");
	if (p.newton_after >= 0) {
		if (sk_batch(&p, c, k, n, src, nt, tgt, out, &st))
			die("out of memory");
	} else {
		its = malloc(sizeof *its * n);
		if (!its)
			die("out of memory");
		newton_pairs(&p, c, k, n, src, nt, tgt, &st, its);
		qsort(its, (size_t)st.problems, sizeof *its, cmp_int);
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	/* Newton's problems: those whose iterations include Newton steps; the
	 * stats count them as finished in the log domain */
	printf("problems %lld unconverged %lld worst_err %.3g median %lld p99 %lld max %lld "
	       "newton_problems %lld newton_steps %lld mean %.3g seconds %.3f\n",
	       (long long)st.problems, (long long)st.unconverged, st.worst_err,
	       (long long)quantile(&st, its, 0.5), (long long)quantile(&st, its, 0.99),
	       (long long)st.max_iterations, (long long)st.fallback, (long long)st.newton_iterations,
	       st.problems ? (double)st.iterations / (double)st.problems : 0.0,
	       (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec));
	free(c);
	free(src);
	free(tgt);
	free(out);
	free(its);
	return 0;
}
