/* shard.h: block I of N of a sequence of rows, the unit of work split across
 * machines (extract-feats --shard I/N; the metadata `shard` that tensors cat
 * checks). The rows are cut in whole groups of `unit` rows (extract-feats: its
 * batches, so that every shard makes the very calls, on the very rows, that the
 * run without --shard makes, and computes the same bits): of the U =
 * ceil(n/unit) groups block I holds groups floor(I*U/N) to floor((I+1)*U/N) - 1.
 * Blocks 0..N-1 cover every row once, in order, and differ by at most one group;
 * when N > U some blocks are empty.
 *
 * Error rule: returns -1 with err (err.h); never exits. */
#ifndef LS_SHARD_H
#define LS_SHARD_H

#include <stddef.h>
#include <stdint.h>

/* The largest N accepted: a shard per row of the largest data set a tool reads. */
#define SHARD_MAX 1000000000

typedef struct { int64_t i, n; } shard_spec;

/* "I/N": two decimal numbers without sign, spaces or leading zeros, 0 <= I < N,
 * N <= SHARD_MAX. err does not repeat s's option or key: the caller names it. */
int shard_parse(const char *s, shard_spec *out, char *err);
/* Block s of rows 0..rows-1 in groups of unit (>= 1) rows: its first row and how
 * many rows it has (0 or more). */
void shard_rows(shard_spec s, int64_t rows, int64_t unit, int64_t *first, int64_t *count);
/* "I/N" into buf (24 bytes hold any). */
void shard_format(shard_spec s, char *buf, size_t len);

#endif
