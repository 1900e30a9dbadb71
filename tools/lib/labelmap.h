/* labelmap.h: does a model's head speak the data set's labels, in which
 * order (docs/models.md, "Labels").
 *
 * A head's column k means the k-th name of the model's `labels` metadata;
 * the data set has its own order (VOC's 20 in the standard order, COCO's
 * alphabetical, a list's #labels). Comparing the two names gives one of:
 * the same order; the same set in another order (perm[j] is then the
 * head column of data set label j, so that logits can be reordered);
 * different sets (the head cannot be used); or no names in the model.
 * Pure functions: nothing allocates, prints or exits. */
#ifndef LS_LABELMAP_H
#define LS_LABELMAP_H

#include <stddef.h>

typedef enum {
	LABELS_SAME,        /* same names, same order */
	LABELS_REORDERED,   /* same names, another order: perm filled */
	LABELS_DIFFERENT,   /* other names or another count */
	LABELS_UNKNOWN,     /* the model names none (model == NULL) */
} labelmap_match;

/* model[km] (may be NULL), data[kd]; perm: room for kd ints. The names of a
 * side are assumed distinct (both readers refuse duplicates); a duplicate
 * in the model makes the sets DIFFERENT. */
labelmap_match labelmap_compare(char *const *model, int km, char *const *data, int kd, int *perm);

/* For DIFFERENT: "2 of the model's labels are not the data set's ('x', 'y');
 * 1 of the data set's is not the model's ('z')" into buf. */
const char *labelmap_describe(char *const *model, int km, char *const *data, int kd, char *buf, size_t n);

#endif
