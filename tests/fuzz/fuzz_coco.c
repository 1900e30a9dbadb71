/* fuzz_coco.c: libFuzzer target for the COCO reader (dataset_coco.c through
 * ds_open; make fuzz).
 *
 * Each input is an instances JSON, on a memfd, with an empty image folder:
 * coco:DIR,FILE,val. When ds_open refuses it: one line. When it accepts:
 *  - K >= 1 label names, each valid UTF-8 without a control character,
 *    unique and sorted (COCO's label set is sorted by name);
 *  - n >= 1 samples, ids valid UTF-8 without a control character, never
 *    leaving the folder (no "..", no leading '/');
 *  - labels 0/1, ignore all 0 (COCO has no "difficult"), every split val,
 *    indices strictly increasing, n_unannotated the count of empty rows;
 *  - asking for the test split only finds no sample (refused), and the
 *    same input read again gives the same data set;
 *  - ds_read of a sample (no such file) refuses in one line naming it. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "dataset.h"
#include "err.h"
#include "util.h"
#define FUZZ_TARGET "fuzz_coco"
#include "fuzz.h"

static char folder[64];

static void remove_folder(void)
{
	rmdir(folder);
}

static int clean_name(const char *s)
{
	return fuzz_one_line(s) && util_utf8_valid(s, strlen(s), NULL);
}

static uint64_t digest(const ds_dataset *d)
{
	uint64_t h = util_fnv1a(UTIL_FNV1A_INIT, &d->n, sizeof d->n);
	h = util_fnv1a(h, &d->K, sizeof d->K);
	for (int k = 0; k < d->K; k++)
		h = util_fnv1a(h, d->label_names[k], strlen(d->label_names[k]) + 1);
	for (int i = 0; i < d->n; i++)
		h = util_fnv1a(h, d->ids[i], strlen(d->ids[i]) + 1);
	h = util_fnv1a(h, d->labels, (size_t)d->n * d->K);
	return util_fnv1a(h, d->index, sizeof *d->index * (size_t)d->n);
}

static void check_dataset(const ds_dataset *d)
{
	check(d->n >= 1 && d->K >= 1, "accepted without samples or labels");
	for (int k = 0; k < d->K; k++) {
		check(clean_name(d->label_names[k]), "a label name with a control character or not UTF-8");
		check(k == 0 || strcmp(d->label_names[k - 1], d->label_names[k]) < 0, "labels not unique and sorted");
	}
	int empty = 0;
	for (int i = 0; i < d->n; i++) {
		const char *id = d->ids[i];
		check(clean_name(id), "an id with a control character or not UTF-8");
		check(id[0] != '/' && !strstr(id, ".."), "an id leaving the image folder");
		check(d->split[i] == SPLIT_VAL, "a sample outside the split asked for");
		check(i == 0 || d->index[i] > d->index[i - 1], "indices not increasing");
		int any = 0;
		for (int k = 0; k < d->K; k++) {
			uint8_t l = d->labels[(size_t)i * d->K + k], g = d->ignore[(size_t)i * d->K + k];
			check(l <= 1 && g == 0, "a label not 0/1, or an ignore flag in COCO");
			any |= l;
		}
		empty += !any;
	}
	check(empty == d->n_unannotated, "n_unannotated is not the count of empty rows");
	char err[ERR_LEN];
	size_t len;
	uint8_t *p = ds_read((ds_dataset *)d, 0, &len, err);
	check(!p, "read an image from an empty folder");
	check(err[0] && fuzz_one_line(err), "a read's refusal is not one line");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!folder[0]) {
		snprintf(folder, sizeof folder, "/tmp/fuzz_coco.XXXXXX");
		check(mkdtemp(folder) != NULL, "mkdtemp");
		atexit(remove_folder);
	}
	char spec[256], err[ERR_LEN] = "";
	snprintf(spec, sizeof spec, "coco:%s,%s,val", folder, fuzz_file(data, size));
	ds_dataset *d = ds_open(spec, NULL, err);
	if (!d) {
		check(err[0] && fuzz_one_line(err), "a refusal is not one line");
		return 0;
	}
	check_dataset(d);
	ds_dataset *again = ds_open(spec, NULL, err);
	check(again && digest(again) == digest(d), "the same input read twice differs");
	ds_free(again);
	ds_dataset *test = ds_open(spec, "test", err);
	check(!test, "samples of another split");
	check(err[0] && fuzz_one_line(err), "a refusal is not one line");
	ds_free(d);
	return 0;
}
