/* Unit tests of the probe training core (tools/lib/probe.c), TAP output:
 * the sgemm path against the plain reference, the threaded driver against
 * one layer at a time, early stopping, divergence, standardisation and the RNG. */
#include "probe.h"
#include "util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tap.h"

typedef struct {
	int64_t n, k, ntrain, nval;
	float *y;
	int64_t *train, *val, *order;
	probe_data dt;
} problem;

/* n rows, the first ntrain for training, the rest val; labels from a random
 * linear teacher on the first layer's features, with some noise */
static void problem_make(problem *p, int64_t n, int64_t k, int64_t ntrain, const probe_recipe *r,
			 const float *x0, int64_t d0, uint64_t seed)
{
	uint64_t s = seed;
	p->n = n, p->k = k, p->ntrain = ntrain, p->nval = n - ntrain;
	p->y = malloc((size_t)(n * k) * sizeof(float));
	for (int64_t j = 0; j < k; j++) {
		float *t = malloc((size_t)d0 * sizeof(float));
		for (int64_t c = 0; c < d0; c++)
			t[c] = 2 * probe_rng_uniform(&s) - 1;
		for (int64_t i = 0; i < n; i++) {
			double z = 0;
			for (int64_t c = 0; c < d0; c++)
				z += t[c] * x0[i * d0 + c];
			z += 0.5 * (probe_rng_uniform(&s) - 0.5);
			p->y[i * k + j] = z > 0;
		}
		free(t);
	}
	p->train = malloc((size_t)ntrain * sizeof(int64_t));
	p->val = malloc((size_t)(p->nval > 0 ? p->nval : 1) * sizeof(int64_t));
	for (int64_t i = 0; i < n; i++) {
		if (i < ntrain)
			p->train[i] = i;
		else
			p->val[i - ntrain] = i;
	}
	p->order = malloc((size_t)(ntrain * r->epochs) * sizeof(int64_t));
	probe_shuffle(p->order, p->train, ntrain, r->epochs, r->seed);
	p->dt = (probe_data){.n = n, .k = k, .y = p->y, .ntrain = ntrain, .order = p->order,
			     .nval = p->nval, .val = p->val};
}

static void problem_free(problem *p)
{
	free(p->y), free(p->train), free(p->val), free(p->order);
}

static float *randn_like(int64_t n, uint64_t seed)
{
	float *x = malloc((size_t)n * sizeof(float));
	uint64_t s = seed;
	for (int64_t i = 0; i < n; i++)
		x[i] = 2 * probe_rng_uniform(&s) - 1 + 0.3f * (float)(i % 7);
	return x;
}

static probe_layer layer_new(const float *x, int64_t d, int64_t k, const probe_recipe *r, int idx)
{
	probe_layer l = {.d = d, .x = x};
	l.w = malloc((size_t)(k * d) * sizeof(float));
	l.b = malloc((size_t)k * sizeof(float));
	l.loss = malloc((size_t)r->epochs * sizeof(float));
	probe_init(l.w, l.b, d, k, r->seed, idx);
	return l;
}

static void layer_free(probe_layer *l)
{
	free(l->w), free(l->b), free(l->loss);
}

static void test_rng(void)
{
	uint64_t s = probe_rng_seed(7, PROBE_RNG_INIT, 0), s2 = probe_rng_seed(7, PROBE_RNG_INIT, 1);
	ok(util_splitmix64(&s) != util_splitmix64(&s2), "streams of two layers differ");
	int inrange = 1;
	double mean = 0;
	for (int i = 0; i < 100000; i++) {
		float u = probe_rng_uniform(&s);
		uint64_t b = probe_rng_below(&s, 7);
		inrange &= u >= 0 && u < 1 && b < 7;
		mean += u;
	}
	ok(inrange && fabs(mean / 100000 - 0.5) < 0.01, "uniform and bounded draws in range, mean %.4f",
	   mean / 100000);

	int64_t train[50], order[3 * 50];
	for (int i = 0; i < 50; i++)
		train[i] = 2 * i + 1;
	probe_shuffle(order, train, 50, 3, 42);
	int perm = 1, moved = 0;
	for (int e = 0; e < 3; e++) {
		int seen[100] = {0};
		for (int i = 0; i < 50; i++) {
			int64_t v = order[e * 50 + i];
			perm &= v >= 1 && v < 100 && v % 2 == 1 && !seen[v]++;
			moved += v != train[i];
		}
	}
	ok(perm && moved > 100, "each epoch's order is a permutation of the training rows");
	ok(memcmp(order, order + 50, 50 * sizeof *order) != 0, "epochs are shuffled differently");

	float w[300], b[3];
	probe_init(w, b, 100, 3, 5, 0);
	double mx = 0;
	for (int i = 0; i < 300; i++)
		mx = fmax(mx, fabs(w[i]));
	ok(mx <= 0.1 && mx > 0.09 && fabs(b[0]) <= 0.1, "init within U(-1/sqrt(d), 1/sqrt(d))");
}

/* the sgemm path against the reference, 3 epochs, a short last batch */
static void test_fast_vs_ref(int64_t d, int64_t k)
{
	const char *kname = "sgemm";
	probe_recipe r;
	probe_recipe_default(&r);
	r.epochs = 3, r.batch = 32, r.lr = 0.1, r.lr_step = 2, r.seed = 3;
	int64_t n = 300;
	float *x = randn_like(n * d, 11);
	problem p;
	problem_make(&p, n, k, 250, &r, x, d, 99);
	probe_layer a = layer_new(x, d, k, &r, 0), b = layer_new(x, d, k, &r, 0);
	float *w0 = malloc((size_t)(k * d) * sizeof(float));
	memcpy(w0, a.w, (size_t)(k * d) * sizeof(float));
	ok(probe_train_layer(&p.dt, &r, &a) == 0 && probe_train_layer_ref(&p.dt, &r, &b) == 0,
	   "%s, d=%d k=%d: both implementations run", kname, (int)d, (int)k);
	double dw = rel_diff(a.w, b.w, k * d), db = rel_diff(a.b, b.b, k);
	ok(dw < 1e-5 && db < 1e-5, "%s and reference agree: weight %.2g, bias %.2g", kname, dw, db);
	ok(rel_diff(a.loss, b.loss, 3) < 1e-5, "losses agree");
	ok(a.loss[2] < a.loss[0], "the loss falls: %.4f -> %.4f", a.loss[0], a.loss[2]);
	ok(rel_diff(w0, a.w, k * d) > 0.01, "the weights moved");
	free(w0);

	float *pa = malloc((size_t)(n * k) * sizeof(float));
	probe_predict(x, n, d, a.w, a.b, k, pa);
	double worst = 0;
	for (int64_t i = 0; i < n; i++)
		for (int64_t j = 0; j < k; j++) {
			double z = a.b[j];
			for (int64_t c = 0; c < d; c++)
				z += (double)a.w[j * d + c] * x[i * d + c];
			worst = fmax(worst, fabs(1 / (1 + exp(-z)) - pa[i * k + j]));
		}
	ok(worst < 1e-5, "probe_predict matches plain loops: %.2g", worst);
	free(pa);
	layer_free(&a), layer_free(&b);
	problem_free(&p);
	free(x);
}

/* threads and layer order must not change the result */
static void test_threads(void)
{
	probe_recipe r;
	probe_recipe_default(&r);
	r.epochs = 2, r.batch = 16, r.seed = 8;
	int64_t n = 200, k = 4, ds[3] = {10, 60, 25};
	float *x[3];
	for (int l = 0; l < 3; l++)
		x[l] = randn_like(n * ds[l], 20 + l);
	problem p;
	problem_make(&p, n, k, 150, &r, x[0], ds[0], 5);
	probe_layer all[3], one[3];
	for (int l = 0; l < 3; l++) {
		all[l] = layer_new(x[l], ds[l], k, &r, l);
		one[l] = layer_new(x[l], ds[l], k, &r, l);
	}
	ok(probe_train(&p.dt, &r, all, 3, 2, NULL, NULL) == 0, "three layers on two threads");
	double worst = 0;
	for (int l = 0; l < 3; l++) {
		probe_train_layer_ref(&p.dt, &r, &one[l]);
		worst = fmax(worst, rel_diff(all[l].w, one[l].w, k * ds[l]));
	}
	ok(worst < 1e-5, "threaded layers match the reference one by one: %.2g", worst);
	for (int l = 0; l < 3; l++) {
		layer_free(&all[l]), layer_free(&one[l]);
		free(x[l]);
	}
	problem_free(&p);
}

/* random labels, few rows, a large lr: the val loss must rise and stop training */
static void test_patience(void)
{
	probe_recipe r;
	probe_recipe_default(&r);
	r.epochs = 60, r.batch = 8, r.lr = 0.5, r.patience = 3, r.seed = 1;
	int64_t n = 80, d = 60, k = 3;
	float *x = randn_like(n * d, 4), *noise = randn_like(n * d, 77);
	problem p;
	problem_make(&p, n, k, 40, &r, noise, d, 6);   /* labels unrelated to x */
	probe_layer a = layer_new(x, d, k, &r, 0);
	int64_t snap_n = r.epochs / 10;
	a.snap = malloc((size_t)(snap_n * n * k) * sizeof(float));
	p.dt.snap_every = 10, p.dt.snap_stride = n * k;
	probe_train_layer(&p.dt, &r, &a);
	ok(a.epochs_run < r.epochs && a.best_epoch >= 1 && a.epochs_run == a.best_epoch + r.patience,
	   "early stop: ran %d of %d epochs, best %d", a.epochs_run, r.epochs, a.best_epoch);
	ok(isnan(a.loss[a.epochs_run]) && !isnan(a.loss[a.epochs_run - 1]), "loss NaN after the stop");

	/* the kept probe is the one a plain run of best_epoch epochs gives */
	probe_recipe r2 = r;
	r2.epochs = a.best_epoch, r2.patience = 0;
	probe_layer b = layer_new(x, d, k, &r2, 0);
	p.dt.snap_every = 0;
	probe_train_layer(&p.dt, &r2, &b);
	ok(rel_diff(a.w, b.w, k * d) == 0 && rel_diff(a.b, b.b, k) == 0,
	   "kept weights are those of epoch %d", a.best_epoch);
	float *pl = malloc((size_t)(n * k) * sizeof(float));
	probe_predict(x, n, d, a.w, a.b, k, pl);
	ok(rel_diff(a.snap + (snap_n - 1) * n * k, pl, n * k) == 0,
	   "snapshots after the stop show the kept probe");
	free(pl), free(a.snap), free(x), free(noise);
	layer_free(&a), layer_free(&b);
	problem_free(&p);
}

/* A learning rate far too large: both implementations stop at the first
 * epoch whose loss is NaN or infinite, the same one, and say so. */
static void test_diverged(void)
{
	probe_recipe r;
	probe_recipe_default(&r);
	r.epochs = 80, r.batch = 8, r.lr = 1e6, r.seed = 2;
	int64_t n = 48, d = 10, k = 3;
	float *x = randn_like(n * d, 5);
	problem p;
	problem_make(&p, n, k, n, &r, x, d, 8);
	probe_layer a = layer_new(x, d, k, &r, 0), b = layer_new(x, d, k, &r, 0);
	probe_train_layer(&p.dt, &r, &a);
	probe_train_layer_ref(&p.dt, &r, &b);
	ok(a.diverged > 0 && a.epochs_run == a.diverged && !isfinite(a.loss[a.diverged - 1]) &&
	   (a.diverged == 1 || isfinite(a.loss[a.diverged - 2])) && isnan(a.loss[r.epochs - 1]),
	   "fast path: diverged at epoch %d of %d, the run stops there", a.diverged, r.epochs);
	ok(b.diverged == a.diverged && b.epochs_run == a.epochs_run, "the reference stops at the same epoch (%d)",
	   b.diverged);
	probe_recipe calm = r;
	calm.lr = 0.01;
	probe_layer c = layer_new(x, d, k, &calm, 0);
	probe_train_layer(&p.dt, &calm, &c);
	ok(c.diverged == 0 && c.epochs_run == r.epochs, "a sane learning rate does not diverge");
	free(x);
	layer_free(&a), layer_free(&b), layer_free(&c);
	problem_free(&p);
}

static void test_standardize(void)
{
	int64_t n = 30, d = 3, rows[20];
	float x[90], mean[3], scale[3];
	for (int i = 0; i < 30; i++) {
		x[i * 3] = (float)i;
		x[i * 3 + 1] = 5;            /* constant: scale 1 */
		x[i * 3 + 2] = 1000 + 0.5f * (float)(i % 4);
	}
	for (int i = 0; i < 20; i++)
		rows[i] = i;
	ok(probe_standardize(x, n, d, rows, 20, mean, scale) == 0, "standardize runs");
	double m = 0, v = 0;
	for (int i = 0; i < 20; i++)
		m += x[i * 3 + 2];
	m /= 20;
	for (int i = 0; i < 20; i++)
		v += (x[i * 3 + 2] - m) * (x[i * 3 + 2] - m);
	ok(fabs(mean[0] - 9.5) < 1e-6 && fabs(scale[0] - sqrt(33.25)) < 1e-5,
	   "population statistics of the train rows");
	ok(scale[1] == 1 && x[4] == 0, "a constant feature gets scale 1");
	ok(fabs(m) < 1e-4 && fabs(v / 20 - 1) < 1e-3, "train rows z-scored: mean %.2g var %.4f", m, v / 20);
	ok(fabs(x[29 * 3] - (29 - 9.5) / sqrt(33.25)) < 1e-5, "other rows use the train statistics");
	ok(probe_standardize(x, n, d, rows, 0, mean, scale) == -1, "no rows is an error");
}

int main(void)
{
	test_rng();
	test_fast_vs_ref(37, 5);
	test_fast_vs_ref(64, 20);
	test_threads();
	test_patience();
	test_diverged();
	test_standardize();
	return tap_done();
}
