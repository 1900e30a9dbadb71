/* image.h: image decoding and torchvision-style preprocessing (docs/datasets.md).
 *
 * Decoding: JPEG through libjpeg-turbo, PNG through libpng, chosen by the
 * magic bytes, never by a file name. Every image comes out 8-bit RGB:
 * grey is replicated, CMYK/YCCK JPEGs are converted (Adobe inverted CMYK,
 * as PIL does), 16-bit PNG samples are reduced to 8, palettes expanded,
 * alpha dropped. Error rule: returns -1 with err (err.h); never exits.
 *
 * Preprocessing follows torchvision's tensor path on the decoded uint8 image:
 * resize(shorter side, bilinear, antialias=True), center_crop, /255, normalize. */
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
void img_free(img_rgb *img);

/* resize: the shorter side after resizing (0 = no resize);
 * crop: the side of the centred square cut (0 = none: out is 3*h*w of the
 * resized image, see img_out_size). Writes CHW floats:
 * out[c][y][x] = (v/255 - mean[c]) / std[c]. 0 on success, -1 with err. */
int img_preprocess(const img_rgb *img, int resize, int crop, const float mean[3],
			const float std[3], float *out, char *err);
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
