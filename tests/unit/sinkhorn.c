/* sinkhorn unit driver: reads problems as text on stdin, prints the
 * reference and the batched results of every loss for the sinkhorn tests
 * to hold against POT.
 *
 * stdin:  k eps tol max_iter n nt threads block ref_max_iter
 *         C (k*k numbers), src (n*k), tgt (nt*k)
 * stdout: "<solver> <loss> v_1 .. v_n" for loss divergence|entropic|transport
 *         and solver batch (sk_batch's defaults: Sinkhorn, then Newton),
 *         plain (the same with plain loops instead of AVX2), newton
 *         (sk_newton_ot alone), and, unless ref_max_iter is 0, sinkhorn
 *         (sk_batch with Newton off, ref_max_iter iterations) and ref (the
 *         log-domain reference, ref_max_iter iterations); "stats <solver>
 *         <loss> problems unconverged fallback iterations worst_err
 *         max_iterations" for every solver; "measures <m> v_1 .. v_n" for
 *         chebyshev, js, kl, tv. */
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

static void print_stats(const char *solver, const char *loss, const sk_stats *st)
{
	printf("stats %s %s %lld %lld %lld %lld %.17g %lld\n", solver, loss, (long long)st->problems,
	       (long long)st->unconverged, (long long)st->fallback, (long long)st->iterations,
	       st->worst_err, (long long)st->max_iterations);
}

static void add(sk_stats *st, const sk_result *r)
{
	st->problems++;
	st->unconverged += !r->converged;
	st->iterations += r->iters;
	if (r->iters > st->max_iterations)
		st->max_iterations = r->iters;
	if (r->err > st->worst_err)
		st->worst_err = r->err;
}

/* the loss of p for one pair from sk_newton_ot (three solves for the divergence) */
static double newton_loss(const double *a, const double *b, const double *c, int k, const sk_params *p,
			  sk_stats *st)
{
	sk_result ab, aa, bb;
	if (sk_newton_ot(a, b, c, k, p->eps, p->tol, p->max_iter, &ab))
		die("sk_newton_ot failed");
	add(st, &ab);
	if (p->loss == SK_ENTROPIC)
		return ab.entropic;
	if (p->loss == SK_TRANSPORT)
		return ab.transport;
	if (sk_newton_ot(a, a, c, k, p->eps, p->tol, p->max_iter, &aa) ||
	    sk_newton_ot(b, b, c, k, p->eps, p->tol, p->max_iter, &bb))
		die("sk_newton_ot failed");
	add(st, &aa);
	add(st, &bb);
	return 2 * ab.kl - aa.kl - bb.kl;
}

int main(void)
{
	int k, max_iter, threads, block, ref_iter;
	long n, nt;
	double eps, tol;
	if (scanf("%d %lf %lf %d %ld %ld %d %d %d", &k, &eps, &tol, &max_iter, &n, &nt, &threads, &block,
		  &ref_iter) != 9 || k < 1 || n < 1 || nt < 1 || ref_iter < 0)
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
		sk_stats st = {0}, plain = {0}, newton = {0}, sinkhorn = {0}, ref = {0};
		if (sk_batch(&p, c, k, n, src, nt, tgt, out, &st))
			die("sk_batch failed");
		print_row("batch", names[l], out, n);
		print_stats("batch", names[l], &st);
		p.no_simd = 1;
		if (sk_batch(&p, c, k, n, src, nt, tgt, out, &plain))
			die("sk_batch failed");
		print_row("plain", names[l], out, n);
		print_stats("plain", names[l], &plain);
		for (long i = 0; i < n; i++) {
			out[i] = NAN;
			if (sk_hist_normalize(src + i * k, k, a) > 0 && sk_hist_normalize(tgt + (i % nt) * k, k, b) > 0)
				out[i] = newton_loss(a, b, c, k, &p, &newton);
		}
		print_row("newton", names[l], out, n);
		print_stats("newton", names[l], &newton);
		if (!ref_iter)
			continue;
		p.no_simd = 0;
		p.newton_after = 0;
		p.max_iter = ref_iter;
		if (sk_batch(&p, c, k, n, src, nt, tgt, out, &sinkhorn))
			die("sk_batch failed");
		print_row("sinkhorn", names[l], out, n);
		print_stats("sinkhorn", names[l], &sinkhorn);
		for (long i = 0; i < n; i++) {
			out[i] = NAN;
			if (sk_hist_normalize(src + i * k, k, a) > 0 && sk_hist_normalize(tgt + (i % nt) * k, k, b) > 0 &&
			    sk_ref_loss(a, b, c, k, &p, &out[i], &ref))
				die("sk_ref_loss failed");
		}
		print_row("ref", names[l], out, n);
		print_stats("ref", names[l], &ref);
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
