/* dataset_int.h: what the files of the data set readers share, not for the
 * tools (they include dataset.h). Every reader (dataset_voc.c,
 * dataset_coco.c, dataset_list.c) fills the same table of samples: id,
 * split, listing position, the labels of its objects with a difficult flag,
 * and where its image bytes are; ds_finish (dataset_table.c) turns it into
 * the public ds_dataset. dataset.c dispatches on the spec and reads images.
 *
 * Returns -1/NULL with err (char err[ERR_LEN]); never exits. */
#ifndef LS_DATASET_INT_H
#define LS_DATASET_INT_H

#include <stddef.h>
#include <stdint.h>

#include "dataset.h"
#include "fileio.h"
#include "strmap.h"
#include "zipfile.h"

#define DS_MAX_TEXT_FILE (1ULL << 31)   /* annotation JSON, lists, XML */
/* An image file or archive entry: checked before it is read. Photographs of
 * common cameras are a few MB, the largest a few tens; an archive's entry
 * is kept in memory and copied once more when read (ds_read). */
#define DS_MAX_IMAGE_FILE (64ULL << 20)


typedef struct { int label; int difficult; } ds_obj;

typedef struct {
	char *id;
	int split;
	int64_t index;
	ds_obj *obj;
	int nobj, capobj;
	char *path;     /* image on disk, or NULL */
	blob bytes;     /* image bytes from an archive (p NULL: absent) */
	int zipent;     /* entry in the data set's zip, or -1 */
	int keep;       /* in a requested split; the others only count for the label set */
} ds_sample;

typedef struct {
	ds_sample *s;
	int n, cap;
	char **labels;     /* label names by provisional number */
	int K, caplabels;
	strmap label_of;
	int fixed_labels;  /* 1: names outside `labels` are an error */
	const char *where; /* for the fixed label set's error message */
} ds_table;

/* Where ds_read finds sample i's image: a file, bytes kept from an archive,
 * or an entry of a zip read in place. */
struct ds_priv {
	char **paths;   /* per sample, or NULL */
	blob *bytes;    /* per sample, or NULL */
	int *zipent;    /* per sample: entry of zip, or -1 */
	zip_file *zip;  /* images read in place from a zip, or NULL */
	char *source;   /* for error messages: where the bytes come from */
};

/* realloc of an array of n elements, NULL on overflow or out of memory */
void *ds_realloc_array(void *p, size_t n, size_t size);
/* p (with room for *cap elements) grown to hold n, the room doubled: linear
 * in all, whatever the allocator -- growing by one is quadratic where
 * realloc always copies (AddressSanitizer's). NULL when out of memory (p kept). */
void *ds_grow(void *p, int *cap, int n, size_t size);
/* Names end up in one-line messages and in JSON metadata: 1 when s holds a
 * control character (C0, DEL, or C1 written in UTF-8). */
int ds_has_control(const char *s);
char *ds_trim(char *s);   /* white space cut off both ends, in place */
/* SPLIT_* of "train", "val", "test" or "0", "1", "2" (s[0..l)); -1 for anything else */
int ds_parse_split_name(const char *s, size_t l);

/* A new sample (id copied), NULL when out of memory. */
ds_sample *ds_table_add(ds_table *t, const char *id, int split, int64_t index, int keep);
/* The column of a label name, added when the label set is open; -1 with err. */
int ds_table_label(ds_table *t, const char *name, char *err);
int ds_sample_add_obj(ds_sample *s, int label, int difficult);   /* -1: out of memory */
/* Fixes the label set, in this order, from a comma- or newline-separated list of names. */
int ds_table_set_labels(ds_table *t, const char *text, const char *where, char *err);
void ds_table_free(ds_table *t);
/* Consumes t and zip (which may be NULL): the samples to keep become the data
 * set; a label is present where any object has it, ignored where all of them
 * are difficult (VOC's convention). An open label set is sorted by name. */
ds_dataset *ds_finish(ds_table *t, zip_file *zip, const char *source, char *err);

/* The readers: the spec after "voc:", "coco:", "list:"; mask: SPLIT_* bits to keep */
/* year: 2007 or 2012, or 0 for the only year there is; voc0712: both, as the 07+12 protocol */
ds_dataset *ds_open_voc(const char *paths, int year, int mask, int asked, char *err);
ds_dataset *ds_open_voc0712(const char *paths, int mask, int asked, char *err);
ds_dataset *ds_open_coco(const char *spec, int mask, char *err);
ds_dataset *ds_open_list(const char *file, int mask, char *err);

#endif
