/* study.h: the one loader of the study tools (early-exit, classify-samples,
 * plot) for probabilities and distances files, checked once: prob [L,N,K],
 * labels and ignore [N,K], split [N], the layer names, the per-sample
 * distances. Error rule: EXITS (cli_die, one line naming the file; standard
 * input is named "standard input") on bad input. */
#ifndef LS_STUDY_H
#define LS_STUDY_H

#include <stdint.h>
#include "st.h"
#include "metrics.h"
#include "names.h"

typedef struct {
	const char *fname;
	st_file *f;
	int L, K;
	int64_t N;
	float *prob;             /* [L,N,K], values in [0,1] */
	uint8_t *labels;         /* [N,K] 0/1 */
	uint8_t *ignore;         /* [N,K] or NULL */
	uint8_t *split;          /* [N] 0 train, 1 val, 2 test; NULL when absent */
	char **layers;           /* metadata `layers` when it has L names, else NULL */
	char **label_names;      /* metadata `labels` when it has K names, else NULL */
} study;

/* Loads path ("-" = stdin); prob when present, or dies when need_prob and it is not (else L = 0). */
void study_load(study *s, const char *path, int need_prob);
/* study_load without the tensors prob_epochs and feat.*, neither read nor
 * held: for the tools that never use them (early-exit, the prob file of
 * study_load_with_prob). At COCO's size, every layer snapshotted, the
 * snapshots are nine tenths of a prob.st (docs/scale.md). */
void study_load_lean(study *s, const char *path, int need_prob);
/* study_load of path without needing prob; when path has none, prob (and its
 * layer names, if path has none) come from prob_path, whose N and K must
 * match path's labels. Dies when neither has prob. */
void study_load_with_prob(study *s, const char *path, const char *prob_path);
void study_free(study *s);

/* "train", "val", "test" -> SPLIT_TRAIN, ...; "all" -> -1; dies (usage) otherwise. */
int study_split_id(const char *name);
/* Rows of one split (-1 = every row), malloc'ed; *n their count. Without a
 * split tensor every row belongs to every split. */
int64_t *study_rows(const study *s, int split, int64_t *n);
/* The layer's scores for metrics.h. */
mt_layer study_layer(const study *s, int l);
/* The layer's name, or "layer NN". */
const char *study_layer_name(const study *s, int l, char buf[32]);
/* A per-layer, per-sample tensor NAME [L,N] (wdist, cheb, ...): finite or NaN
 * (a sample without labels under sinkhorn --skip-empty). Sets *L; when prob
 * was loaded its L must agree, else s->L and s->layers are taken from it. */
float *study_profile(study *s, const char *name, int *L);
/* numpy's default (linear) quantile of v[0..n-1], q in [0,1]; sorts v. NaN when n = 0. */
double study_quantile(double *v, int64_t n, double q);
/* A [N,K] or [N] 0/1 tensor as u8 (U8, BOOL or any integer/float dtype holding 0/1). */
uint8_t *study_u8(const st_tensor *t, const char *fname);

#endif
