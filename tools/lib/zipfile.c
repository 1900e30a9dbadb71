/* zipfile.c: the zip reader of zipfile.h. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <zlib.h>

#include "err.h"
#include "fileio.h"
#include "strmap.h"
#include "zipfile.h"

enum {
	SIG_LOCAL = 0x04034b50, SIG_CENTRAL = 0x02014b50, SIG_END = 0x06054b50,
	SIG_END64 = 0x06064b50, SIG_LOCATOR64 = 0x07064b50,
	LOCAL_LEN = 30, CENTRAL_LEN = 46, END_LEN = 22, LOCATOR64_LEN = 20, END64_LEN = 56,
	/* deflate cannot expand more than this (a 258-byte match in two bits) */
	DEFLATE_MAX_RATIO = 1032,
};

struct zip_file {
	int fd;
	char *path;
	uint64_t fsize;
	zip_entry *e;
	int n;
	char *names;    /* the entries' names, each NUL-terminated */
	strmap byname;  /* full name -> entry */
};

static uint16_t le16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t le32(const uint8_t *p) { return (uint32_t)le16(p) | (uint32_t)le16(p + 2) << 16; }
static uint64_t le64(const uint8_t *p) { return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32; }

int zip_detect(const char *path)
{
	uint8_t magic[4];
	int fd = open(path, O_RDONLY), ok = 0;
	if (fd >= 0) {
		ok = file_pread_all(fd, magic, 4, 0) == 0 &&
		     (le32(magic) == SIG_LOCAL || le32(magic) == SIG_END);
		close(fd);
	}
	return ok;
}

void zip_close(zip_file *z)
{
	if (!z)
		return;
	if (z->fd >= 0)
		close(z->fd);
	free(z->path);
	free(z->e);
	free(z->names);
	strmap_free(&z->byname);
	free(z);
}

/* The end of central directory (ZIP64 when needed): entry count, offset, size. */
static int zip_find_cd(zip_file *z, uint64_t *count, uint64_t *cdoff, uint64_t *cdsize, char *err)
{
	enum { TAIL = END_LEN + 65535 };   /* the record + the longest comment */
	uint8_t *tail = malloc(TAIL);
	uint64_t tlen = z->fsize < TAIL ? z->fsize : TAIL, start = z->fsize - tlen;
	int64_t at = -1;
	if (!tail)
		return err_set(err, "%s: out of memory", z->path);
	if (tlen < END_LEN || file_pread_all(z->fd, tail, (size_t)tlen, start)) {
		free(tail);
		return err_set(err, "%s: not a zip file (too short)", z->path);
	}
	for (int64_t i = (int64_t)tlen - END_LEN; i >= 0 && at < 0; i--)
		if (le32(tail + i) == SIG_END && (uint64_t)i + END_LEN + le16(tail + i + 20) <= tlen)
			at = i;
	if (at < 0) {
		free(tail);
		return err_set(err, "%s: no zip end of central directory (truncated?)", z->path);
	}
	const uint8_t *e = tail + at;
	*count = le16(e + 10);
	*cdsize = le32(e + 12);
	*cdoff = le32(e + 16);
	if (*count == 0xffff || *cdsize == 0xffffffff || *cdoff == 0xffffffff) {
		uint8_t rec[END64_LEN];
		int bad = at < LOCATOR64_LEN || le32(e - LOCATOR64_LEN) != SIG_LOCATOR64 ||
			  le64(e - LOCATOR64_LEN + 8) > z->fsize - END64_LEN ||
			  file_pread_all(z->fd, rec, sizeof(rec), le64(e - LOCATOR64_LEN + 8)) ||
			  le32(rec) != SIG_END64;
		free(tail);
		if (bad)
			return err_set(err, "%s: broken ZIP64 end of central directory", z->path);
		*count = le64(rec + 32);
		*cdsize = le64(rec + 40);
		*cdoff = le64(rec + 48);
	} else
		free(tail);
	if (*cdoff > z->fsize || *cdsize > z->fsize - *cdoff || *count > *cdsize / CENTRAL_LEN ||
	    *count > INT32_MAX / 2)
		return err_set(err, "%s: central directory out of the file", z->path);
	return 0;
}

/* ZIP64 extended information (extra field 0x0001) replaces 0xffffffff fields. */
static void zip64_extra(const uint8_t *x, size_t len, zip_entry *e, uint32_t u32, uint32_t c32, uint32_t o32)
{
	for (size_t i = 0; i + 4 <= len;) {
		size_t sz = le16(x + i + 2);
		if (i + 4 + sz > len)
			return;
		const uint8_t *p = x + i + 4, *end = p + sz;
		if (le16(x + i) == 1) {
			if (u32 == 0xffffffff && p + 8 <= end) {
				e->size = le64(p);
				p += 8;
			}
			if (c32 == 0xffffffff && p + 8 <= end) {
				e->csize = le64(p);
				p += 8;
			}
			if (o32 == 0xffffffff && p + 8 <= end)
				e->offset = le64(p);
			return;
		}
		i += 4 + sz;
	}
}

/* Lists the central directory's count entries (cd: cdsize bytes). */
static int zip_index(zip_file *z, const uint8_t *cd, uint64_t cdsize, uint64_t count, char *err)
{
	char *name = z->names;
	for (uint64_t i = 0, pos = 0; i < count; i++) {
		const uint8_t *h = cd + pos;
		size_t nl = pos + CENTRAL_LEN <= cdsize ? le16(h + 28) : 0;
		size_t xl = nl ? le16(h + 30) : 0, cl = nl ? le16(h + 32) : 0;
		if (pos + CENTRAL_LEN > cdsize || le32(h) != SIG_CENTRAL ||
		    pos + CENTRAL_LEN + nl + xl + cl > cdsize)
			return err_set(err, "%s: corrupt central directory (entry %llu)", z->path,
				       (unsigned long long)i);
		pos += CENTRAL_LEN + nl + xl + cl;
		if (memchr(h + CENTRAL_LEN, 0, nl))
			return err_set(err, "%s: corrupt central directory (entry %llu: a NUL byte in its name)",
				       z->path, (unsigned long long)i);
		if (nl == 0 || h[CENTRAL_LEN + nl - 1] == '/')
			continue;   /* folders */
		memcpy(name, h + CENTRAL_LEN, nl);
		name[nl] = 0;
		if (le16(h + 8) & 1)
			return err_set(err, "%s: entry %s is encrypted", z->path, err_esc(name));
		uint32_t c32 = le32(h + 20), u32 = le32(h + 24), o32 = le32(h + 42);
		zip_entry *e = &z->e[z->n];
		*e = (zip_entry){ name, u32, c32, o32, le32(h + 16), le16(h + 10) };
		zip64_extra(h + CENTRAL_LEN + nl, xl, e, u32, c32, o32);
		if (strmap_put(&z->byname, name, z->n++))
			return err_set(err, "%s: out of memory", z->path);
		name += nl + 1;
	}
	return 0;
}

zip_file *zip_open(const char *path, char *err)
{
	zip_file *z = calloc(1, sizeof(*z));
	struct stat st;
	uint64_t count = 0, cdoff = 0, cdsize = 0;
	uint8_t *cd = NULL;
	if (!z || !(z->path = strdup(path))) {
		free(z);
		err_set(err, "%s: out of memory", path);
		return NULL;
	}
	if ((z->fd = open(path, O_RDONLY)) < 0 || fstat(z->fd, &st)) {
		err_set(err, "cannot open %s: %s", path, strerror(errno));
		goto bad;
	}
	z->fsize = (uint64_t)st.st_size;
	if (zip_find_cd(z, &count, &cdoff, &cdsize, err))
		goto bad;
	/* names take at most the directory's bytes, plus a NUL each */
	if (!(cd = malloc(cdsize + 1)) || !(z->e = calloc(count + 1, sizeof(zip_entry))) ||
	    !(z->names = malloc(cdsize + count + 1))) {
		err_set(err, "%s: out of memory for %llu entries", path, (unsigned long long)count);
		goto bad;
	}
	if (file_pread_all(z->fd, cd, cdsize, cdoff)) {
		err_set(err, "%s: cannot read the central directory", path);
		goto bad;
	}
	if (zip_index(z, cd, cdsize, count, err))
		goto bad;
	free(cd);
	return z;
bad:
	free(cd);
	zip_close(z);
	return NULL;
}

int zip_count(const zip_file *z)
{
	return z->n;
}

const zip_entry *zip_entry_at(const zip_file *z, int k)
{
	return &z->e[k];
}

int zip_find(const zip_file *z, const char *name)
{
	return strmap_get(&z->byname, name);
}

int zip_data_offset(const zip_file *z, int k, uint64_t *off, char *err)
{
	const zip_entry *e = &z->e[k];
	uint8_t lh[LOCAL_LEN];
	if (e->offset > z->fsize - LOCAL_LEN || z->fsize < LOCAL_LEN ||
	    file_pread_all(z->fd, lh, sizeof(lh), e->offset) || le32(lh) != SIG_LOCAL)
		return err_set(err, "%s: corrupt local header at byte %llu", z->path,
			       (unsigned long long)e->offset);
	uint64_t data = e->offset + LOCAL_LEN + le16(lh + 26) + le16(lh + 28);
	if (data > z->fsize || e->csize > z->fsize - data)
		return err_set(err, "%s: truncated (entry data past the end)", z->path);
	*off = data;
	return 0;
}

/* Raw deflate data in[0..inlen) to exactly outlen bytes; 0, or -1 when corrupt.
 * zlib counts in uInt: buffers over 4 GB go in pieces. */
static int inflate_exact(const uint8_t *in, uint64_t inlen, uint8_t *out, uint64_t outlen)
{
	z_stream zs;
	memset(&zs, 0, sizeof(zs));
	if (inflateInit2(&zs, -MAX_WBITS) != Z_OK)
		return -1;
	zs.next_in = (Bytef *)in;
	zs.next_out = out;
	int rc = Z_OK;
	while (rc == Z_OK) {
		uInt in_step = inlen > UINT_MAX ? UINT_MAX : (uInt)inlen;
		uInt out_step = outlen > UINT_MAX ? UINT_MAX : (uInt)outlen;
		zs.avail_in = in_step;
		zs.avail_out = out_step;
		rc = inflate(&zs, Z_NO_FLUSH);
		inlen -= in_step - zs.avail_in;
		outlen -= out_step - zs.avail_out;
	}
	inflateEnd(&zs);
	return rc == Z_STREAM_END && outlen == 0 ? 0 : -1;
}

uint8_t *zip_read(const zip_file *z, int k, uint64_t limit, size_t *len, char *err)
{
	const zip_entry *e = &z->e[k];
	uint64_t data;
	if (e->method != 0 && e->method != 8) {
		err_set(err, "%s: compression method %u not supported (stored or deflated only)", z->path, e->method);
		return NULL;
	}
	if (e->size > limit || e->csize > limit || e->size > SIZE_MAX - 1 ||
	    (e->method == 0 && e->csize != e->size)) {
		err_set(err, "%s: entry of %llu bytes: too large or inconsistent", z->path, (unsigned long long)e->size);
		return NULL;
	}
	if (zip_data_offset(z, k, &data, err))
		return NULL;
	if (e->method == 8 && e->size / DEFLATE_MAX_RATIO > e->csize) {
		err_set(err, "%s: corrupt deflated data", z->path);
		return NULL;
	}
	uint8_t *c = malloc(e->csize + 1), *u = e->method == 8 ? malloc(e->size + 1) : c;
	if (!c || !u) {
		free(c);
		if (u != c)
			free(u);
		err_set(err, "%s: out of memory", z->path);
		return NULL;
	}
	int bad = file_pread_all(z->fd, c, e->csize, data) ? 1 : 0;
	if (e->method == 8) {
		if (!bad && inflate_exact(c, e->csize, u, e->size))
			bad = 2;
		free(c);
	}
	if (!bad && (uint32_t)crc32_z(0L, u, (size_t)e->size) != e->crc)
		bad = 3;
	if (bad) {
		free(u);
		err_set(err, "%s: %s", z->path, bad == 1 ? "truncated (entry data past the end)"
			: bad == 2 ? "corrupt deflated data" : "CRC mismatch: corrupt entry");
		return NULL;
	}
	*len = (size_t)e->size;
	return u;
}
