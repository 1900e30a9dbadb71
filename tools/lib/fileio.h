/* fileio.h: whole files, archives and paths for the data set readers.
 *
 * Returns -1/NULL with err (char err[ERR_LEN], naming the file); never exits. */
#ifndef LS_FILEIO_H
#define LS_FILEIO_H

#include <stddef.h>
#include <stdint.h>

/* Bytes owned by whoever holds them; p NULL: none. */
typedef struct { uint8_t *p; size_t len; } blob;

/* The whole file: a regular file of at most limit bytes (a folder, device,
 * FIFO or socket is refused without reading: /dev/zero or a FIFO without a
 * writer would never end). */
int file_read_all(const char *path, uint64_t limit, blob *out, char *err);
/* The whole file as a NUL-terminated string; a NUL byte inside is refused. */
char *file_read_text(const char *path, uint64_t limit, char *err);
int file_is_dir(const char *path);   /* 1 for a folder, 0 for anything else */
/* len bytes at off, retrying short reads: 0, or -1 on an error or the end of the file. */
int file_pread_all(int fd, void *buf, size_t len, uint64_t off);

/* "a/b": malloc'ed, NULL when out of memory; no second '/' where a ends in one. */
char *file_path_join(const char *a, const char *b);
const char *file_basename(const char *path);   /* after the last '/', inside path */

/* An archive in any format libarchive reads, scanned once from start to end:
 * want sees every regular entry's path (without leading "./") and returns 1
 * to keep it; take then receives its bytes and owns them, and returns 0, or
 * -1 with err filled to stop the scan. Entries over limit bytes are an error
 * (checked before reading when the header gives the size), and so are kept
 * entries that inflate to more than FILE_ARCHIVE_INFLATE times the archive's
 * bytes read so far plus FILE_ARCHIVE_SLACK: images hardly compress, a bomb
 * does. file "-" is standard input. */
#define FILE_ARCHIVE_INFLATE 16
#define FILE_ARCHIVE_SLACK (64 << 20)
typedef int (*file_want_fn)(const char *path, void *ctx);
typedef int (*file_take_fn)(const char *path, blob data, void *ctx, char *err);
int file_scan_archive(const char *file, uint64_t limit, file_want_fn want, file_take_fn take,
		      void *ctx, char *err);

#endif
