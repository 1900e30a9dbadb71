/* image.c: JPEG/PNG decoding to 8-bit RGB and torchvision's tensor-path
 * preprocessing (docs/datasets.md). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>
#include <jerror.h>
#include <png.h>

#include "image.h"
#include "resample_pil.h"

const float img_imagenet_mean[3] = { 0.485f, 0.456f, 0.406f };
const float img_imagenet_std[3] = { 0.229f, 0.224f, 0.225f };

void img_free(img_rgb *img)
{
	free(img->px);
	img->px = NULL;
	img->w = img->h = 0;
}

/* Refuses sizes a hostile header could use to make us allocate too much. */
static int check_size(uint64_t w, uint64_t h, char *err)
{
	if (w == 0 || h == 0)
		return err_set(err, "empty image (%llux%llu)", (unsigned long long)w, (unsigned long long)h);
	if (w > IMG_MAX_SIDE || h > IMG_MAX_SIDE || w * h > IMG_MAX_PIXELS)
		return err_set(err, "image too large (%llux%llu, at most %d per side and %llu pixels)",
			    (unsigned long long)w, (unsigned long long)h, IMG_MAX_SIDE,
			    (unsigned long long)IMG_MAX_PIXELS);
	return 0;
}

/* ---- JPEG ---- */

typedef struct {
	struct jpeg_error_mgr pub;
	jmp_buf jump;
	char *err;
} jpeg_fail;

static void jpeg_error_exit(j_common_ptr cinfo)
{
	jpeg_fail *f = (jpeg_fail *)cinfo->err;
	char msg[JMSG_LENGTH_MAX];
	cinfo->err->format_message(cinfo, msg);
	err_set(f->err, "corrupt JPEG: %s", msg);
	longjmp(f->jump, 1);
}

/* Warnings are silent, except running out of data: libjpeg would pad the
 * image with grey and carry on, a silent wrong answer (PIL refuses too). */
static void jpeg_message(j_common_ptr cinfo, int level)
{
	if (level == -1 && cinfo->err->msg_code == JWRN_JPEG_EOF) {
		jpeg_fail *f = (jpeg_fail *)cinfo->err;
		err_set(f->err, "truncated JPEG: the data end before the image does");
		longjmp(f->jump, 1);
	}
}

/* PIL's CMYK -> RGB (Convert.c cmyk2rgb) on Adobe-inverted samples, which is
 * what libjpeg returns for the CMYK JPEGs Photoshop and PIL write. */
static inline uint8_t cmyk_channel(int inv_c, int inv_k)
{
	int c = 255 - inv_c, nk = inv_k, t = c * nk + 128;
	int v = nk - (((t >> 8) + t) >> 8);
	return (uint8_t)(v < 0 ? 0 : v);
}

/* grey (1) or CMYK (4) samples to RGB */
static void jpeg_row_to_rgb(const uint8_t *row, int w, int comps, uint8_t *out)
{
	int x;
	if (comps == 1) {
		for (x = 0; x < w; x++)
			out[3 * x] = out[3 * x + 1] = out[3 * x + 2] = row[x];
	} else {
		for (x = 0; x < w; x++) {
			const uint8_t *p = row + 4 * x;
			out[3 * x] = cmyk_channel(p[0], p[3]);
			out[3 * x + 1] = cmyk_channel(p[1], p[3]);
			out[3 * x + 2] = cmyk_channel(p[2], p[3]);
		}
	}
}

static int decode_jpeg(const uint8_t *buf, size_t len, img_rgb *img, char *err)
{
	struct jpeg_decompress_struct cinfo;
	jpeg_fail jerr;
	uint8_t *volatile px = NULL, *volatile row = NULL;

	cinfo.err = jpeg_std_error(&jerr.pub);
	jerr.pub.error_exit = jpeg_error_exit;
	jerr.pub.emit_message = jpeg_message;
	jerr.err = err;
	if (setjmp(jerr.jump)) {
		jpeg_destroy_decompress(&cinfo);
		free(px);
		free(row);
		return -1;
	}
	jpeg_create_decompress(&cinfo);
	jpeg_mem_src(&cinfo, buf, (unsigned long)len);
	jpeg_read_header(&cinfo, TRUE);
	switch (cinfo.jpeg_color_space) {
	case JCS_GRAYSCALE: cinfo.out_color_space = JCS_GRAYSCALE; break;
	case JCS_CMYK: case JCS_YCCK: cinfo.out_color_space = JCS_CMYK; break;
	default: cinfo.out_color_space = JCS_RGB; break;
	}
	if (check_size(cinfo.image_width, cinfo.image_height, err)) {
		jpeg_destroy_decompress(&cinfo);
		return -1;
	}
	jpeg_start_decompress(&cinfo);
	int w = (int)cinfo.output_width, h = (int)cinfo.output_height, comps = cinfo.output_components;
	px = malloc((size_t)w * h * 3);
	row = malloc((size_t)w * comps);
	if (!px || !row) {
		err_set(err, "out of memory for a %dx%d image", w, h);
		longjmp(jerr.jump, 1);
	}
	while (cinfo.output_scanline < cinfo.output_height) {
		uint8_t *dst = px + (size_t)cinfo.output_scanline * w * 3;
		JSAMPROW r = comps == 3 ? dst : row;
		jpeg_read_scanlines(&cinfo, &r, 1);
		if (comps != 3)
			jpeg_row_to_rgb(row, w, comps, dst);
	}
	jpeg_finish_decompress(&cinfo);
	jpeg_destroy_decompress(&cinfo);
	free(row);
	img->w = w;
	img->h = h;
	img->px = px;
	return 0;
}

/* ---- PNG ---- */

typedef struct {
	const uint8_t *buf;
	size_t len, pos;
	char *err;
} png_src;

static void png_read_mem(png_structp png, png_bytep out, png_size_t n)
{
	png_src *s = png_get_io_ptr(png);
	if (n > s->len - s->pos)
		png_error(png, "truncated PNG: the data end before the image does");
	memcpy(out, s->buf + s->pos, n);
	s->pos += n;
}

static void png_fail(png_structp png, png_const_charp msg)
{
	png_src *s = png_get_error_ptr(png);
	err_set(s->err, "%s%s", strncmp(msg, "truncated", 9) ? "corrupt PNG: " : "", msg);
	png_longjmp(png, 1);
}

static void png_quiet(png_structp png, png_const_charp msg)
{
	(void)png;
	(void)msg;
}

/* PIL's I -> RGB (Convert.c i2rgb) of a 16-bit grey row: values clipped at 255 */
static void grey16_clip_to_rgb(const uint8_t *row, png_uint_32 w, uint8_t *out)
{
	for (png_uint_32 x = 0; x < w; x++) {
		unsigned v = (unsigned)row[2 * x] << 8 | row[2 * x + 1];
		out[3 * x] = out[3 * x + 1] = out[3 * x + 2] = (uint8_t)(v > 255 ? 255 : v);
	}
}

static int decode_png(const uint8_t *buf, size_t len, int pil, img_rgb *img, char *err)
{
	png_src src = { buf, len, 0, err };
	png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &src, png_fail, png_quiet);
	png_infop info = png ? png_create_info_struct(png) : NULL;
	uint8_t *volatile px = NULL;
	png_bytep *volatile rows = NULL;

	if (!info) {
		png_destroy_read_struct(&png, NULL, NULL);
		return err_set(err, "out of memory for a PNG decoder");
	}
	if (setjmp(png_jmpbuf(png))) {
		png_destroy_read_struct(&png, &info, NULL);
		free(px);
		free(rows);
		return -1;
	}
	png_set_read_fn(png, &src, png_read_mem);
	png_set_user_limits(png, IMG_MAX_SIDE, IMG_MAX_SIDE);
	png_read_info(png, info);
	png_uint_32 w = png_get_image_width(png, info), h = png_get_image_height(png, info);
	if (check_size(w, h, err))
		png_longjmp(png, 1);
	/* palette -> RGB, grey < 8 bits -> 8, tRNS -> alpha; 16 bits keep the
	 * high byte (PIL's RGB;16B); alpha dropped as PIL's convert("RGB") does.
	 * pil: 16-bit grey read whole, clipped as PIL's mode I converts. */
	int clip16 = pil && png_get_bit_depth(png, info) == 16 && png_get_color_type(png, info) == PNG_COLOR_TYPE_GRAY;
	size_t in_px = clip16 ? 2 : 3;
	png_set_expand(png);
	if (!clip16) {
		png_set_strip_16(png);
		png_set_gray_to_rgb(png);
	}
	png_set_strip_alpha(png);
	png_set_interlace_handling(png);
	png_read_update_info(png, info);
	if (png_get_rowbytes(png, info) != (size_t)w * in_px)
		png_error(png, "unexpected row layout after conversion to RGB");
	px = malloc((size_t)w * h * in_px);
	rows = malloc(sizeof(png_bytep) * h);
	if (!px || !rows)
		png_error(png, "out of memory");
	for (png_uint_32 y = 0; y < h; y++)
		rows[y] = px + (size_t)y * w * in_px;
	png_read_image(png, rows);
	png_read_end(png, NULL);
	if (clip16) {   /* in place, last row first: the RGB row never overtakes the 16-bit rows */
		uint8_t *rgb = realloc(px, (size_t)w * h * 3), *row = malloc((size_t)w * 2);
		if (!rgb || !row) {
			free(row);
			png_error(png, "out of memory");
		}
		px = rgb;
		for (png_uint_32 y = h; y-- > 0;) {
			memcpy(row, px + (size_t)y * w * 2, (size_t)w * 2);
			grey16_clip_to_rgb(row, w, px + (size_t)y * w * 3);
		}
		free(row);
	}
	png_destroy_read_struct(&png, &info, NULL);
	free(rows);
	img->w = (int)w;
	img->h = (int)h;
	img->px = px;
	return 0;
}

static int decode(const uint8_t *buf, size_t len, int pil, img_rgb *img, char *err)
{
	static const uint8_t png_magic[8] = { 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n' };
	img->w = img->h = 0;
	img->px = NULL;
	if (len >= 3 && buf[0] == 0xff && buf[1] == 0xd8 && buf[2] == 0xff)
		return decode_jpeg(buf, len, img, err);
	if (len >= 8 && !memcmp(buf, png_magic, 8))
		return decode_png(buf, len, pil, img, err);
	if (len == 0)
		return err_set(err, "empty file, not an image");
	return err_set(err, "not a JPEG or PNG image (first bytes %02x %02x %02x)", buf[0],
		    len > 1 ? buf[1] : 0, len > 2 ? buf[2] : 0);
}

int img_decode(const uint8_t *buf, size_t len, img_rgb *img, char *err)
{
	return decode(buf, len, 0, img, err);
}

int img_decode_pil(const uint8_t *buf, size_t len, img_rgb *img, char *err)
{
	return decode(buf, len, 1, img, err);
}

/* ---- preprocessing ---- */

/* torchvision's _compute_resized_output_size with one int: the shorter side
 * becomes size, the longer int(size * long / short). */
void img_resize_shorter(int h, int w, int size, int *oh, int *ow)
{
	int shortside = w <= h ? w : h, longside = w <= h ? h : w;
	int newlong = (int)((double)size * longside / shortside);
	if (w <= h) {
		*ow = size;
		*oh = newlong;
	} else {
		*oh = size;
		*ow = newlong;
	}
}

/* The filter taps of a range of output indices along one axis. */
typedef struct {
	int first, count, cap;   /* output indices first..first+count-1; cap taps each */
	int *lo, *n;             /* first input index and number of taps */
	float *wt;               /* [count][cap] */
} aa_axis;

static void aa_axis_free(aa_axis *a)
{
	free(a->lo);
	free(a->n);
	free(a->wt);
}

/* aten's antialiased linear filter (UpSampleKernel.cpp, _compute_weights_aa),
 * in float as aten computes it, with its double literal 0.5 kept double. */
static int aa_axis_init(aa_axis *a, int insize, int outsize, int first, int count)
{
	float scale = (float)insize / (float)outsize;
	float support = scale >= 1.0f ? scale : 1.0f;   /* interp_size 2 * 0.5 */
	float invscale = scale >= 1.0f ? 1.0f / scale : 1.0f;
	a->first = first;
	a->count = count;
	a->cap = (int)ceilf(support) * 2 + 2;
	a->lo = malloc(sizeof(int) * (count ? count : 1));
	a->n = malloc(sizeof(int) * (count ? count : 1));
	a->wt = malloc(sizeof(float) * a->cap * (count ? count : 1));
	if (!a->lo || !a->n || !a->wt) {
		aa_axis_free(a);
		return -1;
	}
	for (int o = 0; o < count; o++) {
		float center = scale * ((float)(first + o) + 0.5f), total = 0.0f, *wt = a->wt + (size_t)o * a->cap;
		int lo = (int)((double)(center - support) + 0.5), hi = (int)((double)(center + support) + 0.5);
		if (lo < 0)
			lo = 0;
		if (hi > insize)
			hi = insize;
		for (int j = 0; j < hi - lo; j++) {
			float x = fabsf((float)(((double)((float)(j + lo) - center) + 0.5) * invscale));
			wt[j] = x < 1.0f ? 1.0f - x : 0.0f;
			total += wt[j];
		}
		if (total != 0.0f)
			for (int j = 0; j < hi - lo; j++)
				wt[j] /= total;
		a->lo[o] = lo;
		a->n[o] = hi - lo;
	}
	return 0;
}

/* The plain reference: torch.nn.functional.interpolate(mode="bilinear",
 * antialias=True, align_corners=False) on a whole CHW image, width first,
 * then height, as aten's separable kernel does; sums in tap order. */
int img_resize_bilinear_aa(const float *in, int c, int h, int w, float *out, int oh, int ow)
{
	aa_axis ax, ay;
	float *tmp = malloc(sizeof(float) * (size_t)c * h * ow);
	if (!tmp || aa_axis_init(&ax, w, ow, 0, ow)) {
		free(tmp);
		return -1;
	}
	if (aa_axis_init(&ay, h, oh, 0, oh)) {
		aa_axis_free(&ax);
		free(tmp);
		return -1;
	}
	for (size_t line = 0; line < (size_t)c * h; line++)
		for (int o = 0; o < ow; o++) {
			const float *src = in + line * w + ax.lo[o], *wt = ax.wt + (size_t)o * ax.cap;
			float acc = src[0] * wt[0];
			for (int j = 1; j < ax.n[o]; j++)
				acc += src[j] * wt[j];
			tmp[line * ow + o] = acc;
		}
	for (int ch = 0; ch < c; ch++)
		for (int o = 0; o < oh; o++)
			for (int x = 0; x < ow; x++) {
				const float *src = tmp + ((size_t)ch * h + ay.lo[o]) * ow + x, *wt = ay.wt + (size_t)o * ay.cap;
				float acc = src[0] * wt[0];
				for (int j = 1; j < ay.n[o]; j++)
					acc += src[(size_t)j * ow] * wt[j];
				out[((size_t)ch * oh + o) * ow + x] = acc;
			}
	aa_axis_free(&ax);
	aa_axis_free(&ay);
	free(tmp);
	return 0;
}

void img_out_size(const img_rgb *img, int resize, int crop, int *oh, int *ow)
{
	*oh = img->h;
	*ow = img->w;
	if (resize > 0)
		img_resize_shorter(img->h, img->w, resize, oh, ow);
	if (crop > 0)
		*oh = *ow = crop;
}

/* torchvision's center_crop offset: round((size - crop) / 2) with Python's
 * round (half to even); a crop larger than the image pads with zeros
 * (left/top (crop - size) // 2). */
static int crop_offset(int size, int crop)
{
	if (crop > size)
		return -((crop - size) / 2);
	return (int)nearbyint((size - crop) / 2.0);
}

/* torch.round (half to even) of a value in [0, 2^23): adding 2^23 leaves
 * no fraction bits, so the FPU's default rounding does it, inline. */
static inline float round_half_even(float v)
{
	return (v + 8388608.0f) - 8388608.0f;
}

/* The resized image's pixels rows [y0,y1) x columns [x0,x1), as floats
 * [3][y1-y0][x1-x0], computed straight from the u8 HWC pixels: only the part
 * the crop keeps, each value summed exactly as img_resize_bilinear_aa does,
 * then rounded to u8 levels (torchvision's uint8 in, uint8 out). */
static int resize_window(const img_rgb *img, int rh, int rw, int y0, int y1, int x0, int x1, float *out)
{
	int h = img->h, w = img->w, cw = x1 - x0, chh = y1 - y0;
	aa_axis ax, ay;
	if (aa_axis_init(&ax, w, rw, x0, cw))
		return -1;
	if (aa_axis_init(&ay, h, rh, y0, chh)) {
		aa_axis_free(&ax);
		return -1;
	}
	int in0 = ay.lo[0], in1 = in0;   /* input rows the window needs */
	for (int o = 0; o < chh; o++)
		if (ay.lo[o] + ay.n[o] > in1)
			in1 = ay.lo[o] + ay.n[o];
	size_t rows = (size_t)(in1 - in0);
	float *tmp = malloc(sizeof(float) * 3 * rows * cw + 1);
	if (!tmp) {
		aa_axis_free(&ax);
		aa_axis_free(&ay);
		return -1;
	}
	for (size_t y = 0; y < rows; y++) {
		const uint8_t *row = img->px + (size_t)(in0 + y) * w * 3;
		for (int o = 0; o < cw; o++) {
			const uint8_t *src = row + (size_t)ax.lo[o] * 3;
			const float *wt = ax.wt + (size_t)o * ax.cap;
			float r = (float)src[0] * wt[0], g = (float)src[1] * wt[0], b = (float)src[2] * wt[0];
			for (int j = 1; j < ax.n[o]; j++) {
				r += (float)src[3 * j] * wt[j];
				g += (float)src[3 * j + 1] * wt[j];
				b += (float)src[3 * j + 2] * wt[j];
			}
			tmp[y * cw + o] = r;
			tmp[(rows + y) * cw + o] = g;
			tmp[(2 * rows + y) * cw + o] = b;
		}
	}
	for (int c = 0; c < 3; c++)
		for (int o = 0; o < chh; o++) {
			const float *wt = ay.wt + (size_t)o * ay.cap;
			const float *restrict src = tmp + ((size_t)c * rows + (ay.lo[o] - in0)) * cw;
			float *restrict dst = out + ((size_t)c * chh + o) * cw;
			for (int x = 0; x < cw; x++)
				dst[x] = src[x] * wt[0];
			for (int j = 1; j < ay.n[o]; j++)
				for (int x = 0; x < cw; x++)
					dst[x] += src[(size_t)j * cw + x] * wt[j];
			for (int x = 0; x < cw; x++)
				dst[x] = round_half_even(dst[x]);
		}
	free(tmp);
	aa_axis_free(&ax);
	aa_axis_free(&ay);
	return 0;
}

/* The window of the resized image as planar floats holding 0..255 levels,
 * by the chosen path. */
static int resized_window(const img_rgb *img, img_resample how, int rh, int rw, int y0, int y1, int x0, int x1,
			  float *win, char *err)
{
	if (how == IMG_TENSOR_BILINEAR)
		return resize_window(img, rh, rw, y0, y1, x0, x1, win) ? err_set(err, "out of memory") : 0;
	size_t cw = (size_t)(x1 - x0), n = cw * (size_t)(y1 - y0);
	uint8_t *px = malloc(n * 3);
	if (!px)
		return err_set(err, "out of memory");
	if (pil_resize_window(img, rw, rh, how == IMG_PIL_BICUBIC ? PIL_BICUBIC : PIL_BILINEAR, y0, y1, x0, x1, px,
			      err)) {
		free(px);
		return -1;
	}
	for (size_t i = 0; i < n; i++)
		for (int c = 0; c < 3; c++)
			win[c * n + i] = px[3 * i + c];
	free(px);
	return 0;
}

int img_resample_parse(const char *how, const char *interpolation, img_resample *r, char *err)
{
	int bicubic = interpolation && !strcmp(interpolation, "bicubic");
	if (interpolation && !bicubic && strcmp(interpolation, "bilinear"))
		return err_set(err, "interpolation '%s': expected bilinear or bicubic", err_esc(interpolation));
	if (!strcmp(how, "pil"))
		*r = bicubic ? IMG_PIL_BICUBIC : IMG_PIL_BILINEAR;
	else if (!strcmp(how, "tensor") && !bicubic)
		*r = IMG_TENSOR_BILINEAR;
	else if (!strcmp(how, "tensor"))
		return err_set(err, "resample 'tensor' is bilinear only (bicubic: resample 'pil')");
	else
		return err_set(err, "resample '%s': expected pil or tensor", err_esc(how));
	return 0;
}

int img_preprocess(const img_rgb *img, const img_prep *p, float *out, char *err)
{
	int h = img->h, w = img->w, rh = h, rw = w, resize = p->resize, crop = p->crop;
	if (h <= 0 || w <= 0 || !img->px)
		return err_set(err, "empty image");
	if (resize < 0 || crop < 0)
		return err_set(err, "negative resize (%d) or crop (%d)", resize, crop);
	for (int c = 0; c < 3; c++)
		if (!(p->std[c] != 0.0f) || !isfinite(p->std[c]) || !isfinite(p->mean[c]))
			return err_set(err, "std must be finite and non-zero, mean finite (channel %d: mean %g std %g)",
				    c, p->mean[c], p->std[c]);
	if (resize > 0)
		img_resize_shorter(h, w, resize, &rh, &rw);
	if (rh <= 0 || rw <= 0)
		return err_set(err, "resizing %dx%d to a shorter side of %d leaves nothing", w, h, resize);
	int oh = crop > 0 ? crop : rh, ow = crop > 0 ? crop : rw;
	int top = crop > 0 ? crop_offset(rh, crop) : 0, left = crop > 0 ? crop_offset(rw, crop) : 0;
	/* the part of the resized image inside the crop */
	int y0 = top > 0 ? top : 0, y1 = top + oh < rh ? top + oh : rh;
	int x0 = left > 0 ? left : 0, x1 = left + ow < rw ? left + ow : rw;
	int cw = x1 - x0, chh = y1 - y0;
	float *win = NULL;
	if (rh != h || rw != w) {
		char why[ERR_LEN];
		win = malloc(sizeof(float) * 3 * (size_t)chh * cw + 1);
		if (!win || resized_window(img, p->resample, rh, rw, y0, y1, x0, x1, win, why)) {
			free(win);
			return err_set(err, "resizing %dx%d to %dx%d: %s", w, h, rw, rh, win ? why : "out of memory");
		}
	}
	/* out = padding (value 0) around the window's normalised pixels */
	for (int c = 0; c < 3; c++) {
		float m = p->mean[c], sd = p->std[c], pad = (0.0f / 255.0f - m) / sd;
		for (int y = 0; y < oh; y++) {
			float *dst = out + ((size_t)c * oh + y) * ow;
			int sy = y + top, lo = x0 - left, hi = x1 - left;
			if (sy < y0 || sy >= y1)
				lo = hi = ow;
			for (int x = 0; x < lo; x++)
				dst[x] = pad;
			if (win) {
				const float *src = win + ((size_t)c * chh + (sy - y0)) * cw - lo;
				for (int x = lo; x < hi; x++)
					dst[x] = (src[x] / 255.0f - m) / sd;
			} else {
				const uint8_t *src = img->px + ((size_t)sy * w + left) * 3 + c;
				for (int x = lo; x < hi; x++)
					dst[x] = ((float)src[3 * x] / 255.0f - m) / sd;
			}
			for (int x = hi; x < ow; x++)
				dst[x] = pad;
		}
	}
	free(win);
	return 0;
}
