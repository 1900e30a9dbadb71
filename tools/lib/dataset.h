/* dataset.h: multi-label image data sets the way users have them
 * (docs/datasets.md).
 *
 *   voc:PATH[,PATH...]       a VOCdevkit folder (or a VOC2007 folder), or the
 *                            original VOC tar files (VOCtrainval_06-Nov-2007.tar,
 *                            VOCtest_06-Nov-2007.tar), comma-separated
 *   coco:IMAGES,ANNOTATIONS  an image folder or zip, and an instances JSON
 *   list:FILE                TSV: image path <TAB> label,label,... [<TAB> split]
 *
 * Opening parses every annotation. Images come from files, from a COCO zip
 * read in place (one pread per image), or, for other archives (VOC tars),
 * from their encoded bytes kept in memory at open; ds_read is
 * thread-safe in every case.
 *
 * Error rule: returns -1/NULL with err (err.h); never exits. */
#ifndef LS_DATASET_H
#define LS_DATASET_H

#include <stdint.h>
#include <stddef.h>
#include "names.h"
#include "st.h"

typedef struct ds_priv ds_priv;

typedef struct {
	int n, K;
	char **label_names;      /* K names, in column order */
	char **ids;              /* n sample names: VOC image id, COCO file name, list path */
	uint8_t *labels, *ignore; /* [n,K] */
	uint8_t *split;          /* [n]: SPLIT_* */
	int64_t *index;          /* [n]: position in the data set's own listing */
	int n_unannotated;       /* samples without any label (all-zero rows), e.g. COCO
	                          * images without annotations: worth a warning */
	ds_priv *priv;
} ds_dataset;

/* splits: comma-separated names among train, val, test, trainval;
 * NULL or "" = every split the data set has. Returns NULL with err filled. */
ds_dataset *ds_open(const char *spec, const char *splits, char *err);
/* Sample i's encoded image bytes (malloc'ed, caller frees); NULL with err
 * naming the sample on failure. Thread-safe. */
uint8_t *ds_read(ds_dataset *d, int i, size_t *len, char *err);
void ds_free(ds_dataset *d);

#endif
