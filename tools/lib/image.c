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

const float ls_imagenet_mean[3] = { 0.485f, 0.456f, 0.406f };
const float ls_imagenet_std[3] = { 0.229f, 0.224f, 0.225f };

static int fail(char *err, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, ST_ERRLEN, fmt, ap);
	va_end(ap);
	return -1;
}

void ls_image_free(ls_image *img)
{
	free(img->px);
	img->px = NULL;
	img->w = img->h = 0;
}

/* Refuses sizes a hostile header could use to make us allocate too much. */
static int check_size(uint64_t w, uint64_t h, char *err)
{
	if (w == 0 || h == 0)
		return fail(err, "empty image (%llux%llu)", (unsigned long long)w, (unsigned long long)h);
	if (w > LS_IMAGE_MAX_SIDE || h > LS_IMAGE_MAX_SIDE || w * h > LS_IMAGE_MAX_PIXELS)
		return fail(err, "image too large (%llux%llu, at most %d per side and %llu pixels)",
			    (unsigned long long)w, (unsigned long long)h, LS_IMAGE_MAX_SIDE,
			    (unsigned long long)LS_IMAGE_MAX_PIXELS);
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
	snprintf(f->err, ST_ERRLEN, "corrupt JPEG: %s", msg);
	longjmp(f->jump, 1);
}

/* Warnings are silent, except running out of data: libjpeg would pad the
 * image with grey and carry on, a silent wrong answer (PIL refuses too). */
static void jpeg_message(j_common_ptr cinfo, int level)
{
	if (level == -1 && cinfo->err->msg_code == JWRN_JPEG_EOF) {
		jpeg_fail *f = (jpeg_fail *)cinfo->err;
		snprintf(f->err, ST_ERRLEN, "truncated JPEG: the data end before the image does");
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

static void jpeg_row_to_rgb(const uint8_t *row, int w, int comps, uint8_t *out)
{
	int x;
	if (comps == 3) {
		memcpy(out, row, (size_t)w * 3);
	} else if (comps == 1) {
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

static int decode_jpeg(const uint8_t *buf, size_t len, ls_image *img, char *err)
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
		snprintf(err, ST_ERRLEN, "out of memory for a %dx%d image", w, h);
		longjmp(jerr.jump, 1);
	}
	while (cinfo.output_scanline < cinfo.output_height) {
		JSAMPROW r = row;
		int y = (int)cinfo.output_scanline;
		jpeg_read_scanlines(&cinfo, &r, 1);
		jpeg_row_to_rgb(row, w, comps, px + (size_t)y * w * 3);
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
	snprintf(s->err, ST_ERRLEN, "%s%s", strncmp(msg, "truncated", 9) ? "corrupt PNG: " : "", msg);
	png_longjmp(png, 1);
}

static void png_quiet(png_structp png, png_const_charp msg)
{
	(void)png;
	(void)msg;
}

static int decode_png(const uint8_t *buf, size_t len, ls_image *img, char *err)
{
	png_src src = { buf, len, 0, err };
	png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &src, png_fail, png_quiet);
	png_infop info = png ? png_create_info_struct(png) : NULL;
	uint8_t *volatile px = NULL;
	png_bytep *volatile rows = NULL;

	if (!info) {
		png_destroy_read_struct(&png, NULL, NULL);
		return fail(err, "out of memory for a PNG decoder");
	}
	if (setjmp(png_jmpbuf(png))) {
		png_destroy_read_struct(&png, &info, NULL);
		free(px);
		free(rows);
		return -1;
	}
	png_set_read_fn(png, &src, png_read_mem);
	png_set_user_limits(png, LS_IMAGE_MAX_SIDE, LS_IMAGE_MAX_SIDE);
	png_read_info(png, info);
	png_uint_32 w = png_get_image_width(png, info), h = png_get_image_height(png, info);
	if (check_size(w, h, err))
		png_longjmp(png, 1);
	/* palette -> RGB, grey < 8 bits -> 8, tRNS -> alpha; 16 bits keep the
	 * high byte (PIL's RGB;16B); alpha dropped as PIL's convert("RGB") does */
	png_set_expand(png);
	png_set_strip_16(png);
	png_set_strip_alpha(png);
	png_set_gray_to_rgb(png);
	png_set_interlace_handling(png);
	png_read_update_info(png, info);
	if (png_get_rowbytes(png, info) != (size_t)w * 3)
		png_error(png, "unexpected row layout after conversion to RGB");
	px = malloc((size_t)w * h * 3);
	rows = malloc(sizeof(png_bytep) * h);
	if (!px || !rows)
		png_error(png, "out of memory");
	for (png_uint_32 y = 0; y < h; y++)
		rows[y] = px + (size_t)y * w * 3;
	png_read_image(png, rows);
	png_read_end(png, NULL);
	png_destroy_read_struct(&png, &info, NULL);
	free(rows);
	img->w = (int)w;
	img->h = (int)h;
	img->px = px;
	return 0;
}

int ls_image_decode(const uint8_t *buf, size_t len, ls_image *img, char *err)
{
	static const uint8_t png_magic[8] = { 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n' };
	img->w = img->h = 0;
	img->px = NULL;
	if (len >= 3 && buf[0] == 0xff && buf[1] == 0xd8 && buf[2] == 0xff)
		return decode_jpeg(buf, len, img, err);
	if (len >= 8 && !memcmp(buf, png_magic, 8))
		return decode_png(buf, len, img, err);
	if (len == 0)
		return fail(err, "empty file, not an image");
	return fail(err, "not a JPEG or PNG image (first bytes %02x %02x %02x)", buf[0],
		    len > 1 ? buf[1] : 0, len > 2 ? buf[2] : 0);
}

/* ---- preprocessing ---- */

/* torchvision's _compute_resized_output_size with one int: the shorter side
 * becomes size, the longer int(size * long / short). */
void ls_resize_shorter(int h, int w, int size, int *oh, int *ow)
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

/* aten's antialiased linear filter weights for one output index
 * (UpSampleKernel.cpp, _compute_weights_aa), in float as aten computes them. */
static int aa_weights(int i, int insize, float scale, float support, float *wt, int *xmin)
{
	float center = scale * ((float)i + 0.5f);
	float invscale = scale >= 1.0f ? 1.0f / scale : 1.0f;
	/* aten adds the double literal 0.5 to float expressions: same here */
	int lo = (int)((double)(center - support) + 0.5), hi = (int)((double)(center + support) + 0.5);
	if (lo < 0)
		lo = 0;
	if (hi > insize)
		hi = insize;
	float total = 0.0f;
	for (int j = 0; j < hi - lo; j++) {
		float x = fabsf((float)(((double)((float)(j + lo) - center) + 0.5) * invscale));
		wt[j] = x < 1.0f ? 1.0f - x : 0.0f;
		total += wt[j];
	}
	if (total != 0.0f)
		for (int j = 0; j < hi - lo; j++)
			wt[j] /= total;
	*xmin = lo;
	return hi - lo;
}

/* One separable pass along an axis: n lines of insize samples at stride
 * `step` apart, lines `lstride` apart, into outsize samples. */
static int aa_pass(const float *in, float *out, int nlines, int insize, int outsize,
		   ptrdiff_t in_lstride, ptrdiff_t out_lstride, ptrdiff_t step_in, ptrdiff_t step_out)
{
	float scale = (float)insize / (float)outsize;
	float support = scale >= 1.0f ? scale : 1.0f;   /* interp_size 2 * 0.5 */
	int cap = (int)ceilf(support) * 2 + 2;
	float *wt = malloc(sizeof(float) * (size_t)cap * outsize);
	int *lo = malloc(sizeof(int) * outsize), *cnt = malloc(sizeof(int) * outsize);
	if (!wt || !lo || !cnt) {
		free(wt);
		free(lo);
		free(cnt);
		return -1;
	}
	for (int o = 0; o < outsize; o++)
		cnt[o] = aa_weights(o, insize, scale, support, wt + (size_t)o * cap, &lo[o]);
	for (int l = 0; l < nlines; l++) {
		const float *src = in + l * in_lstride;
		float *dst = out + l * out_lstride;
		for (int o = 0; o < outsize; o++) {
			const float *w = wt + (size_t)o * cap, *s = src + lo[o] * step_in;
			float acc = s[0] * w[0];
			for (int j = 1; j < cnt[o]; j++)
				acc += s[j * step_in] * w[j];
			dst[o * step_out] = acc;
		}
	}
	free(wt);
	free(lo);
	free(cnt);
	return 0;
}

/* torch.nn.functional.interpolate(mode="bilinear", antialias=True,
 * align_corners=False) on a CHW image: width first, then height, as aten's
 * separable kernel does. */
int ls_resize_bilinear_aa(const float *in, int c, int h, int w, float *out, int oh, int ow)
{
	float *tmp = malloc(sizeof(float) * (size_t)c * h * ow);
	int rc = !tmp || aa_pass(in, tmp, c * h, w, ow, w, ow, 1, 1) ? -1 : 0;
	for (int ch = 0; ch < c && !rc; ch++)
		rc = aa_pass(tmp + (size_t)ch * h * ow, out + (size_t)ch * oh * ow, ow, h, oh, 1, 1, ow, ow);
	free(tmp);
	return rc;
}

void ls_image_out_size(const ls_image *img, int resize, int crop, int *oh, int *ow)
{
	*oh = img->h;
	*ow = img->w;
	if (resize > 0)
		ls_resize_shorter(img->h, img->w, resize, oh, ow);
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

int ls_image_preprocess(const ls_image *img, int resize, int crop, const float mean[3],
			const float std[3], float *out, char *err)
{
	int h = img->h, w = img->w, rh = h, rw = w;
	if (h <= 0 || w <= 0 || !img->px)
		return fail(err, "empty image");
	if (resize < 0 || crop < 0)
		return fail(err, "negative resize (%d) or crop (%d)", resize, crop);
	for (int c = 0; c < 3; c++)
		if (!(std[c] != 0.0f) || !isfinite(std[c]) || !isfinite(mean[c]))
			return fail(err, "std must be finite and non-zero, mean finite (channel %d: mean %g std %g)",
				    c, mean[c], std[c]);
	if (resize > 0)
		ls_resize_shorter(h, w, resize, &rh, &rw);
	if (rh <= 0 || rw <= 0)
		return fail(err, "resizing %dx%d to a shorter side of %d leaves nothing", w, h, resize);

	/* u8 HWC -> float CHW, the way torchvision casts a uint8 tensor */
	size_t plane = (size_t)h * w, rplane = (size_t)rh * rw;
	float *chw = malloc(sizeof(float) * 3 * plane), *res = chw;
	if (!chw)
		return fail(err, "out of memory for a %dx%d image", w, h);
	for (size_t p = 0; p < plane; p++)
		for (int c = 0; c < 3; c++)
			chw[c * plane + p] = img->px[3 * p + c];
	if (rh != h || rw != w) {
		res = malloc(sizeof(float) * 3 * rplane);
		if (!res) {
			free(chw);
			return fail(err, "out of memory resizing to %dx%d", rw, rh);
		}
		if (ls_resize_bilinear_aa(chw, 3, h, w, res, rh, rw)) {
			free(chw);
			free(res);
			return fail(err, "out of memory resizing to %dx%d", rw, rh);
		}
		/* a uint8 input gives a uint8 output: torch.round (half to even) */
		for (size_t p = 0; p < 3 * rplane; p++)
			res[p] = nearbyintf(res[p]);
		free(chw);
	}
	int oh = crop > 0 ? crop : rh, ow = crop > 0 ? crop : rw;
	int top = crop > 0 ? crop_offset(rh, crop) : 0, left = crop > 0 ? crop_offset(rw, crop) : 0;
	for (int c = 0; c < 3; c++)
		for (int y = 0; y < oh; y++)
			for (int x = 0; x < ow; x++) {
				int sy = y + top, sx = x + left;
				float v = sy >= 0 && sy < rh && sx >= 0 && sx < rw
					? res[c * rplane + (size_t)sy * rw + sx] : 0.0f;
				out[((size_t)c * oh + y) * ow + x] = (v / 255.0f - mean[c]) / std[c];
			}
	free(res);
	return 0;
}
