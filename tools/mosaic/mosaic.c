/* mosaic.c: the composition core of bin/mosaic (see mosaic.h). */
#include "mosaic.h"
#include "util.h"

#include <stdio.h>   /* before jpeglib.h, which uses FILE */
#include <jpeglib.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

void mosaic_rng_seed(mosaic_rng *r, uint64_t seed, uint64_t stream)
{
	r->s = seed ^ (stream * 0xD1B54A32D192ED03ULL);
	/* decorrelate nearby seeds before the first draw */
	mosaic_rng_next(r);
}

uint64_t mosaic_rng_next(mosaic_rng *r)
{
	return util_splitmix64(&r->s);
}

double mosaic_rng_uniform(mosaic_rng *r)
{
	return (double)(mosaic_rng_next(r) >> 11) * 0x1.0p-53;
}

uint32_t mosaic_rng_below(mosaic_rng *r, uint32_t n)
{
	/* rejection of the top partial range keeps every value equally likely */
	uint64_t limit = UINT64_MAX - UINT64_MAX % n;
	uint64_t x;
	do x = mosaic_rng_next(r); while (x >= limit);
	return (uint32_t)(x % n);
}

static void shuffle(uint32_t *a, uint32_t n, mosaic_rng *r)
{
	for (uint32_t i = n; i > 1; i--) {
		uint32_t j = mosaic_rng_below(r, i);
		uint32_t t = a[i - 1];
		a[i - 1] = a[j];
		a[j] = t;
	}
}

void mosaic_pool_init(mosaic_pool *p, uint32_t lo, uint32_t hi)
{
	p->n = hi - lo;
	p->order = cli_malloc(cli_mul(p->n, sizeof *p->order, "item pool"));
	for (uint32_t i = 0; i < p->n; i++) p->order[i] = lo + i;
	p->next = p->n;   /* shuffled at the first draw */
}

uint32_t mosaic_pool_draw(mosaic_pool *p, mosaic_rng *r)
{
	if (p->next == p->n) {
		shuffle(p->order, p->n, r);
		p->next = 0;
	}
	return p->order[p->next++];
}

void mosaic_pool_free(mosaic_pool *p)
{
	free(p->order);
	p->order = NULL;
}

unsigned mosaic_draw_cells(mosaic_rng *r, double cell_prob)
{
	unsigned cells;
	do {
		cells = 0;
		for (int c = 0; c < MOSAIC_CELLS; c++)
			if (mosaic_rng_uniform(r) < cell_prob) cells |= 1u << c;
	} while (cells == 0);
	return cells;
}

void mosaic_place(uint8_t *img, int size, int cell, const uint8_t *item)
{
	int side = size / MOSAIC_GRID;
	uint8_t *dst = img + (size_t)(cell / MOSAIC_GRID) * side * size + (size_t)(cell % MOSAIC_GRID) * side;
	if (side == MOSAIC_ITEM) {
		for (int y = 0; y < side; y++) memcpy(dst + (size_t)y * size, item + y * MOSAIC_ITEM, MOSAIC_ITEM);
		return;
	}
	double scale = (double)MOSAIC_ITEM / side;
	for (int y = 0; y < side; y++) {
		double sy = (y + 0.5) * scale - 0.5;
		sy = sy < 0 ? 0 : sy > MOSAIC_ITEM - 1 ? MOSAIC_ITEM - 1 : sy;
		int y0 = (int)sy, y1 = y0 + 1 < MOSAIC_ITEM ? y0 + 1 : y0;
		double fy = sy - y0;
		for (int x = 0; x < side; x++) {
			double sx = (x + 0.5) * scale - 0.5;
			sx = sx < 0 ? 0 : sx > MOSAIC_ITEM - 1 ? MOSAIC_ITEM - 1 : sx;
			int x0 = (int)sx, x1 = x0 + 1 < MOSAIC_ITEM ? x0 + 1 : x0;
			double fx = sx - x0;
			double top = item[y0 * MOSAIC_ITEM + x0] * (1 - fx) + item[y0 * MOSAIC_ITEM + x1] * fx;
			double bot = item[y1 * MOSAIC_ITEM + x0] * (1 - fx) + item[y1 * MOSAIC_ITEM + x1] * fx;
			dst[(size_t)y * size + x] = (uint8_t)(top * (1 - fy) + bot * fy + 0.5);
		}
	}
}

/* libjpeg reports errors by calling error_exit, which must not return */
typedef struct {
	struct jpeg_error_mgr pub;
	jmp_buf jump;
} jpeg_err;

static void jpeg_error_jump(j_common_ptr cinfo)
{
	longjmp(((jpeg_err *)cinfo->err)->jump, 1);
}

int mosaic_jpeg(const uint8_t *img, int size, int quality, uint8_t **out, size_t *len, char *err)
{
	struct jpeg_compress_struct c;
	jpeg_err je;
	unsigned char *buf = NULL;
	unsigned long buflen = 0;
	c.err = jpeg_std_error(&je.pub);
	je.pub.error_exit = jpeg_error_jump;
	if (setjmp(je.jump)) {
		char msg[JMSG_LENGTH_MAX];
		je.pub.format_message((j_common_ptr)&c, msg);
		err_set(err, "JPEG encoding: %.200s", msg);
		jpeg_destroy_compress(&c);
		free(buf);
		return -1;
	}
	jpeg_create_compress(&c);
	jpeg_mem_dest(&c, &buf, &buflen);
	c.image_width = (JDIMENSION)size;
	c.image_height = (JDIMENSION)size;
	c.input_components = 1;
	c.in_color_space = JCS_GRAYSCALE;
	jpeg_set_defaults(&c);
	jpeg_set_quality(&c, quality, TRUE);
	jpeg_start_compress(&c, TRUE);
	while (c.next_scanline < c.image_height) {
		JSAMPROW row = (JSAMPROW)(img + (size_t)c.next_scanline * size);
		jpeg_write_scanlines(&c, &row, 1);
	}
	jpeg_finish_compress(&c);
	jpeg_destroy_compress(&c);
	*out = buf;
	*len = buflen;
	return 0;
}
