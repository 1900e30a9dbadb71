/* shard.h: --shard I/N, block I of N of a stage's rows, the unit of work
 * split across machines (issue 14): extract-feats, sinkhorn and
 * classify-samples take it, tensors cat joins and checks the shards.
 *
 * Error rule: returns -1 with err (err.h); never exits, except for running
 * out of memory in shard_mark, which aborts as st.h's builders do.
 *
 * Blocks: the rows are cut in whole groups of `unit` rows (extract-feats: its
 * batches, so that every shard makes the very calls, on the very rows, that
 * the run without --shard makes; 1 elsewhere). Of the U = ceil(rows/unit)
 * groups block I holds groups floor(I*U/N) to floor((I+1)*U/N) - 1. Blocks
 * 0..N-1 cover every row once, in order, and differ by at most one group;
 * when N > U some are empty (a shard of no rows is still written: the join
 * needs every file 0..N-1).
 *
 * Metadata: a shard's output carries `shard` = "I/N" (an unsharded output
 * none) and, when some tensor's rows are not along axis 0, `shard_axis`, a
 * JSON object naming each such tensor with the axis its rows are along
 * (sinkhorn's wdist [L,S]: 1). Joining shards 0..N-1 in order, each tensor
 * along its axis, `ids` joined, and dropping `shard` and `shard_axis` gives
 * the unsharded output (tensors cat). */
#ifndef LS_SHARD_H
#define LS_SHARD_H

#include <stddef.h>
#include <stdint.h>
#include "st.h"

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

/* Keeps rows [lo, hi) of t's loaded data along axis, in a new buffer (the
 * old one is freed), and sets the shape. */
int shard_cut(st_tensor *t, int axis, int64_t lo, int64_t hi, char *err);
/* Keeps items [lo, hi) of metadata `ids` when f has it; -1 when it is not a
 * list of `rows` strings. */
int shard_cut_ids(st_file *f, int64_t rows, int64_t lo, int64_t hi, char *err);
/* Sets `shard` = "I/N" and `shard_axis` from the count names and axes given
 * (axes that are 0 are left out; none left: no `shard_axis`, and a forwarded
 * one is removed). */
void shard_mark(st_file *f, shard_spec s, const char *const *names, const int *axes, int count);
/* The axis tensor `name` of shard f is joined along: its entry in
 * `shard_axis`, else 0. -1 with err when `shard_axis` is not a JSON object of
 * whole numbers from 0 to ST_MAX_DIMS - 1. */
int shard_axis_of(const st_file *f, const char *name, int *axis, char *err);
/* -1 when f, a stage's input, is a shard (metadata `shard`): its rows are a
 * block of another stage's output, whose shards are to be joined first (a
 * stage run on one would forward a `shard` that no longer describes its
 * output). */
int shard_check_input(const st_file *f, char *err);

#endif
