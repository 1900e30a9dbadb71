/* shard.c: --shard I/N (shard.h). */
#include "shard.h"

#include <cjson/cJSON.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* a decimal number of digits only into *v, refused beyond INT32_MAX */
static int parse_count(const char *s, size_t len, int64_t *v)
{
	if (len == 0)
		return -1;
	*v = 0;
	for (size_t k = 0; k < len; k++) {
		if (s[k] < '0' || s[k] > '9')
			return -1;
		*v = *v * 10 + (s[k] - '0');
		if (*v > INT32_MAX)
			return -1;
	}
	return 0;
}

int shard_parse(const char *s, int *i, int *n, char *err)
{
	const char *slash = s ? strchr(s, '/') : NULL;
	int64_t vi, vn;
	if (!slash || parse_count(s, (size_t)(slash - s), &vi) || parse_count(slash + 1, strlen(slash + 1), &vn))
		return err_set(err, "'%s': expected I/N, two whole numbers (shard I of N, 0 <= I < N)",
			       s ? err_esc(s) : "");
	if (vn < 1)
		return err_set(err, "'%s': N = 0, expected at least 1 shard", err_esc(s));
	if (vi >= vn)
		return err_set(err, "'%s': shard %" PRId64 " of %" PRId64 ", expected 0 <= I < N (shards 0 to %" PRId64 ")",
			       err_esc(s), vi, vn, vn - 1);
	*i = (int)vi;
	*n = (int)vn;
	return 0;
}

void shard_rows(int64_t rows, int i, int n, int64_t *lo, int64_t *hi)
{
	/* i * rows overflows int64 for rows near 2^53 and i near 2^31 */
	*lo = (int64_t)((__int128)i * rows / n);
	*hi = (int64_t)((__int128)(i + 1) * rows / n);
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

void shard_mark(st_file *f, int i, int n, const char *const *names, const int *axes, int count)
{
	char v[32];
	snprintf(v, sizeof v, "%d/%d", i, n);
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

int shard_check_input(const st_file *f, char *err)
{
	const char *v = st_meta_get(f, "shard");
	if (!v)
		return 0;
	return err_set(err, "metadata `shard` is '%s': the input is one shard of a stage's output; join the shards "
		       "0..N-1 first (tensors cat)", err_esc(v));
}
