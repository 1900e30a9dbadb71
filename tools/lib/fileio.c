/* fileio.c: files, archives (libarchive) and paths of fileio.h. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>

#include "err.h"
#include "fileio.h"

static const char *not_regular(const struct stat *st)
{
	return S_ISDIR(st->st_mode) ? "it is a folder"
	       : !S_ISREG(st->st_mode) ? "not a regular file (a device, FIFO or socket)" : NULL;
}

int file_read_all(const char *path, uint64_t limit, blob *out, char *err)
{
	struct stat st;
	/* a device is refused unopened (opening one may act: a tape rewinds, a
	 * watchdog starts); O_NONBLOCK: a FIFO put there meanwhile must not make
	 * the open wait for a writer, and fstat refuses it then */
	if (stat(path, &st) == 0 && not_regular(&st))
		return err_set(err, "cannot read %s: %s", path, not_regular(&st));
	int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return err_set(err, "cannot open %s: %s", path, strerror(errno));
	const char *why = fstat(fd, &st) != 0 ? strerror(errno) : not_regular(&st);
	if (why || (uint64_t)st.st_size > limit) {
		close(fd);
		return why ? err_set(err, "cannot read %s: %s", path, why)
			   : err_set(err, "%s is %llu bytes, more than the %llu bytes allowed", path,
				     (unsigned long long)st.st_size, (unsigned long long)limit);
	}
	/* one byte more than the size: a file that grows meanwhile is noticed */
	size_t cap = (size_t)st.st_size + 1, len = 0;
	uint8_t *p = malloc(cap);
	ssize_t got = 1;
	while (p && len < cap && got != 0) {
		got = read(fd, p + len, cap - len);
		if (got < 0 && errno != EINTR)
			break;
		len += got > 0 ? (size_t)got : 0;
	}
	int e = errno;
	close(fd);
	if (!p || got < 0 || len == cap) {
		free(p);
		return err_set(err, "cannot read %s: %s", path, !p ? "out of memory" : got < 0 ? strerror(e)
								   : "it grew while being read");
	}
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
		return err_set(err, "%s: cannot read entry %s: %s", file, err_esc(path),
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
	uint64_t taken = 0;
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
			rc = err_set(err, "%s: entry %s is too large (%lld bytes, at most %llu)", file, err_esc(path),
				     (long long)archive_entry_size(e), (unsigned long long)limit);
			break;
		}
		if ((rc = read_entry(a, e, limit, file, path, &b, err)))
			break;
		/* the archive's own bytes read so far, before decompression */
		uint64_t budget = FILE_ARCHIVE_SLACK + FILE_ARCHIVE_INFLATE * (uint64_t)archive_filter_bytes(a, -1);
		if ((taken += b.len) > budget) {
			free(b.p);
			rc = err_set(err, "%s: the entries kept inflate to more than %llu bytes (%d times the archive's "
				     "bytes read and %d MiB): a compression bomb, or unpack it first", file,
				     (unsigned long long)budget, FILE_ARCHIVE_INFLATE, FILE_ARCHIVE_SLACK >> 20);
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
