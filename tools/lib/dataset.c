/* dataset.c: VOC, COCO and list readers (docs/datasets.md).
 *
 * Every reader ends in the same place: a table of samples (id, split,
 * listing position, label names of its objects with a difficult flag, and
 * where its image bytes are), turned into the public ds_dataset by
 * finish(). Archives (tar, anything libarchive reads) are scanned once; the
 * encoded bytes of the images that may be needed are kept in memory, so
 * reading a sample later is a copy and safe from any thread. A COCO zip is
 * indexed instead and read in place (zip_open, zip_read). */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>
#include <cjson/cJSON.h>
#include <zlib.h>

#include "dataset.h"
#include "util.h"

#define MAX_TEXT_FILE (1ULL << 31)   /* annotation JSON, lists, XML */
#define MAX_IMAGE_FILE (1ULL << 30)
#define MAX_XML_DEPTH 64

static const char *const voc_labels[20] = {
	"aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow",
	"diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa",
	"train", "tvmonitor"
};

static void *xrealloc_array(void *p, size_t n, size_t size)
{
	if (size && n > SIZE_MAX / size)
		return NULL;
	return realloc(p, n * size > 0 ? n * size : 1);
}

/* ---- a string -> int map (open addressing, FNV-1a) ---- */

typedef struct {
	char **keys;
	int *vals;
	size_t cap, n;
} strmap;

static size_t strmap_slot(const strmap *m, const char *key)
{
	size_t i = util_fnv1a(UTIL_FNV1A_INIT, key, strlen(key)) & (m->cap - 1);
	while (m->keys[i] && strcmp(m->keys[i], key))
		i = (i + 1) & (m->cap - 1);
	return i;
}

static int strmap_get(const strmap *m, const char *key)
{
	if (!m->cap)
		return -1;
	size_t i = strmap_slot(m, key);
	return m->keys[i] ? m->vals[i] : -1;
}

/* Inserts or overwrites; the key is copied. 0, or -1 when out of memory. */
static int strmap_put(strmap *m, const char *key, int val)
{
	if (2 * (m->n + 1) > m->cap) {
		strmap old = *m;
		m->cap = old.cap ? old.cap * 2 : 64;
		m->keys = calloc(m->cap, sizeof(char *));
		m->vals = calloc(m->cap, sizeof(int));
		if (!m->keys || !m->vals)
			return -1;
		m->n = 0;
		for (size_t i = 0; i < old.cap; i++)
			if (old.keys[i]) {
				size_t j = strmap_slot(m, old.keys[i]);
				m->keys[j] = old.keys[i];
				m->vals[j] = old.vals[i];
				m->n++;
			}
		free(old.keys);
		free(old.vals);
	}
	size_t i = strmap_slot(m, key);
	if (!m->keys[i]) {
		if (!(m->keys[i] = strdup(key)))
			return -1;
		m->n++;
	}
	m->vals[i] = val;
	return 0;
}

static void strmap_free(strmap *m)
{
	for (size_t i = 0; i < m->cap; i++)
		free(m->keys[i]);
	free(m->keys);
	free(m->vals);
	memset(m, 0, sizeof(*m));
}

/* ---- growing byte buffers and files ---- */

typedef struct { uint8_t *p; size_t len; } blob;

static int read_whole_file(const char *path, uint64_t limit, blob *out, char *err)
{
	FILE *fp = fopen(path, "rb");
	struct stat st;
	if (!fp)
		return err_set(err, "cannot open %s: %s", path, strerror(errno));
	if (fstat(fileno(fp), &st) == 0 && S_ISDIR(st.st_mode)) {
		fclose(fp);
		return err_set(err, "cannot read %s: it is a folder", path);
	}
	size_t cap = 1 << 16, len = 0;
	uint8_t *p = malloc(cap);
	while (p) {
		if (len == cap) {
			if (cap >= limit) {
				free(p);
				fclose(fp);
				return err_set(err, "%s is larger than %llu bytes", path, (unsigned long long)limit);
			}
			uint8_t *q = realloc(p, cap * 2);
			if (!q)
				break;
			p = q;
			cap *= 2;
		}
		size_t got = fread(p + len, 1, cap - len, fp);
		len += got;
		if (got == 0)
			break;
	}
	if (!p || ferror(fp)) {
		int e = errno;
		free(p);
		fclose(fp);
		return err_set(err, "cannot read %s: %s", path, p ? strerror(e) : "out of memory");
	}
	fclose(fp);
	out->p = p;
	out->len = len;
	return 0;
}

/* text: a NUL-terminated copy; NUL bytes inside are refused */
static char *read_text_file(const char *path, char *err)
{
	blob b;
	if (read_whole_file(path, MAX_TEXT_FILE, &b, err))
		return NULL;
	if (memchr(b.p, 0, b.len)) {
		free(b.p);
		err_set(err, "%s: not a text file (NUL byte)", path);
		return NULL;
	}
	char *s = realloc(b.p, b.len + 1);
	if (!s) {
		free(b.p);
		err_set(err, "%s: out of memory", path);
		return NULL;
	}
	s[b.len] = 0;
	return s;
}

static int is_dir(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static char *path_join(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	char *s = malloc(la + lb + 2);
	if (s)
		snprintf(s, la + lb + 2, "%s%s%s", a, la && a[la - 1] != '/' ? "/" : "", b);
	return s;
}

/* ---- archives: scanned once, entries kept by a caller's rule ---- */

/* Called for each regular entry's path; returns 1 to keep its bytes. */
typedef int (*entry_want_fn)(const char *path, void *ctx);
/* Receives a kept entry (takes over data). 0, or -1 with err. */
typedef int (*entry_take_fn)(const char *path, blob data, void *ctx, char *err);

static int archive_scan(const char *file, entry_want_fn want, entry_take_fn take, void *ctx,
			char *err)
{
	struct archive *a;
	struct archive_entry *e;
	struct stat st;
	int rc = 0, r;
	if (stat(file, &st) != 0)
		return err_set(err, "cannot open %s: %s", file, strerror(errno));
	if (!(a = archive_read_new()))
		return err_set(err, "%s: out of memory for libarchive", file);
	archive_read_support_filter_all(a);
	archive_read_support_format_all(a);
	if (archive_read_open_filename(a, file, 1 << 16) != ARCHIVE_OK) {
		rc = err_set(err, "cannot open archive %s: %s", file, archive_error_string(a));
		archive_read_free(a);
		return rc;
	}
	while ((r = archive_read_next_header(a, &e)) == ARCHIVE_OK || r == ARCHIVE_WARN) {
		const char *path = archive_entry_pathname(e);
		if (!path || archive_entry_filetype(e) != AE_IFREG)
			continue;
		while (path[0] == '.' && path[1] == '/')
			path += 2;
		if (!want(path, ctx))
			continue;
		if (archive_entry_size_is_set(e) && (uint64_t)archive_entry_size(e) > MAX_IMAGE_FILE) {
			rc = err_set(err, "%s: entry %s is too large (%lld bytes)", file, path,
				  (long long)archive_entry_size(e));
			break;
		}
		size_t cap = archive_entry_size_is_set(e) ? (size_t)archive_entry_size(e) + 1 : 1 << 16;
		blob b = { malloc(cap), 0 };
		la_ssize_t got;
		while (b.p && (got = archive_read_data(a, b.p + b.len, cap - b.len)) > 0) {
			b.len += (size_t)got;
			if (b.len == cap) {
				uint8_t *q = cap < MAX_IMAGE_FILE ? realloc(b.p, cap * 2) : NULL;
				if (!q) {
					got = -2;
					break;
				}
				b.p = q;
				cap *= 2;
			}
		}
		if (!b.p || got < 0) {
			rc = err_set(err, "%s: cannot read entry %s: %s", file, path,
				  !b.p || got == -2 ? "out of memory or too large" : archive_error_string(a));
			free(b.p);
			break;
		}
		if ((rc = take(path, b, ctx, err)))
			break;
	}
	if (!rc && r != ARCHIVE_EOF && r != ARCHIVE_OK && r != ARCHIVE_WARN)
		rc = err_set(err, "%s: corrupt or truncated archive: %s", file, archive_error_string(a));
	archive_read_free(a);
	return rc;
}

static const char *basename_of(const char *p)
{
	const char *s = strrchr(p, '/');
	return s ? s + 1 : p;
}

/* ---- zip files read in place ----
 * A COCO image zip is 6-13 GB: rather than holding its images in memory, the
 * central directory is indexed at open and each read is a pread of one
 * entry (stored or deflated, CRC-checked), so reads are thread-safe and
 * memory stays small. ZIP64 (archives over 4 GB) is handled. */

typedef struct {
	uint64_t offset, csize, usize;   /* local header offset, sizes */
	uint32_t crc;
	uint16_t method;                 /* 0 stored, 8 deflated */
} zip_entry;

typedef struct {
	int fd;
	char *path;
	zip_entry *e;
	int n;
	strmap byname;   /* base name -> entry */
} zip_file;

static uint16_t le16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t le32(const uint8_t *p) { return (uint32_t)le16(p) | (uint32_t)le16(p + 2) << 16; }
static uint64_t le64(const uint8_t *p) { return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32; }

static int pread_all(int fd, void *buf, size_t len, uint64_t off)
{
	uint8_t *p = buf;
	while (len) {
		ssize_t got = pread(fd, p, len, (off_t)off);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			return -1;
		p += got;
		len -= (size_t)got;
		off += (uint64_t)got;
	}
	return 0;
}

static int is_zip(const char *path)
{
	uint8_t magic[4];
	int fd = open(path, O_RDONLY), ok = 0;
	if (fd >= 0) {
		ok = pread_all(fd, magic, 4, 0) == 0 && magic[0] == 'P' && magic[1] == 'K' &&
		     ((magic[2] == 3 && magic[3] == 4) || (magic[2] == 5 && magic[3] == 6));
		close(fd);
	}
	return ok;
}

static void zip_close(zip_file *z)
{
	if (!z)
		return;
	if (z->fd >= 0)
		close(z->fd);
	free(z->path);
	free(z->e);
	strmap_free(&z->byname);
	free(z);
}

/* The end of central directory (ZIP64 when needed): entry count, offset, size. */
static int zip_find_cd(zip_file *z, uint64_t fsize, uint64_t *count, uint64_t *cdoff, uint64_t *cdsize,
		       char *err)
{
	enum { TAIL = 65557 };   /* 22-byte record + the longest comment */
	uint8_t *tail = malloc(TAIL);
	uint64_t tlen = fsize < TAIL ? fsize : TAIL, start = fsize - tlen;
	int64_t at = -1;
	if (!tail)
		return err_set(err, "out of memory");
	if (tlen < 22 || pread_all(z->fd, tail, (size_t)tlen, start)) {
		free(tail);
		return err_set(err, "%s: not a zip file (too short)", z->path);
	}
	for (int64_t i = (int64_t)tlen - 22; i >= 0 && at < 0; i--)
		if (le32(tail + i) == 0x06054b50 && (uint64_t)i + 22 + le16(tail + i + 20) <= tlen)
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
		uint8_t rec[56];
		int bad = at < 20 || le32(e - 20) != 0x07064b50 ||
			  pread_all(z->fd, rec, sizeof(rec), le64(e - 20 + 8)) || le32(rec) != 0x06064b50;
		if (!bad) {
			*count = le64(rec + 32);
			*cdsize = le64(rec + 40);
			*cdoff = le64(rec + 48);
		}
		if (bad) {
			free(tail);
			return err_set(err, "%s: broken ZIP64 end of central directory", z->path);
		}
	}
	free(tail);
	if (*cdoff > fsize || *cdsize > fsize - *cdoff || *count > *cdsize / 46 || *count > INT32_MAX / 2)
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
				e->usize = le64(p);
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

static zip_file *zip_open(const char *path, char *err)
{
	zip_file *z = calloc(1, sizeof(*z));
	struct stat st;
	uint64_t count = 0, cdoff = 0, cdsize = 0;
	uint8_t *cd = NULL;
	if (!z || !(z->path = strdup(path))) {
		free(z);
		err_set(err, "out of memory");
		return NULL;
	}
	if ((z->fd = open(path, O_RDONLY)) < 0 || fstat(z->fd, &st)) {
		err_set(err, "cannot open %s: %s", path, strerror(errno));
		goto bad;
	}
	if (zip_find_cd(z, (uint64_t)st.st_size, &count, &cdoff, &cdsize, err))
		goto bad;
	if (!(cd = malloc(cdsize + 1)) || !(z->e = calloc(count + 1, sizeof(zip_entry)))) {
		err_set(err, "%s: out of memory for %llu entries", path, (unsigned long long)count);
		goto bad;
	}
	if (pread_all(z->fd, cd, cdsize, cdoff)) {
		err_set(err, "%s: cannot read the central directory", path);
		goto bad;
	}
	for (uint64_t i = 0, pos = 0; i < count; i++) {
		const uint8_t *h = cd + pos;
		size_t nl = pos + 46 <= cdsize ? le16(h + 28) : 0, xl = nl ? le16(h + 30) : 0, cl = nl ? le16(h + 32) : 0;
		if (pos + 46 > cdsize || le32(h) != 0x02014b50 || pos + 46 + nl + xl + cl > cdsize) {
			err_set(err, "%s: corrupt central directory (entry %llu)", path, (unsigned long long)i);
			goto bad;
		}
		zip_entry *e = &z->e[z->n];
		uint32_t c32 = le32(h + 20), u32 = le32(h + 24), o32 = le32(h + 42);
		*e = (zip_entry){ o32, c32, u32, le32(h + 16), le16(h + 10) };
		zip64_extra(h + 46 + nl, xl, e, u32, c32, o32);
		char name[1024];
		snprintf(name, sizeof(name), "%.*s", (int)(nl < sizeof(name) - 1 ? nl : sizeof(name) - 1),
			 (const char *)h + 46);
		pos += 46 + nl + xl + cl;
		if (!*name || name[strlen(name) - 1] == '/')
			continue;   /* folders */
		if (le16(h + 8) & 1) {
			err_set(err, "%s: entry %s is encrypted", path, name);
			goto bad;
		}
		if (strmap_put(&z->byname, basename_of(name), z->n++)) {
			err_set(err, "out of memory");
			goto bad;
		}
	}
	free(cd);
	return z;
bad:
	free(cd);
	zip_close(z);
	return NULL;
}

/* One entry's bytes; thread-safe (pread, no shared state). */
static uint8_t *zip_read(const zip_file *z, int k, size_t *len, char *err)
{
	const zip_entry *e = &z->e[k];
	uint8_t lh[30];
	if (e->method != 0 && e->method != 8) {
		err_set(err, "%s: compression method %u not supported (stored or deflated only)", z->path, e->method);
		return NULL;
	}
	if (e->usize > MAX_IMAGE_FILE || e->csize > MAX_IMAGE_FILE || (e->method == 0 && e->csize != e->usize)) {
		err_set(err, "%s: entry of %llu bytes: too large or inconsistent", z->path, (unsigned long long)e->usize);
		return NULL;
	}
	if (pread_all(z->fd, lh, sizeof(lh), e->offset) || le32(lh) != 0x04034b50) {
		err_set(err, "%s: corrupt local header at byte %llu", z->path, (unsigned long long)e->offset);
		return NULL;
	}
	uint64_t data = e->offset + 30 + le16(lh + 26) + le16(lh + 28);
	uint8_t *c = malloc(e->csize + 1), *u = e->method == 8 ? malloc(e->usize + 1) : c;
	if (!c || !u) {
		free(c);
		if (u != c)
			free(u);
		err_set(err, "out of memory");
		return NULL;
	}
	int bad = pread_all(z->fd, c, e->csize, data) ? 1 : 0;
	if (e->method == 8) {
		if (!bad) {
			z_stream zs;
			memset(&zs, 0, sizeof(zs));
			zs.next_in = c;
			zs.avail_in = (uInt)e->csize;
			zs.next_out = u;
			zs.avail_out = (uInt)e->usize;
			if (inflateInit2(&zs, -MAX_WBITS) != Z_OK)
				bad = 2;
			else {
				if (inflate(&zs, Z_FINISH) != Z_STREAM_END || zs.total_out != e->usize)
					bad = 2;
				inflateEnd(&zs);
			}
		}
		free(c);
	}
	if (!bad && (uint32_t)crc32(crc32(0L, Z_NULL, 0), u, (uInt)e->usize) != e->crc)
		bad = 3;
	if (bad) {
		free(u);
		err_set(err, "%s: %s", z->path, bad == 1 ? "truncated (entry data past the end)"
			  : bad == 2 ? "corrupt deflated data" : "CRC mismatch: corrupt entry");
		return NULL;
	}
	*len = (size_t)e->usize;
	return u;
}

/* ---- the sample table every reader fills ---- */

typedef struct { int label; int difficult; } sobj;

typedef struct {
	char *id;
	int split;
	int64_t index;
	sobj *obj;
	int nobj;
	char *path;     /* image on disk, or NULL */
	blob bytes;     /* image bytes from an archive (p NULL: absent) */
	int zipent;     /* entry in the data set's zip, or -1 */
	int keep;       /* in a requested split; the others only count for the label set */
} sample;

typedef struct {
	sample *s;
	int n, cap;
	char **labels;  /* label names by provisional number */
	int K;
	strmap label_of;
	int fixed_labels;  /* 1: names outside `labels` are an error */
	const char *where; /* for the fixed label set's error message */
} table;

static sample *table_add(table *t, const char *id, int split, int64_t index, int keep)
{
	if (t->n == t->cap) {
		int cap = t->cap ? t->cap * 2 : 256;
		sample *s = xrealloc_array(t->s, (size_t)cap, sizeof(sample));
		if (!s)
			return NULL;
		t->s = s;
		t->cap = cap;
	}
	sample *s = &t->s[t->n];
	memset(s, 0, sizeof(*s));
	if (!(s->id = strdup(id)))
		return NULL;
	s->split = split;
	s->index = index;
	s->keep = keep;
	s->zipent = -1;
	t->n++;
	return s;
}

/* Names end up in one-line messages and in JSON metadata: no control characters. */
static int has_control(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return 1;
	return 0;
}

/* The column of a label name, added when the set is open. */
static int table_label(table *t, const char *name, char *err)
{
	int k = strmap_get(&t->label_of, name);
	if (k >= 0)
		return k;
	if (has_control(name))
		return err_set(err, "a label name holds a control character"), -2;
	if (t->fixed_labels)
		return err_set(err, "label '%s' is not in %s", name, t->where), -2;
	char **l = xrealloc_array(t->labels, (size_t)t->K + 1, sizeof(char *));
	if (!l || !(l[t->K] = strdup(name)) || strmap_put(&t->label_of, name, t->K))
		return err_set(err, "out of memory"), -2;
	t->labels = l;
	return t->K++;
}

static int sample_add_obj(sample *s, int label, int difficult)
{
	sobj *o = xrealloc_array(s->obj, (size_t)s->nobj + 1, sizeof(sobj));
	if (!o)
		return -1;
	s->obj = o;
	o[s->nobj].label = label;
	o[s->nobj].difficult = difficult;
	s->nobj++;
	return 0;
}

/* Fixes the label set from a comma- or newline-separated list of names. */
static int table_set_labels(table *t, const char *text, const char *where, char *err)
{
	char *copy = strdup(text), *save = NULL;
	if (!copy)
		return err_set(err, "out of memory");
	int rc = 0;
	for (char *tok = strtok_r(copy, ",\n\r", &save); tok; tok = strtok_r(NULL, ",\n\r", &save)) {
		while (isspace((unsigned char)*tok))
			tok++;
		size_t l = strlen(tok);
		while (l && isspace((unsigned char)tok[l - 1]))
			tok[--l] = 0;
		if (!l)
			continue;
		if (!has_control(tok) && strmap_get(&t->label_of, tok) >= 0) {
			rc = err_set(err, "%s: label '%s' listed twice", where, tok);
			break;
		}
		char why[ERR_LEN];
		if (table_label(t, tok, why) < 0) {
			rc = err_set(err, "%s: %s", where, why);
			break;
		}
	}
	free(copy);
	if (!rc && t->K == 0)
		rc = err_set(err, "%s: no label names", where);
	t->fixed_labels = 1;
	t->where = where;
	return rc;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Open label sets end sorted by name: renumber every object. */
static int table_sort_labels(table *t, char *err)
{
	if (t->fixed_labels || t->K == 0)
		return 0;
	int *map = malloc(sizeof(int) * t->K);
	if (!map)
		return err_set(err, "out of memory");
	qsort(t->labels, (size_t)t->K, sizeof(char *), cmp_str);
	for (int k = 0; k < t->K; k++) {
		int old = strmap_get(&t->label_of, t->labels[k]);
		map[old] = k;
		strmap_put(&t->label_of, t->labels[k], k);
	}
	for (int i = 0; i < t->n; i++)
		for (int j = 0; j < t->s[i].nobj; j++)
			t->s[i].obj[j].label = map[t->s[i].obj[j].label];
	free(map);
	return 0;
}

static void table_free(table *t)
{
	for (int i = 0; i < t->n; i++) {
		free(t->s[i].id);
		free(t->s[i].obj);
		free(t->s[i].path);
		free(t->s[i].bytes.p);
	}
	free(t->s);
	for (int k = 0; k < t->K; k++)
		free(t->labels[k]);
	free(t->labels);
	strmap_free(&t->label_of);
	memset(t, 0, sizeof(*t));
}

struct ds_priv {
	char **paths;   /* per sample, or NULL */
	blob *bytes;    /* per sample, or NULL */
	int *zipent;    /* per sample: entry of zip, or -1 */
	zip_file *zip;  /* images read in place from a zip, or NULL */
	char *source;   /* for error messages: where the bytes come from */
};

/* Consumes t. Label present where any object has it; ignored where all of them are
 * difficult (VOC's convention). */
static ds_dataset *finish(table *t, zip_file *zip, const char *source, char *err)
{
	int kept = 0;
	for (int i = 0; i < t->n; i++)
		kept += t->s[i].keep;
	if (kept == 0 || t->K == 0 || table_sort_labels(t, err)) {
		if (kept == 0 || t->K == 0)
			err_set(err, "%s: no %s", source, kept ? "labels in the data set" : "samples in the requested splits");
		table_free(t);
		zip_close(zip);
		return NULL;
	}
	ds_dataset *d = calloc(1, sizeof(*d));
	size_t nk = (size_t)kept * t->K;
	if (!d || !(d->priv = calloc(1, sizeof(*d->priv))))
		goto oom;
	d->n = kept;
	d->K = t->K;
	d->label_names = t->labels;
	t->labels = NULL;
	t->K = 0;
	d->ids = calloc(d->n, sizeof(char *));
	d->labels = calloc(nk, 1);
	d->ignore = calloc(nk, 1);
	d->split = calloc(d->n, 1);
	d->index = calloc(d->n, sizeof(int64_t));
	d->priv->paths = calloc(d->n, sizeof(char *));
	d->priv->bytes = calloc(d->n, sizeof(blob));
	d->priv->zipent = calloc(d->n, sizeof(int));
	d->priv->zip = zip;
	zip = NULL;
	d->priv->source = strdup(source);
	if (!d->ids || !d->labels || !d->ignore || !d->split || !d->index || !d->priv->paths ||
	    !d->priv->bytes || !d->priv->zipent || !d->priv->source)
		goto oom;
	for (int i = 0, from = 0; i < d->n; i++, from++) {
		while (!t->s[from].keep)
			from++;
		sample *s = &t->s[from];
		uint8_t *lab = d->labels + (size_t)i * d->K, *ign = d->ignore + (size_t)i * d->K;
		memset(ign, 1, d->K);
		for (int j = 0; j < s->nobj; j++) {
			lab[s->obj[j].label] = 1;
			if (!s->obj[j].difficult)
				ign[s->obj[j].label] = 0;
		}
		int any = 0;
		for (int k = 0; k < d->K; k++) {
			ign[k] &= lab[k];
			any |= lab[k];
		}
		d->n_unannotated += !any;
		d->ids[i] = s->id;
		d->split[i] = (uint8_t)s->split;
		d->index[i] = s->index;
		d->priv->paths[i] = s->path;
		d->priv->bytes[i] = s->bytes;
		d->priv->zipent[i] = s->zipent;
		s->id = s->path = NULL;
		s->bytes.p = NULL;
	}
	table_free(t);
	return d;
oom:
	ds_free(d);
	table_free(t);
	zip_close(zip);
	err_set(err, "%s: out of memory", source);
	return NULL;
}

void ds_free(ds_dataset *d)
{
	if (!d)
		return;
	for (int k = 0; d->label_names && k < d->K; k++)
		free(d->label_names[k]);
	free(d->label_names);
	for (int i = 0; i < d->n; i++) {
		if (d->ids)
			free(d->ids[i]);
		if (d->priv && d->priv->paths)
			free(d->priv->paths[i]);
		if (d->priv && d->priv->bytes)
			free(d->priv->bytes[i].p);
	}
	free(d->ids);
	free(d->labels);
	free(d->ignore);
	free(d->split);
	free(d->index);
	if (d->priv) {
		free(d->priv->paths);
		free(d->priv->bytes);
		free(d->priv->zipent);
		zip_close(d->priv->zip);
		free(d->priv->source);
		free(d->priv);
	}
	free(d);
}

uint8_t *ds_read(ds_dataset *d, int i, size_t *len, char *err)
{
	if (i < 0 || i >= d->n) {
		err_set(err, "sample %d out of range (0..%d)", i, d->n - 1);
		return NULL;
	}
	const char *path = d->priv->paths[i];
	const blob *b = &d->priv->bytes[i];
	if (path) {
		blob f;
		char why[ERR_LEN];
		if (read_whole_file(path, MAX_IMAGE_FILE, &f, why)) {
			err_set(err, "image of sample '%s': %s", d->ids[i], why);
			return NULL;
		}
		*len = f.len;
		return f.p;
	}
	if (d->priv->zip && d->priv->zipent[i] >= 0) {
		char why[ERR_LEN];
		uint8_t *p = zip_read(d->priv->zip, d->priv->zipent[i], len, why);
		if (!p)
			err_set(err, "image of sample '%s': %s", d->ids[i], why);
		return p;
	}
	if (!b->p) {
		err_set(err, "image of sample '%s': not found in %s", d->ids[i], d->priv->source);
		return NULL;
	}
	uint8_t *p = malloc(b->len ? b->len : 1);
	if (!p) {
		err_set(err, "image of sample '%s': out of memory", d->ids[i]);
		return NULL;
	}
	memcpy(p, b->p, b->len);
	*len = b->len;
	return p;
}

/* ---- splits ---- */

/* "train,val,test,trainval" -> bit mask of SPLIT_*; NULL or "" = all */
static int parse_splits(const char *s, int *mask, char *err)
{
	*mask = 0;
	if (!s || !*s) {
		*mask = 7;
		return 0;
	}
	const char *p = s;
	while (*p) {
		size_t l = strcspn(p, ",");
		if (l == 5 && !strncmp(p, "train", 5))
			*mask |= 1;
		else if (l == 3 && !strncmp(p, "val", 3))
			*mask |= 2;
		else if (l == 4 && !strncmp(p, "test", 4))
			*mask |= 4;
		else if (l == 8 && !strncmp(p, "trainval", 8))
			*mask |= 3;
		else
			return err_set(err, "unknown split '%.*s' in '%s' (expected train, val, test or trainval)",
				    (int)l, p, s);
		p += l;
		if (*p == ',')
			p++;
	}
	return 0;
}

static int parse_split_name(const char *s, size_t l)
{
	for (int k = 0; k < 3; k++)
		if (strlen(split_names[k]) == l && !strncmp(s, split_names[k], l))
			return k;
	if (l == 1 && s[0] >= '0' && s[0] <= '2')
		return s[0] - '0';
	return -1;
}

/* ---- VOC ---- */

/* The subset of XML that VOC annotations use: elements, attributes (skipped),
 * text with the five named entities and numeric references, comments,
 * processing instructions, a DOCTYPE and CDATA. Only annotation/object/name
 * and annotation/object/difficult are kept, so part/name (person layout)
 * and every other field are passed over. */
typedef struct {
	char *name;
	int difficult;
} voc_obj;

typedef struct {
	voc_obj *o;
	int n;
} voc_ann;

static void voc_ann_free(voc_ann *a)
{
	for (int i = 0; i < a->n; i++)
		free(a->o[i].name);
	free(a->o);
	a->o = NULL;
	a->n = 0;
}

/* Appends decoded text [p, end) to buf (entities resolved). */
static int xml_text(const char *p, const char *end, char *buf, size_t *len, size_t cap)
{
	while (p < end) {
		char c = *p++;
		if (c == '&') {
			const char *semi = memchr(p, ';', (size_t)(end - p));
			if (!semi)
				return -1;
			size_t l = (size_t)(semi - p);
			long v;
			if (l == 2 && !strncmp(p, "lt", 2)) v = '<';
			else if (l == 2 && !strncmp(p, "gt", 2)) v = '>';
			else if (l == 3 && !strncmp(p, "amp", 3)) v = '&';
			else if (l == 4 && !strncmp(p, "quot", 4)) v = '"';
			else if (l == 4 && !strncmp(p, "apos", 4)) v = '\'';
			else if (l >= 2 && p[0] == '#') {
				char *e;
				v = p[1] == 'x' ? strtol(p + 2, &e, 16) : strtol(p + 1, &e, 10);
				if (e != semi || v <= 0 || v > 126)
					return -1;   /* label names are ASCII */
			} else
				return -1;
			c = (char)v;
			p = semi + 1;
		}
		if (*len + 1 >= cap)
			return -1;
		buf[(*len)++] = c;
	}
	buf[*len] = 0;
	return 0;
}

static char *trim(char *s)
{
	while (isspace((unsigned char)*s))
		s++;
	size_t l = strlen(s);
	while (l && isspace((unsigned char)s[l - 1]))
		s[--l] = 0;
	return s;
}

static const char *skip_past(const char *p, const char *end, const char *what)
{
	size_t l = strlen(what);
	for (; p + l <= end; p++)
		if (!memcmp(p, what, l))
			return p + l;
	return NULL;
}

/* Parses one annotation; where names the file in errors. */
static int voc_parse_xml(const char *xml, size_t len, const char *where, voc_ann *ann, char *err)
{
	const char *p = xml, *end = xml + len;
	char stack[MAX_XML_DEPTH][32];   /* element names, cut to 31 chars: enough to compare */
	int depth = 0, saw_root = 0, capture = 0;
	char text[256];
	size_t tlen = 0;
	memset(ann, 0, sizeof(*ann));
	while (p < end) {
		const char *lt = memchr(p, '<', (size_t)(end - p));
		if (!lt)
			lt = end;
		if (capture && xml_text(p, lt, text, &tlen, sizeof(text)))
			goto bad_text;
		if (lt == end)
			break;
		p = lt + 1;
		if (p < end && (*p == '?' || (*p == '!' && p + 2 < end && p[1] == '-' && p[2] == '-'))) {
			p = skip_past(p, end, *p == '?' ? "?>" : "-->");
			if (!p)
				return err_set(err, "%s: unterminated comment or processing instruction", where);
			continue;
		}
		if (p + 8 <= end && !memcmp(p, "![CDATA[", 8)) {
			const char *close = skip_past(p + 8, end, "]]>");
			if (!close)
				return err_set(err, "%s: unterminated CDATA", where);
			if (capture) {
				size_t l = (size_t)(close - 3 - (p + 8));
				if (tlen + l + 1 >= sizeof(text))
					goto bad_text;
				memcpy(text + tlen, p + 8, l);
				tlen += l;
				text[tlen] = 0;
			}
			p = close;
			continue;
		}
		if (p < end && *p == '!') {   /* DOCTYPE */
			p = memchr(p, '>', (size_t)(end - p));
			if (!p)
				return err_set(err, "%s: unterminated declaration", where);
			p++;
			continue;
		}
		int closing = p < end && *p == '/';
		p += closing;
		const char *name = p;
		while (p < end && !isspace((unsigned char)*p) && *p != '>' && *p != '/')
			p++;
		size_t nl = (size_t)(p - name);
		char quote = 0;   /* attributes: skip to '>' outside quotes */
		for (; p < end && (quote || *p != '>'); p++)
			if (quote ? *p == quote : (*p == '"' || *p == '\''))
				quote = quote ? 0 : *p;
		if (p >= end || nl == 0)
			return err_set(err, "%s: malformed tag near byte %zu", where, (size_t)(name - xml));
		int selfclose = !closing && p[-1] == '/';
		p++;
		char tag[32];
		snprintf(tag, sizeof(tag), "%.*s", (int)(nl < 31 ? nl : 31), name);
		if (closing) {
			if (depth == 0 || strcmp(stack[depth - 1], tag))
				return err_set(err, "%s: </%s> does not close <%s>", where, tag,
					    depth ? stack[depth - 1] : "nothing");
			if (capture) {
				char *v = trim(text);
				voc_obj *o = &ann->o[ann->n - 1];
				if (!strcmp(tag, "name")) {
					if (!*v)
						return err_set(err, "%s: object with an empty name", where);
					free(o->name);
					if (!(o->name = strdup(v)))
						return err_set(err, "out of memory");
				} else {
					char *e;
					long dv = strtol(v, &e, 10);
					if (!*v || *e || dv < 0 || dv > 1)
						return err_set(err, "%s: difficult is '%s', expected 0 or 1", where, v);
					o->difficult = (int)dv;
				}
				capture = 0;
			}
			depth--;
			continue;
		}
		if (depth == 0) {
			if (saw_root || strcmp(tag, "annotation"))
				return err_set(err, "%s: root element is <%s>, expected one <annotation>", where, tag);
			saw_root = 1;
		}
		if (selfclose)
			continue;
		if (depth == MAX_XML_DEPTH)
			return err_set(err, "%s: elements nested deeper than %d", where, MAX_XML_DEPTH);
		memcpy(stack[depth++], tag, sizeof(tag));
		if (depth == 2 && !strcmp(tag, "object")) {
			voc_obj *o = xrealloc_array(ann->o, (size_t)ann->n + 1, sizeof(voc_obj));
			if (!o)
				return err_set(err, "out of memory");
			ann->o = o;
			memset(&o[ann->n++], 0, sizeof(voc_obj));
		} else if (depth == 3 && !strcmp(stack[1], "object") &&
			   (!strcmp(tag, "name") || !strcmp(tag, "difficult"))) {
			capture = 1;
			tlen = 0;
			text[0] = 0;
		}
	}
	if (!saw_root || depth)
		return err_set(err, "%s: %s", where, saw_root ? "truncated XML (unclosed elements)" : "no <annotation> element");
	for (int i = 0; i < ann->n; i++)
		if (!ann->o[i].name)
			return err_set(err, "%s: object %d has no <name>", where, i + 1);
	return 0;
bad_text:
	return err_set(err, "%s: bad or overlong text in <%s>", where, depth ? stack[depth - 1] : "?");
}

/* Where VOC files come from: a folder, or the entries of archives kept in
 * memory by their path below the VOC root ("Annotations/000005.xml"). */
typedef struct {
	char *root;       /* folder mode */
	strmap files;     /* archive mode: relative path -> index in kept */
	blob *kept;
	int nkept, capkept;
	char *aroot;      /* the root prefix inside the archives ("VOCdevkit/VOC2007/") */
	const char *cur;  /* archive being scanned, for errors */
	int want_mask;
	strmap split_of;  /* ids seen in split files so far -> bit mask of splits */
} voc_src;

static const char *const voc_parts[] = { "JPEGImages/", "Annotations/", "ImageSets/Main/" };

/* The VOC root prefix of an archive path, and the path below it. */
static const char *voc_below_root(const char *path, size_t *rootlen)
{
	for (const char *p = path; *p; p = strchr(p, '/') ? strchr(p, '/') + 1 : p + strlen(p)) {
		for (size_t k = 0; k < sizeof(voc_parts) / sizeof(*voc_parts); k++)
			if (!strncmp(p, voc_parts[k], strlen(voc_parts[k]))) {
				*rootlen = (size_t)(p - path);
				return p;
			}
		if (!strcmp(p, "labels.txt")) {
			*rootlen = (size_t)(p - path);
			return p;
		}
	}
	return NULL;
}

static int is_split_file(const char *rel)
{
	return !strcmp(rel, "ImageSets/Main/train.txt") || !strcmp(rel, "ImageSets/Main/val.txt") ||
	       !strcmp(rel, "ImageSets/Main/test.txt") || !strcmp(rel, "ImageSets/Main/trainval.txt");
}

/* The image id of "JPEGImages/ID.ext", written into id; 0 when rel is no image. */
static int jpeg_id(const char *rel, char *id, size_t cap)
{
	if (strncmp(rel, "JPEGImages/", 11))
		return 0;
	const char *base = rel + 11, *dot = strrchr(base, '.');
	size_t l = dot ? (size_t)(dot - base) : strlen(base);
	if (strchr(base, '/') || l == 0 || l >= cap)
		return 0;
	memcpy(id, base, l);
	id[l] = 0;
	return 1;
}

/* Images whose id the split files already place in no wanted split are
 * not kept: reading only `test` of both original tars holds only test JPEGs. */
static int voc_want(const char *path, void *ctx)
{
	voc_src *v = ctx;
	size_t rl;
	const char *rel = voc_below_root(path, &rl);
	char id[256];
	if (!rel)
		return 0;
	if (!strncmp(rel, "Annotations/", 12))
		return strlen(rel) > 16 && !strcmp(rel + strlen(rel) - 4, ".xml");
	if (is_split_file(rel) || !strcmp(rel, "labels.txt"))
		return 1;
	if (jpeg_id(rel, id, sizeof(id))) {
		int m = strmap_get(&v->split_of, id);
		return m < 0 || (m & v->want_mask);
	}
	return 0;
}

static int voc_note_split(voc_src *v, const char *rel, const blob *b, char *err);

static int voc_take(const char *path, blob data, void *ctx, char *err)
{
	voc_src *v = ctx;
	size_t rl;
	const char *rel = voc_below_root(path, &rl);
	char id[256];
	if (!v->aroot && strcmp(rel, "labels.txt")) {
		if (!(v->aroot = strndup(path, rl)))
			return free(data.p), err_set(err, "out of memory");
	} else if (v->aroot && strcmp(rel, "labels.txt") &&
		   (strlen(v->aroot) != rl || strncmp(v->aroot, path, rl))) {
		err_set(err, "%s: two VOC folders in the archives ('%s' and '%.*s'); unpack one", v->cur,
		     v->aroot, (int)rl, path);
		free(data.p);
		return -1;
	}
	/* labels.txt is kept by its full path, matched with the root at the end */
	const char *key = strcmp(rel, "labels.txt") ? rel : path;
	char keybuf[300];
	if (is_split_file(rel) && voc_note_split(v, rel, &data, err)) {
		free(data.p);
		return -1;
	}
	if (jpeg_id(rel, id, sizeof(id))) {
		snprintf(keybuf, sizeof(keybuf), "JPEGImages/%s", id);
		key = keybuf;
	}
	int at = strmap_get(&v->files, key);
	if (at < 0) {
		if (v->nkept == v->capkept) {
			int cap = v->capkept ? v->capkept * 2 : 256;
			blob *k = xrealloc_array(v->kept, (size_t)cap, sizeof(blob));
			if (!k)
				return free(data.p), err_set(err, "out of memory");
			v->kept = k;
			v->capkept = cap;
		}
		at = v->nkept++;
		if (strmap_put(&v->files, key, at))
			return free(data.p), err_set(err, "out of memory");
	} else {
		free(v->kept[at].p);   /* a later archive's copy wins */
	}
	v->kept[at] = data;
	return 0;
}

/* Each id line of a split file: the first token; blank lines skipped. */
typedef int (*id_fn)(const char *id, void *ctx, char *err);

static int for_each_id(const char *text, size_t len, const char *where, id_fn fn, void *ctx, char *err)
{
	const char *p = text, *end = text + len;
	int line = 0;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *e = nl ? nl : end;
		line++;
		while (p < e && isspace((unsigned char)*p))
			p++;
		const char *s = p;
		while (p < e && !isspace((unsigned char)*p))
			p++;
		if (p > s) {
			char id[256];
			if ((size_t)(p - s) >= sizeof(id) || memchr(s, '/', (size_t)(p - s)))
				return err_set(err, "%s:%d: image id too long or holding '/'", where, line);
			memcpy(id, s, (size_t)(p - s));
			id[p - s] = 0;
			if (strlen(id) != (size_t)(p - s) || has_control(id))
				return err_set(err, "%s:%d: image id holding a control character", where, line);
			if (fn(id, ctx, err))
				return -1;
		}
		p = nl ? nl + 1 : end;
	}
	return 0;
}

typedef struct { voc_src *v; int bit; } note_ctx;

static int note_id(const char *id, void *ctx, char *err)
{
	note_ctx *c = ctx;
	int m = strmap_get(&c->v->split_of, id);
	if (strmap_put(&c->v->split_of, id, (m < 0 ? 0 : m) | c->bit))
		return err_set(err, "out of memory");
	return 0;
}

static int voc_note_split(voc_src *v, const char *rel, const blob *b, char *err)
{
	const char *base = rel + strlen("ImageSets/Main/");
	note_ctx c = { v, !strcmp(base, "train.txt") ? 1 : !strcmp(base, "val.txt") ? 2
			 : !strcmp(base, "test.txt") ? 4 : 3 };
	return for_each_id((const char *)b->p, b->len, rel, note_id, &c, err);
}

/* A file below the VOC root: from the folder, or from the kept entries.
 * Returns 1 found, 0 absent, -1 error. */
static int voc_get(voc_src *v, const char *rel, blob *out, char *err)
{
	if (v->root) {
		char *path = path_join(v->root, rel);
		struct stat st;
		if (!path)
			return err_set(err, "out of memory");
		if (stat(path, &st) != 0) {
			free(path);
			return 0;
		}
		int rc = read_whole_file(path, MAX_TEXT_FILE, out, err);
		free(path);
		return rc ? -1 : 1;
	}
	int at = strmap_get(&v->files, rel);
	if (at < 0)
		return 0;
	*out = v->kept[at];
	v->kept[at].p = NULL;   /* taken */
	v->kept[at].len = 0;
	return 1;
}

/* folder: PATH, PATH/VOC2007 or PATH/VOCdevkit/VOC2007 holding ImageSets/Main */
static char *voc_find_root(const char *path)
{
	static const char *const tries[] = { "", "VOC2007", "VOCdevkit/VOC2007", "VOC2012",
					     "VOCdevkit/VOC2012" };
	for (size_t k = 0; k < sizeof(tries) / sizeof(*tries); k++) {
		char *root = path_join(path, tries[k]), *main = root ? path_join(root, "ImageSets/Main") : NULL;
		int ok = main && is_dir(main);
		free(main);
		if (ok)
			return root;
		free(root);
	}
	return NULL;
}

typedef struct {
	table *t;
	strmap *seen;     /* id -> sample */
	int split, mask;
	int64_t *next_index;
	const char *where;
} list_ctx;

static int add_split_id(const char *id, void *ctx, char *err)
{
	list_ctx *c = ctx;
	int at = strmap_get(c->seen, id);
	if (at >= 0) {
		if (c->t->s[at].split != c->split)
			return err_set(err, "%s: image '%s' is in two splits", c->where, id);
		return 0;   /* listed twice in one file: once is enough */
	}
	int64_t index = (*c->next_index)++;
	if (!table_add(c->t, id, c->split, index, (c->mask >> c->split) & 1) ||
	    strmap_put(c->seen, id, c->t->n - 1))
		return err_set(err, "out of memory");
	return 0;
}

/* The listing: train.txt, val.txt, test.txt in that order (trainval.txt as
 * train when neither train.txt nor val.txt exists). */
static int voc_listing(voc_src *v, table *t, int mask, int asked, const char *source, char *err)
{
	static const char *const files[4] = { "ImageSets/Main/train.txt", "ImageSets/Main/val.txt",
					      "ImageSets/Main/test.txt", "ImageSets/Main/trainval.txt" };
	blob b[4] = { { 0 } };
	int have[4], rc = 0;
	strmap seen = { 0 };
	int64_t next = 0;
	for (int k = 0; k < 4; k++)
		if ((have[k] = voc_get(v, files[k], &b[k], err)) < 0)
			rc = -1;
	if (!rc && !have[0] && !have[1] && !have[2] && !have[3])
		rc = err_set(err, "%s: no ImageSets/Main/{train,val,test,trainval}.txt", source);
	for (int k = 0; k < 3 && !rc; k++) {
		int src = k == 0 && !have[0] && !have[1] && have[3] ? 3 : k;
		if (!have[src]) {
			if (asked && (mask & (1 << k)))
				rc = err_set(err, "%s: split %s asked for, but there is no %s", source,
					  split_names[k], files[k]);
			continue;
		}
		list_ctx c = { t, &seen, k, mask, &next, files[src] };
		rc = for_each_id((const char *)b[src].p, b[src].len, files[src], add_split_id, &c, err);
	}
	for (int k = 0; k < 4; k++)
		free(b[k].p);
	strmap_free(&seen);
	return rc;
}

/* labels.txt at the VOC root, else VOC's 20 when every name is one of
 * them, else the sorted names found */
static int voc_label_set(voc_src *v, table *t, voc_ann *anns, char *err)
{
	blob b = { 0 };
	int got;
	if (v->root) {
		got = voc_get(v, "labels.txt", &b, err);
	} else {
		char *key = v->aroot ? path_join(v->aroot, "labels.txt") : NULL;
		got = key ? voc_get(v, key, &b, err) : 0;
		free(key);
	}
	if (got < 0)
		return -1;
	if (got) {
		char *text = malloc(b.len + 1);
		int rc = text ? 0 : err_set(err, "out of memory");
		if (text) {
			memcpy(text, b.p, b.len);
			text[b.len] = 0;
			rc = table_set_labels(t, text, "labels.txt", err);
		}
		free(text);
		free(b.p);
		return rc;
	}
	int all_voc = 1;
	for (int i = 0; i < t->n && all_voc; i++)
		for (int j = 0; j < anns[i].n && all_voc; j++) {
			int k = 0;
			while (k < 20 && strcmp(anns[i].o[j].name, voc_labels[k]))
				k++;
			all_voc = k < 20;
		}
	if (all_voc)
		return table_set_labels(t, "aeroplane,bicycle,bird,boat,bottle,bus,car,cat,chair,cow,"
					"diningtable,dog,horse,motorbike,person,pottedplant,sheep,"
					"sofa,train,tvmonitor", "VOC's 20 labels", err);
	return 0;
}

static int voc_annotations(voc_src *v, table *t, const char *source, char *err)
{
	voc_ann *anns = calloc((size_t)t->n + 1, sizeof(voc_ann));
	int rc = anns ? 0 : err_set(err, "out of memory");
	for (int i = 0; i < t->n && !rc; i++) {
		char rel[300];
		blob b;
		snprintf(rel, sizeof(rel), "Annotations/%s.xml", t->s[i].id);
		int got = voc_get(v, rel, &b, err);
		if (got == 0)
			rc = err_set(err, "%s: no %s for image '%s'", source, rel, t->s[i].id);
		else if (got > 0) {
			rc = voc_parse_xml((const char *)b.p, b.len, rel, &anns[i], err);
			free(b.p);
		} else
			rc = -1;
	}
	if (!rc)
		rc = voc_label_set(v, t, anns, err);
	for (int i = 0; i < t->n && !rc; i++)
		for (int j = 0; j < anns[i].n && !rc; j++) {
			char why[ERR_LEN];
			int k = table_label(t, anns[i].o[j].name, why);
			if (k < 0)
				rc = err_set(err, "Annotations/%s.xml: %s", t->s[i].id, why);
			else if (sample_add_obj(&t->s[i], k, anns[i].o[j].difficult))
				rc = err_set(err, "out of memory");
		}
	for (int i = 0; anns && i < t->n; i++)
		voc_ann_free(&anns[i]);
	free(anns);
	return rc;
}

static int voc_images(voc_src *v, table *t, char *err)
{
	for (int i = 0; i < t->n; i++) {
		char rel[300];
		sample *s = &t->s[i];
		if (!s->keep)
			continue;
		if (v->root) {
			snprintf(rel, sizeof(rel), "JPEGImages/%s.jpg", s->id);
			s->path = path_join(v->root, rel);
			struct stat st;
			if (s->path && stat(s->path, &st) != 0) {
				/* PNG where there is no JPEG; the read reports the .jpg when neither exists */
				snprintf(rel, sizeof(rel), "JPEGImages/%s.png", s->id);
				char *png = path_join(v->root, rel);
				if (png && stat(png, &st) == 0) {
					free(s->path);
					s->path = png;
				} else
					free(png);
			}
			if (!s->path)
				return err_set(err, "out of memory");
		} else {
			snprintf(rel, sizeof(rel), "JPEGImages/%s", s->id);
			if (voc_get(v, rel, &s->bytes, err) < 0)
				return -1;
		}
	}
	return 0;
}

static void voc_src_free(voc_src *v)
{
	for (int i = 0; i < v->nkept; i++)
		free(v->kept[i].p);
	free(v->kept);
	strmap_free(&v->files);
	strmap_free(&v->split_of);
	free(v->root);
	free(v->aroot);
}

static ds_dataset *open_voc(const char *paths, int mask, int asked, char *err)
{
	voc_src v = { 0 };
	table t = { 0 };
	char *list = strdup(paths), *save = NULL;
	int rc = list ? 0 : err_set(err, "out of memory");
	int nparts = 0;
	v.want_mask = mask;
	for (char *p = list ? strtok_r(list, ",", &save) : NULL; p && !rc; p = strtok_r(NULL, ",", &save)) {
		nparts++;
		if (is_dir(p)) {
			if (v.root || v.nkept)
				rc = err_set(err, "voc:%s: give one VOC folder, or archives, not both", paths);
			else if (!(v.root = voc_find_root(p)))
				rc = err_set(err, "voc:%s: no ImageSets/Main in %s, %s/VOC2007 or %s/VOCdevkit/VOC2007",
					  paths, p, p, p);
		} else {
			if (v.root)
				rc = err_set(err, "voc:%s: give one VOC folder, or archives, not both", paths);
			else {
				v.cur = p;
				rc = archive_scan(p, voc_want, voc_take, &v, err);
			}
		}
	}
	if (!rc && nparts == 0)
		rc = err_set(err, "voc: no path given");
	if (!rc && !v.root && !v.aroot)
		rc = err_set(err, "voc:%s: no VOC folders (JPEGImages, Annotations, ImageSets/Main) in the archive", paths);
	char source[600];
	snprintf(source, sizeof(source), "voc:%s", paths);
	if (!rc)
		rc = voc_listing(&v, &t, mask, asked, source, err);
	if (!rc)
		rc = voc_annotations(&v, &t, source, err);
	if (!rc)
		rc = voc_images(&v, &t, err);
	voc_src_free(&v);
	free(list);
	if (rc) {
		table_free(&t);
		return NULL;
	}
	return finish(&t, NULL, source, err);
}

/* ---- COCO ---- */

/* Replaces the value of every "key": member with 0 and spaces, string-aware.
 * COCO's segmentation polygons are most of an instances file; cJSON would
 * need several bytes of tree per byte of them. */
static void json_blank_member(char *s, size_t len, const char *key)
{
	size_t kl = strlen(key);
	int in_str = 0;
	for (size_t i = 0; i < len; i++) {
		if (in_str) {
			if (s[i] == '\\')
				i++;
			else if (s[i] == '"')
				in_str = 0;
			continue;
		}
		if (s[i] != '"')
			continue;
		if (i + kl + 2 > len || memcmp(s + i + 1, key, kl) || s[i + kl + 1] != '"') {
			in_str = 1;
			continue;
		}
		size_t j = i + kl + 2;
		while (j < len && isspace((unsigned char)s[j]))
			j++;
		if (j >= len || s[j] != ':') {
			i += kl + 1;
			continue;
		}
		j++;
		while (j < len && isspace((unsigned char)s[j]))
			j++;
		size_t start = j;
		int depth = 0, str = 0;
		for (; j < len; j++) {
			char c = s[j];
			if (str) {
				if (c == '\\')
					j++;
				else if (c == '"')
					str = 0;
			} else if (c == '"')
				str = 1;
			else if (c == '[' || c == '{')
				depth++;
			else if (c == ']' || c == '}') {
				if (depth == 0)
					break;
				if (--depth == 0) {
					j++;
					break;
				}
			} else if (c == ',' && depth == 0)
				break;
		}
		if (depth || str || j <= start)
			return;   /* malformed: leave it to cJSON to report */
		memset(s + start, ' ', j - start);
		s[start] = '0';
		i = j - 1;
	}
}

static int json_int(const cJSON *o, const char *key, long long *out)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	if (!cJSON_IsNumber(v) || v->valuedouble != (double)(long long)v->valuedouble)
		return -1;
	*out = (long long)v->valuedouble;
	return 0;
}

static const char *json_str(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	return cJSON_IsString(v) && v->valuestring[0] ? v->valuestring : NULL;
}

static int coco_split_from_name(const char *path)
{
	const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
	if (strstr(base, "train"))
		return SPLIT_TRAIN;
	if (strstr(base, "val"))
		return SPLIT_VAL;
	if (strstr(base, "test"))
		return SPLIT_TEST;
	return -1;
}

static int coco_categories(const cJSON *root, const char *ann, table *t, strmap *cat, char *err)
{
	const cJSON *cats = cJSON_GetObjectItemCaseSensitive(root, "categories"), *c;
	if (!cJSON_IsArray(cats) || cJSON_GetArraySize(cats) == 0)
		return err_set(err, "%s: no \"categories\" array", ann);
	cJSON_ArrayForEach(c, cats) {
		long long id;
		const char *name = json_str(c, "name");
		char key[32];
		if (json_int(c, "id", &id) || !name)
			return err_set(err, "%s: a category without an integer id or a name", ann);
		snprintf(key, sizeof(key), "%lld", id);
		if (strmap_get(cat, key) >= 0)
			return err_set(err, "%s: category id %lld given twice", ann, id);
		if (has_control(name))
			return err_set(err, "%s: category %lld: a label name holds a control character", ann, id);
		if (strmap_get(&t->label_of, name) >= 0)
			return err_set(err, "%s: category name '%s' given twice", ann, name);
		char why[ERR_LEN];
		int k = table_label(t, name, why);
		if (k < 0)
			return err_set(err, "%s: category %lld: %s", ann, id, why);
		if (strmap_put(cat, key, k))
			return err_set(err, "out of memory");
	}
	return 0;
}

static int coco_images(const cJSON *root, const char *ann, int split, int keep, table *t,
		       strmap *img, char *err)
{
	const cJSON *imgs = cJSON_GetObjectItemCaseSensitive(root, "images"), *c;
	int64_t index = 0;
	if (!cJSON_IsArray(imgs))
		return err_set(err, "%s: no \"images\" array", ann);
	cJSON_ArrayForEach(c, imgs) {
		long long id;
		const char *file = json_str(c, "file_name");
		char key[32];
		if (json_int(c, "id", &id) || !file)
			return err_set(err, "%s: image %lld has no integer id or no file_name", ann,
				    (long long)index);
		if (strstr(file, "..") || file[0] == '/')
			return err_set(err, "%s: image file_name '%s' leaves the image folder", ann, file);
		if (has_control(file))
			return err_set(err, "%s: image %lld: file_name holds a control character", ann, id);
		snprintf(key, sizeof(key), "%lld", id);
		if (strmap_get(img, key) >= 0)
			return err_set(err, "%s: image id %lld given twice", ann, id);
		if (!table_add(t, file, split, index++, keep) || strmap_put(img, key, t->n - 1))
			return err_set(err, "out of memory");
	}
	return 0;
}

static int coco_annotations(const cJSON *root, const char *ann, table *t, strmap *img,
			    strmap *cat, char *err)
{
	const cJSON *anns = cJSON_GetObjectItemCaseSensitive(root, "annotations"), *c;
	if (!anns)
		return 0;   /* image_info_test*.json: images only */
	if (!cJSON_IsArray(anns))
		return err_set(err, "%s: \"annotations\" is not an array", ann);
	cJSON_ArrayForEach(c, anns) {
		long long iid, cid;
		char ik[32], ck[32];
		if (json_int(c, "image_id", &iid) || json_int(c, "category_id", &cid))
			return err_set(err, "%s: an annotation without an integer image_id or category_id", ann);
		snprintf(ik, sizeof(ik), "%lld", iid);
		snprintf(ck, sizeof(ck), "%lld", cid);
		int i = strmap_get(img, ik), k = strmap_get(cat, ck);
		if (i < 0)
			return err_set(err, "%s: annotation of image id %lld, which \"images\" does not list", ann, iid);
		if (k < 0)
			return err_set(err, "%s: annotation with category_id %lld, which \"categories\" does not list", ann, cid);
		if (sample_add_obj(&t->s[i], k, 0))
			return err_set(err, "out of memory");
	}
	return 0;
}

typedef struct { table *t; strmap byname; } coco_zip;

static int coco_want(const char *path, void *ctx)
{
	coco_zip *z = ctx;
	int i = strmap_get(&z->byname, basename_of(path));
	return i >= 0 && !z->t->s[i].bytes.p;
}

static int coco_take(const char *path, blob data, void *ctx, char *err)
{
	coco_zip *z = ctx;
	(void)err;
	z->t->s[strmap_get(&z->byname, basename_of(path))].bytes = data;
	return 0;
}

static int coco_attach_images(const char *images, table *t, zip_file **zip, char *err)
{
	if (is_zip(images)) {
		if (!(*zip = zip_open(images, err)))
			return -1;
		for (int i = 0; i < t->n; i++)
			if (t->s[i].keep)
				t->s[i].zipent = strmap_get(&(*zip)->byname, basename_of(t->s[i].id));
		return 0;
	}
	if (is_dir(images)) {
		for (int i = 0; i < t->n; i++)
			if (t->s[i].keep && !(t->s[i].path = path_join(images, t->s[i].id)))
				return err_set(err, "out of memory");
		return 0;
	}
	coco_zip z = { t, { 0 } };
	int rc = 0;
	for (int i = 0; i < t->n && !rc; i++)
		if (t->s[i].keep && strmap_put(&z.byname, basename_of(t->s[i].id), i))
			rc = err_set(err, "out of memory");
	if (!rc)
		rc = archive_scan(images, coco_want, coco_take, &z, err);
	strmap_free(&z.byname);
	return rc;
}

static ds_dataset *open_coco(const char *spec, int mask, char *err)
{
	char *copy = strdup(spec);
	char *images = copy, *ann = copy ? strchr(copy, ',') : NULL, *splitname = NULL;
	table t = { 0 };
	strmap cat = { 0 }, img = { 0 };
	cJSON *root = NULL;
	char *text = NULL;
	int rc = 0, split = -1;
	char source[600];
	snprintf(source, sizeof(source), "coco:%s", spec);
	if (!ann) {
		free(copy);
		err_set(err, "%s: expected coco:IMAGES,ANNOTATIONS[,SPLIT]", source);
		return NULL;
	}
	*ann++ = 0;
	if ((splitname = strchr(ann, ','))) {
		*splitname++ = 0;
		if ((split = parse_split_name(splitname, strlen(splitname))) < 0)
			rc = err_set(err, "%s: unknown split '%s' (expected train, val or test)", source, splitname);
	} else if ((split = coco_split_from_name(ann)) < 0)
		rc = err_set(err, "%s: cannot tell the split from the name %s; say it: coco:%s,%s,val",
			  source, ann, images, ann);
	if (!rc && !(text = read_text_file(ann, err)))
		rc = -1;
	if (!rc) {
		size_t len = strlen(text);
		json_blank_member(text, len, "segmentation");
		if (!(root = cJSON_ParseWithLength(text, len)) || !cJSON_IsObject(root))
			rc = err_set(err, "%s: not valid JSON (near byte %zu)", ann,
				  root ? 0 : (size_t)(cJSON_GetErrorPtr() ? cJSON_GetErrorPtr() - text : 0));
	}
	free(text);
	if (!rc)
		rc = coco_categories(root, ann, &t, &cat, err);
	if (!rc)
		rc = coco_images(root, ann, split, (mask >> split) & 1, &t, &img, err);
	if (!rc)
		rc = coco_annotations(root, ann, &t, &img, &cat, err);
	cJSON_Delete(root);
	strmap_free(&cat);
	strmap_free(&img);
	zip_file *zip = NULL;
	if (!rc)
		rc = coco_attach_images(images, &t, &zip, err);
	free(copy);
	if (rc) {
		table_free(&t);
		zip_close(zip);
		return NULL;
	}
	return finish(&t, zip, source, err);
}

/* ---- list: path <TAB> label,label,... [<TAB> split] ---- */

/* "#labels NAMES" (after "#labels": space, tab, ':' or '=') fixes the order */
static int list_header(char *line, table *t, const char *where, char *err)
{
	if (strncmp(line, "#labels", 7) || !strchr(" \t:=", line[7]) || !line[7])
		return 0;
	if (t->n)
		return err_set(err, "%s: the #labels line must come before the first image", where);
	if (t->fixed_labels)
		return err_set(err, "%s: a second #labels line", where);
	return table_set_labels(t, line + 8, where, err) ? -1 : 0;
}

static int list_row(char *line, const char *dir, int mask, int64_t index, table *t,
		    const char *where, char *err)
{
	char *f[3] = { line, NULL, NULL };
	int nf = 1;
	for (char *p = line; *p; p++)
		if (*p == '\t') {
			if (nf == 3)
				return err_set(err, "%s: more than 3 tab-separated fields", where);
			*p = 0;
			f[nf++] = p + 1;
		}
	char *path = trim(f[0]);
	if (!*path)
		return err_set(err, "%s: empty image path", where);
	if (has_control(path))
		return err_set(err, "%s: the image path holds a control character", where);
	int split = SPLIT_TRAIN;
	if (f[2] && *trim(f[2]) && (split = parse_split_name(trim(f[2]), strlen(trim(f[2])))) < 0)
		return err_set(err, "%s: unknown split '%s' (expected train, val, test or 0, 1, 2)", where, trim(f[2]));
	sample *s = table_add(t, path, split, index, (mask >> split) & 1);
	if (!s || !(s->path = path[0] == '/' ? strdup(path) : path_join(dir, path)))
		return err_set(err, "out of memory");
	char *save = NULL;
	for (char *tok = f[1] ? strtok_r(f[1], ",", &save) : NULL; tok; tok = strtok_r(NULL, ",", &save)) {
		tok = trim(tok);
		if (!*tok)
			continue;
		int k = table_label(t, tok, err);
		if (k < 0) {
			char why[ERR_LEN];
			snprintf(why, sizeof(why), "%s", err);
			return err_set(err, "%s: %s", where, why);
		}
		if (sample_add_obj(s, k, 0))
			return err_set(err, "out of memory");
	}
	return 0;
}

static ds_dataset *open_list(const char *file, int mask, char *err)
{
	char *text = read_text_file(file, err);
	table t = { 0 };
	if (!text)
		return NULL;
	const char *slash = strrchr(file, '/');
	char *dir = slash ? strndup(file, (size_t)(slash - file) + 1) : strdup("");
	char source[600], where[700];
	snprintf(source, sizeof(source), "list:%s", file);
	int rc = dir ? 0 : err_set(err, "out of memory"), lineno = 0;
	int64_t index = 0;
	for (char *line = text, *next; line && *line && !rc; line = next) {
		if ((next = strchr(line, '\n')))
			*next++ = 0;
		size_t l = strlen(line);
		lineno++;
		if (l && line[l - 1] == '\r')
			line[--l] = 0;
		snprintf(where, sizeof(where), "%s:%d", file, lineno);
		if (line[0] == '#') {
			rc = list_header(line, &t, where, err);
			continue;
		}
		if (!*trim(line))
			continue;
		t.where = "the #labels line";
		rc = list_row(line, dir, mask, index++, &t, where, err);
	}
	free(text);
	free(dir);
	if (rc) {
		table_free(&t);
		return NULL;
	}
	return finish(&t, NULL, source, err);
}

ds_dataset *ds_open(const char *spec, const char *splits, char *err)
{
	int mask;
	if (!spec)
		return err_set(err, "no data set given"), NULL;
	if (parse_splits(splits, &mask, err))
		return NULL;
	if (!strncmp(spec, "voc:", 4))
		return open_voc(spec + 4, mask, splits && *splits, err);
	if (!strncmp(spec, "coco:", 5))
		return open_coco(spec + 5, mask, err);
	if (!strncmp(spec, "list:", 5))
		return open_list(spec + 5, mask, err);
	err_set(err, "unknown data set '%s' (expected voc:PATH, coco:IMAGES,ANNOTATIONS or list:FILE)", spec);
	return NULL;
}
