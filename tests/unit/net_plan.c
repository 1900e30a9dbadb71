/* Unit test of the network plan that the GPU runs (net_plan.h), on the CPU:
 * the plan of a model is executed by plain loops in the GPU's layout (NHWC,
 * filters [cout][k][k][cin padded to 8] from net_plan_weights_nhwc, taps
 * pooled through net_tap_cell, epilogues through net_epilogue) and every
 * pooled tap and the logits are held against net_forward within
 * 1e-4 x max|net_forward|. So the GPU's reading of the plan, its weight
 * layout and its pooling arithmetic are tested on every machine.
 *
 *   net_plan MODEL ARCH HEAD IMAGES POOL...
 *
 * MODEL a state_dict (tests/extract-feats/models.py), HEAD torchvision or
 * gap, IMAGES a file with `images` [N,3,S,S]; one run per --pool kind. */
#include "net_plan.h"
#include "net_step.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tap.h"

#define CIN_PAD 8   /* as the GPU pads the stem's 3 channels */

typedef struct {
	const net_pool *pool;
	float **pooled;   /* per tap [n][D] */
	int ntaps;
} collect;

static int on_tap(void *ctx, int tap, const float *act, int c, int n, int h, int w, int row0, char *err)
{
	collect *col = ctx;
	return pool_apply(col->pool, act, c, n, h, w, col->pooled[tap] + (int64_t)row0 * pool_dim(col->pool, c), err);
}

/* ---- the plan, run in NHWC by plain loops ---- */

static void conv_nhwc(const plan_op *op, const float *in, const float *res, float *out, int n)
{
	const conv_layer *c = op->conv;
	int cp = op->c % CIN_PAD ? op->c + CIN_PAD - op->c % CIN_PAD : op->c;
	float *wt = malloc((size_t)c->cout * c->k * c->k * cp * sizeof *wt);
	net_plan_weights_nhwc(c, cp, wt);
	for (int im = 0; im < n; im++)
		for (int oy = 0; oy < op->oh; oy++)
			for (int ox = 0; ox < op->ow; ox++)
				for (int co = 0; co < op->oc; co++) {
					double s = 0;
					for (int ky = 0; ky < c->k; ky++)
						for (int kx = 0; kx < c->k; kx++) {
							int y = oy * c->stride - c->pad + ky, x = ox * c->stride - c->pad + kx;
							if (y < 0 || y >= op->h || x < 0 || x >= op->w)
								continue;
							const float *a = in + (((size_t)im * op->h + y) * op->w + x) * op->c;
							const float *f = wt + (((size_t)co * c->k + ky) * c->k + kx) * cp;
							for (int ci = 0; ci < op->c; ci++)
								s += (double)f[ci] * a[ci];
						}
					size_t o = (((size_t)im * op->oh + oy) * op->ow + ox) * op->oc + co;
					out[o] = net_epilogue((float)s, c->b[co], res ? res[o] : 0.0f, c->relu);
				}
	free(wt);
}

static void maxpool_nhwc(const plan_op *op, const float *in, float *out, int n)
{
	for (int im = 0; im < n; im++)
		for (int oy = 0; oy < op->oh; oy++)
			for (int ox = 0; ox < op->ow; ox++)
				for (int ch = 0; ch < op->c; ch++) {
					int y0, y1, x0, x1, nan = 0;
					net_pool_window(oy, op->k, op->stride, op->pad, op->h, &y0, &y1);
					net_pool_window(ox, op->k, op->stride, op->pad, op->w, &x0, &x1);
					float m = -INFINITY;
					for (int y = y0; y < y1; y++)
						for (int x = x0; x < x1; x++) {
							float v = in[(((size_t)im * op->h + y) * op->w + x) * op->c + ch];
							m = v > m ? v : m;
							nan |= v != v;
						}
					out[(((size_t)im * op->oh + oy) * op->ow + ox) * op->c + ch] = nan ? NAN : m;
				}
}

/* out[n][D] from an NHWC activation, column by column through net_tap_cell */
static void pool_nhwc(net_pool_kind kind, int grid, int64_t D, const float *in, int n, int c, int h, int w,
		      float *out)
{
	for (int im = 0; im < n; im++)
		for (int64_t j = 0; j < D; j++) {
			int ch, y0, y1, x0, x1, is_max, nan = 0;
			net_tap_cell(kind, grid, c, h, w, j, &ch, &y0, &y1, &x0, &x1, &is_max);
			double s = 0;
			float m = -INFINITY;
			for (int y = y0; y < y1; y++)
				for (int x = x0; x < x1; x++) {
					float v = in[(((size_t)im * h + y) * w + x) * c + ch];
					s += v;
					m = v > m ? v : m;
					nan |= v != v;
				}
			out[im * D + j] = is_max ? (nan ? NAN : m) : (float)(s / ((y1 - y0) * (x1 - x0)));
		}
}

static void run_plan(const net_plan *p, const net_pool *pool, const float *images, int n, int side,
		     float **pooled, float *logits)
{
	size_t most = (size_t)3 * side * side;
	for (int i = 0; i < p->nops; i++) {
		size_t o = (size_t)p->op[i].oc * p->op[i].oh * p->op[i].ow;
		most = o > most ? o : most;
	}
	float *buf[8];
	for (int b = 0; b < p->nbuf; b++)
		buf[b] = calloc(most * n, sizeof(float));
	for (int im = 0; im < n; im++)   /* NCHW -> NHWC */
		for (int c = 0; c < 3; c++)
			for (int px = 0; px < side * side; px++)
				buf[0][((size_t)im * side * side + px) * 3 + c] = images[((size_t)im * 3 + c) * side * side + px];
	for (int i = 0; i < p->nops; i++) {
		const plan_op *op = &p->op[i];
		if (op->kind == PLAN_CONV)
			conv_nhwc(op, buf[op->in], op->res < 0 ? NULL : buf[op->res], buf[op->out], n);
		else if (op->kind == PLAN_MAXPOOL)
			maxpool_nhwc(op, buf[op->in], buf[op->out], n);
		else
			pool_nhwc(pool->kind, pool->grid, pool_dim(pool, op->c), buf[op->in], n, op->c, op->h, op->w,
				  pooled[op->tap]);
	}
	int s = p->head.pool;
	size_t width = (size_t)p->head.c * s * s;
	for (int i = 0; i < p->head.nfc; i++)
		width = width > (size_t)p->head.fc[i].out ? width : (size_t)p->head.fc[i].out;
	float *pp[2] = {malloc(width * n * sizeof(float)), malloc(width * n * sizeof(float))}, *x = pp[0];
	pool_nhwc(POOL_GRID, s, (int64_t)p->head.c * s * s, buf[p->head.buf], n, p->head.c, p->head.h, p->head.w, x);
	for (int i = 0; i < p->head.nfc; i++) {
		const plan_linear *fc = &p->head.fc[i];
		float *o = i == p->head.nfc - 1 ? logits : x == pp[0] ? pp[1] : pp[0];
		for (int im = 0; im < n; im++)
			for (int j = 0; j < fc->out; j++) {
				double acc = 0;
				for (int q = 0; q < fc->in; q++)
					acc += (double)fc->w[(size_t)j * fc->in + q] * x[(size_t)im * fc->in + q];
				o[(size_t)im * fc->out + j] = net_epilogue((float)acc, fc->b[j], 0.0f, fc->relu);
			}
		x = o;
	}
	free(pp[0]), free(pp[1]);
	for (int b = 0; b < p->nbuf; b++)
		free(buf[b]);
}

/* max |a-b| / max |b| over n floats, NaN counted as a difference unless both are */
static double worst(const float *a, const float *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if ((a[i] != a[i]) != (b[i] != b[i]))
			return INFINITY;
	return rel_diff(a, b, n);
}

int main(int argc, char **argv)
{
	char err[ERR_LEN];
	if (argc < 6) {
		fprintf(stderr, "usage: net_plan MODEL ARCH HEAD IMAGES POOL...\n");
		return 2;
	}
	st_file *mf = st_load(argv[1], NULL, NULL, err), *imf = st_load(argv[4], NULL, NULL, err);
	net_model *net = mf ? net_load(mf, argv[2], argv[3], err) : NULL;
	st_tensor *it = imf ? st_find(imf, "images") : NULL;
	if (!net || !it) {
		printf("1..0 # SKIP cannot load %s or %s: %s\n", argv[1], argv[4], err);
		return 1;
	}
	net_set_engine(net, CONV_SGEMM);
	int n = (int)it->shape[0], side = (int)it->shape[2], T = net_ntaps(net), K = net_classes(net);
	float *images = st_to_f32(it);
	net_plan plan;
	int rc = net_plan_make(net, side, side, &plan, err);
	if (!ok(!rc, "%s: a plan of %d operations for %dx%d images", argv[2], rc ? 0 : plan.nops, side, side)) {
		printf("# %s\n", err);
		return tap_done();
	}
	int taps_seen = 0, convs = 0;
	for (int i = 0; i < plan.nops; i++) {
		taps_seen += plan.op[i].kind == PLAN_TAP && plan.op[i].tap == taps_seen;
		convs += plan.op[i].kind == PLAN_CONV;
	}
	ok(taps_seen == T && plan.K == K, "%s: every tap once, in order (%d of %d), K = %d", argv[2], taps_seen, T,
	   plan.K);
	st_dtype want = mf->t[0].dtype == ST_F16 || mf->t[0].dtype == ST_BF16 ? mf->t[0].dtype : ST_F32;
	ok(plan.wtype == want, "%s: the weights' dtype is recorded (%s)", argv[2], st_dtype_name(plan.wtype));
	for (int a = 5; a < argc; a++) {
		net_pool pool;
		if (pool_parse(argv[a], &pool, err)) {
			ok(0, "--pool %s: %s", argv[a], err);
			continue;
		}
		float *ref[64], *got[64], *lref = malloc((size_t)n * K * sizeof(float)),
					   *lgot = malloc((size_t)n * K * sizeof(float));
		for (int t = 0; t < T; t++) {
			size_t sz = (size_t)n * pool_dim(&pool, net_tap_channels(net, t)) * sizeof(float);
			ref[t] = malloc(sz), got[t] = malloc(sz);
		}
		collect col = {&pool, ref, T};
		if (net_forward(net, images, n, side, side, on_tap, &col, lref, err)) {
			ok(0, "net_forward: %s", err);
			continue;
		}
		run_plan(&plan, &pool, images, n, side, got, lgot);
		double w = worst(lgot, lref, (size_t)n * K);
		for (int t = 0; t < T; t++) {
			double d = worst(got[t], ref[t], (size_t)n * pool_dim(&pool, net_tap_channels(net, t)));
			w = d > w ? d : w;
		}
		ok(w <= 1e-4, "%s --pool %s: the plan in NHWC (%d convolutions) agrees with net_forward at every "
		   "tap and the logits (worst %.2g x max|ref|)", argv[2], argv[a], convs, w);
		for (int t = 0; t < T; t++)
			free(ref[t]), free(got[t]);
		free(lref), free(lgot);
	}
	net_plan_free(&plan);
	free(images);
	net_free(net);
	st_file_free(mf);
	st_file_free(imf);
	return tap_done();
}
