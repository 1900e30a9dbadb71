/* shard.h: --shard I/N, block I of N contiguous blocks of a stage's rows
 * (issue 14), for the tools that split one stage over a job array.
 *
 * Error rule: returns -1 with err (err.h); never exits.
 *
 * Rows [lo, hi) of shard I of N over R rows: lo = floor(I R / N),
 * hi = floor((I+1) R / N). The blocks cover 0..R-1 in order, each row once;
 * their sizes differ by at most one, and when N > R some are empty (a shard
 * of no rows is still written: the join needs every file 0..N-1).
 *
 * A shard's output carries metadata `shard` = "I/N" (an unsharded output
 * none), and `shard_axis`, a JSON object naming each tensor whose rows are
 * not along axis 0 with the axis they are along (wdist [L,N]: 1); every
 * other tensor is cut along axis 0. Joining shards 0..N-1 in order, each
 * tensor along its axis, and dropping `shard` and `shard_axis` gives the
 * unsharded output. */
#ifndef LS_SHARD_H
#define LS_SHARD_H

#include <stdint.h>
#include "st.h"

/* "I/N": decimal digits only (no sign, space or other character), N >= 1,
 * 0 <= I < N, N at most INT32_MAX. */
int shard_parse(const char *s, int *i, int *n, char *err);

/* rows [*lo, *hi) of shard i of n over rows (0 <= i < n, rows >= 0) */
void shard_rows(int64_t rows, int i, int n, int64_t *lo, int64_t *hi);

/* Keeps rows [lo, hi) of t's loaded data along axis, in a new buffer (the
 * old one is freed), and sets the shape. */
int shard_cut(st_tensor *t, int axis, int64_t lo, int64_t hi, char *err);

/* Keeps items [lo, hi) of metadata `ids` when f has it; -1 when it is not a
 * list of rows names (not a list of strings, or not rows long). */
int shard_cut_ids(st_file *f, int64_t rows, int64_t lo, int64_t hi, char *err);

/* Sets `shard` = "I/N" and `shard_axis` from the count names and axes given
 * (axes that are 0 are left out; none left: no `shard_axis`, and one
 * forwarded from the input is removed). */
void shard_mark(st_file *f, int i, int n, const char *const *names, const int *axes, int count);

/* -1 when f (a stage's input) is a shard, metadata `shard`: its rows are a
 * block of a stage's output, whose shards are to be joined first (a stage
 * run on one would forward a `shard` that no longer describes its output). */
int shard_check_input(const st_file *f, char *err);

#endif
