/* st.c: safetensors container (docs/safetensors.md is the written spec). */
#include "st.h"
#include "util.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <cjson/cJSON.h>

static const struct { const char *name; size_t size; } dtypes[ST_NDTYPES] = {
	[ST_F64] = {"F64", 8}, [ST_F32] = {"F32", 4}, [ST_F16] = {"F16", 2}, [ST_BF16] = {"BF16", 2},
	[ST_I64] = {"I64", 8}, [ST_I32] = {"I32", 4}, [ST_I16] = {"I16", 2}, [ST_I8] = {"I8", 1},
	[ST_U8] = {"U8", 1}, [ST_BOOL] = {"BOOL", 1},
};

size_t st_dtype_size(st_dtype d) { return d < ST_NDTYPES ? dtypes[d].size : 0; }
const char *st_dtype_name(st_dtype d) { return d < ST_NDTYPES ? dtypes[d].name : "?"; }

int st_dtype_parse(const char *s, st_dtype *out)
{
	for (int i = 0; i < ST_NDTYPES; i++)
		if (strcmp(s, dtypes[i].name) == 0) { *out = (st_dtype)i; return 0; }
	return -1;
}

static void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p) { fputs("out of memory\n", stderr); abort(); }
	return p;
}

static void *xrealloc(void *p, size_t n)
{
	p = realloc(p, n ? n : 1);
	if (!p) { fputs("out of memory\n", stderr); abort(); }
	return p;
}

static char *xstrdup(const char *s)
{
	size_t n = strlen(s) + 1;
	return memcpy(xmalloc(n), s, n);
}

int64_t st_numel(const st_tensor *t)
{
	uint64_t n = 1;
	for (int i = 0; i < t->ndim; i++) {
		uint64_t d = (uint64_t)t->shape[i];
		if (t->shape[i] < 0) return -1;
		if (d && n > (uint64_t)INT64_MAX / d) return -1;
		n *= d;
	}
	return (int64_t)n;
}

uint64_t st_nbytes(const st_tensor *t)
{
	int64_t n = st_numel(t);
	size_t s = st_dtype_size(t->dtype);
	if (n < 0 || (uint64_t)n > UINT64_MAX / s) return UINT64_MAX;
	return (uint64_t)n * s;
}

/* ---- in-memory file ---- */

st_file *st_file_new(void)
{
	st_file *f = xmalloc(sizeof *f);
	memset(f, 0, sizeof *f);
	return f;
}

static void tensor_clear(st_tensor *t)
{
	free(t->name);
	free(t->data);
}

void st_file_free(st_file *f)
{
	if (!f) return;
	for (int i = 0; i < f->n; i++) tensor_clear(&f->t[i]);
	for (int i = 0; i < f->nmeta; i++) { free(f->meta[i].key); free(f->meta[i].value); }
	free(f->t);
	free(f->meta);
	free(f);
}

st_tensor *st_find(const st_file *f, const char *name)
{
	for (int i = 0; i < f->n; i++)
		if (strcmp(f->t[i].name, name) == 0) return &f->t[i];
	return NULL;
}

/* Appends without looking for the name: the parser checks duplicates once, sorted. */
static st_tensor *push_tensor(st_file *f, const char *name, st_dtype dt, int ndim, const int64_t *shape,
			      void *data, int own)
{
	if (f->n == f->cap) {
		f->cap = f->cap ? 2 * f->cap : 8;
		f->t = xrealloc(f->t, (size_t)f->cap * sizeof *f->t);
	}
	st_tensor *t = &f->t[f->n++];
	memset(t, 0, sizeof *t);
	t->name = xstrdup(name);
	t->dtype = dt;
	t->ndim = ndim;
	for (int i = 0; i < ndim; i++) t->shape[i] = shape[i];
	if (data && !own) {
		uint64_t nb = st_nbytes(t);
		t->data = memcpy(xmalloc(nb), data, nb);
	} else {
		t->data = data;
	}
	return t;
}

st_tensor *st_add(st_file *f, const char *name, st_dtype dt, int ndim, const int64_t *shape,
		  void *data, int own)
{
	if (st_find(f, name) || ndim < 0 || ndim > ST_MAX_DIMS) return NULL;
	return push_tensor(f, name, dt, ndim, shape, data, own);
}

st_tensor *st_put(st_file *f, const char *name, st_dtype dt, int ndim, const int64_t *shape, void *data)
{
	st_remove(f, name);
	return st_add(f, name, dt, ndim, shape, data, 1);
}

const char *st_shape_str(char *buf, size_t n, int ndim, const int64_t *shape)
{
	size_t k = (size_t)snprintf(buf, n, "[");
	for (int i = 0; i < ndim && k < n; i++) {
		if (shape[i] < 0) k += (size_t)snprintf(buf + k, n - k, "%s*", i ? "," : "");
		else k += (size_t)snprintf(buf + k, n - k, "%s%" PRId64, i ? "," : "", shape[i]);
	}
	if (k < n) snprintf(buf + k, n - k, "]");
	return buf;
}

int st_remove(st_file *f, const char *name)
{
	st_tensor *t = st_find(f, name);
	if (!t) return -1;
	tensor_clear(t);
	size_t i = (size_t)(t - f->t);
	memmove(t, t + 1, (size_t)(f->n - 1 - (int)i) * sizeof *t);
	f->n--;
	return 0;
}

static st_kv *meta_find(const st_file *f, const char *key)
{
	for (int i = 0; i < f->nmeta; i++)
		if (strcmp(f->meta[i].key, key) == 0) return &f->meta[i];
	return NULL;
}

const char *st_meta_get(const st_file *f, const char *key)
{
	st_kv *kv = meta_find(f, key);
	return kv ? kv->value : NULL;
}

void st_meta_set(st_file *f, const char *key, const char *value)
{
	st_kv *kv = meta_find(f, key);
	if (kv) {
		char *v = xstrdup(value);   /* value may alias kv->value */
		free(kv->value);
		kv->value = v;
		return;
	}
	if (f->nmeta == f->capmeta) {
		f->capmeta = f->capmeta ? 2 * f->capmeta : 8;
		f->meta = xrealloc(f->meta, (size_t)f->capmeta * sizeof *f->meta);
	}
	f->meta[f->nmeta].key = xstrdup(key);
	f->meta[f->nmeta].value = xstrdup(value);
	f->nmeta++;
}

void st_meta_del(st_file *f, const char *key)
{
	st_kv *kv = meta_find(f, key);
	if (!kv) return;
	free(kv->key);
	free(kv->value);
	size_t i = (size_t)(kv - f->meta);
	memmove(kv, kv + 1, (size_t)(f->nmeta - 1 - (int)i) * sizeof *kv);
	f->nmeta--;
}

void st_meta_copy(st_file *dst, const st_file *src)
{
	for (int i = 0; i < src->nmeta; i++) st_meta_set(dst, src->meta[i].key, src->meta[i].value);
}

char **st_meta_get_list(const st_file *f, const char *key, int *n)
{
	const char *v = st_meta_get(f, key);
	if (!v) return NULL;
	cJSON *j = cJSON_Parse(v);
	if (!cJSON_IsArray(j)) { cJSON_Delete(j); return NULL; }
	int m = cJSON_GetArraySize(j);
	char **items = xmalloc((size_t)(m + 1) * sizeof *items);
	int k = 0;
	for (cJSON *e = j->child; e; e = e->next) {
		if (!cJSON_IsString(e)) { st_list_free(items, k); cJSON_Delete(j); return NULL; }
		items[k++] = xstrdup(e->valuestring);
	}
	items[k] = NULL;
	cJSON_Delete(j);
	*n = k;
	return items;
}

void st_meta_set_list(st_file *f, const char *key, char *const *items, int n)
{
	cJSON *a = cJSON_CreateArray();
	for (int i = 0; i < n; i++) cJSON_AddItemToArray(a, cJSON_CreateString(items[i]));
	char *s = cJSON_PrintUnformatted(a);
	st_meta_set(f, key, s);
	cJSON_free(s);
	cJSON_Delete(a);
}

double *st_meta_get_numbers(const st_file *f, const char *key, int *n)
{
	const char *v = st_meta_get(f, key);
	cJSON *j = v ? cJSON_Parse(v) : NULL;
	int m = cJSON_IsArray(j) ? cJSON_GetArraySize(j) : -1;
	double *out = m >= 0 ? malloc(sizeof *out * (size_t)(m ? m : 1)) : NULL;
	int k = 0;
	for (cJSON *e = out ? j->child : NULL; e; e = e->next, k++) {
		char *end = NULL;
		if (cJSON_IsNumber(e)) out[k] = e->valuedouble;
		else if (cJSON_IsString(e)) out[k] = strtod(e->valuestring, &end);
		if ((!cJSON_IsNumber(e) && !(end && end != e->valuestring && !*end)) || !isfinite(out[k])) {
			free(out);
			out = NULL;
			break;
		}
	}
	cJSON_Delete(j);
	*n = m;
	return out;
}

void st_meta_set_numbers(st_file *f, const char *key, const double *v, int n)
{
	cJSON *a = n > 0 ? cJSON_CreateDoubleArray(v, n) : cJSON_CreateArray();
	char *s = cJSON_PrintUnformatted(a);
	st_meta_set(f, key, s);
	cJSON_free(s);
	cJSON_Delete(a);
}

void st_list_free(char **items, int n)
{
	if (!items) return;
	for (int i = 0; i < n; i++) free(items[i]);
	free(items);
}

/* ---- header parsing ---- */

/* JSON forbids raw control characters inside strings; cJSON lets them through. */
static int raw_control_in_string(const char *s, size_t n, size_t *at)
{
	int in_string = 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (!in_string) { in_string = c == '"'; continue; }
		if (c == '\\') i++;
		else if (c == '"') in_string = 0;
		else if (c < 0x20) { *at = i; return 1; }
	}
	return 0;
}

/* A JSON number that is an exact non-negative integer below 2^53 (exact in a double). */
static int json_uint(const cJSON *j, uint64_t *out)
{
	if (!cJSON_IsNumber(j)) return 0;
	double v = j->valuedouble;
	if (!(v >= 0) || v > 9007199254740992.0 || v != floor(v)) return 0;
	*out = (uint64_t)v;
	return 1;
}

static int parse_shape(const cJSON *j, st_tensor *t, char *err)
{
	if (!cJSON_IsArray(j)) return err_set(err, "bad shape: tensor '%s': shape is not an array", err_esc(t->name));
	int n = cJSON_GetArraySize(j);
	if (n > ST_MAX_DIMS) return err_set(err, "bad shape: tensor '%s': %d dimensions, at most %d supported", err_esc(t->name), n, ST_MAX_DIMS);
	t->ndim = 0;
	for (const cJSON *e = j->child; e; e = e->next) {
		uint64_t d;
		if (!json_uint(e, &d)) {
			char *s = cJSON_PrintUnformatted(e);
			err_set(err, "bad shape: tensor '%s': dimension %s is not a non-negative integer", err_esc(t->name), s ? s : "?");
			cJSON_free(s);
			return -1;
		}
		t->shape[t->ndim++] = (int64_t)d;
	}
	if (st_numel(t) < 0 || st_nbytes(t) == UINT64_MAX)
		return err_set(err, "shape product overflows: tensor '%s'", err_esc(t->name));
	return 0;
}

static int parse_offsets(const cJSON *j, st_tensor *t, char *err)
{
	if (!cJSON_IsArray(j) || cJSON_GetArraySize(j) != 2 ||
	    !json_uint(j->child, &t->begin) || !json_uint(j->child->next, &t->end))
		return err_set(err, "bad data_offsets: tensor '%s': expected [begin, end] of non-negative integers below 2^53", err_esc(t->name));
	if (t->end < t->begin)
		return err_set(err, "data_offsets end before begin: tensor '%s': [%" PRIu64 ", %" PRIu64 "]", err_esc(t->name), t->begin, t->end);
	uint64_t want = st_nbytes(t);
	if (t->end - t->begin != want)
		return err_set(err, "size does not match dtype and shape: tensor '%s': %" PRIu64 " bytes in data_offsets, %s x %" PRId64 " elements = %" PRIu64 " bytes",
			    err_esc(t->name), t->end - t->begin, st_dtype_name(t->dtype), st_numel(t), want);
	return 0;
}

static int parse_entry(const cJSON *e, st_tensor *t, char *err)
{
	if (!cJSON_IsObject(e)) return err_set(err, "entry is not an object: tensor '%s'", err_esc(t->name));
	const cJSON *dt = NULL, *shape = NULL, *off = NULL;
	for (const cJSON *f = e->child; f; f = f->next) {
		const cJSON **slot = strcmp(f->string, "dtype") == 0 ? &dt : strcmp(f->string, "shape") == 0 ? &shape
				   : strcmp(f->string, "data_offsets") == 0 ? &off : NULL;
		if (!slot) return err_set(err, "unknown field: tensor '%s' has field '%s' (expected dtype, shape, data_offsets)", err_esc(t->name), err_esc(f->string));
		if (*slot) return err_set(err, "duplicate field: tensor '%s' has field '%s' twice", err_esc(t->name), err_esc(f->string));
		*slot = f;
	}
	if (!dt || !shape || !off)
		return err_set(err, "missing field: tensor '%s' has no '%s'", err_esc(t->name), !dt ? "dtype" : !shape ? "shape" : "data_offsets");
	if (!cJSON_IsString(dt)) return err_set(err, "unknown dtype: tensor '%s': dtype is not a string", err_esc(t->name));
	if (st_dtype_parse(dt->valuestring, &t->dtype))
		return err_set(err, "unknown dtype: tensor '%s': '%.40s' (expected F64, F32, F16, BF16, I64, I32, I16, I8, U8 or BOOL)", err_esc(t->name), err_esc(dt->valuestring));
	if (parse_shape(shape, t, err)) return -1;
	return parse_offsets(off, t, err);
}

static int parse_metadata(const cJSON *m, st_file *out, char *err)
{
	if (!cJSON_IsObject(m)) return err_set(err, "__metadata__ is not an object");
	for (const cJSON *e = m->child; e; e = e->next) {
		if (!cJSON_IsString(e)) return err_set(err, "metadata value is not a string: key '%s'", err_esc(e->string));
		if (st_meta_get(out, e->string)) return err_set(err, "duplicate metadata key: '%s'", err_esc(e->string));
		st_meta_set(out, e->string, e->valuestring);
	}
	return 0;
}

static int by_offset(const void *a, const void *b)
{
	const st_tensor *x = a, *y = b;
	if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
	return (x->end > y->end) - (x->end < y->end);
}

/* Offsets sorted: they must tile [0, end) without holes or overlaps. */
static int check_layout(st_file *f, uint64_t data_size, char *err)
{
	if (f->n) qsort(f->t, (size_t)f->n, sizeof *f->t, by_offset);
	uint64_t pos = 0;
	for (int i = 0; i < f->n; i++) {
		st_tensor *t = &f->t[i];
		if (t->begin > pos)
			return err_set(err, "data section has a hole: tensor '%s' begins at %" PRIu64 ", previous data end at %" PRIu64, err_esc(t->name), t->begin, pos);
		if (t->begin < pos)
			return err_set(err, "data sections overlap: tensor '%s' begins at %" PRIu64 ", before the previous end %" PRIu64, err_esc(t->name), t->begin, pos);
		pos = t->end;
	}
	if (data_size != UINT64_MAX && pos < data_size)
		return err_set(err, "trailing bytes after the data: %" PRIu64 " bytes of data described, %" PRIu64 " present", pos, data_size);
	if (data_size != UINT64_MAX && pos > data_size)
		return err_set(err, "truncated data: %" PRIu64 " bytes of data described, %" PRIu64 " present", pos, data_size);
	return 0;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int check_unique_names(const st_file *f, char *err)
{
	char **names = malloc(sizeof *names * (size_t)(f->n ? f->n : 1));
	if (!names) return err_set(err, "out of memory checking %d tensor names", f->n);
	for (int i = 0; i < f->n; i++) names[i] = f->t[i].name;
	if (f->n) qsort(names, (size_t)f->n, sizeof *names, by_name);
	int rc = 0;
	for (int i = 1; i < f->n && !rc; i++)
		if (strcmp(names[i - 1], names[i]) == 0) rc = err_set(err, "duplicate tensor name: '%s'", err_esc(names[i]));
	free(names);
	return rc;
}

static int parse_object(const cJSON *root, st_file *out, char *err)
{
	int seen_metadata = 0;
	for (const cJSON *e = root->child; e; e = e->next) {
		if (strcmp(e->string, "__metadata__") == 0) {
			if (seen_metadata++) return err_set(err, "duplicate tensor name: '__metadata__'");
			if (parse_metadata(e, out, err)) return -1;
			continue;
		}
		st_tensor *t = push_tensor(out, e->string, ST_U8, 0, NULL, NULL, 0);
		if (parse_entry(e, t, err)) return -1;
	}
	return check_unique_names(out, err);
}

int st_parse_header(const char *json, size_t len, uint64_t data_size, st_file *out, char *err)
{
	size_t bad;
	if (memchr(json, 0, len)) return err_set(err, "header is not valid JSON: NUL byte at offset %zu", (size_t)((const char *)memchr(json, 0, len) - json));
	if (!util_utf8_valid(json, len, &bad)) return err_set(err, "header is not valid UTF-8: bad byte at offset %zu", bad);
	if (raw_control_in_string(json, len, &bad)) return err_set(err, "header is not valid JSON: raw control character in a string at offset %zu", bad);
	const char *end = NULL;
	cJSON *root = cJSON_ParseWithLengthOpts(json, len, &end, 0);
	if (!root) return err_set(err, "header is not valid JSON: near offset %zu", end ? (size_t)(end - json) : (size_t)0);
	for (const char *p = end; p < json + len; p++)
		if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r') {
			cJSON_Delete(root);
			return err_set(err, "header is not valid JSON: text after the object at offset %zu", (size_t)(p - json));
		}
	int rc = cJSON_IsObject(root) ? parse_object(root, out, err)
		 : err_set(err, "header is not a JSON object");
	cJSON_Delete(root);
	if (rc == 0) rc = check_layout(out, data_size, err);
	return rc;
}

/* ---- streaming reader ---- */

struct st_reader {
	FILE *fp;
	int own;              /* close fp at the end */
	uint64_t pos;         /* bytes of the data section consumed */
	uint64_t data_start;  /* offset of the data section in the file */
	int known_size;
	st_file *f;
};

static size_t read_full(FILE *fp, void *buf, size_t n)
{
	size_t got = 0;
	while (got < n) {
		size_t r = fread((char *)buf + got, 1, n - got, fp);
		if (r == 0) break;
		got += r;
	}
	return got;
}

static int read_header(st_reader *r, char *err)
{
	unsigned char lenbuf[8];
	size_t got = read_full(r->fp, lenbuf, 8);
	if (ferror(r->fp)) return err_set(err, "read error: %s", strerror(errno));
	if (got < 8) return err_set(err, "file too short for the header length: %zu bytes", got);
	uint64_t n = 0;
	for (int i = 7; i >= 0; i--) n = (n << 8) | lenbuf[i];
	if (n > ST_MAX_HEADER) return err_set(err, "header length %" PRIu64 " exceeds the limit of 100000000 bytes", n);
	struct stat sb;
	uint64_t data_size = UINT64_MAX;
	if (fstat(fileno(r->fp), &sb) == 0 && S_ISREG(sb.st_mode)) {
		uint64_t size = (uint64_t)sb.st_size;
		if (size < 8 + n) return err_set(err, "truncated header: length %" PRIu64 ", %" PRIu64 " bytes follow", n, size - 8);
		data_size = size - 8 - n;
		r->known_size = 1;
	}
	char *json = malloc(n ? (size_t)n : 1);
	if (!json) return err_set(err, "cannot allocate %" PRIu64 " bytes for the header", n);
	got = read_full(r->fp, json, n);
	if (got < n) {
		free(json);
		return ferror(r->fp) ? err_set(err, "read error: %s", strerror(errno))
				     : err_set(err, "truncated header: length %" PRIu64 ", %zu bytes follow", n, got);
	}
	int rc = st_parse_header(json, n, data_size, r->f, err);
	free(json);
	r->data_start = 8 + n;
	return rc;
}

st_reader *st_open_fp(FILE *fp, int own, char *err)
{
	st_reader *r = calloc(1, sizeof *r);
	if (!r) {
		if (own) fclose(fp);
		err_set(err, "out of memory");
		return NULL;
	}
	r->fp = fp;
	r->own = own;
	r->f = st_file_new();
	if (read_header(r, err)) { st_abort(r); return NULL; }
	return r;
}

/* "-" is standard input (not to be closed); a directory is refused up front. */
static FILE *open_input(const char *path, int *own, char *err)
{
	*own = strcmp(path, "-") != 0;
	if (!*own) return stdin;
	FILE *fp = fopen(path, "rb");
	if (!fp) { err_set(err, "cannot open: %s", strerror(errno)); return NULL; }
	struct stat sb;
	if (fstat(fileno(fp), &sb) == 0 && S_ISDIR(sb.st_mode)) {
		fclose(fp);
		err_set(err, "cannot read: is a directory");
		return NULL;
	}
	return fp;
}

st_reader *st_open(const char *path, char *err)
{
	int own;
	FILE *fp = open_input(path, &own, err);
	return fp ? st_open_fp(fp, own, err) : NULL;
}

st_file *st_reader_file(st_reader *r) { return r->f; }

static int check_next(st_reader *r, const st_tensor *t, char *err)
{
	if (t->begin != r->pos)
		return err_set(err, "tensor '%s' read out of order (at %" PRIu64 ", stream at %" PRIu64 ")", err_esc(t->name), t->begin, r->pos);
	return 0;
}

static int short_read(st_reader *r, const st_tensor *t, uint64_t got, char *err)
{
	if (ferror(r->fp)) return err_set(err, "read error in tensor '%s': %s", err_esc(t->name), strerror(errno));
	return err_set(err, "truncated data: tensor '%s' needs %" PRIu64 " bytes, %" PRIu64 " present", err_esc(t->name), t->end - t->begin, got);
}

/* Reads in growing chunks so that a header lying about a pipe's size fails
 * on missing data rather than on one huge allocation. */
int st_read_data(st_reader *r, st_tensor *t, char *err)
{
	if (check_next(r, t, err)) return -1;
	const uint64_t n = t->end - t->begin, first = (uint64_t)64 << 20;
	if (n > SIZE_MAX / 2) return err_set(err, "tensor '%s' too large for memory: %" PRIu64 " bytes", err_esc(t->name), n);
	uint64_t cap = r->known_size || n < first ? n : first, got = 0;
	char *buf = malloc(cap ? (size_t)cap : 1);
	for (;;) {
		if (!buf) return err_set(err, "cannot allocate %" PRIu64 " bytes for tensor '%s'", cap, err_esc(t->name));
		got += read_full(r->fp, buf + got, (size_t)(cap - got));
		if (got < cap) { free(buf); return short_read(r, t, got, err); }
		if (got == n) break;
		cap = cap < n / 2 ? 2 * cap : n;
		char *nb = realloc(buf, (size_t)cap);
		if (!nb) free(buf);
		buf = nb;
	}
	free(t->data);
	t->data = buf;
	r->pos = t->end;
	return 0;
}

int st_copy_data(st_reader *r, st_tensor *t, FILE *out, char *err)
{
	if (check_next(r, t, err)) return -1;
	static __thread char buf[1 << 20];
	uint64_t left = t->end - t->begin, got = 0;
	while (left) {
		size_t want = left < sizeof buf ? (size_t)left : sizeof buf;
		size_t k = read_full(r->fp, buf, want);
		got += k;
		if (out && k && fwrite(buf, 1, k, out) != k) return err_set(err, "write error: %s", strerror(errno));
		if (k < want) return short_read(r, t, got, err);
		left -= k;
	}
	r->pos = t->end;
	return 0;
}

int st_seek_data(st_reader *r, const st_tensor *t, char *err)
{
	if (!r->known_size)
		return err_set(err, "cannot seek to tensor '%s': not a regular file", err_esc(t->name));
	if (fseeko(r->fp, (off_t)(r->data_start + t->begin), SEEK_SET) != 0)
		return err_set(err, "cannot seek to tensor '%s': %s", err_esc(t->name), strerror(errno));
	r->pos = t->begin;
	return 0;
}

int st_skip_data(st_reader *r, st_tensor *t, char *err)
{
	if (r->known_size && !ferror(r->fp)) {
		if (check_next(r, t, err)) return -1;
		if (t->end > t->begin && fseeko(r->fp, (off_t)(t->end - t->begin), SEEK_CUR) == 0) {
			r->pos = t->end;
			return 0;
		}
	}
	return st_copy_data(r, t, NULL, err);
}

int st_check_end(st_reader *r, char *err)
{
	if (!r->known_size && fgetc(r->fp) != EOF)
		return err_set(err, "trailing bytes after the data: more than the %" PRIu64 " bytes described", r->pos);
	return 0;
}

int st_close(st_reader *r, char *err)
{
	int rc = st_check_end(r, err);
	st_file_free(r->f);
	r->f = NULL;
	st_abort(r);
	return rc;
}

void st_abort(st_reader *r)
{
	if (!r) return;
	if (r->own) fclose(r->fp);
	st_file_free(r->f);
	free(r);
}

st_file *st_load_fp(FILE *fp, int own, int (*keep)(const char *, void *), void *ctx, char *err)
{
	st_reader *r = st_open_fp(fp, own, err);
	if (!r) return NULL;
	st_file *f = r->f;
	for (int i = 0; i < f->n; i++) {
		st_tensor *t = &f->t[i];
		int rc = (!keep || keep(t->name, ctx)) ? st_read_data(r, t, err) : st_skip_data(r, t, err);
		if (rc) { st_abort(r); return NULL; }
	}
	r->f = NULL;   /* handed to the caller */
	if (st_close(r, err)) { st_file_free(f); return NULL; }
	int kept = 0;   /* drop the skipped tensors in one pass */
	for (int i = 0; i < f->n; i++) {
		if (f->t[i].data) f->t[kept++] = f->t[i];
		else tensor_clear(&f->t[i]);
	}
	f->n = kept;
	return f;
}

st_file *st_load(const char *path, int (*keep)(const char *, void *), void *ctx, char *err)
{
	int own;
	FILE *fp = open_input(path, &own, err);
	return fp ? st_load_fp(fp, own, keep, ctx, err) : NULL;
}

/* ---- writer ---- */

typedef struct { char *s; size_t n, cap; } strbuf;

static void sb_put(strbuf *b, const char *s, size_t n)
{
	if (b->n + n + 1 > b->cap) {
		b->cap = (b->n + n + 1) * 2;
		b->s = xrealloc(b->s, b->cap);
	}
	memcpy(b->s + b->n, s, n);
	b->n += n;
	b->s[b->n] = 0;
}

__attribute__((format(printf, 2, 3)))
static void sb_printf(strbuf *b, const char *fmt, ...)
{
	char tmp[128];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
	va_end(ap);
	sb_put(b, tmp, (size_t)n);
}

static void sb_json_string(strbuf *b, const char *s)
{
	sb_put(b, "\"", 1);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\') { char e[2] = {'\\', (char)c}; sb_put(b, e, 2); }
		else if (c < 0x20) sb_printf(b, "\\u%04x", c);
		else sb_put(b, (const char *)&c, 1);
	}
	sb_put(b, "\"", 1);
}

char *st_header_json(const st_file *f, size_t *len)
{
	strbuf b = {0};
	sb_put(&b, "{", 1);
	if (f->nmeta) {
		sb_put(&b, "\"__metadata__\":{", 16);
		for (int i = 0; i < f->nmeta; i++) {
			if (i) sb_put(&b, ",", 1);
			sb_json_string(&b, f->meta[i].key);
			sb_put(&b, ":", 1);
			sb_json_string(&b, f->meta[i].value);
		}
		sb_put(&b, "}", 1);
	}
	uint64_t pos = 0;
	for (int i = 0; i < f->n; i++) {
		const st_tensor *t = &f->t[i];
		if (i || f->nmeta) sb_put(&b, ",", 1);
		sb_json_string(&b, t->name);
		sb_printf(&b, ":{\"dtype\":\"%s\",\"shape\":[", st_dtype_name(t->dtype));
		for (int d = 0; d < t->ndim; d++) sb_printf(&b, "%s%" PRId64, d ? "," : "", t->shape[d]);
		uint64_t nb = st_nbytes(t);
		sb_printf(&b, "],\"data_offsets\":[%" PRIu64 ",%" PRIu64 "]}", pos, pos + nb);
		pos += nb;
	}
	sb_put(&b, "}", 1);
	while ((b.n + 8) % 8) sb_put(&b, " ", 1);
	*len = b.n;
	return b.s;
}

static int write_spool(const st_tensor *t, FILE *out, char *err)
{
	static __thread char buf[1 << 20];
	uint64_t left = st_nbytes(t);
	if (fseeko(t->spool, 0, SEEK_SET)) return err_set(err, "cannot rewind the spool of tensor '%s': %s", err_esc(t->name), strerror(errno));
	while (left) {
		size_t want = left < sizeof buf ? (size_t)left : sizeof buf;
		if (read_full(t->spool, buf, want) != want)
			return err_set(err, "spool of tensor '%s' is short", err_esc(t->name));
		if (fwrite(buf, 1, want, out) != want) return err_set(err, "write error: %s", strerror(errno));
		left -= want;
	}
	return 0;
}

/* What the reader would refuse is not written: strings that are not UTF-8,
 * a tensor named like the metadata. */
static int check_strings(const st_file *f, char *err)
{
	size_t bad;
	for (int i = 0; i < f->n; i++) {
		const char *name = f->t[i].name;
		if (!util_utf8_valid(name, strlen(name), &bad))
			return err_set(err, "tensor name '%s' is not valid UTF-8 (byte %zu)", err_esc(name), bad);
		if (strcmp(name, "__metadata__") == 0)
			return err_set(err, "a tensor cannot be named '__metadata__', the metadata's key");
	}
	for (int i = 0; i < f->nmeta; i++) {
		const char *k = f->meta[i].key, *v = f->meta[i].value;
		if (!util_utf8_valid(k, strlen(k), &bad))
			return err_set(err, "metadata key '%s' is not valid UTF-8 (byte %zu)", err_esc(k), bad);
		if (!util_utf8_valid(v, strlen(v), &bad))
			return err_set(err, "metadata '%s' is not valid UTF-8 (byte %zu of its value)", err_esc(k), bad);
	}
	return 0;
}

int st_write(const st_file *f, FILE *out, char *err)
{
	for (int i = 0; i < f->n; i++)
		if (st_nbytes(&f->t[i]) == UINT64_MAX) return err_set(err, "shape product overflows: tensor '%s'", err_esc(f->t[i].name));
	if (check_strings(f, err)) return -1;
	size_t n;
	char *json = st_header_json(f, &n);
	unsigned char lenbuf[8];
	for (int i = 0; i < 8; i++) lenbuf[i] = (unsigned char)((uint64_t)n >> (8 * i));
	int ok = fwrite(lenbuf, 1, 8, out) == 8 && fwrite(json, 1, n, out) == n;
	free(json);
	if (!ok) return err_set(err, "write error: %s", strerror(errno));
	for (int i = 0; i < f->n; i++) {
		const st_tensor *t = &f->t[i];
		uint64_t nb = st_nbytes(t);
		if (t->spool) {
			if (write_spool(t, out, err)) return -1;
		} else if (nb) {
			if (!t->data) return err_set(err, "tensor '%s' has no data", err_esc(t->name));
			if (fwrite(t->data, 1, (size_t)nb, out) != nb) return err_set(err, "write error: %s", strerror(errno));
		}
	}
	return 0;
}

/* ---- conversion ---- */

float st_half_to_f32(uint16_t h)
{
	uint32_t sign = (uint32_t)(h >> 15) << 31, exp = (h >> 10) & 0x1F, man = h & 0x3FF;
	float v;
	if (exp == 0) v = ldexpf((float)man, -24);
	else if (exp == 31) v = man ? NAN : INFINITY;
	else v = ldexpf((float)(man | 0x400), (int)exp - 25);
	return sign ? -v : v;
}

float st_bf16_to_f32(uint16_t h)
{
	uint32_t u = (uint32_t)h << 16;
	float f;
	memcpy(&f, &u, 4);
	return f;
}

uint16_t st_f32_to_bf16(float f)
{
	uint32_t u;
	memcpy(&u, &f, 4);
	if ((u & 0x7FFFFFFF) > 0x7F800000) return (uint16_t)((u >> 16) | 0x40);  /* quiet NaN */
	u += 0x7FFF + ((u >> 16) & 1);   /* round to nearest even */
	return (uint16_t)(u >> 16);
}

uint16_t st_f32_to_half(float f)
{
	uint32_t u;
	memcpy(&u, &f, 4);
	uint16_t sign = (uint16_t)((u >> 16) & 0x8000);
	float a = fabsf(f);
	if (isnan(f)) return sign | 0x7E00;
	if (a >= 65520.0f) return sign | 0x7C00;
	if (a < 6.103515625e-05f) {   /* subnormal: multiples of 2^-24, round to nearest even */
		return sign | (uint16_t)lrintf(a * 16777216.0f);
	}
	int e;
	float m = frexpf(a, &e);      /* a = m * 2^e, m in [0.5, 1) */
	uint32_t man = (uint32_t)lrintf(m * 2048.0f);  /* 11 bits incl. the implicit one */
	if (man == 2048) { man = 1024; e++; }
	return sign | (uint16_t)(((uint32_t)(e + 14) << 10) | (man & 0x3FF));
}

#define CONVERT(T) \
	static void convert_##T(const st_tensor *t, T *out, size_t n) \
	{ \
		const void *d = t->data; \
		for (size_t i = 0; i < n; i++) { \
			switch (t->dtype) { \
			case ST_F64: out[i] = (T)((const double *)d)[i]; break; \
			case ST_F32: out[i] = (T)((const float *)d)[i]; break; \
			case ST_F16: out[i] = (T)st_half_to_f32(((const uint16_t *)d)[i]); break; \
			case ST_BF16: out[i] = (T)st_bf16_to_f32(((const uint16_t *)d)[i]); break; \
			case ST_I64: out[i] = (T)((const int64_t *)d)[i]; break; \
			case ST_I32: out[i] = (T)((const int32_t *)d)[i]; break; \
			case ST_I16: out[i] = (T)((const int16_t *)d)[i]; break; \
			case ST_I8: out[i] = (T)((const int8_t *)d)[i]; break; \
			case ST_U8: case ST_BOOL: out[i] = (T)((const uint8_t *)d)[i]; break; \
			default: out[i] = (T)NAN; \
			} \
		} \
	}
/* A new T array of every element of t, widened or narrowed; NULL when too large for memory. */
#define TO_ARRAY(T, SAME, NAME) \
	T *NAME(const st_tensor *t) \
	{ \
		int64_t n = st_numel(t); \
		if (n < 0 || (uint64_t)n > SIZE_MAX / sizeof(T)) return NULL; \
		T *out = malloc(n ? (size_t)n * sizeof *out : 1); \
		if (!out) return NULL; \
		if (t->dtype == SAME) memcpy(out, t->data, (size_t)n * sizeof *out); \
		else convert_##T(t, out, (size_t)n); \
		return out; \
	}
CONVERT(float)
CONVERT(double)
TO_ARRAY(float, ST_F32, st_to_f32)
TO_ARRAY(double, ST_F64, st_to_f64)

