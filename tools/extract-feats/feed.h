/* feed.h: batches of preprocessed images for extract-feats, decoded by a pool
 * of threads while the network computes the previous batch.
 *
 * Error rule: EXITS (cli_die) when a thread cannot start or an image is bad
 * (unless skip_bad, which counts it). */
#ifndef EXTRACT_FEATS_FEED_H
#define EXTRACT_FEATS_FEED_H

#include "dataset.h"
#include "image.h"

typedef struct feed feed;

/* Samples first..first+n-1 of d (first + n <= d->n; n may be 0), in order, batch
 * at a time; threads decoders. */
feed *feed_start(ds_dataset *d, int first, int n, const img_prep *prep, int batch, int threads, int skip_bad);
/* The next batch: *images [*nb][3][crop][crop], *rows the dataset rows they
 * are (bad images left out under skip_bad, so *nb may be 0; without it a bad
 * image is fatal). The pointers stay valid until the next call.
 * Returns 1, or 0 after the last batch. */
int feed_next(feed *f, const float **images, const int **rows, int *nb);
int feed_skipped(const feed *f);
void feed_stop(feed *f);

#endif
