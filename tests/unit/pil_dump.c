/* pil_dump: Pillow's resize reproduced (resample_pil.h) on an image file,
 * for tests/47-resample-pil.t to compare with Pillow itself.
 *
 *   pil_dump FILE W H FILTER OUT [X0 Y0 X1 Y1]
 * decodes FILE, resizes it to W x H (FILTER: bilinear or bicubic) and
 * writes the RGB bytes of the whole result, or of the window [X0,X1) x
 * [Y0,Y1), to OUT. Errors print "pil_dump: message" and exit 1. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "image.h"
#include "resample_pil.h"

static void die(const char *what, const char *why)
{
	fprintf(stderr, "pil_dump: %s: %s\n", what, why);
	exit(1);
}

int main(int argc, char **argv)
{
	char err[ERR_LEN];
	pil_filter f;
	if ((argc != 6 && argc != 10) || pil_filter_parse(argv[4], &f))
		die("usage", "pil_dump FILE W H bilinear|bicubic OUT [X0 Y0 X1 Y1]");
	FILE *fp = fopen(argv[1], "rb");
	if (!fp)
		die(argv[1], "cannot open");
	size_t cap = 1 << 20, len = 0, got;
	uint8_t *buf = malloc(cap);
	while (buf && (got = fread(buf + len, 1, cap - len, fp)) > 0)
		if ((len += got) == cap)
			buf = realloc(buf, cap *= 2);
	fclose(fp);
	img_rgb img;
	if (!buf || img_decode(buf, len, &img, err))
		die(argv[1], buf ? err : "out of memory");
	free(buf);
	int w = atoi(argv[2]), h = atoi(argv[3]);
	int x0 = 0, y0 = 0, x1 = w, y1 = h;
	if (argc == 10) {
		x0 = atoi(argv[6]);
		y0 = atoi(argv[7]);
		x1 = atoi(argv[8]);
		y1 = atoi(argv[9]);
	}
	size_t n = x1 > x0 && y1 > y0 ? (size_t)(x1 - x0) * (y1 - y0) * 3 : 1;
	uint8_t *out = malloc(n);
	if (!out || pil_resize_window(&img, w, h, f, y0, y1, x0, x1, out, err))
		die(argv[1], out ? err : "out of memory");
	fp = fopen(argv[5], "wb");
	if (!fp || fwrite(out, 1, n, fp) != n || fclose(fp))
		die(argv[5], "cannot write");
	img_free(&img);
	free(out);
	return 0;
}
