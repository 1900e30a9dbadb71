/* fuzz_st.c: libFuzzer target for the safetensors reader (make fuzz).
 *
 * Each input is taken as a whole file. Three ways in:
 *  1. st_parse_header on the header bytes, copied into a buffer of exactly
 *     their length (so AddressSanitizer sees any read past the end), once
 *     with the real data size and once as from a pipe (size unknown);
 *  2. the streaming reader (st_open, st_read_data / st_skip_data, st_close)
 *     on the same bytes through a memfd, as a tool reads a file, and
 *     st_load_fp through a real pipe: both must accept, or
 *     both refuse with the same rule;
 *  3. for every header the reader accepts: its metadata values as JSON
 *     lists (st_meta_get_list), and serialize it again with
 *     st_header_json and parse that, which must succeed with the same
 *     tensors (a writer that emits what its own reader refuses is a bug
 *     even without a crash). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "st.h"
#define FUZZ_TARGET "fuzz_st"
#include "fuzz.h"

static uint64_t le64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

/* Serializes f's header again (st_header_json, as st_write does) and parses
 * the result: same names, dtypes, shapes, sizes and metadata. */
static void check_round_trip(const st_file *f)
{
	char err[ERR_LEN];
	size_t len = 0;
	uint64_t data_size = 0;
	for (int i = 0; i < f->n; i++)
		data_size += st_nbytes(&f->t[i]);
	char *json = st_header_json(f, &len);
	check((len + 8) % 8 == 0, "written header not padded to 8 bytes");
	st_file *g = st_file_new();
	int rc = st_parse_header(json, len, data_size, g, err);
	if (rc != 0)
		fprintf(stderr, "fuzz_st: rewritten header refused: %s\n", err);
	check(rc == 0, "rewritten header refused by the reader");
	check(g->n == f->n && g->nmeta == f->nmeta, "round trip changes the entry count");
	for (int i = 0; i < f->n; i++) {
		const st_tensor *a = &f->t[i], *b = st_find(g, a->name);
		check(b != NULL, "round trip loses a tensor");
		check(a->dtype == b->dtype && a->ndim == b->ndim, "round trip changes dtype or rank");
		check(memcmp(a->shape, b->shape, sizeof(int64_t) * a->ndim) == 0, "round trip changes a shape");
		check(a->end - a->begin == b->end - b->begin, "round trip changes a size");
	}
	for (int i = 0; i < f->nmeta; i++) {
		const char *v = st_meta_get(g, f->meta[i].key);
		check(v != NULL && strcmp(v, f->meta[i].value) == 0, "round trip changes metadata");
	}
	st_file_free(g);
	free(json);
}

static void fuzz_header(const uint8_t *data, size_t size)
{
	char err[ERR_LEN];
	if (size < 8)
		return;
	uint64_t n = le64(data);
	if (n > size - 8 || n > ST_MAX_HEADER)
		return;
	char *json = malloc(n ? n : 1);
	check(json != NULL, "malloc");
	memcpy(json, data + 8, n);
	uint64_t data_size = size - 8 - n;

	st_file *f = st_file_new();
	int known = st_parse_header(json, n, data_size, f, err);
	if (known == 0) {
		for (int i = 0; i < f->n; i++) {
			const st_tensor *t = &f->t[i];
			check(t->end >= t->begin && t->end <= data_size, "accepted offsets outside the data");
			check(st_nbytes(t) == t->end - t->begin, "accepted size disagrees with the shape");
		}
		check_round_trip(f);
		for (int i = 0; i < f->nmeta; i++) {   /* values may hold JSON lists */
			int n = 0;
			char **items = st_meta_get_list(f, f->meta[i].key, &n);
			check(items == NULL || n >= 0, "negative list length");
			st_list_free(items, n);
		}
	} else {
		check(memchr(err, '\n', strlen(err)) == NULL, "error message spans lines");
		check(err[0] != '\0', "failure without a message");
	}
	st_file_free(f);

	/* from a pipe the end is unknown: everything the file form accepts must pass */
	f = st_file_new();
	int piped = st_parse_header(json, n, UINT64_MAX, f, err);
	check(known != 0 || piped == 0, "header accepted with its size but refused from a pipe");
	st_file_free(f);
	free(json);
}

/* The whole file through the streaming reader on a memfd (a regular file:
 * size known, seeks allowed); 0 when accepted, -1 with err filled. */
static int fuzz_reader(const uint8_t *data, size_t size, char *err)
{
	st_reader *r = st_open(fuzz_file(data, size), err);
	if (!r)
		return -1;
	st_file *f = st_reader_file(r);
	for (int i = 0; i < f->n; i++) {
		st_tensor *t = &f->t[i];
		int rc = (i % 2 == 0) ? st_read_data(r, t, err) : st_skip_data(r, t, err);
		if (rc != 0) {
			st_abort(r);
			return -1;
		}
		if (t->data) {
			float *x = st_to_f32(t);
			free(x);
		}
	}
	return st_close(r, err);
}

/* The same bytes from a real pipe (no size, no seeking). They must fit in
 * the pipe's buffer (64 KiB on Linux; make fuzz uses -max_len=4096); larger
 * inputs return the file's verdict unchecked. */
static int fuzz_pipe(const uint8_t *data, size_t size, char *err, int file_verdict)
{
	int fds[2];
	if (size > 65536)
		return file_verdict;
	check(pipe(fds) == 0, "pipe");
	check(size == 0 || write(fds[1], data, size) == (ssize_t)size, "pipe write");
	close(fds[1]);
	FILE *fp = fdopen(fds[0], "rb");
	check(fp != NULL, "fdopen");
	st_file *f = st_load_fp(fp, 1, NULL, NULL, err);
	st_file_free(f);
	return f ? 0 : -1;
}

/* The rule of a message: the text before its first colon. */
static size_t rule_len(const char *err)
{
	const char *c = strchr(err, ':');
	return c ? (size_t)(c - err) : strlen(err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err_file[ERR_LEN] = "", err_pipe[ERR_LEN] = "";
	fuzz_header(data, size);
	int file = fuzz_reader(data, size, err_file);
	int piped = fuzz_pipe(data, size, err_pipe, file);
	if (file != piped || (file && (rule_len(err_file) != rule_len(err_pipe) ||
				       strncmp(err_file, err_pipe, rule_len(err_file)) != 0))) {
		fprintf(stderr, "fuzz_st: file: %s\nfuzz_st: pipe: %s\n", file ? err_file : "accepted",
			piped ? err_pipe : "accepted");
		check(0, "a file and a pipe of the same bytes get different verdicts");
	}
	return 0;
}
