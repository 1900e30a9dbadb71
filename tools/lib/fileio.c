/* fileio.c: files, archives (libarchive) and paths of fileio.h. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>

#include "err.h"
#include "fileio.h"

int file_read_all(const char *path, uint64_t limit, blob *out, char *err)
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

char *file_read_text(const char *path, uint64_t limit, char *err)
{
	blob b;
	if (file_read_all(path, limit, &b, err))
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

int file_is_dir(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

int file_pread_all(int fd, void *buf, size_t len, uint64_t off)
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

char *file_path_join(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	char *s = malloc(la + lb + 2);
	if (s)
		snprintf(s, la + lb + 2, "%s%s%s", a, la && a[la - 1] != '/' ? "/" : "", b);
	return s;
}

const char *file_basename(const char *path)
{
	const char *s = strrchr(path, '/');
	return s ? s + 1 : path;
}

/* One entry's bytes, growing the buffer when the size is not in the header. */
static int read_entry(struct archive *a, struct archive_entry *e, uint64_t limit, const char *file,
		      const char *path, blob *out, char *err)
{
	size_t cap = archive_entry_size_is_set(e) ? (size_t)archive_entry_size(e) + 1 : 1 << 16;
	blob b = { malloc(cap), 0 };
	la_ssize_t got = 0;
	while (b.p && (got = archive_read_data(a, b.p + b.len, cap - b.len)) > 0) {
		b.len += (size_t)got;
		if (b.len == cap) {
			uint8_t *q = cap < limit ? realloc(b.p, cap * 2) : NULL;
			if (!q) {
				got = -2;
				break;
			}
			b.p = q;
			cap *= 2;
		}
	}
	if (!b.p || got < 0) {
		free(b.p);
		return err_set(err, "%s: cannot read entry %s: %s", file, path,
			       !b.p || got == -2 ? "out of memory or too large" : archive_error_string(a));
	}
	*out = b;
	return 0;
}

int file_scan_archive(const char *file, uint64_t limit, file_want_fn want, file_take_fn take,
		      void *ctx, char *err)
{
	struct archive *a;
	struct archive_entry *e;
	struct stat st;
	int rc = 0, r, in = !strcmp(file, "-");   /* "-": standard input, read once, in order */
	if (in)
		file = "standard input";
	else if (stat(file, &st) != 0)
		return err_set(err, "cannot open %s: %s", file, strerror(errno));
	if (!(a = archive_read_new()))
		return err_set(err, "%s: out of memory for libarchive", file);
	archive_read_support_filter_all(a);
	archive_read_support_format_all(a);
	if ((in ? archive_read_open_fd(a, 0, 1 << 16) : archive_read_open_filename(a, file, 1 << 16)) != ARCHIVE_OK) {
		rc = err_set(err, "cannot open archive %s: %s", file, archive_error_string(a));
		archive_read_free(a);
		return rc;
	}
	while ((r = archive_read_next_header(a, &e)) == ARCHIVE_OK || r == ARCHIVE_WARN) {
		const char *path = archive_entry_pathname(e);
		blob b;
		if (!path || archive_entry_filetype(e) != AE_IFREG)
			continue;
		while (path[0] == '.' && path[1] == '/')
			path += 2;
		if (!want(path, ctx))
			continue;
		if (archive_entry_size_is_set(e) && (uint64_t)archive_entry_size(e) > limit) {
			rc = err_set(err, "%s: entry %s is too large (%lld bytes)", file, path,
				     (long long)archive_entry_size(e));
			break;
		}
		if ((rc = read_entry(a, e, limit, file, path, &b, err)) || (rc = take(path, b, ctx, err)))
			break;
	}
	if (!rc && r != ARCHIVE_EOF && r != ARCHIVE_OK && r != ARCHIVE_WARN)
		rc = err_set(err, "%s: corrupt or truncated archive: %s", file, archive_error_string(a));
	archive_read_free(a);
	return rc;
}
