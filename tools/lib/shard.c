/* shard.c: blocks of rows (shard.h). */
#include "shard.h"

#include <inttypes.h>
#include <stdio.h>
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
	/* rows < 2^31 and n <= 10^9: the products fit in 64 bits */
	int64_t groups = (rows + unit - 1) / unit;
	int64_t a = s.i * groups / s.n * unit, b = (s.i + 1) * groups / s.n * unit;
	*first = a < rows ? a : rows;
	*count = (b < rows ? b : rows) - *first;
}

void shard_format(shard_spec s, char *buf, size_t len)
{
	snprintf(buf, len, "%" PRId64 "/%" PRId64, s.i, s.n);
}
