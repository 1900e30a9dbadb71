/* resample_pil.h: Pillow's Image.resize of an 8-bit RGB image, bit for bit
 * (docs/models.md, "Preprocessing").
 *
 * torchvision's usual recipe, Resize(256) on a PIL image, ends in Pillow's
 * ImagingResample: a separable convolution, horizontal pass first, whose
 * filter (bilinear: triangle, bicubic: Keys a = -0.5) is stretched by the
 * scale when shrinking (antialiasing). The taps are computed in double,
 * normalised to sum 1, then turned into 22-bit fixed point; each pass sums
 * integers and rounds to 8 bits, so the intermediate image is 8-bit too. A
 * pass whose size does not change is skipped. Doing the same arithmetic
 * gives the same bytes; the float path of torchvision's tensor resize
 * (image.h) differs by one level in about 15% of pixels.
 *
 * Error rule (err.h): failures fill err[ERR_LEN] and return -1; nothing
 * here exits. */
#ifndef LS_RESAMPLE_PIL_H
#define LS_RESAMPLE_PIL_H

#include <stdint.h>
#include "image.h"

typedef enum { PIL_BILINEAR, PIL_BICUBIC } pil_filter;

/* "bilinear" / "bicubic" (PIL's names); 0, or -1 for anything else */
int pil_filter_parse(const char *s, pil_filter *f);
const char *pil_filter_name(pil_filter f);

/* Rows [y0, y1) and columns [x0, x1) of img resized to rw x rh (as
 * img.resize((rw, rh), filter)), into out: (y1-y0) x (x1-x0) RGB bytes,
 * row-major. Only the input the window needs is read. */
int pil_resize_window(const img_rgb *img, int rw, int rh, pil_filter f, int y0, int y1, int x0, int x1,
		      uint8_t *out, char *err);

/* The whole image resized: out gets a new rw x rh image. */
int pil_resize(const img_rgb *img, int rw, int rh, pil_filter f, img_rgb *out, char *err);

#endif
