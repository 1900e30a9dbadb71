/* mosaic.h: composing multi-label images from single-label items.
 *
 * The core of bin/mosaic, free of the command line so it can be unit-tested:
 * a seeded random stream, pools that deal items without replacement (reshuffled
 * when exhausted), the 2x2 composition and the grey JPEG encoder.
 *
 * Error rule: returns -1 with err (err.h); never exits. */
#ifndef LS_MOSAIC_H
#define LS_MOSAIC_H

#include <stddef.h>
#include <stdint.h>
#include "err.h"

#define MOSAIC_GRID 2
#define MOSAIC_CELLS (MOSAIC_GRID * MOSAIC_GRID)
#define MOSAIC_ITEM 28      /* Fashion-MNIST items are 28x28 */

/* SplitMix64 (util.h) with a seed and a stream */
typedef struct { uint64_t s; } mosaic_rng;
void mosaic_rng_seed(mosaic_rng *r, uint64_t seed, uint64_t stream);
uint64_t mosaic_rng_next(mosaic_rng *r);
double mosaic_rng_uniform(mosaic_rng *r);             /* [0, 1) */
uint32_t mosaic_rng_below(mosaic_rng *r, uint32_t n);  /* [0, n), unbiased; n > 0 */

/* Deals the items lo..hi-1 in a random order, reshuffling after each full pass,
 * so every item is used about equally often. */
typedef struct {
	uint32_t *order;
	uint32_t n, next;
} mosaic_pool;
void mosaic_pool_init(mosaic_pool *p, uint32_t lo, uint32_t hi);  /* hi > lo */
uint32_t mosaic_pool_draw(mosaic_pool *p, mosaic_rng *r);
void mosaic_pool_free(mosaic_pool *p);

/* Bit c of the result set = cell c holds an item (cells row-major), each with
 * probability cell_prob, redrawn until at least one cell is filled. */
unsigned mosaic_draw_cells(mosaic_rng *r, double cell_prob);

/* Copies a 28x28 item into cell c of a size x size image (size even), resized
 * bilinearly (pixel centres, edges clamped) when size/2 != 28. */
void mosaic_place(uint8_t *img, int size, int cell, const uint8_t *item);

/* Encodes a grey size x size image as a baseline JPEG; *out is malloc'ed.
 * Returns 0, or -1 with a message in err[ERR_LEN]. */
int mosaic_jpeg(const uint8_t *img, int size, int quality, uint8_t **out, size_t *len, char *err);

#endif
