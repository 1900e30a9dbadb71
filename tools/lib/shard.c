/* shard.c: --shard I/N: blocks of rows, cutting them, the metadata (shard.h). */
#include "shard.h"

#include <cjson/cJSON.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "err.h"

/* a decimal number at *p up to SHARD_MAX, *p moved past it; -1 when there is none,
 * it starts with a zero that is not the whole number, or it is too large */
static int64_t number(const char **p)
{
	const char *s = *p;
	int64_t v = 0;
	int digits = 0;
	while (*s >= '0' && *s <= '9') {
		v = v * 10 + (*s++ - '0');
		if (++digits > 10)
			return -1;
	}
	if (!digits || (digits > 1 && **p == '0') || v > SHARD_MAX)
		return -1;
	*p = s;
	return v;
}

int shard_parse(const char *s, shard_spec *out, char *err)
{
	const char *p = s;
	int64_t i = number(&p), n = -1;
	if (i >= 0 && *p == '/') {
		p++;
		n = number(&p);
	}
	if (i < 0 || n < 0 || *p)
		return err_set(err, "'%s': expected I/N, two whole numbers (shard I of N, 0 <= I < N <= %d), e.g. 0/4",
			       err_esc(s), SHARD_MAX);
	if (n < 1)
		return err_set(err, "'%s': N is the number of shards, 1 or more", err_esc(s));
	if (i >= n)
		return err_set(err, "'%s': shards are numbered 0 to N-1, so I must be less than N (%" PRId64 ")",
			       err_esc(s), n);
	out->i = i, out->n = n;
	return 0;
}

void shard_rows(shard_spec s, int64_t rows, int64_t unit, int64_t *first, int64_t *count)
{
	/* i * groups overflows 64 bits for rows near 2^53 and i near 10^9 */
	int64_t groups = rows / unit + (rows % unit != 0);
	int64_t a = (int64_t)((__int128)s.i * groups / s.n) * unit, b = (int64_t)((__int128)(s.i + 1) * groups / s.n) * unit;
	*first = a < rows ? a : rows;
	*count = (b < rows ? b : rows) - *first;
}

void shard_format(shard_spec s, char *buf, size_t len)
{
	snprintf(buf, len, "%" PRId64 "/%" PRId64, s.i, s.n);
}

int shard_cut(st_tensor *t, int axis, int64_t lo, int64_t hi, char *err)
{
	if (axis < 0 || axis >= t->ndim || lo < 0 || hi < lo || hi > t->shape[axis])
		return err_set(err, "tensor '%s': rows %" PRId64 "..%" PRId64 " along axis %d are outside its shape",
			       err_esc(t->name), lo, hi - 1, axis);
	int64_t outer = 1, inner = (int64_t)st_dtype_size(t->dtype);
	for (int d = 0; d < axis; d++)
		outer *= t->shape[d];
	for (int d = axis + 1; d < t->ndim; d++)
		inner *= t->shape[d];
	int64_t rows = t->shape[axis], keep = (hi - lo) * inner;
	/* one byte at least: a shard of no rows still has a buffer */
	unsigned char *x = malloc((size_t)(outer * keep) + 1);
	if (!x)
		return err_set(err, "tensor '%s': out of memory for its shard", err_esc(t->name));
	const unsigned char *src = t->data;
	for (int64_t o = 0; o < outer && keep; o++)
		memcpy(x + o * keep, src + (o * rows + lo) * inner, (size_t)keep);
	free(t->data);
	t->data = x;
	t->shape[axis] = hi - lo;
	t->end = t->begin + (uint64_t)(outer * keep);
	return 0;
}

int shard_cut_ids(st_file *f, int64_t rows, int64_t lo, int64_t hi, char *err)
{
	if (!st_meta_get(f, "ids"))
		return 0;
	int n = 0;
	char **ids = st_meta_get_list(f, "ids", &n);
	if (!ids || n != rows) {
		st_list_free(ids, n);
		return err_set(err, "metadata `ids` is %s, expected the %" PRId64 " sample names to cut",
			       ids ? "a list of another length" : "not a list of strings", rows);
	}
	st_meta_set_list(f, "ids", ids + lo, (int)(hi - lo));
	st_list_free(ids, n);
	return 0;
}

/* the builders' rule for out of memory (st.h) */
static void *built(void *p)
{
	if (!p) {
		fputs("out of memory\n", stderr);
		abort();
	}
	return p;
}

void shard_mark(st_file *f, shard_spec s, const char *const *names, const int *axes, int count)
{
	char v[32];
	shard_format(s, v, sizeof v);
	st_meta_set(f, "shard", v);
	cJSON *j = built(cJSON_CreateObject());
	int listed = 0;
	for (int k = 0; k < count; k++)
		if (axes[k])
			built(cJSON_AddNumberToObject(j, names[k], axes[k])), listed++;
	st_meta_del(f, "shard_axis");
	if (listed) {
		char *s = built(cJSON_PrintUnformatted(j));
		st_meta_set(f, "shard_axis", s);
		cJSON_free(s);
	}
	cJSON_Delete(j);
}

int shard_axis_of(const st_file *f, const char *name, int *axis, char *err)
{
	*axis = 0;
	const char *v = st_meta_get(f, "shard_axis");
	if (!v)
		return 0;
	cJSON *j = cJSON_Parse(v);
	int bad = !cJSON_IsObject(j);
	for (const cJSON *e = bad ? NULL : j->child; e && !bad; e = e->next)
		bad = !cJSON_IsNumber(e) || e->valuedouble != (int)e->valuedouble || e->valuedouble < 0 ||
		      e->valuedouble >= ST_MAX_DIMS;
	const cJSON *e = bad ? NULL : cJSON_GetObjectItemCaseSensitive(j, name);
	if (e)
		*axis = (int)e->valuedouble;
	cJSON_Delete(j);
	if (bad)
		return err_set(err, "metadata `shard_axis` is not a JSON object of axes (whole numbers 0 to %d)",
			       ST_MAX_DIMS - 1);
	return 0;
}

int shard_check_input(const st_file *f, char *err)
{
	const char *v = st_meta_get(f, "shard");
	if (!v)
		return 0;
	return err_set(err, "metadata `shard` is '%s': the input is one shard of a stage's output; join the shards "
		       "0..N-1 first (tensors cat)", err_esc(v));
}
