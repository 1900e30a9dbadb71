/* Unit tests of the GPU paths (gpu.h) against their CPU references, run
 * where a CUDA device is visible; elsewhere the plan is "1..0 # SKIP" and
 * the reason (no device, or a build without CUDA).
 *
 *   gpu                       the probe trainer and the Sinkhorn kernel
 *   gpu MODEL ARCH HEAD IMAGES    the network on that model (models.py),
 *                             every --pool kind, F32 and the model's type
 *
 * Tolerances (gpu.h): probes 1e-5 on the weights after the same steps;
 * taps and logits 1e-4 x max|ref| in F32; in F16 1e-2 and in BF16 5e-2
 * x max|ref| (half-precision activations, bounds of this test, not of
 * the contract). */
#include "gpu.h"
#include "net.h"
#include "probe.h"
#include "sinkhorn.h"
#include "st.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tap.h"

/* ---- probes ---- */

static uint64_t rng = 0x9E3779B97F4A7C15ULL;
static float urand(void)   /* [-1, 1) */
{
	return 2.0f * probe_rng_uniform(&rng) - 1.0f;
}

typedef struct {
	int64_t n, k, ntrain, nval;
	float *y;
	int64_t *train, *val, *order;
	float *x[4];
	int64_t d[4];
	int nlayers;
} problem;

/* labels from a random linear teacher on the first layer, val rows after the training ones */
static void problem_make(problem *p, int64_t n, int64_t k, int64_t ntrain, int epochs, const int64_t *d,
			 int nlayers, uint64_t seed)
{
	p->n = n, p->k = k, p->ntrain = ntrain, p->nval = n - ntrain, p->nlayers = nlayers;
	for (int l = 0; l < nlayers; l++) {
		p->d[l] = d[l];
		p->x[l] = malloc((size_t)(n * d[l]) * sizeof(float));
		for (int64_t i = 0; i < n * d[l]; i++)
			p->x[l][i] = urand() + 0.2f * (float)(i % 5);
	}
	p->y = malloc((size_t)(n * k) * sizeof(float));
	for (int64_t j = 0; j < k; j++) {
		float t[64];
		for (int64_t c = 0; c < d[0] && c < 64; c++)
			t[c] = urand();
		for (int64_t i = 0; i < n; i++) {
			double z = 0.3 * urand();
			for (int64_t c = 0; c < d[0] && c < 64; c++)
				z += t[c] * (p->x[0][i * d[0] + c] - 0.4);
			p->y[i * k + j] = z > 0;
		}
	}
	p->train = malloc((size_t)ntrain * sizeof(int64_t));
	p->val = malloc((size_t)(p->nval > 0 ? p->nval : 1) * sizeof(int64_t));
	for (int64_t i = 0; i < n; i++)
		if (i < ntrain)
			p->train[i] = i;
		else
			p->val[i - ntrain] = i;
	p->order = malloc((size_t)(ntrain * epochs) * sizeof(int64_t));
	probe_shuffle(p->order, p->train, ntrain, epochs, seed);
}

static void problem_free(problem *p)
{
	for (int l = 0; l < p->nlayers; l++)
		free(p->x[l]);
	free(p->y), free(p->train), free(p->val), free(p->order);
}

static probe_layer layer_new(const problem *p, int l, const probe_recipe *r, float *snap)
{
	probe_layer ly = {.d = p->d[l], .x = p->x[l], .snap = snap};
	ly.w = malloc((size_t)(p->k * p->d[l]) * sizeof(float));
	ly.b = malloc((size_t)p->k * sizeof(float));
	ly.loss = malloc((size_t)r->epochs * sizeof(float));
	probe_init(ly.w, ly.b, p->d[l], p->k, r->seed, l);
	return ly;
}

static void layer_free(probe_layer *l)
{
	free(l->w), free(l->b), free(l->loss);
}

/* max |a-b| / max(1, max |b|) */
static double diff1(const float *a, const float *b, size_t n)
{
	double m = 0, s = 1;
	for (size_t i = 0; i < n; i++) {
		if ((a[i] != a[i]) != (b[i] != b[i]))
			return INFINITY;
		if (a[i] == a[i])
			m = fmax(m, fabs((double)a[i] - b[i])), s = fmax(s, fabs((double)b[i]));
	}
	return m / s;
}

static int ticks;
static void tick(void *ctx) { (void)ctx, ticks++; }

/* the GPU against probe_train on one recipe; every layer's weights, bias,
 * losses, epochs run, best epoch and snapshots */
static void probe_case(const char *what, const probe_recipe *r, int64_t n, int64_t ntrain, int snap_every)
{
	const int64_t d[3] = {7, 64, 130}, k = 5;
	problem p;
	problem_make(&p, n, k, ntrain, r->epochs, d, 3, r->seed);
	int ns = snap_every ? r->epochs / snap_every : 0;
	float *snap[2] = {ns ? malloc((size_t)(ns * 3 * n * k) * sizeof(float)) : NULL,
			  ns ? malloc((size_t)(ns * 3 * n * k) * sizeof(float)) : NULL};
	probe_data dt = {.n = n, .k = k, .y = p.y, .ntrain = ntrain, .order = p.order, .nval = p.nval,
			 .val = p.val, .snap_every = snap_every, .snap_stride = 3 * n * k};
	probe_layer cpu[3], gpu[3];
	for (int l = 0; l < 3; l++) {
		cpu[l] = layer_new(&p, l, r, ns ? snap[0] + (int64_t)l * n * k : NULL);
		gpu[l] = layer_new(&p, l, r, ns ? snap[1] + (int64_t)l * n * k : NULL);
	}
	char err[ERR_LEN] = "";
	ticks = 0;
	int rc = probe_train(&dt, r, cpu, 3, 1, NULL, NULL) || gpu_probe_train(&dt, r, gpu, 3, tick, NULL, err);
	if (!ok(!rc, "%s: trained on both devices", what))
		printf("# %s\n", err);
	double w = 0, l = 0;
	int same = 1, expect_ticks = 0;
	for (int i = 0; i < 3 && !rc; i++) {
		w = fmax(w, diff1(gpu[i].w, cpu[i].w, (size_t)(k * d[i])));
		w = fmax(w, diff1(gpu[i].b, cpu[i].b, (size_t)k));
		l = fmax(l, diff1(gpu[i].loss, cpu[i].loss, (size_t)r->epochs));
		same &= gpu[i].epochs_run == cpu[i].epochs_run && gpu[i].best_epoch == cpu[i].best_epoch;
		expect_ticks += cpu[i].epochs_run;
	}
	ok(!rc && w <= 1e-5, "%s: weights and biases within 1e-5 of the CPU's (%.2g)", what, w);
	ok(!rc && l <= 1e-5, "%s: epoch losses within 1e-5 (%.2g)", what, l);
	ok(!rc && same, "%s: the same epochs run and best epoch per layer", what);
	ok(!rc && ticks == expect_ticks, "%s: progress once per epoch of every layer (%d, expected %d)", what, ticks,
	   expect_ticks);
	if (ns)
		ok(!rc && diff1(snap[1], snap[0], (size_t)(ns * 3 * n * k)) <= 1e-5, "%s: %d snapshots within 1e-5", what, ns);
	for (int i = 0; i < 3; i++)
		layer_free(&cpu[i]), layer_free(&gpu[i]);
	free(snap[0]), free(snap[1]);
	problem_free(&p);
}

static void test_probe(void)
{
	probe_recipe r;
	probe_recipe_default(&r);
	r.epochs = 4, r.batch = 64, r.lr = 0.05, r.lr_step = 2;
	probe_case("4 epochs, a short last batch, StepLR", &r, 500, 420, 0);
	r.batch = 1000;
	probe_case("one batch bigger than the training rows", &r, 300, 200, 0);
	r.batch = 32, r.epochs = 12, r.patience = 2, r.lr = 0.5, r.lr_step = 0;
	probe_case("early stopping (patience 2, a large rate)", &r, 400, 300, 0);
	r.patience = 0, r.epochs = 6;
	probe_case("snapshots every 2 epochs", &r, 300, 240, 2);
}

/* ---- the Sinkhorn kernel ---- */

/* n random histograms [n,k] with some zero bins */
static double *histograms(int64_t n, int k, int zeros)
{
	double *h = malloc((size_t)(n * k) * sizeof *h);
	for (int64_t i = 0; i < n; i++) {
		double s = 0;
		for (int j = 0; j < k; j++) {
			double v = (urand() + 1) * (urand() + 1);
			h[i * k + j] = zeros && j % 3 == (int)(i % 3) ? 0 : v;
			s += h[i * k + j];
		}
		for (int j = 0; j < k; j++)
			h[i * k + j] /= s;
	}
	return h;
}

/* gpu_sk_solve run to a tight tolerance against the log-domain reference
 * (sk_ref_ot) run to the same: both at the exact solution, so the values
 * agree to rounding whatever the paths */
static void sk_case(int k, double eps, double omega, int sym, int want, int n)
{
	double *c = malloc((size_t)k * k * sizeof *c), *kern = malloc((size_t)k * k * sizeof *kern),
	       *kernc = malloc((size_t)k * k * sizeof *kernc);
	float *e = calloc((size_t)k * 3, sizeof *e);
	for (int i = 0; i < 3 * k; i++)
		e[i] = urand();
	double *ce = sk_cost_embed(e, k, 3, 2);
	sk_cost_normalize(ce, k);
	for (int i = 0; i < k * k; i++) {
		c[i] = sym ? ce[i] : ce[i] + 0.3 * (urand() + 1) * (i / k != i % k);   /* non-symmetric unless sym */
		kern[i] = exp(-c[i] / eps);
		kernc[i] = kern[i] * c[i];
	}
	double *x = histograms(n, k, 1), *y = histograms(n, k, 0);
	double *val = malloc((size_t)n * sizeof *val), *errs = malloc((size_t)n * sizeof *errs);
	double *u = malloc((size_t)n * k * sizeof *u), *v = malloc((size_t)n * k * sizeof *v);
	int *it = malloc((size_t)n * sizeof *it);
	unsigned char *st = malloc((size_t)n);
	const double tol = 1e-11;
	gpu_sk g = {k, eps, tol, omega, 100000, 0, sym, want, kern, kernc};
	char err[ERR_LEN] = "";
	int rc = gpu_sk_solve(&g, n, x, y, val, errs, it, st, u, v, err);
	if (rc)
		printf("# %s\n", err);
	double worst = 0;
	int done = 0, maxit = 0;
	for (int i = 0; !rc && i < n; i++) {
		sk_result r;
		sk_ref_ot(x + (size_t)i * k, sym ? x + (size_t)i * k : y + (size_t)i * k, c, k, eps, tol, 1000000, &r);
		double ref = want == GPU_SK_KL ? r.kl : want == GPU_SK_ENTROPIC ? r.entropic : r.transport;
		worst = fmax(worst, fabs(val[i] - ref) / fmax(fabs(ref), 1e-12));
		done += st[i] == GPU_SK_DONE && errs[i] <= tol;
		maxit = it[i] > maxit ? it[i] : maxit;
	}
	ok(!rc && done == n && worst <= 1e-8,
	   "sinkhorn K = %d, eps %g, omega %g, %s, value %d: %d problems converged on the GPU (%d of %d), within "
	   "1e-8 of the log-domain reference (worst %.2g, at most %d iterations)", k, eps, omega,
	   sym ? "symmetric OT(x,x)" : "pairs, non-symmetric cost", want, n, done, n, worst, maxit);
	free(c), free(kern), free(kernc), free(e), free(ce), free(x), free(y), free(val), free(errs), free(u), free(v);
	free(it), free(st);
}

/* the hand-overs: slow problems to Newton with their scalings, out of range to the log domain */
static void sk_handover(void)
{
	const int k = 20, n = 256;
	double *c = sk_cost_uniform(k), *kern = malloc((size_t)k * k * sizeof *kern),
	       *kernc = malloc((size_t)k * k * sizeof *kernc);
	double *x = histograms(n, k, 1), *y = histograms(n, k, 0);
	double *val = malloc(n * sizeof *val), *errs = malloc(n * sizeof *errs);
	double *u = malloc((size_t)n * k * sizeof *u), *v = malloc((size_t)n * k * sizeof *v);
	int *it = malloc(n * sizeof *it);
	unsigned char *st = malloc(n);
	char err[ERR_LEN] = "";
	for (int pass = 0; pass < 2; pass++) {
		/* pass 0: 1 - I at eps 0.002, slow; pass 1: a cost of 200 at eps 0.1, exp(-2000) */
		double eps = pass ? 0.1 : 0.002, scale = pass ? 200 : 1;
		for (int i = 0; i < k * k; i++) {
			kern[i] = exp(-c[i] * scale / eps);
			kernc[i] = kern[i] * c[i] * scale;
		}
		gpu_sk g = {k, eps, 1e-6, 1.5, 1000, 32, 0, GPU_SK_KL, kern, kernc};
		int rc = gpu_sk_solve(&g, n, x, y, val, errs, it, st, u, v, err), newton = 0, logd = 0, scal = 1;
		for (int i = 0; !rc && i < n; i++) {
			newton += st[i] == GPU_SK_NEWTON, logd += st[i] == GPU_SK_LOG;
			for (int j = 0; st[i] == GPU_SK_NEWTON && j < k; j++)
				scal &= x[i * k + j] > 0 ? u[i * k + j] > 0 && isfinite(u[i * k + j]) : 1;
		}
		if (rc)
			printf("# %s\n", err);
		if (pass == 0)
			ok(!rc && newton > 0 && scal, "sinkhorn, 1 - I at eps 0.002: %d of %d problems handed to Newton with "
			   "positive finite scalings", newton, n);
		else
			ok(!rc && logd == n, "sinkhorn, a cost of 200 at eps 0.1: every problem marked for the log domain "
			   "(%d of %d)", logd, n);
	}
	free(c), free(kern), free(kernc), free(x), free(y), free(val), free(errs), free(u), free(v), free(it), free(st);
}

/* sk_batch on both devices, the divergence of predicted probabilities to
 * multi-hot targets as the pipeline has them: per value 1e-9 relative where
 * both took the same path (a problem whose error lands within rounding of
 * tol may stop one iteration apart: at most 1 in 1000, and within 1e-6) */
static void sk_batch_case(int k, double eps, int n)
{
	float *src = malloc((size_t)n * k * sizeof *src), *tgt = malloc((size_t)n * k * sizeof *tgt);
	for (int i = 0; i < n; i++)
		for (int j = 0; j < k; j++) {
			int on = j == i % k || (urand() + 1) * k < 3;
			tgt[(size_t)i * k + j] = (float)on;
			src[(size_t)i * k + j] = 1.0f / (1.0f + expf(-(3.0f * (2 * on - 1) + 2.0f * urand() - 1.5f)));
		}
	float *e = calloc((size_t)k * 4, sizeof *e);
	for (int i = 0; i < 4 * k; i++)
		e[i] = urand();
	double *c = sk_cost_embed(e, k, 4, 2);
	sk_cost_normalize(c, k);
	double *out[2] = {malloc((size_t)n * sizeof(double)), malloc((size_t)n * sizeof(double))};
	sk_stats st[2] = {{0}, {0}};
	char err[ERR_LEN] = "";
	int rc = 0;
	for (int d = 0; d < 2; d++) {
		sk_params p;
		sk_params_default(&p);
		p.eps = eps, p.threads = 4, p.gpu = d, p.err = err;
		rc |= sk_batch(&p, c, k, n, src, n, tgt, out[d], &st[d]);
	}
	if (rc)
		printf("# %s\n", err);
	int close = 0;
	double worst = 0;
	for (int i = 0; !rc && i < n; i++) {
		double r = fabs(out[1][i] - out[0][i]) / fmax(fabs(out[0][i]), 1e-300);
		close += r <= 1e-9 || out[1][i] == out[0][i];
		worst = fmax(worst, fabs(out[1][i] - out[0][i]));
	}
	ok(!rc && close >= n - n / 1000 && worst <= 1e-6 && st[1].problems == st[0].problems &&
	   st[1].unconverged == st[0].unconverged,
	   "sk_batch K = %d, eps %g, %d rows: GPU and CPU values within 1e-9 relative for %d, all within %.2g; "
	   "%lld problems, %lld (CPU %lld) to the log domain, %lld unconverged", k, eps, n, close, worst,
	   (long long)st[1].problems, (long long)st[1].fallback, (long long)st[0].fallback, (long long)st[1].unconverged);
	free(src), free(tgt), free(e), free(c), free(out[0]), free(out[1]);
}

static void test_sinkhorn(void)
{
	sk_batch_case(20, 0.01, 20000);
	sk_batch_case(20, 0.002, 5000);
	sk_batch_case(80, 0.01, 5000);
	static const int ks[] = {5, 20, 33, 80, 128};   /* 1 to 4 entries a lane */
	for (int i = 0; i < 5; i++)
		sk_case(ks[i], 0.05, 1.5, 0, GPU_SK_KL, 300);
	sk_case(20, 0.05, 1, 0, GPU_SK_ENTROPIC, 300);
	sk_case(20, 0.05, 1.5, 0, GPU_SK_TRANSPORT, 300);
	sk_case(80, 0.05, 1, 1, GPU_SK_KL, 300);
	sk_case(128, 0.1, 1, 1, GPU_SK_KL, 100);
	sk_handover();
	char err[ERR_LEN] = "";
	gpu_sk g = {129, 0.1, 1e-6, 1, 10, 0, 0, GPU_SK_KL, NULL, NULL};
	ok(gpu_sk_solve(&g, 1, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, err) && strstr(err, "128"),
	   "sinkhorn: K = 129 refused with one line (%s)", err);
}

/* ---- the network ---- */

typedef struct {
	const net_pool *pool;
	float **pooled;
} collect;

static int on_tap(void *ctx, int tap, const float *act, int c, int n, int h, int w, int row0, char *err)
{
	collect *col = ctx;
	return pool_apply(col->pool, act, c, n, h, w, col->pooled[tap] + (int64_t)row0 * pool_dim(col->pool, c), err);
}

/* max |a-b| / max |b| over the taps and logits of one run */
static double net_case(net_model *net, const net_pool *pool, gpu_net_precision prec, const float *images, int n,
		       int side, int batch, const char **prec_name)
{
	char err[ERR_LEN] = "";
	int T = net_ntaps(net), K = net_classes(net);
	float **ref = calloc(T, sizeof *ref), **got = calloc(T, sizeof *got);
	float *lref = malloc((size_t)n * K * sizeof(float)), *lgot = malloc((size_t)n * K * sizeof(float));
	for (int t = 0; t < T; t++) {
		size_t sz = (size_t)n * pool_dim(pool, net_tap_channels(net, t)) * sizeof(float);
		ref[t] = malloc(sz), got[t] = malloc(sz);
	}
	collect col = {pool, ref};
	double worst = INFINITY;
	gpu_net *g = gpu_net_new(net, pool, batch, side, side, prec, err);
	int rc = !g || net_forward(net, images, n, side, side, on_tap, &col, lref, err);
	*prec_name = g ? gpu_net_precision_name(g) : "?";
	/* in batches, the last one short: the same tensors reshaped */
	float **rows = calloc(T, sizeof *rows);
	for (int i = 0; !rc && i < n; i += batch) {
		int nb = n - i < batch ? n - i : batch;
		for (int t = 0; t < T; t++)
			rows[t] = got[t] + (int64_t)i * pool_dim(pool, net_tap_channels(net, t));
		rc = gpu_net_forward(g, images + (size_t)i * 3 * side * side, nb, rows, lgot + (size_t)i * K, err);
	}
	free(rows);
	if (rc)
		printf("# %s\n", err);
	else {
		worst = rel_diff(lgot, lref, (size_t)n * K);
		for (int t = 0; t < T; t++) {
			size_t m = (size_t)n * pool_dim(pool, net_tap_channels(net, t));
			worst = fmax(worst, rel_diff(got[t], ref[t], m));
		}
	}
	gpu_net_free(g);
	for (int t = 0; t < T; t++)
		free(ref[t]), free(got[t]);
	free(ref), free(got), free(lref), free(lgot);
	return worst;
}

static void test_net(const char *model, const char *arch, const char *head, const char *images_path)
{
	char err[ERR_LEN];
	st_file *mf = st_load(model, NULL, NULL, err), *imf = mf ? st_load(images_path, NULL, NULL, err) : NULL;
	net_model *net = imf ? net_load(mf, arch, head, err) : NULL;
	st_tensor *it = imf ? st_find(imf, "images") : NULL;
	if (!ok(net && it, "%s: model and images loaded", arch)) {
		printf("# %s\n", err);
		return;
	}
	net_set_engine(net, CONV_SGEMM);
	int n = (int)it->shape[0], side = (int)it->shape[2];
	float *images = st_to_f32(it);
	static const char *pools[] = {"avg", "max", "avgmax", "grid:2"};
	for (int q = 0; q < 4; q++) {
		net_pool pool;
		pool_parse(pools[q], &pool, err);
		for (int auto_prec = 0; auto_prec < 2; auto_prec++) {
			const char *name;
			/* batches of n - 1: one full, one short */
			double w = net_case(net, &pool, auto_prec ? GPU_NET_AUTO : GPU_NET_F32, images, n, side,
					    n > 1 ? n - 1 : 1, &name);
			double tol = !strcmp(name, "f16") ? 1e-2 : !strcmp(name, "bf16") ? 5e-2 : 1e-4;
			ok(w <= tol, "%s --pool %s in %s: every tap and the logits within %g x max|ref| of net_forward "
			   "(worst %.2g)", arch, pools[q], name, tol, w);
		}
	}
	free(images);
	net_free(net);
	st_file_free(mf);
	st_file_free(imf);
}

int main(int argc, char **argv)
{
	char err[ERR_LEN];
	if (gpu_open(err)) {
		printf("1..0 # SKIP %s\n", err);
		return 0;
	}
	printf("# %s\n", gpu_describe());
	if (argc == 5)
		test_net(argv[1], argv[2], argv[3], argv[4]);
	else {
		test_probe();
		test_sinkhorn();
	}
	return tap_done();
}
