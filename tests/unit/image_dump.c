/* image_dump: the image functions on files, for the tests to compare with
 * PIL and torchvision (tests/NN-image.t).
 *
 *   image_dump decode FILE OUT              raw RGB bytes; prints "W H"
 *   image_dump preprocess FILE RESIZE CROP OUT [m0 m1 m2 s0 s1 s2]
 *                                           CHW float32; prints "C H W"
 * LS_RESAMPLE=pil|pil-bicubic in the environment: PIL's decoding (img_decode_pil)
 * and Pillow's resize; else torchvision's tensor path.
 *   image_dump resize IN C H W OH OW OUT    float32 CHW in, float32 out
 * Errors print "image_dump: message" and exit 1. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "image.h"

static const char *resample(void)
{
	const char *r = getenv("LS_RESAMPLE");
	return r ? r : "tensor";
}

static int pil(void)
{
	return !strncmp(resample(), "pil", 3);
}

static uint8_t *slurp(const char *path, size_t *len)
{
	FILE *fp = fopen(path, "rb");
	if (!fp) {
		fprintf(stderr, "image_dump: cannot open %s\n", path);
		exit(1);
	}
	size_t cap = 1 << 20;
	uint8_t *p = malloc(cap);
	*len = 0;
	size_t got;
	while ((got = fread(p + *len, 1, cap - *len, fp)) > 0)
		if ((*len += got) == cap)
			p = realloc(p, cap *= 2);
	fclose(fp);
	return p;
}

static void spit(const char *path, const void *p, size_t len)
{
	FILE *fp = fopen(path, "wb");
	if (!fp || fwrite(p, 1, len, fp) != len || fclose(fp)) {
		fprintf(stderr, "image_dump: cannot write %s\n", path);
		exit(1);
	}
}

static int decode(const char *file, img_rgb *img)
{
	size_t len;
	char err[ERR_LEN];
	uint8_t *buf = slurp(file, &len);
	int rc = pil() ? img_decode_pil(buf, len, img, err) : img_decode(buf, len, img, err);
	free(buf);
	if (rc)
		fprintf(stderr, "image_dump: %s: %s\n", file, err);
	return rc;
}

int main(int argc, char **argv)
{
	img_rgb img;
	char err[ERR_LEN];
	if (argc == 4 && !strcmp(argv[1], "decode")) {
		if (decode(argv[2], &img))
			return 1;
		spit(argv[3], img.px, (size_t)img.w * img.h * 3);
		printf("%d %d\n", img.w, img.h);
		img_free(&img);
		return 0;
	}
	if ((argc == 6 || argc == 12) && !strcmp(argv[1], "preprocess")) {
		img_prep p = { .resize = atoi(argv[3]), .crop = atoi(argv[4]) };
		for (int c = 0; c < 3; c++) {
			p.mean[c] = argc == 12 ? strtof(argv[6 + c], NULL) : img_imagenet_mean[c];
			p.std[c] = argc == 12 ? strtof(argv[9 + c], NULL) : img_imagenet_std[c];
		}
		if (img_resample_parse(pil() ? "pil" : "tensor", strstr(resample(), "bicubic") ? "bicubic" : NULL,
				       &p.resample, err)) {
			fprintf(stderr, "image_dump: %s\n", err);
			return 1;
		}
		if (decode(argv[2], &img))
			return 1;
		int oh, ow;
		img_out_size(&img, p.resize, p.crop, &oh, &ow);
		float *out = malloc(sizeof(float) * 3 * (size_t)oh * ow);
		if (img_preprocess(&img, &p, out, err)) {
			fprintf(stderr, "image_dump: %s\n", err);
			return 1;
		}
		spit(argv[5], out, sizeof(float) * 3 * (size_t)oh * ow);
		printf("3 %d %d\n", oh, ow);
		free(out);
		img_free(&img);
		return 0;
	}
	if (argc == 9 && !strcmp(argv[1], "resize")) {
		int c = atoi(argv[3]), h = atoi(argv[4]), w = atoi(argv[5]);
		int oh = atoi(argv[6]), ow = atoi(argv[7]);
		size_t len;
		float *in = (float *)slurp(argv[2], &len);
		if (len != sizeof(float) * c * h * w) {
			fprintf(stderr, "image_dump: %s has %zu bytes, expected %dx%dx%d floats\n", argv[2], len, c, h, w);
			return 1;
		}
		float *out = malloc(sizeof(float) * c * oh * ow);
		if (img_resize_bilinear_aa(in, c, h, w, out, oh, ow))
			return 1;
		spit(argv[8], out, sizeof(float) * c * oh * ow);
		free(in);
		free(out);
		return 0;
	}
	fprintf(stderr, "usage: image_dump decode FILE OUT | preprocess FILE RESIZE CROP OUT [mean*3 std*3] | resize IN C H W OH OW OUT\n");
	return 2;
}
