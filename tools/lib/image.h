/* image.h: image decoding and torchvision-style preprocessing (docs/datasets.md).
 *
 * Decoding: JPEG through libjpeg-turbo, PNG through libpng, chosen by the
 * magic bytes, never by a file name. Every image comes out 8-bit RGB:
 * grey is replicated, CMYK/YCCK JPEGs are converted (Adobe inverted CMYK,
 * as PIL does), 16-bit PNG samples are reduced to 8, palettes expanded,
 * alpha dropped. Error rule: returns -1 with err (err.h); never exits.
 *
 * Preprocessing is torchvision's: resize (shorter side), center_crop, /255,
 * normalize, with the resize of either of its two paths: Pillow's, bit for
 * bit (resample_pil.h: the PIL recipe Resize(256) on a PIL image, bilinear or
 * bicubic), or the tensor path's (resize of a uint8 tensor, bilinear,
 * antialias=True). */
#ifndef LS_IMAGE_H
#define LS_IMAGE_H

#include <stdint.h>
#include <stddef.h>
#include "st.h"

typedef struct { int w, h; uint8_t *px; } img_rgb;   /* RGB u8, HWC, row-major */

/* Largest accepted side and pixel count: a hostile header cannot make us
 * allocate more than IMG_MAX_PIXELS * 3 bytes. The pixel count is
 * PIL's DecompressionBombError threshold: what PIL refuses, we refuse. */
#define IMG_MAX_SIDE 65500
#define IMG_MAX_PIXELS 178956970ULL

/* 0 on success; -1 with err filled (img left empty) on failure. */
int img_decode(const uint8_t *buf, size_t len, img_rgb *img, char *err);
/* The same as PIL's Image.open(f).convert("RGB") (torchvision's default
 * loader) in its one odd case: a 16-bit grey PNG opens in mode I, whose
 * conversion clips values above 255 (most such images turn white) instead
 * of keeping the high byte. */
int img_decode_pil(const uint8_t *buf, size_t len, img_rgb *img, char *err);
void img_free(img_rgb *img);

/* The resize: Pillow's (PIL recipe) or torchvision's tensor path. */
typedef enum { IMG_PIL_BILINEAR, IMG_PIL_BICUBIC, IMG_TENSOR_BILINEAR } img_resample;
/* "pil" / "tensor" with "bilinear" / "bicubic" (the tensor path: bilinear
 * only); 0, or -1 with err */
int img_resample_parse(const char *how, const char *interpolation, img_resample *r, char *err);

typedef struct {
	int resize;            /* the shorter side after resizing (0: no resize) */
	int crop;              /* the side of the centred square cut (0: none, out is the whole resized image) */
	img_resample resample;
	float mean[3], std[3];
} img_prep;

/* Writes CHW floats, out[c][y][x] = (v/255 - mean[c]) / std[c], of the
 * image resized and cropped (img_out_size tells the size). 0 on success,
 * -1 with err. */
int img_preprocess(const img_rgb *img, const img_prep *p, float *out, char *err);
/* The output height and width img_preprocess will produce. */
void img_out_size(const img_rgb *img, int resize, int crop, int *oh, int *ow);

/* The two building blocks, exposed for tests:
 * torchvision's _compute_resized_output_size for an int size (shorter side),
 * and the antialiased bilinear resize of a CHW float image (aten's
 * _upsample_bilinear2d_aa, align_corners=False). */
void img_resize_shorter(int h, int w, int size, int *oh, int *ow);
int img_resize_bilinear_aa(const float *in, int c, int h, int w, float *out, int oh, int ow); /* -1: out of memory */

extern const float img_imagenet_mean[3], img_imagenet_std[3];

#endif
