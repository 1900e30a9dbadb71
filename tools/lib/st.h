/* st.h: safetensors container, read and write (docs/safetensors.md).
 *
 * Error rule: returns -1/NULL with err (err.h); never exits. The reading and
 * writing functions (st_parse_header, st_open, st_read_data, st_write, ...)
 * report every failure, out of memory included, through a caller's
 * char err[ERR_LEN]; conversions (st_to_f32, ...) return NULL. The one
 * exception: the in-memory builders (st_file_new, st_add and st_put, which
 * copy the data when not taking it over, st_meta_*, st_header_json and the
 * header that st_write serialises), out of memory, print "out of memory" and
 * abort() rather than return half-built files. The
 * dying convenience layer for tool front ends is cli.h (cli_load, cli_get,
 * cli_write).
 *
 * Reading streams: the header is parsed and checked, tensors are sorted by
 * offset and their data are read (or skipped) in that order, so a pipe works
 * without seeking. */
#ifndef LS_ST_H
#define LS_ST_H

#include <stdint.h>
#include <stddef.h>
#include <stdio.h>
#include "err.h"

#define ST_MAX_DIMS 8
#define ST_MAX_HEADER 100000000ULL

typedef enum {
	ST_F64, ST_F32, ST_F16, ST_BF16, ST_I64, ST_I32, ST_I16, ST_I8, ST_U8, ST_BOOL,
	ST_NDTYPES
} st_dtype;


size_t st_dtype_size(st_dtype d);
const char *st_dtype_name(st_dtype d);
int st_dtype_parse(const char *s, st_dtype *out); /* 0 ok, -1 unknown */

typedef struct {
	char *name;
	st_dtype dtype;
	int ndim;
	int64_t shape[ST_MAX_DIMS];
	uint64_t begin, end;   /* data_offsets, relative to the data section */
	void *data;            /* NULL until loaded; owned by the tensor */
	FILE *spool;           /* writer only: data come from this file (rewound) instead of data */
} st_tensor;

typedef struct { char *key, *value; } st_kv;

typedef struct {
	st_tensor *t;          /* in offset order after reading */
	int n, cap;
	st_kv *meta;           /* __metadata__ in file order */
	int nmeta, capmeta;
} st_file;

/* "[2,3]" into buf (cut to n bytes); a negative dimension prints as "*" (any) */
const char *st_shape_str(char *buf, size_t n, int ndim, const int64_t *shape);
/* element count and byte size; -1 / UINT64_MAX style overflow is reported as -1 */
int64_t st_numel(const st_tensor *t);
uint64_t st_nbytes(const st_tensor *t);   /* 0 for zero-size tensors */

/* ---- building and querying an in-memory file ---- */
st_file *st_file_new(void);
void st_file_free(st_file *f);
/* Adds a tensor (name copied). data is taken over (freed with the file) when own != 0.
 * Returns the tensor; NULL when the name exists already. */
st_tensor *st_add(st_file *f, const char *name, st_dtype dt, int ndim, const int64_t *shape,
		  void *data, int own);
/* Replaces any tensor NAME, else adds it (data taken over as with own = 1). */
st_tensor *st_put(st_file *f, const char *name, st_dtype dt, int ndim, const int64_t *shape, void *data);
st_tensor *st_find(const st_file *f, const char *name);
int st_remove(st_file *f, const char *name);   /* 0 removed, -1 absent */

const char *st_meta_get(const st_file *f, const char *key);
void st_meta_set(st_file *f, const char *key, const char *value);
void st_meta_del(st_file *f, const char *key);
void st_meta_copy(st_file *dst, const st_file *src); /* all keys of src into dst (overwrite) */
/* JSON-encoded string lists inside a metadata value */
char **st_meta_get_list(const st_file *f, const char *key, int *n); /* NULL if absent or not a list of strings */
void st_meta_set_list(st_file *f, const char *key, char *const *items, int n);
void st_list_free(char **items, int n);
/* JSON number lists inside a metadata value, e.g. layer_flops: written as
 * [1,2.5,...]; read from numbers or numeric strings (files of older
 * versions wrote ["10","20"]). *n: the list's length, -1 when the value is
 * absent or not a JSON list. NULL when *n < 0 or an entry is not a finite
 * number; the caller frees. */
double *st_meta_get_numbers(const st_file *f, const char *key, int *n);
void st_meta_set_numbers(st_file *f, const char *key, const double *v, int n);

/* ---- reading ---- */
/* Parses and checks a complete header (the JSON bytes after the 8-byte length).
 * data_size: the size of the data section when known, UINT64_MAX when not (a pipe);
 * with a known size, the last offset must end exactly there. */
int st_parse_header(const char *json, size_t len, uint64_t data_size, st_file *out, char *err);

typedef struct st_reader st_reader;
/* path "-" reads standard input. Returns NULL and fills err on failure. */
st_reader *st_open(const char *path, char *err);
/* the same on an open stream; own != 0 closes it at the end */
st_reader *st_open_fp(FILE *fp, int own, char *err);
st_file *st_reader_file(st_reader *r);          /* the parsed header, tensors in offset order */
/* Data must be read or skipped in the order of st_reader_file(r)->t. */
int st_read_data(st_reader *r, st_tensor *t, char *err);         /* allocates t->data */
int st_skip_data(st_reader *r, st_tensor *t, char *err);
/* A regular file's reader may jump to any tensor's data (the next read or
 * copy starts there); -1 with err on a pipe. */
int st_seek_data(st_reader *r, const st_tensor *t, char *err);
/* streams the tensor's bytes to out in chunks (no full copy in memory) */
int st_copy_data(st_reader *r, st_tensor *t, FILE *out, char *err);
/* After the last tensor: checks that nothing follows (pipes). */
int st_check_end(st_reader *r, char *err);
/* st_check_end, then closes. */
int st_close(st_reader *r, char *err);
void st_abort(st_reader *r);                    /* closes without checks */

/* Loads the whole file. keep(name) selects tensors to load (NULL = all); the others
 * are skipped and left out of the result. Returns NULL and fills err on failure. */
st_file *st_load(const char *path, int (*keep)(const char *name, void *ctx), void *ctx, char *err);
st_file *st_load_fp(FILE *fp, int own, int (*keep)(const char *name, void *ctx), void *ctx, char *err);

/* ---- writing ---- */
/* Writes f to out: header sorted by name order as stored, offsets computed,
 * header padded with spaces to a multiple of 8. Tensors with a spool are copied from it.
 * Refuses, before writing anything, what the reader would refuse: a name,
 * key or value that is not UTF-8, a tensor named "__metadata__". */
int st_write(const st_file *f, FILE *out, char *err);
/* The serialized header (without the length prefix), padded; for tests and tools. */
char *st_header_json(const st_file *f, size_t *len);

/* ---- conversion ---- */
/* New float array of numel elements converted from any dtype (F16/BF16 widened). */
float *st_to_f32(const st_tensor *t);
double *st_to_f64(const st_tensor *t);
float st_half_to_f32(uint16_t h);
float st_bf16_to_f32(uint16_t h);
uint16_t st_f32_to_half(float f);
uint16_t st_f32_to_bf16(float f);

#endif
