/* net.c: the compute core of extract-feats: convolutions, pooling, and the
 * pooled features of a tap (conv.h, net.h). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cblas.h>
#include "conv.h"
#include "net.h"
#include "net_step.h"

/* Columns of one im2col chunk, in floats: big enough for sgemm to run at
 * full speed, small enough to stay out of the way of a big batch. */
#define COL_CHUNK (8u << 20)

float *conv_buf_get(conv_buf *b, size_t nfloat)
{
	if (nfloat > b->cap) {
		free(b->p);
		b->p = malloc(nfloat ? nfloat * sizeof(float) : 1);
		b->cap = b->p ? nfloat : 0;
	}
	return b->p;
}

/* ---- convolution ---- */

/* One output row of im2col: the columns ox = 0..ow-1 of input row src, shifted
 * by x0 = kw - pad and strided; zeros where the kernel hangs over the edge. */
static void im2col_row(const float *src, int w, int ow, int stride, int x0, float *dst)
{
	int lo = x0 >= 0 ? 0 : (-x0 + stride - 1) / stride;
	int hi = w - 1 - x0 < 0 ? 0 : (w - 1 - x0) / stride + 1;
	if (lo > ow)
		lo = ow;
	if (hi > ow)
		hi = ow;
	if (hi < lo)
		hi = lo;
	memset(dst, 0, lo * sizeof(float));
	if (stride == 1)
		memcpy(dst + lo, src + lo + x0, (hi - lo) * sizeof(float));
	else
		for (int ox = lo; ox < hi; ox++)
			dst[ox] = src[ox * stride + x0];
	memset(dst + hi, 0, (ow - hi) * sizeof(float));
}

/* Rows (ci,kh,kw), columns (image, oy, ox) for images [n0, n1) of the batch. */
static void im2col(const conv_layer *c, const float *in, int n, int h, int w, int n0, int n1,
		   int oh, int ow, float *col)
{
	size_t plane = (size_t)h * w, cols = (size_t)(n1 - n0) * oh * ow;
	for (int ci = 0; ci < c->cin; ci++)
		for (int kh = 0; kh < c->k; kh++)
			for (int kw = 0; kw < c->k; kw++) {
				float *dst = col + ((size_t)(ci * c->k + kh) * c->k + kw) * cols;
				for (int im = n0; im < n1; im++) {
					const float *src = in + ((size_t)ci * n + im) * plane;
					for (int oy = 0; oy < oh; oy++, dst += ow) {
						int y = oy * c->stride - c->pad + kh;
						if (y < 0 || y >= h)
							memset(dst, 0, ow * sizeof(float));
						else
							im2col_row(src + (size_t)y * w, w, ow, c->stride, kw - c->pad, dst);
					}
				}
			}
}

/* out = relu?((out + residual) + b[c]), per output channel (net_epilogue) */
static void conv_epilogue(const conv_layer *c, size_t plane, const float *residual, float *out)
{
	for (int co = 0; co < c->cout; co++) {
		float *o = out + (size_t)co * plane, b = c->b[co];
		const float *r = residual ? residual + (size_t)co * plane : NULL;
		if (c->relu) {   /* two loops, so that each vectorises */
			for (size_t i = 0; i < plane; i++)
				o[i] = net_epilogue(o[i], b, r ? r[i] : 0.0f, 1);
		} else {
			for (size_t i = 0; i < plane; i++)
				o[i] = net_epilogue(o[i], b, r ? r[i] : 0.0f, 0);
		}
	}
}

int conv_forward(const conv_layer *c, const float *in, int n, int h, int w,
		    const float *residual, float *out, conv_buf *scratch)
{
	int oh = conv_out_size(h, c->k, c->stride, c->pad), ow = conv_out_size(w, c->k, c->stride, c->pad);
	size_t K = (size_t)c->cin * c->k * c->k, per_image = (size_t)oh * ow;
	size_t total = per_image * n;
	if (c->k == 1 && c->stride == 1 && c->pad == 0) {
		/* the activation is its own column matrix */
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, c->cout, (int)total, (int)K,
			    1.0f, c->w, (int)K, in, (int)total, 0.0f, out, (int)total);
	} else {
		size_t per_chunk = per_image * K >= COL_CHUNK ? 1 : COL_CHUNK / (per_image * K);
		if (per_chunk > (size_t)n)
			per_chunk = n;
		float *col = conv_buf_get(scratch, K * per_image * per_chunk);
		if (!col)
			return -1;
		for (int n0 = 0; n0 < n; n0 += (int)per_chunk) {
			int n1 = n0 + (int)per_chunk > n ? n : n0 + (int)per_chunk;
			size_t cols = per_image * (n1 - n0);
			im2col(c, in, n, h, w, n0, n1, oh, ow, col);
			cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, c->cout, (int)cols,
				    (int)K, 1.0f, c->w, (int)K, col, (int)cols, 0.0f,
				    out + per_image * n0, (int)total);
		}
	}
	conv_epilogue(c, total, residual, out);
	return 0;
}

void conv_reference(const conv_layer *c, const float *in, int n, int h, int w,
		       const float *residual, float *out)
{
	int oh = conv_out_size(h, c->k, c->stride, c->pad), ow = conv_out_size(w, c->k, c->stride, c->pad);
	size_t plane = (size_t)n * oh * ow;
	for (int co = 0; co < c->cout; co++)
		for (int im = 0; im < n; im++)
			for (int oy = 0; oy < oh; oy++)
				for (int ox = 0; ox < ow; ox++) {
					double s = c->b[co];
					for (int ci = 0; ci < c->cin; ci++)
						for (int kh = 0; kh < c->k; kh++)
							for (int kw = 0; kw < c->k; kw++) {
								int y = oy * c->stride - c->pad + kh;
								int x = ox * c->stride - c->pad + kw;
								if (y < 0 || y >= h || x < 0 || x >= w)
									continue;
								s += (double)c->w[((size_t)co * c->cin + ci) * c->k * c->k + kh * c->k + kw] *
								     in[(((size_t)ci * n + im) * h + y) * w + x];
							}
					size_t o = (size_t)co * plane + ((size_t)im * oh + oy) * ow + ox;
					if (residual)
						s += residual[o];
					out[o] = c->relu && s < 0 ? 0.0f : (float)s;
				}
}

/* ---- pooling ---- */

void pool_max(const float *in, int c, int n, int h, int w, int k, int stride, int pad,
		float *out)
{
	int oh = conv_out_size(h, k, stride, pad), ow = conv_out_size(w, k, stride, pad);
	for (size_t p = 0; p < (size_t)c * n; p++) {
		const float *src = in + p * h * w;
		for (int oy = 0; oy < oh; oy++) {
			int y0, y1;
			net_pool_window(oy, k, stride, pad, h, &y0, &y1);
			for (int ox = 0; ox < ow; ox++) {
				int x0, x1;
				net_pool_window(ox, k, stride, pad, w, &x0, &x1);
				float m = -INFINITY;
				int nan = 0;   /* torch propagates NaN; kept apart so the max stays branch-free */
				for (int y = y0; y < y1; y++)
					for (int x = x0; x < x1; x++) {
						float v = src[y * w + x];
						m = v > m ? v : m;
						nan |= v != v;
					}
				*out++ = nan ? NAN : m;
			}
		}
	}
}

void pool_adaptive(const float *in, int c, int n, int h, int w, int oh, int ow, int max,
		      float *out)
{
	for (size_t p = 0; p < (size_t)c * n; p++) {
		const float *src = in + p * h * w;
		for (int oy = 0; oy < oh; oy++)
			for (int ox = 0; ox < ow; ox++) {
				int y0 = net_bin_start(oy, h, oh), y1 = net_bin_end(oy, h, oh);
				int x0 = net_bin_start(ox, w, ow), x1 = net_bin_end(ox, w, ow);
				float m = -INFINITY;
				double s = 0;
				int nan = 0;
				if (!max) {
					/* each row summed in 8 float lanes (a chain of dependent
					 * double additions is what took the time), the rows in double */
					for (int y = y0; y < y1; y++) {
						const float *row = src + (size_t)y * w;
						float acc[8] = {0};
						int x = x0;
						for (; x + 8 <= x1; x += 8)
							for (int j = 0; j < 8; j++)
								acc[j] += row[x + j];
						for (; x < x1; x++)
							acc[0] += row[x];
						s += ((double)acc[0] + acc[1]) + ((double)acc[2] + acc[3]) +
						     ((double)acc[4] + acc[5]) + ((double)acc[6] + acc[7]);
					}
					*out++ = (float)(s / ((y1 - y0) * (x1 - x0)));
					continue;
				}
				for (int y = y0; y < y1; y++)
					for (int x = x0; x < x1; x++) {
						float v = src[y * w + x];
						m = v > m ? v : m;
						nan |= v != v;
					}
				*out++ = nan ? NAN : m;
			}
	}
}

int pool_parse(const char *s, net_pool *p, char *err)
{
	char *end;
	p->grid = 1;
	if (!strcmp(s, "avg"))
		p->kind = POOL_AVG;
	else if (!strcmp(s, "max"))
		p->kind = POOL_MAX;
	else if (!strcmp(s, "avgmax"))
		p->kind = POOL_AVGMAX;
	else if (!strncmp(s, "grid:", 5)) {
		long g = strtol(s + 5, &end, 10);
		if (end == s + 5 || *end || g < 1 || g > 64) {
			err_set(err, "bad --pool '%s': expected grid:S with S in 1..64", s);
			return -1;
		}
		p->kind = POOL_GRID;
		p->grid = (int)g;
	} else {
		err_set(err, "bad --pool '%s': expected avg, max, avgmax or grid:S", s);
		return -1;
	}
	return 0;
}

int64_t pool_dim(const net_pool *p, int c)
{
	return p->kind == POOL_AVGMAX ? 2 * (int64_t)c : (int64_t)c * p->grid * p->grid;
}

void pool_cn_to_rows(const float *cn, int c, int n, int s, float *out, int64_t ld, int64_t off)
{
	for (int ch = 0; ch < c; ch++)
		for (int im = 0; im < n; im++)
			memcpy(out + im * ld + off + (int64_t)ch * s, cn + ((size_t)ch * n + im) * s,
			       s * sizeof(float));
}

int pool_apply(const net_pool *p, const float *act, int c, int n, int h, int w, float *out,
		  char *err)
{
	int g = p->grid, s = g * g;
	int64_t D = pool_dim(p, c);
	float *tmp = malloc((size_t)c * n * s * sizeof(float));
	if (!tmp) {
		err_set(err, "out of memory pooling %d channels", c);
		return -1;
	}
	if (p->kind == POOL_AVGMAX) {
		pool_adaptive(act, c, n, h, w, 1, 1, 0, tmp);
		pool_cn_to_rows(tmp, c, n, 1, out, D, 0);
		pool_adaptive(act, c, n, h, w, 1, 1, 1, tmp);
		pool_cn_to_rows(tmp, c, n, 1, out, D, c);
	} else {
		pool_adaptive(act, c, n, h, w, g, g, p->kind == POOL_MAX, tmp);
		pool_cn_to_rows(tmp, c, n, s, out, D, 0);
	}
	free(tmp);
	return 0;
}
