/* zipfile.h: zip archives read in place (APPNOTE.TXT 6.3: the central
 * directory, local headers, ZIP64 end records and extra fields).
 *
 * zip_open indexes the central directory; every read is a pread of one
 * entry (stored or deflated, CRC-checked), so reading one zip_file from many
 * threads is safe and memory does not grow with the archive (a COCO image
 * zip is 6-13 GB). A PyTorch checkpoint (.pth) is a zip of stored entries:
 * zip_data_offset gives where a tensor's bytes lie in the file.
 * Folders (names ending in '/') are not listed; an encrypted entry, a name
 * holding a NUL byte, or a central directory reaching outside the file is
 * refused at open. Sizes and offsets are checked against the file before
 * anything is allocated or read.
 *
 * Returns -1/NULL with err (char err[ERR_LEN], naming the file); never exits. */
#ifndef LS_ZIPFILE_H
#define LS_ZIPFILE_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
	const char *name;   /* full path inside the archive */
	uint64_t size;      /* uncompressed bytes */
	uint64_t csize;     /* bytes as stored in the archive */
	uint64_t offset;    /* of the entry's local header */
	uint32_t crc;
	uint16_t method;    /* 0 stored, 8 deflated; others are listed, not read */
} zip_entry;

typedef struct zip_file zip_file;

zip_file *zip_open(const char *path, char *err);
void zip_close(zip_file *z);   /* z may be NULL */
/* 1 when path starts as a zip file does (a local header or an empty zip's end record) */
int zip_detect(const char *path);

int zip_count(const zip_file *z);
const zip_entry *zip_entry_at(const zip_file *z, int k);   /* 0 <= k < zip_count(z) */
/* The entry of that full name (the last one where several share it), or -1. */
int zip_find(const zip_file *z, const char *name);

/* Where entry k's stored bytes (csize of them) begin in the file, after its
 * local header; checked to lie inside the file. */
int zip_data_offset(const zip_file *z, int k, uint64_t *off, char *err);
/* Entry k's contents, malloc'ed, *len = size; entries larger than limit
 * bytes are refused. Thread-safe. */
uint8_t *zip_read(const zip_file *z, int k, uint64_t limit, size_t *len, char *err);

#endif
