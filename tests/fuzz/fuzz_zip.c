/* fuzz_zip.c: libFuzzer target for the zip reader (zipfile.h; make fuzz).
 *
 * Each input is taken as a whole file, on a memfd, as a COCO image zip or a
 * PyTorch checkpoint is read. When zip_open refuses it: one line naming the
 * file. When it accepts: every entry has a name (not a folder's, no NUL),
 * zip_find finds an entry of that name, and every entry is read:
 *  - zip_data_offset puts its stored bytes inside the file;
 *  - zip_read returns exactly size bytes whose CRC-32 is the recorded one,
 *    and for a stored entry the file's own bytes at the data offset; or
 *    refuses with one line naming the file;
 *  - a second read gives the same verdict and bytes (no hidden state). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include "err.h"
#include "zipfile.h"
#define FUZZ_TARGET "fuzz_zip"
#include "fuzz.h"

enum { READ_LIMIT = 1 << 22 };

static const char *path;   /* of the input, which every message must name */

static void check_message(const char *err)
{
	check(err[0] != '\0', "failure without a message");
	check(fuzz_one_line(err), "error message spans lines or holds a control character");
	check(strstr(err, path) != NULL, "error message does not name the file");
}

static void check_entry(const zip_file *z, int k, const uint8_t *data, size_t size)
{
	char err[ERR_LEN] = "", err2[ERR_LEN] = "";
	const zip_entry *e = zip_entry_at(z, k);
	size_t nl = strlen(e->name);
	check(nl > 0 && e->name[nl - 1] != '/', "a folder or a nameless entry listed");
	int f = zip_find(z, e->name);
	check(f >= 0 && f < zip_count(z) && !strcmp(zip_entry_at(z, f)->name, e->name),
	      "zip_find misses a listed name");

	uint64_t off;
	if (zip_data_offset(z, k, &off, err) == 0)
		check(off <= size && e->csize <= size - off, "data offset outside the file");
	else
		check_message(err);

	size_t len = 0, len2 = 0;
	uint8_t *p = zip_read(z, k, READ_LIMIT, &len, err);
	uint8_t *q = zip_read(z, k, READ_LIMIT, &len2, err2);
	check(!p == !q, "two reads of one entry disagree");
	if (!p) {
		check_message(err);
		check(!strcmp(err, err2), "two refusals of one entry differ");
		return;
	}
	check(len == e->size && len2 == len && !memcmp(p, q, len), "two reads differ or miss the size");
	check((uint32_t)crc32_z(0L, p, len) == e->crc, "accepted bytes fail the CRC");
	if (e->method == 0) {
		check(zip_data_offset(z, k, &off, err) == 0, "read an entry whose data offset is refused");
		check(!memcmp(p, data + off, len), "a stored entry's bytes are not the file's");
	}
	free(p);
	free(q);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[ERR_LEN] = "";
	path = fuzz_file(data, size);
	zip_file *z = zip_open(path, err);
	if (!z) {
		check_message(err);
		return 0;
	}
	for (int k = 0; k < zip_count(z); k++)
		check_entry(z, k, data, size);
	zip_close(z);
	return 0;
}
