/* The C interface of shard.h: the I/N parser's rule, the blocks of rows
 * (cover every row once, in order, sizes within one group; no overflow near
 * 2^53 rows and SHARD_MAX shards), the cut along an axis, the ids, the metadata. */
#include <stdlib.h>
#include <string.h>
#include "shard.h"
#include "tap.h"

static void parse(void)
{
	const char *good[] = {"0/1", "2/3", "7/8", "0/10", "999999999/1000000000"};
	const int gi[] = {0, 2, 7, 0, 999999999}, gn[] = {1, 3, 8, 10, 1000000000};
	char err[ERR_LEN];
	for (int k = 0; k < 5; k++) {
		shard_spec s = {-1, -1};
		ok(shard_parse(good[k], &s, err) == 0 && s.i == gi[k] && s.n == gn[k], "'%s' is shard %d of %d", good[k],
		   gi[k], gn[k]);
	}
	const char *bad[] = {"", "/", "1", "1/", "/2", "2/2", "3/2", "0/0", "-1/2", "+1/2", "1/+2", " 1/2", "1/2 ",
			     "1//2", "1/2/3", "1.0/2", "0x1/2", "007/8", "1/08", "00/1", "1/1000000001",
			     "1000000000/1000000001", "1/99999999999999999999", "a/b"};
	for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
		shard_spec s = {5, 5};
		err[0] = 0;
		ok(shard_parse(bad[k], &s, err) == -1 && err[0] && !strchr(err, '\n') && s.i == 5 && s.n == 5,
		   "'%s' refused, outputs untouched: %s", bad[k], err);
	}
}

/* shards 0..n-1 over rows: contiguous from 0 to rows, sizes within one */
static int covers(int64_t rows, int n)
{
	int64_t at = 0, lo, count, small = rows / n;
	for (int i = 0; i < n; i++) {
		shard_rows((shard_spec){i, n}, rows, 1, &lo, &count);
		if (lo != at || count < small || count > small + 1)
			return 0;
		at = lo + count;
	}
	return at == rows;
}

static void rows(void)
{
	int good = 1;
	for (int64_t r = 0; r <= 40; r++)
		for (int n = 1; n <= 45; n++)
			good &= covers(r, n);
	ok(good, "blocks cover rows 0..R-1 in order, sizes within one, for R = 0..40, N = 1..45");
	int64_t lo, count;
	shard_rows((shard_spec){0, 9}, 7, 1, &lo, &count);
	ok(lo == 0 && count == 0, "N > R: shard 0 of 9 over 7 rows is empty");
	int64_t big = (int64_t)1 << 53;
	shard_rows((shard_spec){SHARD_MAX - 1, SHARD_MAX}, big, 1, &lo, &count);
	ok(lo + count == big && lo == big - big / SHARD_MAX - 1, "2^53 rows, the last of SHARD_MAX shards: no overflow (%lld..%lld)",
	   (long long)lo, (long long)(lo + count));
	shard_rows((shard_spec){1, 3}, 10, 4, &lo, &count);
	ok(lo == 4 && count == 4, "groups of 4 rows: shard 1 of 3 over 10 rows is the second group, rows 4..7");
	shard_rows((shard_spec){2, 3}, 10, 4, &lo, &count);
	ok(lo == 8 && count == 2, "... shard 2 of 3 the last, short group, rows 8..9");
}

static void cut(void)
{
	char err[ERR_LEN];
	int16_t *x = malloc(2 * 5 * 3 * sizeof *x);
	for (int k = 0; k < 30; k++)
		x[k] = (int16_t)k;
	st_file *f = st_file_new();
	st_tensor *t = st_add(f, "w", ST_I16, 3, (const int64_t[]){2, 5, 3}, x, 1);
	ok(shard_cut(t, 1, 1, 3, err) == 0 && t->shape[0] == 2 && t->shape[1] == 2 && t->shape[2] == 3,
	   "cut [2,5,3] to rows 1..2 along axis 1: [2,2,3]");
	const int16_t want[] = {3, 4, 5, 6, 7, 8, 18, 19, 20, 21, 22, 23};
	ok(memcmp(t->data, want, sizeof want) == 0, "... the values of those rows in each outer block");
	ok(shard_cut(t, 0, 1, 1, err) == 0 && t->shape[0] == 0, "a cut to no rows");
	ok(shard_cut(t, 1, 0, 3, err) == -1 && strstr(err, "'w'"), "rows beyond the shape refused: %s", err);
	ok(shard_cut(t, 3, 0, 0, err) == -1, "an axis beyond the dims refused");

	char *ids[] = {"a", "b", "c", "d"};
	st_meta_set_list(f, "ids", ids, 4);
	int cut_ok = shard_cut_ids(f, 4, 1, 3, err) == 0;
	ok(cut_ok && strcmp(st_meta_get(f, "ids"), "[\"b\",\"c\"]") == 0, "ids cut to items 1..2: %s",
	   st_meta_get(f, "ids"));
	ok(shard_cut_ids(f, 4, 0, 1, err) == -1 && strstr(err, "`ids`"), "ids of another length refused: %s", err);
	st_meta_set(f, "ids", "{\"not\":\"a list\"}");
	ok(shard_cut_ids(f, 4, 0, 1, err) == -1, "ids that are no list refused");
	st_meta_del(f, "ids");
	ok(shard_cut_ids(f, 4, 0, 1, err) == 0 && !st_meta_get(f, "ids"), "no ids: nothing to cut");

	const char *names[] = {"labels", "wdist", "we\"ird"};
	shard_mark(f, (shard_spec){2, 5}, names, (const int[]){0, 1, 2}, 3);
	ok(strcmp(st_meta_get(f, "shard"), "2/5") == 0, "shard = \"2/5\"");
	ok(strcmp(st_meta_get(f, "shard_axis"), "{\"wdist\":1,\"we\\\"ird\":2}") == 0,
	   "shard_axis lists the axes that are not 0, as JSON: %s", st_meta_get(f, "shard_axis"));
	ok(shard_check_input(f, err) == -1 && strstr(err, "'2/5'"), "a shard as input refused: %s", err);
	st_file *g = st_file_new();
	ok(shard_check_input(g, err) == 0, "an input without `shard` passes");
	st_meta_set(g, "shard_axis", "{\"stale\":1}");
	shard_mark(g, (shard_spec){0, 1}, names, (const int[]){0, 0, 0}, 3);
	ok(strcmp(st_meta_get(g, "shard"), "0/1") == 0 && !st_meta_get(g, "shard_axis"),
	   "every axis 0: no shard_axis, a forwarded one removed");
	st_file_free(f);
	st_file_free(g);
}

int main(void)
{
	parse();
	rows();
	cut();
	return tap_done();
}
