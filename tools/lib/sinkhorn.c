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

int sk_ref_ot(const double *a, const double *b, const double *c, int k, double eps, double tol,
	      int max_iter, sk_result *r)
{
	ref_work w;
	void *mem = malloc((size_t)k * (2 * sizeof(int) + 6 * sizeof(double)));
	if (!mem)
		return -1;
	w.la = mem;
	w.lb = w.la + k;
	w.f = w.lb + k;
	w.g = w.f + k;
	w.gnew = w.g + k;
	w.z = w.gnew + k;
	w.ia = (int *)(w.z + k);
	w.ib = w.ia + k;
	w.na = support(a, k, w.ia, w.la);
	w.nb = support(b, k, w.ib, w.lb);
	if (w.na == 0 || w.nb == 0) {
		r->entropic = r->kl = r->transport = r->err = NAN;
		r->iters = r->converged = 0;
		free(mem);
		return 0;
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
	free(mem);
	return 0;
}

static void stats_add(sk_stats *st, const sk_result *r, int fallback)
{
	if (!st)
		return;
	st->problems++;
	st->iterations += r->iters;
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
	stats_add(st, &ab, 0);
	if (p->loss == SK_ENTROPIC)
		*loss = ab.entropic;
	else if (p->loss == SK_TRANSPORT)
		*loss = ab.transport;
	else {
		if (sk_ref_ot(a, a, c, k, p->eps, p->tol, p->max_iter, &aa) ||
		    sk_ref_ot(b, b, c, k, p->eps, p->tol, p->max_iter, &bb))
			return -1;
		stats_add(st, &aa, 0);
		stats_add(st, &bb, 0);
		*loss = 2 * ab.kl - aa.kl - bb.kl;
	}
	return 0;
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
	b->omega = malloc((size_t)cap * 2 * sizeof *b->omega);
	if (!b->x || !b->job || !b->it || !b->omega) {
		block_free(b);
		return -1;
	}
	b->err = b->omega + cap;
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

static void record(job_src *js, sk_stats *st, int64_t job, const sk_result *r, int fallback)
{
	const int want = js->want;
	js->val[job] = want == WANT_KL ? r->kl : want == WANT_ENTROPIC ? r->entropic : r->transport;
	stats_add(st, r, fallback);
}

static void solve_ref(job_src *js, sk_stats *st, int64_t job, const double *x, const double *y)
{
	const kernel *kn = js->kn;
	sk_result r;
	if (sk_ref_ot(x, js->sym ? x : y, kn->c, kn->k, kn->eps, kn->tol, kn->max_iter, &r)) {
		js->failed = 1;
		return;
	}
	record(js, st, job, &r, 1);
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
#include <immintrin.h>
#define SK_AVX2 __attribute__((target("avx2,fma")))

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
		if (x[i] > 0)
			dual += x[i] * log(u[i] / x[i]);
		if (y[i] > 0)
			dual += y[i] * log(v[i] / y[i]);
	}
	if (js->want == WANT_TRANSPORT) {
		cblas_dgemv(CblasRowMajor, CblasNoTrans, k, k, 1, kn->kernc, k, v, 1, 0, b->tmp, 1);
		for (int i = 0; i < k; i++)
			tc += u[i] * b->tmp[i];
	}
	r->kl = kn->eps * dual - kn->eps * (mass - 1);
	r->entropic = r->kl + kn->eps * (xlogx(x, k) + xlogx(y, k) - 1);
	r->transport = tc;
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
}

/* Loads jobs into the free slots [m, cap); a skipped job gets NaN. The
 * starting scaling: v = 1 on the support of y, or u = sqrt(x) for the
 * symmetric form (the solution when K = I). */
static void refill(job_src *js, block *b)
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

/* Finishes slot s (its values recorded) and fills the hole with the last slot. */
static void slot_finish(job_src *js, block *b, sk_stats *st, int s, int range_ok)
{
	if (range_ok) {
		sk_result r;
		slot_values(js, b, s, &r);
		r.iters = b->it[s];
		record(js, st, b->job[s], &r, 0);
	} else {
		const int k = b->k;
		solve_ref(js, st, b->job[s], b->x + (size_t)s * k, b->y + (size_t)s * k);
	}
	b->m--;
	if (s != b->m)
		slot_move(b, s, b->m);
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
			if (err <= tol || b->it[s] >= js->kn->max_iter) {
				slot_finish(js, b, st, s, isfinite(err));
				continue;
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
			slot_finish(js, b, st, s, 0);
	}
}

/* v = y / (K^T u) for every slot; a slot out of range leaves. */
static void step_v(job_src *js, block *b, sk_stats *st)
{
	const int k = b->k;
	for (int s = b->m - 1; s >= 0; s--) {
		double omega = b->it[s] > 0 ? b->omega[s] : 1;
		if (js->ew.scale(b->y + (size_t)s * k, b->z + (size_t)s * k, b->v + (size_t)s * k, k, omega))
			slot_finish(js, b, st, s, 0);
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
		refill(js, &b);
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
	js->st.problems += st.problems;
	js->st.unconverged += st.unconverged;
	js->st.fallback += st.fallback;
	js->st.iterations += st.iterations;
	js->st.flops += st.flops;
	if (st.worst_err > js->st.worst_err || isnan(st.worst_err))
		js->st.worst_err = st.worst_err;
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
	if (st) {
		st->problems += js->st.problems;
		st->unconverged += js->st.unconverged;
		st->fallback += js->st.fallback;
		st->iterations += js->st.iterations;
		st->flops += js->st.flops;
		if (js->st.worst_err > st->worst_err || isnan(js->st.worst_err))
			st->worst_err = js->st.worst_err;
	}
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
