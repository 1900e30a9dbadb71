/* sinkhorn unit driver: reads problems as text on stdin, prints the
 * reference and the batched results of every loss for the sinkhorn tests
 * to hold against POT.
 *
 * stdin:  k eps tol max_iter n nt threads block
 *         C (k*k numbers), src (n*k), tgt (nt*k)
 * stdout: "<solver> <loss> v_1 .. v_n" for solver ref|batch|plain (the batched
 *         path with plain loops instead of AVX2) and loss
 *         divergence|entropic|transport; "stats <loss> problems unconverged
 *         fallback iterations worst_err" for the batched runs;
 *         "measures <m> v_1 .. v_n" for chebyshev, js, kl, tv. */
#include <stdio.h>
#include <math.h>
#include <stdlib.h>
#include "sinkhorn.h"

static void die(const char *what)
{
	fprintf(stderr, "sinkhorn unit: %s\n", what);
	exit(1);
}

static void read_doubles(double *x, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (scanf("%lf", &x[i]) != 1)
			die("short input");
}

static void read_floats(float *x, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (scanf("%f", &x[i]) != 1)
			die("short input");
}

static void print_row(const char *a, const char *b, const double *v, long n)
{
	printf("%s %s", a, b);
	for (long i = 0; i < n; i++)
		printf(" %.17g", v[i]);
	printf("\n");
}

int main(void)
{
	int k, max_iter, threads, block;
	long n, nt;
	double eps, tol;
	if (scanf("%d %lf %lf %d %ld %ld %d %d", &k, &eps, &tol, &max_iter, &n, &nt, &threads, &block) != 8 ||
	    k < 1 || n < 1 || nt < 1)
		die("bad header");
	double *c = malloc(sizeof *c * k * k), *out = malloc(sizeof *out * n);
	double *a = malloc(sizeof *a * k), *b = malloc(sizeof *b * k);
	float *src = malloc(sizeof *src * n * k), *tgt = malloc(sizeof *tgt * nt * k);
	if (!c || !out || !a || !b || !src || !tgt)
		die("out of memory");
	read_doubles(c, (size_t)k * k);
	read_floats(src, (size_t)n * k);
	read_floats(tgt, (size_t)nt * k);
	if (sk_hist_bad(src, n, k) >= 0 || sk_hist_bad(tgt, nt, k) >= 0)
		die("bad histogram");
	static const char *names[] = {"divergence", "entropic", "transport"};
	for (int l = 0; l < 3; l++) {
		sk_params p;
		sk_params_default(&p);
		p.eps = eps;
		p.tol = tol;
		p.max_iter = max_iter;
		p.threads = threads;
		p.block = block;
		p.loss = (sk_loss)l;
		sk_stats st = {0}, plain = {0};
		if (sk_batch(&p, c, k, n, src, nt, tgt, out, &st))
			die("sk_batch failed");
		print_row("batch", names[l], out, n);
		printf("stats %s %lld %lld %lld %lld %.17g\n", names[l], (long long)st.problems,
		       (long long)st.unconverged, (long long)st.fallback, (long long)st.iterations,
		       st.worst_err);
		p.no_simd = 1;
		if (sk_batch(&p, c, k, n, src, nt, tgt, out, &plain))
			die("sk_batch failed");
		print_row("plain", names[l], out, n);
		for (long i = 0; i < n; i++) {
			out[i] = NAN;
			if (sk_hist_normalize(src + i * k, k, a) > 0 && sk_hist_normalize(tgt + (i % nt) * k, k, b) > 0 &&
			    sk_ref_loss(a, b, c, k, &p, &out[i], NULL))
				die("sk_ref_loss failed");
		}
		print_row("ref", names[l], out, n);
	}
	double *m[4];
	for (int q = 0; q < 4; q++)
		if (!(m[q] = malloc(sizeof *m[q] * n)))
			die("out of memory");
	if (sk_measure_batch(k, n, src, nt, tgt, m))
		die("sk_measure_batch failed");
	static const char *mn[] = {"chebyshev", "js", "kl", "tv"};
	for (int q = 0; q < 4; q++) {
		print_row("measures", mn[q], m[q], n);
		free(m[q]);
	}
	free(c);
	free(out);
	free(a);
	free(b);
	free(src);
	free(tgt);
	return 0;
}
