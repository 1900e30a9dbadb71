/* idx.h: the IDX format of (Fashion-)MNIST, gzip-compressed or plain.
 *
 * An IDX file is a 4-byte magic 0x00 0x00 TYPE NDIM (TYPE 0x08 = unsigned byte,
 * the only type read here), NDIM big-endian u32 dimensions, then the data.
 * Every field is checked: the magic, the number of dimensions asked for, each
 * dimension (positive, the total size overflow-checked and capped), and the
 * data length, which must match exactly (a short or over-long file is corrupt).
 * Error rule: returns -1 with err (err.h, the file name included); never exits. */
#ifndef LS_IDX_H
#define LS_IDX_H

#include <stdint.h>
#include "err.h"

#define IDX_MAX_BYTES (1ULL << 32)   /* refuses anything larger than 4 GiB */

typedef struct {
	int ndim;
	uint32_t dims[4];
	uint8_t *data;   /* dims[0] * ... * dims[ndim-1] bytes, row-major */
} idx_array;

/* Reads an unsigned-byte IDX file of ndim dimensions (1 to 4). zlib's gzread
 * reads plain files too. Returns 0, or -1 with err filled (file name included). */
int idx_read_u8(const char *path, int ndim, idx_array *out, char *err);
void idx_free(idx_array *a);

#endif
