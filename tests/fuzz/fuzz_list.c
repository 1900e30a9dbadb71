/* fuzz_list.c: libFuzzer target for the TSV image list reader
 * (dataset_list.c through ds_open; make fuzz).
 *
 * Each input is a list file, on a memfd: list:FILE. No image is read (a
 * list names any path). When ds_open refuses it: one line. When it accepts:
 *  - K >= 1 label names, each valid UTF-8 without a control character,
 *    unique; sorted unless a #labels line fixed their order;
 *  - n >= 1 samples, ids (the paths as written) valid UTF-8 without a
 *    control character, splits 0 to 2, indices strictly increasing,
 *    labels 0/1, ignore all 0, n_unannotated the count of empty rows;
 *  - each split alone (train, val, test) gives the same labels and exactly
 *    the rows of that split, in order (or is refused when it has none). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "dataset.h"
#include "err.h"
#include "util.h"
#define FUZZ_TARGET "fuzz_list"
#include "fuzz.h"

static int clean_name(const char *s)
{
	return fuzz_one_line(s) && util_utf8_valid(s, strlen(s), NULL);
}

static void check_dataset(const ds_dataset *d, int fixed)
{
	check(d->n >= 1 && d->K >= 1, "accepted without samples or labels");
	for (int k = 0; k < d->K; k++) {
		check(clean_name(d->label_names[k]), "a label name with a control character or not UTF-8");
		for (int j = 0; j < k; j++)
			check(strcmp(d->label_names[j], d->label_names[k]) != 0, "a label name twice");
		check(fixed || k == 0 || strcmp(d->label_names[k - 1], d->label_names[k]) < 0, "open labels not sorted");
	}
	int empty = 0;
	for (int i = 0; i < d->n; i++) {
		check(clean_name(d->ids[i]) && d->ids[i][0], "an empty id, or one with a control character or not UTF-8");
		check(d->split[i] <= SPLIT_TEST, "a split out of range");
		check(i == 0 || d->index[i] > d->index[i - 1], "indices not increasing");
		int any = 0;
		for (int k = 0; k < d->K; k++) {
			uint8_t l = d->labels[(size_t)i * d->K + k];
			check(l <= 1 && d->ignore[(size_t)i * d->K + k] == 0, "a label not 0/1, or an ignore flag");
			any |= l;
		}
		empty += !any;
	}
	check(empty == d->n_unannotated, "n_unannotated is not the count of empty rows");
}

/* The data set of one split: d's rows of that split, with d's labels. */
static void check_split(const ds_dataset *d, const char *spec, const char *name, int split)
{
	char err[ERR_LEN] = "";
	ds_dataset *s = ds_open(spec, name, err);
	int rows = 0;
	for (int i = 0; i < d->n; i++)
		rows += d->split[i] == split;
	if (!s) {
		check(rows == 0 && err[0] && fuzz_one_line(err), "a split with rows refused, or a refusal not one line");
		return;
	}
	check(s->K == d->K && s->n == rows, "a split alone changes the labels or the row count");
	for (int k = 0; k < d->K; k++)
		check(!strcmp(s->label_names[k], d->label_names[k]), "a split alone renames the labels");
	for (int i = 0, j = 0; i < d->n; i++) {
		if (d->split[i] != split)
			continue;
		check(!strcmp(s->ids[j], d->ids[i]) && s->index[j] == d->index[i] &&
		      !memcmp(s->labels + (size_t)j * d->K, d->labels + (size_t)i * d->K, (size_t)d->K),
		      "a split alone changes a row");
		j++;
	}
	ds_free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char spec[128], err[ERR_LEN] = "";
	snprintf(spec, sizeof spec, "list:%s", fuzz_file(data, size));
	ds_dataset *d = ds_open(spec, NULL, err);
	if (!d) {
		check(err[0] && fuzz_one_line(err), "a refusal is not one line");
		return 0;
	}
	/* an accepted list with a "#labels" line (then before every image) has its order fixed */
	int fixed = 0;
	for (const char *p = (const char *)data, *end = p + size; p && p < end && !fixed;) {
		fixed = end - p >= 8 && !memcmp(p, "#labels", 7) && memchr(" \t:=", p[7], 4) && p[7];
		p = memchr(p, '\n', (size_t)(end - p));
		p = p ? p + 1 : NULL;
	}
	check_dataset(d, fixed);
	check_split(d, spec, "train", SPLIT_TRAIN);
	check_split(d, spec, "val", SPLIT_VAL);
	check_split(d, spec, "test", SPLIT_TEST);
	ds_free(d);
	return 0;
}
