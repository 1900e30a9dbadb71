/* Unit tests of the network compute core (tools/lib/net.c), TAP output:
 * the im2col + sgemm and the oneDNN convolutions against the plain reference
 * over many shapes (strides, paddings, kernels, chunked columns, residual, ReLU),
 * max and adaptive pooling against brute force (NaN included), the --pool
 * parser and the pooled feature layout. */
#include "conv.h"
#include "net.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tap.h"

static uint64_t rng = 88172645463325252ULL;
static float urand(void)   /* [-1, 1) */
{
	rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
	return (float)((rng >> 40) / (double)(1 << 24)) * 2.0f - 1.0f;
}
static int irand(int lo, int hi) { return lo + (int)((urand() + 1.0f) * 0.5f * (hi - lo + 1)) % (hi - lo + 1); }

static float *randv(size_t n)
{
	float *v = malloc(n * sizeof *v);
	for (size_t i = 0; i < n; i++)
		v[i] = urand();
	return v;
}

static int use_dnnl;   /* 0: the sgemm path */

/* fast vs reference for one shape; returns the relative difference */
static double conv_case(int cin, int cout, int k, int stride, int pad, int n, int h, int w, int relu,
			int residual, conv_buf *scratch)
{
	conv_layer c = {cin, cout, k, stride, pad, relu, randv((size_t)cout * cin * k * k), randv(cout)};
	int oh = conv_out_size(h, k, stride, pad), ow = conv_out_size(w, k, stride, pad);
	size_t in_n = (size_t)cin * n * h * w, out_n = (size_t)cout * n * oh * ow;
	float *in = randv(in_n), *res = residual ? randv(out_n) : NULL;
	float *fast = malloc(out_n * sizeof *fast), *ref = malloc(out_n * sizeof *ref);
	char err[ERR_LEN] = "";
	int rc;
	if (use_dnnl) {   /* a fresh cache: it knows convolutions by address */
		onednn_engine *eng = onednn_engine_new(err);
		onednn *d = eng ? onednn_new(eng, err) : NULL;
		rc = d ? conv_onednn(d, &c, in, n, h, w, res, fast, 0, err) : -1;
		onednn_free(d);
		onednn_engine_free(eng);
	} else
		rc = conv_forward(&c, in, n, h, w, res, fast, scratch);
	if (rc)
		printf("# %s\n", err);
	conv_reference(&c, in, n, h, w, res, ref);
	double d = rc ? INFINITY : rel_diff(fast, ref, out_n);
	free(c.w), free(c.b), free(in), free(res), free(fast), free(ref);
	return d;
}

/* oneDNN's path against the reference on random shapes, with the padding
 * every conv of the networks has (k / 2) */
static void test_conv_dnnl(void)
{
	conv_buf scratch = {0};
	use_dnnl = 1;
	double worst = 0;
	int cases = 60;
	for (int i = 0; i < cases; i++) {
		int k = (int[]){1, 3, 7}[irand(0, 2)], stride = irand(1, 2), h = irand(1, 12), w = irand(1, 12);
		worst = fmax(worst, conv_case(irand(1, 9), irand(1, 17), k, stride, k / 2, irand(1, 3), h, w, irand(0, 1),
					      irand(0, 1), &scratch));
	}
	ok(worst < 1e-5, "convolution: oneDNN = reference on %d random shapes (worst %.2g)", cases, worst);
	use_dnnl = 0;
	free(scratch.p);
}

static void test_conv(void)
{
	conv_buf scratch = {0};
	double worst = 0;
	int cases = 300;
	for (int i = 0; i < cases; i++) {
		int k = (int[]){1, 3, 5, 7}[irand(0, 3)], stride = irand(1, 3), pad = irand(0, k - 1);
		int h = irand(1, 13), w = irand(1, 13);
		if (conv_out_size(h, k, stride, pad) < 1 || conv_out_size(w, k, stride, pad) < 1) {
			i--;
			continue;
		}
		double d = conv_case(irand(1, 6), irand(1, 9), k, stride, pad, irand(1, 3), h, w, irand(0, 1),
				     irand(0, 1), &scratch);
		worst = fmax(worst, d);
	}
	ok(worst < 1e-5, "convolution: im2col + sgemm = reference on %d random shapes (worst %.2g)", cases, worst);
	/* columns of 2.4M floats per image: the batch goes through im2col in chunks */
	double d = conv_case(64, 5, 3, 1, 1, 5, 64, 64, 1, 1, &scratch);
	ok(d < 1e-5, "convolution over chunked columns (5 images of 64x64x64) = reference (%.2g)", d);
	d = conv_case(16, 8, 1, 1, 0, 3, 9, 7, 0, 1, &scratch);
	ok(d < 1e-5, "1x1 stride-1 convolution (no im2col) = reference (%.2g)", d);
	d = conv_case(16, 8, 1, 2, 0, 3, 9, 7, 0, 0, &scratch);
	ok(d < 1e-5, "1x1 stride-2 convolution (downsample) = reference (%.2g)", d);
	free(scratch.p);
}

static void test_relu_nan(void)
{
	conv_layer c = {1, 1, 1, 1, 0, 1, (float[]){1.0f}, (float[]){0.0f}};
	float in[3] = {NAN, -1.0f, 2.0f}, out[3];
	conv_buf scratch = {0};
	conv_forward(&c, in, 1, 1, 3, NULL, out, &scratch);
	ok(isnan(out[0]) && out[1] == 0.0f && out[2] == 2.0f, "fused ReLU keeps NaN, zeroes negatives (torch's relu)");
	free(scratch.p);
}

static void test_maxpool(void)
{
	int c = 2, n = 3, h = 9, w = 8;
	float *in = randv((size_t)c * n * h * w);
	int oh = conv_out_size(h, 3, 2, 1), ow = conv_out_size(w, 3, 2, 1), bad = 0;
	float *out = malloc((size_t)c * n * oh * ow * sizeof *out);
	pool_max(in, c, n, h, w, 3, 2, 1, out);
	for (int p = 0; p < c * n; p++)
		for (int oy = 0; oy < oh; oy++)
			for (int ox = 0; ox < ow; ox++) {
				float m = -INFINITY;
				for (int y = 2 * oy - 1; y <= 2 * oy + 1; y++)
					for (int x = 2 * ox - 1; x <= 2 * ox + 1; x++)
						if (y >= 0 && y < h && x >= 0 && x < w)
							m = fmaxf(m, in[(p * h + y) * w + x]);
				bad += out[(p * oh + oy) * ow + ox] != m;
			}
	ok(!bad && oh == 5 && ow == 4, "3x3/2 max pool with padding = brute force (%d wrong)", bad);
	in[0] = NAN;
	pool_max(in, c, n, h, w, 3, 2, 1, out);
	ok(isnan(out[0]) && !isnan(out[2]), "max pool propagates NaN to its window only");
	free(in), free(out);
}

static void test_adaptive(void)
{
	/* torch: 5 -> 3 bins are [0,2), [1,4), [3,5) */
	float in[5] = {1, 2, 3, 4, 5}, out[3];
	pool_adaptive(in, 1, 1, 1, 5, 1, 3, 0, out);
	ok(out[0] == 1.5f && out[1] == 3.0f && out[2] == 4.5f, "adaptive average bins overlap like torch's (%g %g %g)",
	   out[0], out[1], out[2]);
	pool_adaptive(in, 1, 1, 1, 5, 1, 3, 1, out);
	ok(out[0] == 2 && out[1] == 4 && out[2] == 5, "adaptive max bins (%g %g %g)", out[0], out[1], out[2]);
	/* a 1x1 map to 7x7 (VGG's head on a small input) replicates */
	float one = 3.0f, rep[49];
	pool_adaptive(&one, 1, 1, 1, 1, 7, 7, 0, rep);
	int same = 1;
	for (int i = 0; i < 49; i++)
		same &= rep[i] == 3.0f;
	ok(same, "adaptive pool 1x1 -> 7x7 replicates");
}

static void test_pool_parse(void)
{
	char err[ERR_LEN];
	net_pool p;
	ok(!pool_parse("grid:3", &p, err) && p.kind == POOL_GRID && pool_dim(&p, 10) == 90,
	   "--pool grid:3 gives 9 C columns");
	ok(!pool_parse("avgmax", &p, err) && pool_dim(&p, 10) == 20, "--pool avgmax gives 2 C");
	const char *bad[] = {"grid:0", "grid:", "grid:x", "grid:65", "grid:2x", "mean", "", "AVG"};
	int refused = 0;
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
		refused += pool_parse(bad[i], &p, err) != 0 && strstr(err, "--pool");
	ok(refused == (int)(sizeof bad / sizeof *bad), "bad --pool values refused with a message (%d of %zu)",
	   refused, sizeof bad / sizeof *bad);
}

static void test_pool_layout(void)
{
	/* 2 channels, 2 images, 2x2: avgmax rows are [avg c0, avg c1, max c0, max c1] */
	float act[16] = {1, 2, 3, 4, 5, 6, 7, 8, /* c0: img0, img1 */ 0, 0, 0, 4, 1, 1, 1, 1};
	float out[8];
	char err[ERR_LEN];
	net_pool p = {POOL_AVGMAX, 1};
	pool_apply(&p, act, 2, 2, 2, 2, out, err);
	float want[8] = {2.5f, 1, 4, 4, 6.5f, 1, 8, 1};
	ok(!memcmp(out, want, sizeof want), "avgmax rows: image-major, averages then maxima");
	net_pool g = {POOL_GRID, 2};
	float grid[16], gwant[16] = {1, 2, 3, 4, 0, 0, 0, 4, 5, 6, 7, 8, 1, 1, 1, 1};
	pool_apply(&g, act, 2, 2, 2, 2, grid, err);
	ok(!memcmp(grid, gwant, sizeof gwant), "grid:2 rows are torch's flatten of [C][2][2] per image");
}

int main(void)
{
	test_conv();
	test_conv_dnnl();
	test_relu_nan();
	test_maxpool();
	test_adaptive();
	test_pool_parse();
	test_pool_layout();
	return tap_done();
}
