/* resample_pil.c: Pillow's 8-bit resampling (resample_pil.h). The same
 * operations in the same order as Pillow's Resample.c (precompute_coeffs,
 * normalize_coeffs_8bpc, the 8bpc passes), written for one window of the
 * output so that a centre crop costs only what it keeps. */
#include "resample_pil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Fixed point of the taps: 8 bits of pixel, 2 of headroom, 22 of fraction. */
#define PRECISION_BITS (32 - 8 - 2)

int pil_filter_parse(const char *s, pil_filter *f)
{
	if (!strcmp(s, "bilinear"))
		*f = PIL_BILINEAR;
	else if (!strcmp(s, "bicubic"))
		*f = PIL_BICUBIC;
	else
		return -1;
	return 0;
}

const char *pil_filter_name(pil_filter f)
{
	return f == PIL_BICUBIC ? "bicubic" : "bilinear";
}

static double filter_support(pil_filter f)
{
	return f == PIL_BICUBIC ? 2.0 : 1.0;
}

static double filter_eval(pil_filter f, double x)
{
	if (x < 0.0)
		x = -x;
	if (f == PIL_BILINEAR)
		return x < 1.0 ? 1.0 - x : 0.0;
	const double a = -0.5;   /* Keys' cubic convolution, as Pillow's bicubic_filter */
	if (x < 1.0)
		return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
	if (x < 2.0)
		return (((x - 5) * x + 8) * x - 4) * a;
	return 0.0;
}

/* The fixed-point taps of output indices first .. first+count-1 along an axis
 * of insize resized to outsize. */
typedef struct {
	int ksize;       /* taps per output (Pillow's buffer width) */
	int *lo, *n;     /* first input index and number of taps */
	int32_t *k;      /* [count][ksize] */
} axis;

static void axis_free(axis *a)
{
	free(a->lo);
	free(a->n);
	free(a->k);
}

static int axis_init(axis *a, int insize, int outsize, pil_filter f, int first, int count)
{
	/* Pillow's box is (0, 0, w, h) in floats: in0 = 0, in1 = insize */
	double scale = (double)((float)insize - 0.0f) / outsize, filterscale = scale < 1.0 ? 1.0 : scale;
	double support = filter_support(f) * filterscale, ss = 1.0 / filterscale;
	int c = count > 0 ? count : 1;
	a->ksize = (int)ceil(support) * 2 + 1;
	a->lo = malloc(sizeof(int) * c);
	a->n = malloc(sizeof(int) * c);
	a->k = malloc(sizeof(int32_t) * a->ksize * (size_t)c);
	double *w = malloc(sizeof(double) * a->ksize);
	if (!a->lo || !a->n || !a->k || !w) {
		free(w);
		axis_free(a);
		return -1;
	}
	for (int o = 0; o < count; o++) {
		int xx = first + o;
		double center = 0.0 + (xx + 0.5) * scale, ww = 0.0;
		int xmin = (int)(center - support + 0.5), xmax = (int)(center + support + 0.5);
		if (xmin < 0)
			xmin = 0;
		if (xmax > insize)
			xmax = insize;
		xmax -= xmin;
		for (int x = 0; x < xmax; x++) {
			w[x] = filter_eval(f, (x + xmin - center + 0.5) * ss);
			ww += w[x];
		}
		int32_t *k = a->k + (size_t)o * a->ksize;
		for (int x = 0; x < xmax; x++) {
			double v = ww != 0.0 ? w[x] / ww : w[x];
			k[x] = v < 0 ? (int)(-0.5 + v * (1 << PRECISION_BITS)) : (int)(0.5 + v * (1 << PRECISION_BITS));
		}
		a->lo[o] = xmin;
		a->n[o] = xmax;
	}
	free(w);
	return 0;
}

/* Pillow's clip8: the sum's integer part, clamped to a byte */
static inline uint8_t clip8(int ss)
{
	int v = ss >> PRECISION_BITS;
	return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
}

int pil_resize_window(const img_rgb *img, int rw, int rh, pil_filter f, int y0, int y1, int x0, int x1,
		      uint8_t *out, char *err)
{
	int w = img->w, h = img->h, cw = x1 - x0, ch = y1 - y0;
	if (w <= 0 || h <= 0 || !img->px)
		return err_set(err, "empty image");
	if (rw <= 0 || rh <= 0 || rw > IMG_MAX_SIDE || rh > IMG_MAX_SIDE)
		return err_set(err, "cannot resize to %dx%d (sides from 1 to %d)", rw, rh, IMG_MAX_SIDE);
	if (x0 < 0 || y0 < 0 || x1 > rw || y1 > rh || cw <= 0 || ch <= 0)
		return err_set(err, "window [%d,%d)x[%d,%d) outside a %dx%d resize", x0, x1, y0, y1, rw, rh);
	/* Pillow skips a pass whose size does not change */
	int need_h = rw != w, need_v = rh != h;
	axis ax = { 0 }, ay = { 0 };
	uint8_t *tmp = NULL;
	int rc = -1;
	if ((need_h && axis_init(&ax, w, rw, f, x0, cw)) || (need_v && axis_init(&ay, h, rh, f, y0, ch)))
		goto done;
	/* input rows the window needs */
	int in0 = need_v ? ay.lo[0] : y0, in1 = need_v ? in0 : y1;
	for (int o = 0; need_v && o < ch; o++)
		if (ay.lo[o] + ay.n[o] > in1)
			in1 = ay.lo[o] + ay.n[o];
	size_t rows = (size_t)(in1 - in0);
	/* horizontal pass: rows in0..in1, output columns x0..x1, 8-bit */
	if (!(tmp = malloc(rows * cw * 3 + 1)))
		goto done;
	for (size_t y = 0; y < rows; y++) {
		const uint8_t *src = img->px + (size_t)(in0 + y) * w * 3;
		uint8_t *dst = tmp + y * cw * 3;
		if (!need_h) {
			memcpy(dst, src + (size_t)x0 * 3, (size_t)cw * 3);
			continue;
		}
		for (int o = 0; o < cw; o++) {
			const uint8_t *p = src + (size_t)ax.lo[o] * 3;
			const int32_t *k = ax.k + (size_t)o * ax.ksize;
			int s0 = 1 << (PRECISION_BITS - 1), s1 = s0, s2 = s0;
			for (int x = 0; x < ax.n[o]; x++) {
				s0 += p[3 * x] * k[x];
				s1 += p[3 * x + 1] * k[x];
				s2 += p[3 * x + 2] * k[x];
			}
			dst[3 * o] = clip8(s0);
			dst[3 * o + 1] = clip8(s1);
			dst[3 * o + 2] = clip8(s2);
		}
	}
	/* vertical pass */
	if (!need_v) {
		memcpy(out, tmp, rows * cw * 3);
	} else {
		size_t line = (size_t)cw * 3;
		for (int o = 0; o < ch; o++) {
			const uint8_t *src = tmp + (size_t)(ay.lo[o] - in0) * line;
			const int32_t *k = ay.k + (size_t)o * ay.ksize;
			uint8_t *dst = out + (size_t)o * line;
			for (size_t x = 0; x < line; x++) {
				int s = 1 << (PRECISION_BITS - 1);
				for (int y = 0; y < ay.n[o]; y++)
					s += src[(size_t)y * line + x] * k[y];
				dst[x] = clip8(s);
			}
		}
	}
	rc = 0;
done:
	if (rc)
		err_set(err, "out of memory resizing %dx%d to %dx%d", w, h, rw, rh);
	free(tmp);
	axis_free(&ax);
	axis_free(&ay);
	return rc;
}

int pil_resize(const img_rgb *img, int rw, int rh, pil_filter f, img_rgb *out, char *err)
{
	out->w = out->h = 0;
	if (rw <= 0 || rh <= 0 || (uint64_t)rw * rh > IMG_MAX_PIXELS)
		return err_set(err, "cannot resize to %dx%d", rw, rh);
	if (!(out->px = malloc((size_t)rw * rh * 3)))
		return err_set(err, "out of memory for a %dx%d image", rw, rh);
	if (pil_resize_window(img, rw, rh, f, 0, rh, 0, rw, out->px, err)) {
		img_free(out);
		return -1;
	}
	out->w = rw;
	out->h = rh;
	return 0;
}
