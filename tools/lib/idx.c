/* idx.c: reader of unsigned-byte IDX files (see idx.h). */
#include "idx.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

/* Reads exactly n bytes; returns 0, or -1 with a reason in err. */
static int read_exact(gzFile gz, const char *path, void *buf, size_t n, const char *what, char *err)
{
	uint8_t *p = buf;
	while (n > 0) {
		unsigned chunk = n > (1u << 30) ? 1u << 30 : (unsigned)n;
		int got = gzread(gz, p, chunk);
		if (got < 0) {
			int zerr;
			const char *msg = gzerror(gz, &zerr);
			err_set(err, "%s: corrupt gzip data in the %s: %s", path, what, msg);
			return -1;
		}
		if (got == 0) {
			err_set(err, "%s: truncated: the file ends inside the %s", path, what);
			return -1;
		}
		p += got;
		n -= (size_t)got;
	}
	return 0;
}

static uint32_t be32(const uint8_t *b)
{
	return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

/* Checks the magic and the dimensions; sets *size to the data length. */
static int read_header(gzFile gz, const char *path, int ndim, idx_array *out, uint64_t *size, char *err)
{
	uint8_t b[16];
	if (read_exact(gz, path, b, 4, "magic number", err) < 0) return -1;
	if (b[0] != 0 || b[1] != 0) {
		err_set(err, "%s: not an IDX file: magic %02x %02x, expected 00 00", path, b[0], b[1]);
		return -1;
	}
	if (b[2] != 0x08) {
		err_set(err, "%s: IDX data type 0x%02x, expected 0x08 (unsigned byte)", path, b[2]);
		return -1;
	}
	if (b[3] != ndim) {
		err_set(err, "%s: %d dimensions, expected %d", path, b[3], ndim);
		return -1;
	}
	if (read_exact(gz, path, b, 4 * (size_t)ndim, "dimensions", err) < 0) return -1;
	uint64_t n = 1;
	out->ndim = ndim;
	for (int i = 0; i < ndim; i++) {
		out->dims[i] = be32(b + 4 * i);
		if (out->dims[i] == 0) {
			err_set(err, "%s: dimension %d is 0, expected a positive size", path, i);
			return -1;
		}
		n *= out->dims[i];   /* cannot overflow: checked against the cap at each step */
		if (n > IDX_MAX_BYTES) {
			err_set(err, "%s: data size exceeds %llu bytes", path, (unsigned long long)IDX_MAX_BYTES);
			return -1;
		}
	}
	*size = n;
	return 0;
}

int idx_read_u8(const char *path, int ndim, idx_array *out, char *err)
{
	memset(out, 0, sizeof *out);
	if (ndim < 1 || ndim > 4) {
		err_set(err, "%s: cannot read %d dimensions (1 to 4)", path, ndim);
		return -1;
	}
	errno = 0;
	gzFile gz = gzopen(path, "rb");
	if (!gz) {
		err_set(err, "%s: %s", path, errno ? strerror(errno) : "cannot open");
		return -1;
	}
	uint64_t size;
	int rc = read_header(gz, path, ndim, out, &size, err);
	if (rc == 0) {
		out->data = malloc(size);
		if (!out->data) {
			err_set(err, "%s: out of memory for %llu bytes", path, (unsigned long long)size);
			rc = -1;
		}
	}
	if (rc == 0) rc = read_exact(gz, path, out->data, size, "data", err);
	if (rc == 0) {
		uint8_t extra;
		int got = gzread(gz, &extra, 1);
		if (got != 0) {
			err_set(err, "%s: %s after the data", path, got > 0 ? "trailing bytes" : "corrupt gzip data");
			rc = -1;
		}
	}
	gzclose(gz);
	if (rc < 0) idx_free(out);
	return rc;
}

void idx_free(idx_array *a)
{
	free(a->data);
	a->data = NULL;
}
