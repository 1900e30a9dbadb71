/* st_api: the C interface of st.h, as TAP (run by tests/25-safetensors-api.t).
 * What the command-line tests cannot reach: overflow-safe sizes, the in-memory
 * file, metadata lists, the writer's escaping and padding, spools, the reader's
 * order rule, conversions of every dtype. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "st.h"

static int count, failed;

static int ok(int cond, const char *what)
{
	count++;
	if (!cond) failed++;
	printf("%sok %d - %s\n", cond ? "" : "not ", count, what);
	return cond;
}

static int has_rule(int rc, const char *err, const char *rule)
{
	if (rc == 0 || strncmp(err, rule, strlen(rule)) != 0) {
		printf("#   rc %d, err '%s', wanted '%s'\n", rc, err, rule);
		return 0;
	}
	return 1;
}

static void test_dtypes(void)
{
	static const char *names[] = {"F64", "F32", "F16", "BF16", "I64", "I32", "I16", "I8", "U8", "BOOL"};
	static const size_t sizes[] = {8, 4, 2, 2, 8, 4, 2, 1, 1, 1};
	int good = 1;
	for (int i = 0; i < ST_NDTYPES; i++) {
		st_dtype d;
		good &= st_dtype_parse(names[i], &d) == 0 && d == (st_dtype)i && st_dtype_size(d) == sizes[i] &&
			strcmp(st_dtype_name(d), names[i]) == 0;
	}
	ok(good, "every dtype: name, size and parse agree");
	st_dtype d;
	ok(st_dtype_parse("f32", &d) != 0 && st_dtype_parse("F8", &d) != 0 && st_dtype_parse("", &d) != 0,
	   "dtype names are exact (case and unknown refused)");
}

static void test_sizes(void)
{
	st_tensor t = {.dtype = ST_F32, .ndim = 2, .shape = {3, 5}};
	ok(st_numel(&t) == 15 && st_nbytes(&t) == 60, "numel and nbytes of [3,5] F32");
	t.ndim = 0;
	ok(st_numel(&t) == 1 && st_nbytes(&t) == 4, "a scalar has one element");
	t.ndim = 3, t.shape[0] = 0, t.shape[1] = INT64_C(1) << 40, t.shape[2] = INT64_C(1) << 40;
	ok(st_numel(&t) == 0 && st_nbytes(&t) == 0, "a zero dimension makes zero elements, whatever follows");
	t.ndim = 2, t.shape[0] = INT64_C(1) << 32, t.shape[1] = INT64_C(1) << 32;
	ok(st_numel(&t) == -1 && st_nbytes(&t) == UINT64_MAX, "2^32 x 2^32 elements overflow");
	t.dtype = ST_F64, t.ndim = 1, t.shape[0] = INT64_C(1) << 61;
	ok(st_numel(&t) == INT64_C(1) << 61 && st_nbytes(&t) == UINT64_MAX, "2^61 F64 elements overflow in bytes");
	t.shape[0] = -1;
	ok(st_numel(&t) == -1, "a negative dimension is refused");
}

static void test_file(void)
{
	st_file *f = st_file_new();
	int64_t shape[ST_MAX_DIMS + 1] = {2, 3};
	float *x = malloc(6 * sizeof *x);
	for (int i = 0; i < 6; i++) x[i] = (float)i;
	ok(st_add(f, "x", ST_F32, 2, shape, x, 1) != NULL, "st_add takes data over");
	ok(st_add(f, "x", ST_U8, 1, shape, NULL, 0) == NULL, "st_add refuses a name twice");
	ok(st_add(f, "deep", ST_U8, ST_MAX_DIMS + 1, shape, NULL, 0) == NULL, "st_add refuses more than ST_MAX_DIMS dims");
	uint8_t y[2] = {7, 9};
	st_add(f, "y", ST_U8, 1, shape, y, 0);
	y[0] = 0;
	ok(((uint8_t *)st_find(f, "y")->data)[0] == 7, "st_add with own = 0 copies the data");
	st_add(f, "z", ST_I8, 0, shape, "\x05", 0);
	ok(st_remove(f, "y") == 0 && st_remove(f, "y") == -1 && f->n == 2 &&
	   strcmp(f->t[0].name, "x") == 0 && strcmp(f->t[1].name, "z") == 0, "st_remove keeps the others in order");
	ok(st_find(f, "nope") == NULL, "st_find of an absent name");

	st_meta_set(f, "k", "one");
	st_meta_set(f, "k", st_meta_get(f, "k"));   /* the value may alias the stored one */
	ok(st_meta_get(f, "k") && strcmp(st_meta_get(f, "k"), "one") == 0, "st_meta_set with its own value");
	st_meta_set(f, "gone", "x");
	st_meta_del(f, "gone");
	st_meta_del(f, "never");
	ok(st_meta_get(f, "gone") == NULL && f->nmeta == 1, "st_meta_del");
	char *items[] = {"a \"quoted\"", "λ", "", "back\\slash"};
	st_meta_set_list(f, "labels", items, 4);
	int n = 0;
	char **back = st_meta_get_list(f, "labels", &n);
	int same = back && n == 4;
	for (int i = 0; same && i < 4; i++) same = strcmp(back[i], items[i]) == 0;
	ok(same, "a metadata list of awkward strings comes back the same");
	st_list_free(back, n);
	st_meta_set(f, "mixed", "[\"a\", 1]");
	st_meta_set(f, "notlist", "{\"a\": 1}");
	ok(st_meta_get_list(f, "mixed", &n) == NULL && st_meta_get_list(f, "notlist", &n) == NULL &&
	   st_meta_get_list(f, "k", &n) == NULL && st_meta_get_list(f, "absent", &n) == NULL,
	   "st_meta_get_list: NULL for anything but a JSON list of strings");
	st_meta_del(f, "mixed");
	st_meta_del(f, "notlist");
	st_file *g = st_file_new();
	st_meta_set(g, "k", "old");
	st_meta_copy(g, f);
	ok(strcmp(st_meta_get(g, "k"), "one") == 0 && st_meta_get(g, "labels") != NULL, "st_meta_copy overwrites");
	st_file_free(g);

	/* header: padded, parses back to the same entries */
	st_add(f, "name\nwith \"quotes\" and \x01", ST_BOOL, 1, shape, "\x01\x00", 0);
	size_t len;
	char *json = st_header_json(f, &len);
	ok(len % 8 == 0 && strlen(json) == len, "st_header_json pads to a multiple of 8");
	g = st_file_new();
	char err[ERR_LEN];
	int rc = st_parse_header(json, len, 24 + 1 + 2, g, err);
	ok(rc == 0 && g->n == 3 && st_find(g, "name\nwith \"quotes\" and \x01") != NULL,
	   "names with control characters and quotes are escaped and parse back");
	if (rc) printf("#   %s\n", err);
	st_tensor *t = st_find(g, "x");
	ok(t && t->begin == 0 && t->end == 24 && t->ndim == 2 && t->shape[1] == 3, "offsets computed by the writer");
	st_file_free(g);
	free(json);
	st_file_free(f);
}

static int keep_only_t1(const char *name, void *ctx)
{
	(void)ctx;
	return strcmp(name, "t1") == 0;
}

/* A file with one tensor of every dtype, written and loaded back. */
static void test_write_load(void)
{
	st_file *f = st_file_new();
	const double v[3] = {-1.5, 0, 2};
	for (int d = 0; d < ST_NDTYPES; d++) {
		int64_t shape[1] = {3};
		char name[16];
		snprintf(name, sizeof name, "t%d", d);
		unsigned char *buf = calloc(3, 8);
		for (int i = 0; i < 3; i++) {
			double x = d == ST_U8 || d == ST_BOOL ? fabs(v[i]) > 0 : v[i];
			switch ((st_dtype)d) {
			case ST_F64: ((double *)buf)[i] = x; break;
			case ST_F32: ((float *)buf)[i] = (float)x; break;
			case ST_F16: ((uint16_t *)buf)[i] = st_f32_to_half((float)x); break;
			case ST_BF16: ((uint16_t *)buf)[i] = st_f32_to_bf16((float)x); break;
			case ST_I64: ((int64_t *)buf)[i] = (int64_t)floor(x); break;
			case ST_I32: ((int32_t *)buf)[i] = (int32_t)floor(x); break;
			case ST_I16: ((int16_t *)buf)[i] = (int16_t)floor(x); break;
			case ST_I8: ((int8_t *)buf)[i] = (int8_t)floor(x); break;
			default: buf[i] = (uint8_t)x; break;
			}
		}
		st_add(f, name, (st_dtype)d, 1, shape, buf, 1);
	}
	int64_t zero[2] = {0, 7};
	st_add(f, "empty", ST_F32, 2, zero, NULL, 0);
	FILE *spool = tmpfile();
	fwrite("spooled!", 1, 8, spool);
	int64_t eight[1] = {8};
	st_add(f, "spooled", ST_U8, 1, eight, NULL, 0)->spool = spool;
	st_meta_set(f, "arch", "resnet18");

	char path[] = "/tmp/st_api_XXXXXX";
	int fd = mkstemp(path);
	FILE *out = fdopen(fd, "wb");
	char err[ERR_LEN];
	ok(st_write(f, out, err) == 0 && fclose(out) == 0, "st_write of every dtype, a zero-size tensor and a spool");
	fclose(spool);
	st_file_free(f);

	f = st_load(path, NULL, NULL, err);
	ok(f != NULL && f->n == ST_NDTYPES + 2, "st_load reads them all back");
	if (!f) { printf("#   %s\n", err); remove(path); return; }
	int good = 1;
	for (int d = 0; d < ST_NDTYPES; d++) {
		char name[16];
		snprintf(name, sizeof name, "t%d", d);
		st_tensor *t = st_find(f, name);
		float *x = t ? st_to_f32(t) : NULL;
		double *y = t ? st_to_f64(t) : NULL;
		for (int i = 0; x && y && i < 3; i++) {
			double want = d == ST_U8 || d == ST_BOOL ? fabs(v[i]) > 0 : d >= ST_I64 ? floor(v[i]) : v[i];
			if (x[i] != (float)want || y[i] != want) good = 0;
		}
		good &= x && y && t->dtype == (st_dtype)d;
		free(x);
		free(y);
	}
	ok(good, "st_to_f32 and st_to_f64 of every dtype give the written values");
	st_tensor *s = st_find(f, "spooled");
	ok(s && memcmp(s->data, "spooled!", 8) == 0, "a spooled tensor's bytes are written");
	ok(strcmp(st_meta_get(f, "arch"), "resnet18") == 0, "metadata written and read");
	st_file_free(f);

	f = st_load(path, NULL, NULL, err);
	st_file_free(f);
	f = st_load(path, keep_only_t1, NULL, err);
	ok(f && f->n == 1 && strcmp(f->t[0].name, "t1") == 0 && f->t[0].data, "st_load with keep loads only those");
	st_file_free(f);

	st_reader *r = st_open(path, err);
	f = r ? st_reader_file(r) : NULL;
	ok(f && f->n == ST_NDTYPES + 2, "st_open gives the header, tensors in offset order");
	if (f) {
		int rc = st_read_data(r, &f->t[1], err);
		ok(rc != 0 && strstr(err, "order") != NULL, "reading out of offset order is an error, not a wrong answer");
		if (rc == 0) printf("#   read out of order succeeded\n");
		ok(st_skip_data(r, &f->t[0], err) == 0 && st_read_data(r, &f->t[1], err) == 0, "skip then read in order");
		st_abort(r);
	}
	remove(path);
}

static void test_parse(void)
{
	char err[ERR_LEN];
	const char *h = "{\"a\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4]}}";
	st_file *f = st_file_new();
	ok(st_parse_header(h, strlen(h), UINT64_MAX, f, err) == 0, "data size unknown (a pipe): header accepted");
	st_file_free(f);
	f = st_file_new();
	ok(has_rule(st_parse_header(h, strlen(h), 5, f, err), err, "trailing bytes after the data"),
	   "data size known: one byte too many");
	st_file_free(f);
	f = st_file_new();
	ok(has_rule(st_parse_header(h, strlen(h), 3, f, err), err, "truncated data"), "data size known: one byte short");
	st_file_free(f);
	/* the length given is the end: a valid prefix is not the header */
	f = st_file_new();
	ok(has_rule(st_parse_header(h, 10, UINT64_MAX, f, err), err, "header is not valid JSON"),
	   "st_parse_header reads only len bytes");
	st_file_free(f);
	f = st_file_new();
	ok(st_parse_header("{}", 2, 0, f, err) == 0 && f->n == 0 && f->nmeta == 0, "an empty header");
	st_file_free(f);
}

int main(void)
{
	test_dtypes();
	test_sizes();
	test_file();
	test_write_load();
	test_parse();
	printf("1..%d\n", count);
	return failed != 0;
}
