/* sinkhorn.c: see sinkhorn.h and docs/sinkhorn.md. */
#include "sinkhorn.h"
#include "threads.h"
#include "util.h"

#include <cblas.h>
#include <float.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define SK_AVX2 __attribute__((target("avx2,fma")))
#endif


void sk_params_default(sk_params *p)
{
	p->eps = 0.01;
	p->tol = 1e-6;
	p->max_iter = 1000;
	p->loss = SK_DIVERGENCE;
	p->threads = 1;
	p->block = 256;
	p->omega = 1.5;
	p->no_simd = 0;
	p->newton_after = 32;
	p->progress = NULL;
	p->progress_ctx = NULL;
}

/* ---- costs ---- */

double *sk_cost_uniform(int k)
{
	double *c = malloc((size_t)k * (size_t)k * sizeof *c);
	if (!c)
		return NULL;
	for (int i = 0; i < k; i++)
		for (int j = 0; j < k; j++)
			c[(size_t)i * k + j] = i != j;
	return c;
}

double *sk_cost_embed(const float *e, int k, int d, double p)
{
	double *c = malloc((size_t)k * (size_t)k * sizeof *c);
	if (!c)
		return NULL;
	for (int i = 0; i < k; i++)
		for (int j = 0; j < k; j++) {
			double s = 0;
			for (int t = 0; t < d; t++) {
				double x = (double)e[(size_t)i * d + t] - e[(size_t)j * d + t];
				s += x * x;
			}
			/* p = 2 without the sqrt, so equal vectors give exactly 0 */
			c[(size_t)i * k + j] = p == 2 ? s : pow(sqrt(s), p);
		}
	return c;
}

int sk_cost_normalize(double *c, int k)
{
	double m = 0;
	for (size_t i = 0; i < (size_t)k * k; i++)
		if (c[i] > m)
			m = c[i];
	if (!(m > 0))
		return -1;
	for (size_t i = 0; i < (size_t)k * k; i++)
		c[i] /= m;
	return 0;
}

int sk_cost_check(const double *c, int k, int64_t *at)
{
	for (size_t i = 0; i < (size_t)k * k; i++)
		if (!isfinite(c[i]) || c[i] < 0) {
			*at = (int64_t)i;
			return -1;
		}
	return 0;
}

int sk_cost_symmetric(const double *c, int k)
{
	for (int i = 0; i < k; i++)
		for (int j = 0; j < i; j++)
			if (c[(size_t)i * k + j] != c[(size_t)j * k + i])
				return 0;
	return 1;
}

/* ---- histograms ---- */

int64_t sk_hist_bad(const float *x, int64_t n, int k)
{
	for (int64_t i = 0; i < n * k; i++)
		if (!isfinite(x[i]) || x[i] < 0)
			return i;
	return -1;
}

double sk_hist_normalize(const float *x, int k, double *out)
{
	double s = 0;
	for (int i = 0; i < k; i++)
		s += x[i];
	if (s > 0)
		for (int i = 0; i < k; i++)
			out[i] = x[i] / s;
	return s;
}

/* sum x log x with 0 log 0 = 0 */
static double xlogx(const double *x, int k)
{
	double s = 0;
	for (int i = 0; i < k; i++)
		if (x[i] > 0)
			s += x[i] * log(x[i]);
	return s;
}

/* ---- the reference ---- */

/* -eps * log sum_t w_t exp(z_t / eps) over the n terms, with the maximum
 * taken out; w_t > 0 */
static double soft_min(const double *logw, const double *z, int n, double eps)
{
	double m = -INFINITY;
	for (int t = 0; t < n; t++)
		if (logw[t] + z[t] / eps > m)
			m = logw[t] + z[t] / eps;
	double s = 0;
	for (int t = 0; t < n; t++)
		s += exp(logw[t] + z[t] / eps - m);
	return -eps * (m + log(s));
}

typedef struct {
	int na, nb;
	int *ia, *ib;           /* supports */
	double *la, *lb;        /* log a, log b on the supports */
	double *f, *g, *gnew, *z;
	void *mem;
} ref_work;

/* g_j = soft-min over i of (C_ij - f_i) weighted by a: the update that makes the column sums b */
static void ref_update_g(const ref_work *w, const double *c, int k, double eps, double *g)
{
	for (int q = 0; q < w->nb; q++) {
		int j = w->ib[q];
		for (int p = 0; p < w->na; p++)
			w->z[p] = w->f[p] - c[(size_t)w->ia[p] * k + j];
		g[q] = soft_min(w->la, w->z, w->na, eps);
	}
}

static void ref_update_f(const ref_work *w, const double *c, int k, double eps)
{
	for (int p = 0; p < w->na; p++) {
		int i = w->ia[p];
		for (int q = 0; q < w->nb; q++)
			w->z[q] = w->g[q] - c[(size_t)i * k + w->ib[q]];
		w->f[p] = soft_min(w->lb, w->z, w->nb, eps);
	}
}

static int support(const double *x, int k, int *idx, double *lx)
{
	int n = 0;
	for (int i = 0; i < k; i++)
		if (x[i] > 0) {
			idx[n] = i;
			lx[n++] = log(x[i]);
		}
	return n;
}

/* plan entries, marginal errors and the values, from converged (f, g) */
static void ref_values(const ref_work *w, const double *a, const double *b, const double *c,
		       int k, double eps, sk_result *r)
{
	double mass = 0, tc = 0, err = 0, dual = 0;
	double *col = w->gnew;   /* free now */
	for (int q = 0; q < w->nb; q++)
		col[q] = 0;
	for (int p = 0; p < w->na; p++) {
		int i = w->ia[p];
		double row = 0;
		for (int q = 0; q < w->nb; q++) {
			int j = w->ib[q];
			double t = exp(w->la[p] + w->lb[q] + (w->f[p] + w->g[q] - c[(size_t)i * k + j]) / eps);
			row += t;
			col[q] += t;
			tc += t * c[(size_t)i * k + j];
		}
		mass += row;
		err += fabs(row - a[i]);
		dual += a[i] * w->f[p];
	}
	for (int q = 0; q < w->nb; q++) {
		err += fabs(col[q] - b[w->ib[q]]);
		dual += b[w->ib[q]] * w->g[q];
	}
	r->kl = dual - eps * (mass - 1);
	r->entropic = r->kl + eps * (xlogx(a, k) + xlogx(b, k) - 1);
	r->transport = tc;
	r->err = err;
}

/* The supports of a and b into w (w->mem to free); 1 when either is empty
 * (r filled with NaN), -1 when out of memory, else 0. */
static int ref_init(ref_work *w, const double *a, const double *b, int k, sk_result *r)
{
	void *mem = malloc((size_t)k * (2 * sizeof(int) + 6 * sizeof(double)));
	w->mem = mem;
	if (!mem)
		return -1;
	w->la = mem;
	w->lb = w->la + k;
	w->f = w->lb + k;
	w->g = w->f + k;
	w->gnew = w->g + k;
	w->z = w->gnew + k;
	w->ia = (int *)(w->z + k);
	w->ib = w->ia + k;
	w->na = support(a, k, w->ia, w->la);
	w->nb = support(b, k, w->ib, w->lb);
	if (w->na > 0 && w->nb > 0)
		return 0;
	r->entropic = r->kl = r->transport = r->err = NAN;
	r->iters = r->converged = 0;
	return 1;
}

int sk_ref_ot(const double *a, const double *b, const double *c, int k, double eps, double tol,
	      int max_iter, sk_result *r)
{
	ref_work w;
	int rc = ref_init(&w, a, b, k, r);
	if (rc) {
		free(w.mem);
		return rc < 0 ? -1 : 0;
	}
	memset(w.f, 0, (size_t)k * sizeof *w.f);
	ref_update_g(&w, c, k, eps, w.g);
	ref_update_f(&w, c, k, eps);
	r->converged = 0;
	int it = 1;
	for (;; it++) {
		/* rows are exact after the f update; the next g update measures the columns */
		ref_update_g(&w, c, k, eps, w.gnew);
		double err = 0;
		for (int q = 0; q < w.nb; q++) {
			double bj = exp(w.lb[q]);
			err += fabs(bj * exp((w.g[q] - w.gnew[q]) / eps) - bj);
		}
		if (err <= tol)
			r->converged = 1;
		if (r->converged || it >= max_iter)
			break;
		memcpy(w.g, w.gnew, (size_t)w.nb * sizeof *w.g);
		ref_update_f(&w, c, k, eps);
	}
	r->iters = it;
	ref_values(&w, a, b, c, k, eps, r);
	free(w.mem);
	return 0;
}

/* bins 0..63 exact, then 8 per octave: bin 64 + 8 (e - 6) + (the 3 bits after the leading one) */
static int hist_bin(int64_t it)
{
	if (it < 64)
		return it < 0 ? 0 : (int)it;
	int e = 63 - __builtin_clzll((unsigned long long)it);
	int b = 64 + 8 * (e - 6) + (int)((it >> (e - 3)) & 7);
	return b < SK_HIST_BINS ? b : SK_HIST_BINS - 1;
}

static int64_t hist_low(int b)
{
	if (b < 64)
		return b;
	int e = (b - 64) / 8 + 6;
	return ((int64_t)(8 + (b - 64) % 8)) << (e - 3);
}

int64_t sk_stats_quantile(const sk_stats *st, double q)
{
	int64_t n = 0;
	for (int b = 0; b < SK_HIST_BINS; b++)
		n += st->hist[b];
	if (n == 0)
		return 0;
	/* the smallest value with at least ceil(q n) problems at or below it */
	int64_t want = (int64_t)ceil(q * (double)n), seen = 0;
	if (want < 1)
		want = 1;
	for (int b = 0; b < SK_HIST_BINS; b++) {
		seen += st->hist[b];
		if (seen >= want)
			return hist_low(b) < st->max_iterations ? hist_low(b) : st->max_iterations;
	}
	return st->max_iterations;
}

void sk_stats_merge(sk_stats *dst, const sk_stats *src)
{
	dst->problems += src->problems;
	dst->unconverged += src->unconverged;
	dst->fallback += src->fallback;
	dst->iterations += src->iterations;
	dst->newton_iterations += src->newton_iterations;
	if (src->max_iterations > dst->max_iterations)
		dst->max_iterations = src->max_iterations;
	for (int b = 0; b < SK_HIST_BINS; b++)
		dst->hist[b] += src->hist[b];
	dst->flops += src->flops;
	if (src->worst_err > dst->worst_err || isnan(src->worst_err))
		dst->worst_err = src->worst_err;
}

/* newton: the trial steps of Newton among r->iters */
static void stats_add(sk_stats *st, const sk_result *r, int fallback, int newton)
{
	if (!st)
		return;
	st->problems++;
	st->iterations += r->iters;
	st->newton_iterations += newton;
	if (r->iters > st->max_iterations)
		st->max_iterations = r->iters;
	st->hist[hist_bin(r->iters)]++;
	st->unconverged += !r->converged;
	st->fallback += fallback;
	if (r->err > st->worst_err || isnan(r->err))
		st->worst_err = r->err;
}

int sk_ref_loss(const double *a, const double *b, const double *c, int k, const sk_params *p,
		double *loss, sk_stats *st)
{
	sk_result ab, aa, bb;
	if (sk_ref_ot(a, b, c, k, p->eps, p->tol, p->max_iter, &ab))
		return -1;
	stats_add(st, &ab, 0, 0);
	if (p->loss == SK_ENTROPIC)
		*loss = ab.entropic;
	else if (p->loss == SK_TRANSPORT)
		*loss = ab.transport;
	else {
		if (sk_ref_ot(a, a, c, k, p->eps, p->tol, p->max_iter, &aa) ||
		    sk_ref_ot(b, b, c, k, p->eps, p->tol, p->max_iter, &bb))
			return -1;
		stats_add(st, &aa, 0, 0);
		stats_add(st, &bb, 0, 0);
		*loss = 2 * ab.kl - aa.kl - bb.kl;
	}
	return 0;
}

/* ---- Newton on the semi-dual ----
 * Sinkhorn converges linearly at a rate set by how weakly the optimal plan
 * couples rows and columns: a nearly diagonal kernel, a small eps or a close
 * to b leave it within 1e-3..1e-6 of 1, thousands of iterations or
 * millions. Newton's method does not care.
 *
 * Over the smaller support (m "columns" with weights wc; the n "rows", with
 * weights wr, are eliminated by their exact soft-min), the semi-dual
 *   S(g) = <wr, f(g)> + <wc, g>,  f_i(g) = -eps LSE_j(log wc_j + (g_j - C_ij)/eps)
 * is concave, its gradient is wc - T^T 1 (T the plan of (f(g), g), whose
 * rows are exact) and its Hessian is -M/eps with M = diag(W 1) - W,
 * W = T^T diag(1/wr) T: the Laplacian of a graph on the columns, singular
 * along the constant shift, and only along it: every entry of an entropic
 * plan is positive, so the graph is connected. One node (the
 * heaviest column) is grounded, and the step solves
 *   (M + lambda diag(T^T 1 + wc)) d = eps (wc - T^T 1)
 * by elimination whose pivots are sums of positive terms (GTH: exact however
 * small the weights; a near-diagonal plan has weights of e^-100 and less).
 * lambda (Levenberg-Marquardt) keeps the step of a weakly coupled column
 * near a Sinkhorn step instead of the huge one its tiny curvature asks for:
 * a step is taken when it raises S by Armijo's amount, or, once S no longer
 * resolves the change, when it lowers the marginal error; lambda shrinks
 * fourfold after a taken step and grows tenfold after a refused one. Near
 * the solution lambda vanishes and the convergence is quadratic. */

typedef struct {
	int n, m;
	double eps;
	double *c;            /* [n*m] cost on the supports, rows x columns */
	double *lwc, *wr, *wc;
	int rows_are_a;       /* rows: the support of a (else of b, the problem transposed) */
} nt_problem;

/* the point g: row potentials f, plan t [n*m], column sums, S(g), error;
 * sum [n] scratch */
typedef struct {
	double *g, *f, *t, *col, *sum;
	double s, err;
} nt_point;

/* exp and log in place over arrays: the soft-min passes are most of Newton's
 * time, and glibc's vector versions (libmvec, AVX2) take four at a time */
typedef struct {
	void (*exp)(double *x, size_t n);
	void (*log)(double *x, size_t n);
} nt_math;

static void exp_plain(double *x, size_t n)
{
	for (size_t i = 0; i < n; i++)
		x[i] = exp(x[i]);
}

static void log_plain(double *x, size_t n)
{
	for (size_t i = 0; i < n; i++)
		x[i] = log(x[i]);
}

#if defined(__x86_64__) && defined(__GNUC__)
/* libmvec's AVX2 variants (glibc >= 2.22, reached through -lm): ymm in, ymm out */
SK_AVX2 __m256d _ZGVdN4v_exp(__m256d x);
SK_AVX2 __m256d _ZGVdN4v_log(__m256d x);

SK_AVX2 static void exp_avx2(double *x, size_t n)
{
	size_t i = 0;
	for (; i + 4 <= n; i += 4)
		_mm256_storeu_pd(x + i, _ZGVdN4v_exp(_mm256_loadu_pd(x + i)));
	exp_plain(x + i, n - i);
}

SK_AVX2 static void log_avx2(double *x, size_t n)
{
	size_t i = 0;
	for (; i + 4 <= n; i += 4)
		_mm256_storeu_pd(x + i, _ZGVdN4v_log(_mm256_loadu_pd(x + i)));
	log_plain(x + i, n - i);
}
#endif

static nt_math nt_pick_math(int simd)
{
	nt_math mt = {exp_plain, log_plain};
#if defined(__x86_64__) && defined(__GNUC__)
	if (simd && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
		mt = (nt_math){exp_avx2, log_avx2};
#else
	(void)simd;
#endif
	return mt;
}

/* f_i = -eps LSE_j(log wc_j + (g_j - C_ij)/eps) with the row maximum taken
 * out, the plan t_ij = wr_i softmax_j, its column sums, S and the error */
static void nt_eval(const nt_problem *pb, const nt_math *mt, nt_point *p)
{
	const int n = pb->n, m = pb->m;
	const double eps = pb->eps;
	double s = 0, err = 0;
	for (int i = 0; i < n; i++) {
		const double *ci = pb->c + (size_t)i * m;
		double *ti = p->t + (size_t)i * m, zmax = -INFINITY;
		for (int j = 0; j < m; j++) {
			ti[j] = pb->lwc[j] + (p->g[j] - ci[j]) / eps;
			if (ti[j] > zmax)
				zmax = ti[j];
		}
		for (int j = 0; j < m; j++)
			ti[j] -= zmax;
		p->f[i] = zmax;
	}
	mt->exp(p->t, (size_t)n * m);
	for (int j = 0; j < m; j++)
		p->col[j] = 0;
	for (int i = 0; i < n; i++) {
		double *ti = p->t + (size_t)i * m, sum = 0, row = 0;
		for (int j = 0; j < m; j++)
			sum += ti[j];
		p->sum[i] = sum;
		const double scale = pb->wr[i] / sum;
		for (int j = 0; j < m; j++) {
			ti[j] *= scale;
			row += ti[j];
			p->col[j] += ti[j];
		}
		err += fabs(row - pb->wr[i]);
	}
	mt->log(p->sum, (size_t)n);
	for (int i = 0; i < n; i++) {
		p->f[i] = -eps * (p->f[i] + p->sum[i]);
		s += pb->wr[i] * p->f[i];
	}
	for (int j = 0; j < m; j++) {
		s += pb->wc[j] * p->g[j];
		err += fabs(p->col[j] - pb->wc[j]);
	}
	p->s = s;
	p->err = err;
}

/* w = T^T diag(1/wr) T, [m*m], both triangles; ts [n*m] scratch */
static void nt_gram(const nt_problem *pb, const double *t, double *ts, double *w)
{
	const int n = pb->n, m = pb->m;
	for (int i = 0; i < n; i++) {
		const double s = 1 / sqrt(pb->wr[i]);
		for (int j = 0; j < m; j++)
			ts[(size_t)i * m + j] = t[(size_t)i * m + j] * s;
	}
	cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, m, n, 1, ts, m, 0, w, m);
	for (int j = 0; j < m; j++)
		for (int q = 0; q < j; q++)
			w[(size_t)j * m + q] = w[(size_t)q * m + j];
}

/* Solves (diag(A 1 + e) - A) x = r, A [q*q] symmetric >= 0 (its diagonal
 * ignored), e >= 0 the conductances to ground: Gaussian elimination with each
 * pivot the sum of its row's remaining weights and conductance (Grassmann,
 * Taksar and Heyman), no subtraction. A, e and r are overwritten: A by the
 * factors, r by x. A pivot with nothing left (an isolated node without
 * ground) is DBL_MIN: a huge step, which the caller damps. */
static void gth_solve(double *A, double *e, double *r, int q)
{
	for (int p = 0; p < q; p++) {
		double *ap = A + (size_t)p * q, dp = e[p];
		for (int j = p + 1; j < q; j++)
			dp += ap[j];
		if (!(dp >= DBL_MIN))
			dp = DBL_MIN;
		ap[p] = dp;
		for (int j = p + 1; j < q; j++) {
			double *aj = A + (size_t)j * q, l = aj[p] / dp;
			aj[p] = l;
			if (l == 0)
				continue;
			e[j] += l * e[p];
			for (int i = p + 1; i < q; i++)
				aj[i] += l * ap[i];
		}
	}
	for (int p = 0; p < q; p++)
		for (int j = p + 1; j < q; j++)
			r[j] += A[(size_t)j * q + p] * r[p];
	for (int p = q - 1; p >= 0; p--) {
		double x = r[p] / A[(size_t)p * q + p];
		for (int j = p + 1; j < q; j++)
			x += A[(size_t)j * q + p] * r[j];
		r[p] = x;
	}
}

/* Runs Newton from the potentials in w (g on the columns' side) with at most
 * budget trial steps; writes the potentials back into w. Returns the steps
 * taken, or -1 when out of memory. */
static int nt_solve(ref_work *w, const double *c, int k, double eps, double tol, int budget, int simd)
{
	const nt_math mt = nt_pick_math(simd);
	nt_problem pb;
	pb.rows_are_a = w->na >= w->nb;
	const int n = pb.rows_are_a ? w->na : w->nb, m = pb.rows_are_a ? w->nb : w->na;
	pb.n = n;
	pb.m = m;
	pb.eps = eps;
	const size_t nm = (size_t)n * m, mm = (size_t)m * m;
	double *mem = malloc((nm * 4 + mm * 2 + (size_t)n * 5 + (size_t)m * 11) * sizeof *mem);
	if (!mem)
		return -1;
	nt_point cur, tri;
	pb.c = mem;
	cur.t = pb.c + nm;
	tri.t = cur.t + nm;
	double *ts = tri.t + nm, *wg = ts + nm, *A = wg + mm;
	cur.f = A + mm;
	tri.f = cur.f + n;
	cur.sum = tri.f + n;
	tri.sum = cur.sum + n;
	pb.wr = tri.sum + n;
	pb.wc = pb.wr + n;
	pb.lwc = pb.wc + m;
	cur.g = pb.lwc + m;
	tri.g = cur.g + m;
	cur.col = tri.g + m;
	tri.col = cur.col + m;
	double *res = tri.col + m, *d = res + m, *e = d + m, *rhs = e + m;
	/* rows and columns on the supports, the larger side as rows */
	const int *ri = pb.rows_are_a ? w->ia : w->ib, *cj = pb.rows_are_a ? w->ib : w->ia;
	const double *lr = pb.rows_are_a ? w->la : w->lb, *lc = pb.rows_are_a ? w->lb : w->la;
	const double *gc = pb.rows_are_a ? w->g : w->f;
	for (int i = 0; i < n; i++) {
		pb.wr[i] = exp(lr[i]);
		for (int j = 0; j < m; j++)
			pb.c[(size_t)i * m + j] = pb.rows_are_a ? c[(size_t)ri[i] * k + cj[j]]
							   : c[(size_t)cj[j] * k + ri[i]];
	}
	int ground = 0;
	for (int j = 0; j < m; j++) {
		pb.lwc[j] = lc[j];
		pb.wc[j] = exp(lc[j]);
		cur.g[j] = gc[j];
		if (pb.wc[j] > pb.wc[ground])
			ground = j;
	}
	nt_eval(&pb, &mt, &cur);
	double lambda = 1e-3;
	int steps = 0;
	while (cur.err > tol && steps < budget && m > 1) {
		nt_gram(&pb, cur.t, ts, wg);
		for (int j = 0; j < m; j++)
			res[j] = pb.wc[j] - cur.col[j];
		int taken = 0;
		while (!taken && steps < budget && lambda <= 1e12) {
			/* the system on the columns but the ground one, which keeps d = 0 */
			int q = 0;
			for (int j = 0; j < m; j++) {
				if (j == ground)
					continue;
				int p = 0;
				for (int l = 0; l < m; l++)
					if (l != ground)
						A[(size_t)q * (m - 1) + p++] = wg[(size_t)j * m + l];
				e[q] = wg[(size_t)j * m + ground] + lambda * (cur.col[j] + pb.wc[j]);
				rhs[q++] = eps * res[j];
			}
			gth_solve(A, e, rhs, m - 1);
			double slope = 0;
			for (int j = 0, p = 0; j < m; j++) {
				d[j] = j == ground ? 0 : rhs[p++];
				tri.g[j] = cur.g[j] + d[j];
				slope += res[j] * d[j];
			}
			nt_eval(&pb, &mt, &tri);
			steps++;
			const int flat = fabs(tri.s - cur.s) <= 1e-14 * (fabs(tri.s) + fabs(cur.s));
			if (isfinite(tri.s) && isfinite(tri.err) &&
			    (flat ? tri.err < cur.err : tri.s >= cur.s + 1e-4 * slope)) {
				nt_point x = cur;
				cur = tri;
				tri = x;
				lambda /= 4;
				taken = 1;
			} else
				lambda = (lambda > 1e-12 ? lambda : 1e-12) * 10;
		}
		if (!taken)
			break;
	}
	double *wf = pb.rows_are_a ? w->f : w->g, *wgc = pb.rows_are_a ? w->g : w->f;
	for (int i = 0; i < n; i++)
		wf[i] = cur.f[i];
	for (int j = 0; j < m; j++)
		wgc[j] = cur.g[j];
	free(mem);
	return steps;
}

/* Newton from the potentials in w, values into r: -1 when out of memory */
static int nt_finish(ref_work *w, const double *a, const double *b, const double *c, int k,
		     double eps, double tol, int budget, int simd, sk_result *r, int *steps)
{
	*steps = nt_solve(w, c, k, eps, tol, budget, simd);
	if (*steps < 0)
		return -1;
	ref_values(w, a, b, c, k, eps, r);
	r->converged = r->err <= tol;
	return 0;
}

int sk_newton_ot(const double *a, const double *b, const double *c, int k, double eps, double tol,
		 int max_iter, sk_result *r)
{
	ref_work w;
	int rc = ref_init(&w, a, b, k, r);
	if (rc) {
		free(w.mem);
		return rc < 0 ? -1 : 0;
	}
	memset(w.f, 0, (size_t)k * sizeof *w.f);
	memset(w.g, 0, (size_t)k * sizeof *w.g);
	int steps;
	rc = nt_finish(&w, a, b, c, k, eps, tol, max_iter, 1, r, &steps);
	r->iters = steps;
	free(w.mem);
	return rc;
}

/* ---- the batched path ----
 * Scaling form: T = diag(u) K diag(v), K = exp(-C/eps), u_i = a_i exp(f_i/eps).
 * A block of problems keeps u, v as rows of [m,k] matrices, so one
 * half-iteration of all of them is one dgemm with the shared kernel. float64
 * holds exp(+-708): with a cost scaled to [0,1] and eps >= 0.002 the kernel
 * and the scalings stay in range; a problem that leaves it (a larger cost or
 * smaller eps) is detected and solved by the reference instead. */

typedef struct {
	int k;
	double eps, tol;
	int max_iter;
	int newton_after;
	int direct_m;    /* pairs whose smaller support has 2..direct_m bins go to Newton at once */
	double omega;
	double *kern;    /* exp(-C/eps) */
	double *kernc;   /* exp(-C/eps) * C */
	const double *c;
} kernel;

enum { WANT_KL, WANT_ENTROPIC, WANT_TRANSPORT };

/* the per-entry steps: plain loops or AVX2 */
typedef struct {
	int (*scale)(const double *x, const double *w, double *u, int k, double omega);
	double (*residual)(const double *u, const double *w, const double *x, int k);
} elementwise;

typedef struct job_src job_src;
struct job_src {
	/* fills x (and y unless symmetric) normalised; 0 solve, 1 skip (value NaN) */
	int (*load)(const job_src *js, int64_t job, double *x, double *y);
	const void *ctx;
	int64_t njobs;
	int sym;          /* OT(x,x) by the averaged fixed point */
	int block;        /* slots per worker */
	elementwise ew;
	nt_math mt;       /* exp and log over arrays */
	int simd;         /* AVX2 allowed (also for Newton's exp and log) */
	void (*progress)(void *ctx, int64_t done);
	void *progress_ctx;
	int want;
	double *val;      /* [njobs] */
	const kernel *kn;
	pthread_mutex_t lock;
	int64_t next;
	int failed;       /* out of memory in a worker */
	sk_stats st;
};

#define CLAIM 64

typedef struct {
	int k, cap, m;
	double *x, *y, *u, *v, *w, *z, *tmp;
	int64_t *job;
	int *it;
	double *omega;   /* per slot: the relaxation, 1 once it failed to lower the error */
	double *err;     /* per slot: the last marginal error */
	double *errc;    /* per slot: the error at the last multiple of 8 iterations */
	int64_t claim_next, claim_end;
} block;

static void block_free(block *b)
{
	free(b->x);
	free(b->job);
	free(b->it);
	free(b->omega);
}

static int block_init(block *b, int k, int cap)
{
	b->k = k;
	b->cap = cap;
	b->m = 0;
	b->claim_next = b->claim_end = 0;
	size_t kk = (size_t)cap * k;
	b->x = malloc(kk * 6 * sizeof(double) + (size_t)k * sizeof(double));
	b->job = malloc((size_t)cap * sizeof *b->job);
	b->it = malloc((size_t)cap * sizeof *b->it);
	b->omega = malloc((size_t)cap * 3 * sizeof *b->omega);
	if (!b->x || !b->job || !b->it || !b->omega) {
		block_free(b);
		return -1;
	}
	b->err = b->omega + cap;
	b->errc = b->err + cap;
	b->y = b->x + kk;
	b->u = b->y + kk;
	b->v = b->u + kk;
	b->w = b->v + kk;
	b->z = b->w + kk;
	b->tmp = b->z + kk;
	return 0;
}


static int64_t claim(job_src *js, block *b)
{
	if (b->claim_next == b->claim_end) {
		pthread_mutex_lock(&js->lock);
		b->claim_next = js->next;
		js->next = js->next + CLAIM < js->njobs ? js->next + CLAIM : js->njobs;
		b->claim_end = js->next;
		if (js->progress)
			js->progress(js->progress_ctx, js->next);
		pthread_mutex_unlock(&js->lock);
		if (b->claim_next == b->claim_end)
			return -1;
	}
	return b->claim_next++;
}

static void record(job_src *js, sk_stats *st, int64_t job, const sk_result *r, int fallback,
		   int newton)
{
	const int want = js->want;
	js->val[job] = want == WANT_KL ? r->kl : want == WANT_ENTROPIC ? r->entropic : r->transport;
	stats_add(st, r, fallback, newton);
}

/* A problem the batch gives up after `done` iterations: Newton from its
 * scalings u, v (potentials eps log(u/x), eps log(v/y)), or from 0 when they
 * are NULL (out of range); the plain reference when Newton is off. */
static void solve_log(job_src *js, sk_stats *st, int64_t job, const double *x, const double *y,
		      const double *u, const double *v, int done)
{
	const kernel *kn = js->kn;
	const int k = kn->k;
	sk_result r;
	if (js->sym) {
		y = x;
		v = u;
	}
	if (!kn->newton_after) {
		if (sk_ref_ot(x, y, kn->c, k, kn->eps, kn->tol, kn->max_iter, &r))
			js->failed = 1;
		else
			record(js, st, job, &r, 1, 0);
		return;
	}
	ref_work w;
	int rc = ref_init(&w, x, y, k, &r), steps = 0;
	if (rc == 0) {
		for (int p = 0; p < w.na; p++)
			w.f[p] = u ? kn->eps * log(u[w.ia[p]] / x[w.ia[p]]) : 0;
		for (int q = 0; q < w.nb; q++)
			w.g[q] = v ? kn->eps * log(v[w.ib[q]] / y[w.ib[q]]) : 0;
		int budget = kn->max_iter - done;
		rc = nt_finish(&w, x, y, kn->c, k, kn->eps, kn->tol, budget > 0 ? budget : 0, js->simd, &r,
			       &steps);
	}
	free(w.mem);
	if (rc < 0) {
		js->failed = 1;
		return;
	}
	r.iters = done + steps;
	record(js, st, job, &r, 1, steps);
}

/* u = x/w on the support of x, over-relaxed when omega != 1:
 * u <- u^(1-omega) (x/w)^omega, i.e. f <- f + omega (T(f) - f) for the
 * potential; -1 when a value leaves the normal float64 range. The plain
 * loop; scale_avx2 is the same with four lanes. */
static int scale_plain(const double *x, const double *w, double *u, int k, double omega)
{
	for (int i = 0; i < k; i++) {
		if (!(x[i] > 0)) {
			u[i] = 0;
			continue;
		}
		if (!(w[i] >= DBL_MIN))
			return -1;
		double r = x[i] / w[i];
		if (omega == 1.5)
			r *= sqrt(r / u[i]);
		else if (omega != 1)
			r *= pow(r / u[i], omega - 1);
		if (!(r <= 1 / DBL_MIN && r >= DBL_MIN))
			return -1;
		u[i] = r;
	}
	return 0;
}

/* sum |u_i w_i - x_i|: the L1 error of one marginal */
static double residual_plain(const double *u, const double *w, const double *x, int k)
{
	double e = 0;
	for (int i = 0; i < k; i++)
		e += fabs(u[i] * w[i] - x[i]);
	return e;
}

#if defined(__x86_64__) && defined(__GNUC__)
SK_AVX2 static int scale_avx2(const double *x, const double *w, double *u, int k, double omega)
{
	if (omega != 1 && omega != 1.5)
		return scale_plain(x, w, u, k, omega);
	const __m256d zero = _mm256_setzero_pd(), inf = _mm256_set1_pd(INFINITY);
	__m256d wmin = inf, rmin = inf, rmax = zero, bad = zero;
	int i = 0;
	for (; i + 4 <= k; i += 4) {
		__m256d xv = _mm256_loadu_pd(x + i), wv = _mm256_loadu_pd(w + i);
		__m256d on = _mm256_cmp_pd(xv, zero, _CMP_GT_OQ);
		__m256d r = _mm256_div_pd(xv, wv);
		if (omega == 1.5)
			r = _mm256_mul_pd(r, _mm256_sqrt_pd(_mm256_div_pd(r, _mm256_loadu_pd(u + i))));
		bad = _mm256_or_pd(bad, _mm256_and_pd(on, _mm256_cmp_pd(r, r, _CMP_UNORD_Q)));
		r = _mm256_and_pd(r, on);   /* 0 off the support */
		wmin = _mm256_min_pd(wmin, _mm256_blendv_pd(inf, wv, on));
		rmin = _mm256_min_pd(rmin, _mm256_blendv_pd(inf, r, on));
		rmax = _mm256_max_pd(rmax, r);
		_mm256_storeu_pd(u + i, r);
	}
	double lanes[4][4];
	_mm256_storeu_pd(lanes[0], wmin);
	_mm256_storeu_pd(lanes[1], rmin);
	_mm256_storeu_pd(lanes[2], rmax);
	_mm256_storeu_pd(lanes[3], bad);
	for (int l = 0; l < 4; l++) {
		uint64_t nan_bits;
		memcpy(&nan_bits, &lanes[3][l], sizeof nan_bits);
		if (nan_bits || !(lanes[0][l] >= DBL_MIN) || !(lanes[1][l] >= DBL_MIN) ||
		    !(lanes[2][l] <= 1 / DBL_MIN))
			return -1;
	}
	return scale_plain(x + i, w + i, u + i, k - i, omega);
}

SK_AVX2 static double residual_avx2(const double *u, const double *w, const double *x, int k)
{
	const __m256d sign = _mm256_set1_pd(-0.0);
	__m256d acc = _mm256_setzero_pd();
	int i = 0;
	for (; i + 4 <= k; i += 4) {
		__m256d d = _mm256_fmsub_pd(_mm256_loadu_pd(u + i), _mm256_loadu_pd(w + i), _mm256_loadu_pd(x + i));
		acc = _mm256_add_pd(acc, _mm256_andnot_pd(sign, d));
	}
	double lanes[4];
	_mm256_storeu_pd(lanes, acc);
	return lanes[0] + lanes[1] + lanes[2] + lanes[3] + residual_plain(u + i, w + i, x + i, k - i);
}
#endif

static elementwise pick_elementwise(int simd)
{
	elementwise e = {scale_plain, residual_plain};
#if defined(__x86_64__) && defined(__GNUC__)
	if (simd && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
		e = (elementwise){scale_avx2, residual_avx2};
#else
	(void)simd;
#endif
	return e;
}

/* the values of a finished slot; w = K v and z = K^T u are current */
static void slot_values(const job_src *js, const block *b, int s, sk_result *r)
{
	const kernel *kn = js->kn;
	const int k = kn->k;
	const double *x = b->x + (size_t)s * k, *u = b->u + (size_t)s * k, *w = b->w + (size_t)s * k;
	const double *y = js->sym ? x : b->y + (size_t)s * k;
	const double *v = js->sym ? u : b->v + (size_t)s * k;
	const double *z = js->sym ? w : b->z + (size_t)s * k;
	double mass = 0, dual = 0, err = 0, tc = 0;
	for (int i = 0; i < k; i++) {
		mass += u[i] * w[i];
		err += fabs(u[i] * w[i] - x[i]) + fabs(v[i] * z[i] - y[i]);
	}
	/* only what the loss needs: the logarithms are a tenth of the time at K = 20 */
	r->kl = r->entropic = r->transport = NAN;
	if (js->want == WANT_TRANSPORT) {
		cblas_dgemv(CblasRowMajor, CblasNoTrans, k, k, 1, kn->kernc, k, v, 1, 0, b->tmp, 1);
		for (int i = 0; i < k; i++)
			tc += u[i] * b->tmp[i];
		r->transport = tc;
	} else {
		/* sum x log(u/x) + sum y log(v/y), the logarithms over arrays (libmvec) */
		double *q = b->tmp;
		for (int i = 0; i < k; i++)
			q[i] = x[i] > 0 ? u[i] / x[i] : 1;
		js->mt.log(q, (size_t)k);
		for (int i = 0; i < k; i++)
			dual += x[i] * q[i];
		if (js->sym)
			dual *= 2;
		else {
			for (int i = 0; i < k; i++)
				q[i] = y[i] > 0 ? v[i] / y[i] : 1;
			js->mt.log(q, (size_t)k);
			for (int i = 0; i < k; i++)
				dual += y[i] * q[i];
		}
		r->kl = kn->eps * dual - kn->eps * (mass - 1);
		if (js->want == WANT_ENTROPIC)
			r->entropic = r->kl + kn->eps * (xlogx(x, k) + xlogx(y, k) - 1);
	}
	r->err = err;
	r->converged = err <= kn->tol;
}

/* Moves slot `from` into slot `to`. */
static void slot_move(block *b, int to, int from)
{
	size_t k = (size_t)b->k;
	double *rows[] = {b->x, b->y, b->u, b->v, b->w, b->z};
	for (int r = 0; r < 6; r++)
		memcpy(rows[r] + to * k, rows[r] + from * k, k * sizeof(double));
	b->job[to] = b->job[from];
	b->it[to] = b->it[from];
	b->omega[to] = b->omega[from];
	b->err[to] = b->err[from];
	b->errc[to] = b->errc[from];
}

/* Whether a pair is cheaper for Newton from the start than for the batch:
 * its smaller support has 2..most bins. A Newton trial costs about n m
 * exp() for supports n >= m, a Sinkhorn iteration a row of a K x K product:
 * measured on the benchmark's pairs (targets of 1-4 labels), Newton alone
 * took 0.59 of the batch's time at K = 80 and 1.2 at K = 20. A one-bin
 * support converges in one Sinkhorn iteration. */
static int direct(const double *x, const double *y, int k, int most)
{
	int nx = 0, ny = 0;
	for (int i = 0; i < k; i++) {
		nx += x[i] > 0;
		ny += y[i] > 0;
	}
	int m = nx < ny ? nx : ny;
	return m >= 2 && m <= most;
}

/* Loads jobs into the free slots [m, cap); a skipped job gets NaN. The
 * starting scaling: v = 1 on the support of y, or u = sqrt(x) for the
 * symmetric form (the solution when K = I). */
static void refill(job_src *js, block *b, sk_stats *st)
{
	const int k = b->k;
	while (b->m < b->cap) {
		int64_t job = claim(js, b);
		if (job < 0)
			return;
		int s = b->m;
		double *x = b->x + (size_t)s * k, *y = b->y + (size_t)s * k;
		if (js->load(js, job, x, y)) {
			js->val[job] = NAN;
			continue;
		}
		if (!js->sym && js->kn->direct_m && direct(x, y, k, js->kn->direct_m)) {
			solve_log(js, st, job, x, y, NULL, NULL, 0);
			continue;
		}
		double *init = js->sym ? b->u + (size_t)s * k : b->v + (size_t)s * k;
		for (int i = 0; i < k; i++)
			init[i] = js->sym ? sqrt(x[i]) : y[i] > 0;
		b->job[s] = job;
		b->it[s] = 0;
		b->omega[s] = js->sym ? 1 : js->kn->omega;
		b->err[s] = INFINITY;
		b->m++;
	}
}

enum { SLOT_DONE, SLOT_NEWTON, SLOT_OUT_OF_RANGE };

/* Finishes slot s (its values recorded, or the problem handed to Newton) and
 * fills the hole with the last slot. */
static void slot_finish(job_src *js, block *b, sk_stats *st, int s, int how)
{
	const int k = b->k;
	if (how == SLOT_DONE) {
		sk_result r;
		slot_values(js, b, s, &r);
		r.iters = b->it[s];
		record(js, st, b->job[s], &r, 0, 0);
	} else if (how == SLOT_NEWTON)
		solve_log(js, st, b->job[s], b->x + (size_t)s * k, b->y + (size_t)s * k,
			  b->u + (size_t)s * k, b->v + (size_t)s * k, b->it[s]);
	else
		solve_log(js, st, b->job[s], b->x + (size_t)s * k, b->y + (size_t)s * k, NULL, NULL,
			  b->it[s]);
	b->m--;
	if (s != b->m)
		slot_move(b, s, b->m);
}

/* Whether a problem at error err, e0 eight iterations ago, goes on with
 * Newton: its rate over those eight predicts more than `after` iterations to
 * tol, or it has taken 8 x after already. A fixed count would send the
 * problems of a fast rate that started far (K = 80: 40 iterations) to Newton,
 * which costs them more than finishing; the rate sends only the slow ones. */
static int slow(double e0, double err, double tol, int after, int it)
{
	if (it >= 8 * after || !(err < e0))
		return 1;
	return 8 * log(tol / err) / log(err / e0) > after;
}

/* One u half-step of every slot (w = K v given); finished slots leave. */
static void step_u(job_src *js, block *b, sk_stats *st)
{
	const int k = b->k;
	const double tol = js->kn->tol;
	for (int s = b->m - 1; s >= 0; s--) {
		double *x = b->x + (size_t)s * k, *u = b->u + (size_t)s * k, *w = b->w + (size_t)s * k;
		if (b->it[s] > 0) {
			/* the plan of (u, v): rows u (K v) = u w, columns v (K^T u) = v z */
			double err = js->ew.residual(u, w, x, k);
			if (js->sym)
				err *= 2;
			else
				err += js->ew.residual(b->v + (size_t)s * k, b->z + (size_t)s * k,
						       b->y + (size_t)s * k, k);
			if (!isfinite(err)) {
				slot_finish(js, b, st, s, SLOT_OUT_OF_RANGE);
				continue;
			}
			if (err <= tol || b->it[s] >= js->kn->max_iter) {
				slot_finish(js, b, st, s, SLOT_DONE);
				continue;
			}
			if (js->kn->newton_after && b->it[s] % 8 == 0) {
				if (b->it[s] >= 16 && slow(b->errc[s], err, tol, js->kn->newton_after, b->it[s])) {
					slot_finish(js, b, st, s, SLOT_NEWTON);
					continue;
				}
				b->errc[s] = err;
			}
			/* relaxed steps may raise the error a little on the way; one
			 * that raised it tenfold gives the problem back to plain
			 * Sinkhorn, which converges */
			if (err > 10 * b->err[s])
				b->omega[s] = 1;
			b->err[s] = err;
		}
		double omega = b->it[s] > 0 ? b->omega[s] : 1;
		int ok;
		if (js->sym) {
			/* the averaged fixed point: f <- (f + T(f)) / 2 */
			ok = js->ew.scale(x, w, b->tmp, k, 1) == 0;
			for (int i = 0; ok && i < k; i++)
				u[i] = sqrt(u[i] * b->tmp[i]);
			b->it[s]++;
		} else
			ok = js->ew.scale(x, w, u, k, omega) == 0;
		if (!ok)
			slot_finish(js, b, st, s, SLOT_OUT_OF_RANGE);
	}
}

/* v = y / (K^T u) for every slot; a slot out of range leaves. */
static void step_v(job_src *js, block *b, sk_stats *st)
{
	const int k = b->k;
	for (int s = b->m - 1; s >= 0; s--) {
		double omega = b->it[s] > 0 ? b->omega[s] : 1;
		if (js->ew.scale(b->y + (size_t)s * k, b->z + (size_t)s * k, b->v + (size_t)s * k, k, omega))
			slot_finish(js, b, st, s, SLOT_OUT_OF_RANGE);
		else
			b->it[s]++;
	}
}

static void *worker(void *arg)
{
	job_src *js = arg;
	const kernel *kn = js->kn;
	const int k = kn->k;
	threads_set_blas(1);
	block b;
	if (block_init(&b, k, js->block)) {
		js->failed = 1;
		return NULL;
	}
	sk_stats st = {0};
	for (;;) {
		refill(js, &b, &st);
		if (b.m == 0)
			break;
		const double *scal = js->sym ? b.u : b.v;
		/* W = V K^T: w_i = sum_j K_ij v_j */
		cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, b.m, k, k, 1, scal, k, kn->kern, k,
			    0, b.w, k);
		st.flops += 2.0 * b.m * k * k;
		step_u(js, &b, &st);
		if (js->sym || b.m == 0)
			continue;
		/* Z = U K: z_j = sum_i u_i K_ij */
		cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, b.m, k, k, 1, b.u, k, kn->kern, k,
			    0, b.z, k);
		st.flops += 2.0 * b.m * k * k;
		step_v(js, &b, &st);
	}
	block_free(&b);
	pthread_mutex_lock(&js->lock);
	sk_stats_merge(&js->st, &st);
	pthread_mutex_unlock(&js->lock);
	return NULL;
}

static int run_jobs(job_src *js, int threads, sk_stats *st)
{
	memset(&js->st, 0, sizeof js->st);
	js->next = 0;
	js->failed = 0;
	pthread_mutex_init(&js->lock, NULL);
	if (threads < 1)
		threads = 1;
	int blas_threads = threads_get_blas();
	threads_run(threads, worker, js, 0);
	threads_set_blas(blas_threads);
	pthread_mutex_destroy(&js->lock);
	if (st)
		sk_stats_merge(st, &js->st);
	return js->failed ? -1 : 0;
}

/* ---- the problems of sk_batch ---- */

typedef struct {
	int k;
	const float *src, *tgt;
	int64_t nt;
	int64_t ndist;
	int64_t *tid;       /* [nt] distinct id of each target row */
	int64_t *rep;       /* [ndist] a target row of each distinct id */
	int skip_equal;     /* divergence: pairs with a = b are not solved */
} problems;

static int load_pair(const job_src *js, int64_t i, double *x, double *y)
{
	const problems *pr = js->ctx;
	const int k = pr->k;
	if (sk_hist_normalize(pr->src + (size_t)i * k, k, x) <= 0 ||
	    sk_hist_normalize(pr->tgt + (size_t)(i % pr->nt) * k, k, y) <= 0)
		return 1;
	return pr->skip_equal && memcmp(x, y, (size_t)k * sizeof *x) == 0;
}

static int load_self_src(const job_src *js, int64_t i, double *x, double *y)
{
	const problems *pr = js->ctx;
	(void)y;
	return sk_hist_normalize(pr->src + (size_t)i * pr->k, pr->k, x) <= 0;
}

static int load_self_tgt(const job_src *js, int64_t t, double *x, double *y)
{
	const problems *pr = js->ctx;
	(void)y;
	return sk_hist_normalize(pr->tgt + (size_t)pr->rep[t] * pr->k, pr->k, x) <= 0;
}

/* a non-symmetric cost solves OT(x,x) by the general iteration */
static int load_self_tgt_pair(const job_src *js, int64_t t, double *x, double *y)
{
	if (load_self_tgt(js, t, x, y))
		return 1;
	memcpy(y, x, (size_t)((const problems *)js->ctx)->k * sizeof *y);
	return 0;
}

static int load_self_src_pair(const job_src *js, int64_t i, double *x, double *y)
{
	if (load_self_src(js, i, x, y))
		return 1;
	memcpy(y, x, (size_t)((const problems *)js->ctx)->k * sizeof *y);
	return 0;
}

static uint64_t row_hash(const float *x, int k)
{
	return util_fnv1a(UTIL_FNV1A_INIT, x, (size_t)k * sizeof *x);
}

/* Distinct target rows: tid[t] for each row, rep[] one row per id. */
static int distinct_targets(problems *pr)
{
	const int k = pr->k;
	size_t cap = 16;
	while (cap < 2 * (size_t)pr->nt)
		cap *= 2;
	int64_t *table = malloc(cap * sizeof *table);
	pr->tid = malloc((size_t)pr->nt * sizeof *pr->tid);
	pr->rep = malloc((size_t)pr->nt * sizeof *pr->rep);
	if (!table || !pr->tid || !pr->rep) {
		free(table);
		return -1;
	}
	memset(table, 0xff, cap * sizeof *table);
	pr->ndist = 0;
	for (int64_t t = 0; t < pr->nt; t++) {
		const float *row = pr->tgt + (size_t)t * k;
		size_t h = row_hash(row, k) & (cap - 1);
		while (table[h] >= 0 &&
		       memcmp(pr->tgt + (size_t)pr->rep[table[h]] * k, row, (size_t)k * sizeof *row))
			h = (h + 1) & (cap - 1);
		if (table[h] < 0) {
			table[h] = pr->ndist;
			pr->rep[pr->ndist++] = t;
		}
		pr->tid[t] = table[h];
	}
	free(table);
	return 0;
}

static int kernel_init(kernel *kn, const sk_params *p, const double *c, int k)
{
	kn->k = k;
	kn->eps = p->eps;
	kn->tol = p->tol;
	kn->max_iter = p->max_iter > 0 ? p->max_iter : 1;
	kn->newton_after = p->newton_after > 0 ? p->newton_after : 0;
	kn->direct_m = kn->newton_after ? k / 16 : 0;
	kn->omega = p->omega >= 1 && p->omega < 2 ? p->omega : 1;
	kn->c = c;
	kn->kern = malloc((size_t)k * k * 2 * sizeof(double));
	if (!kn->kern)
		return -1;
	kn->kernc = kn->kern + (size_t)k * k;
	for (size_t i = 0; i < (size_t)k * k; i++) {
		kn->kern[i] = exp(-c[i] / p->eps);
		kn->kernc[i] = kn->kern[i] * c[i];
	}
	return 0;
}

static int solve(job_src *js, const kernel *kn, const problems *pr, int64_t njobs, int sym,
		 int want, double *val, int (*load)(const job_src *, int64_t, double *, double *),
		 const sk_params *p, sk_stats *st)
{
	memset(js, 0, sizeof *js);
	js->load = load;
	js->ctx = pr;
	js->njobs = njobs;
	js->sym = sym;
	js->want = want;
	js->val = val;
	js->kn = kn;
	js->block = p->block > 0 ? p->block : 256;
	js->progress = p->progress;
	js->progress_ctx = p->progress_ctx;
	js->ew = pick_elementwise(!p->no_simd);
	js->mt = nt_pick_math(!p->no_simd);
	js->simd = !p->no_simd;
	return run_jobs(js, p->threads, st);
}

int sk_batch(const sk_params *p, const double *c, int k, int64_t n, const float *src, int64_t nt,
	     const float *tgt, double *out, sk_stats *st)
{
	kernel kn;
	if (kernel_init(&kn, p, c, k))
		return -1;
	problems pr = {.k = k, .src = src, .tgt = tgt, .nt = nt, .skip_equal = p->loss == SK_DIVERGENCE};
	job_src js;
	int rc = 0;
	if (p->loss != SK_DIVERGENCE) {
		rc = solve(&js, &kn, &pr, n, 0, p->loss == SK_ENTROPIC ? WANT_ENTROPIC : WANT_TRANSPORT,
			   out, load_pair, p, st);
		free(kn.kern);
		return rc;
	}
	int sym = sk_cost_symmetric(c, k);
	double *self = malloc((size_t)(n > 0 ? n : 1) * sizeof *self), *tself = NULL;
	if (!self || distinct_targets(&pr) ||
	    !(tself = malloc((size_t)(pr.ndist > 0 ? pr.ndist : 1) * sizeof *tself)))
		rc = -1;
	/* progress is the pass over the pairs, the long one */
	sk_params quiet = *p;
	quiet.progress = NULL;
	if (!rc)
		rc = solve(&js, &kn, &pr, pr.ndist, sym, WANT_KL, tself,
			   sym ? load_self_tgt : load_self_tgt_pair, &quiet, st);
	if (!rc)
		rc = solve(&js, &kn, &pr, n, sym, WANT_KL, self, sym ? load_self_src : load_self_src_pair,
			   &quiet, st);
	if (!rc)
		rc = solve(&js, &kn, &pr, n, 0, WANT_KL, out, load_pair, p, st);
	double *x = malloc(2 * (size_t)k * sizeof *x);
	if (!x)
		rc = -1;
	for (int64_t i = 0; !rc && i < n; i++) {
		const double ob = tself[pr.tid[i % nt]];
		/* a NaN pair is an empty row, or a = b when both rows are non-empty */
		if (isnan(out[i]) && !isnan(self[i]) && !isnan(ob) &&
		    sk_hist_normalize(src + (size_t)i * k, k, x) > 0 &&
		    sk_hist_normalize(tgt + (size_t)(i % nt) * k, k, x + k) > 0 &&
		    memcmp(x, x + k, (size_t)k * sizeof *x) == 0)
			out[i] = 0;
		else
			out[i] = 2 * out[i] - self[i] - ob;
	}
	free(x);
	free(self);
	free(tself);
	free(pr.tid);
	free(pr.rep);
	free(kn.kern);
	return rc;
}

/* ---- other measures ---- */

void sk_measures(const double *a, const double *b, int k, double out[4])
{
	double cheb = 0, js = 0, kl = 0, l1 = 0;
	for (int i = 0; i < k; i++) {
		double d = fabs(a[i] - b[i]), m = 0.5 * (a[i] + b[i]);
		if (d > cheb)
			cheb = d;
		l1 += d;
		if (a[i] > 0)
			js += 0.5 * a[i] * log(a[i] / m);
		if (b[i] > 0) {
			js += 0.5 * b[i] * log(b[i] / m);
			kl += a[i] > 0 ? b[i] * log(b[i] / a[i]) : INFINITY;
		}
	}
	out[0] = cheb;
	out[1] = js;
	out[2] = kl;
	out[3] = 0.5 * l1;
}

int sk_measure_batch(int k, int64_t n, const float *src, int64_t nt, const float *tgt,
		     double *out[4])
{
	double *x = malloc(2 * (size_t)k * sizeof *x);
	if (!x)
		return -1;
	for (int64_t i = 0; i < n; i++) {
		double m[4] = {NAN, NAN, NAN, NAN};
		if (sk_hist_normalize(src + (size_t)i * k, k, x) > 0 &&
		    sk_hist_normalize(tgt + (size_t)(i % nt) * k, k, x + k) > 0)
			sk_measures(x, x + k, k, m);
		for (int q = 0; q < 4; q++)
			if (out[q])
				out[q][i] = m[q];
	}
	free(x);
	return 0;
}
