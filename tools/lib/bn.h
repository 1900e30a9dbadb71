/* bn.h: the BatchNorm layers of a model's state dict, and the 2-Wasserstein
 * distance between their Gaussian laws at two checkpoints (docs/bn-drift.md).
 *
 * A BatchNorm layer with C channels is taken, channel by channel, as the law
 * N(beta_c, gamma_c^2) of its output (the affine parameters), and as
 * N(mu_c, var_c) from its running statistics when present. The channels are
 * independent, so each law is a Gaussian with a diagonal covariance, and
 * Gelbrich's formula
 *   W2^2(N(m1,S1), N(m2,S2)) = |m1-m2|^2 + tr(S1 + S2 - 2 (S2^1/2 S1 S2^1/2)^1/2)
 * reduces, for commuting (diagonal) covariances, to
 *   W2^2 = sum_c (m1_c - m2_c)^2 + (s1_c - s2_c)^2,  s = standard deviation
 * (s = |gamma| for the affine law: the sign of gamma does not change it).
 *
 * Error rule: returns -1 with err (err.h); never exits. */
#ifndef LS_BN_H
#define LS_BN_H

#include <stdint.h>
#include "err.h"
#include "st.h"

typedef struct {
	char *name;           /* the module: "layer1.0.bn1", "features.1" */
	char *stage;          /* its stage: "bn1", "layer1", ...; VGG "block1", ... */
	int64_t channels;
	double *beta, *scale; /* the affine law: beta and |gamma| [channels] */
	double *mean, *var;   /* the running statistics [channels]; NULL when absent */
} bn_layer;

typedef struct {
	bn_layer *l;
	int n;
	st_dtype dtype;       /* the coarsest floating dtype of the layers' tensors */
} bn_model;

/* The BatchNorm layers of a state dict, in the file's order: every module P
 * with a 1-D P.weight (gamma) and P.bias (beta) of one length C, or with
 * P.running_mean and P.running_var (then without weight and bias: gamma 1,
 * beta 0); running statistics, when present, of length C as well. Every value
 * must be finite, every running variance >= 0. fname names the file in
 * messages. A model without BatchNorm gives n = 0. */
int bn_find(const st_file *f, const char *fname, bn_model *m, char *err);
void bn_free(bn_model *m);

/* Rounds every value to the precision of dtype F16 or BF16 (F32: to float;
 * F64: nothing), so that checkpoints stored at different precisions are
 * compared at the coarsest: an F16 copy of a state is then at distance 0
 * from its F32 original. */
void bn_round(bn_model *m, st_dtype dtype);
/* The coarser of two floating dtypes (fewer significand bits). */
st_dtype bn_coarser(st_dtype a, st_dtype b);

/* The same layers (names, channels, running statistics or not) in b as in a. */
int bn_match(const bn_model *a, const char *aname, const bn_model *b, const char *bname, char *err);

/* sqrt(sum_c (m1_c - m2_c)^2 + (s1_c - s2_c)^2) over c channels; s are
 * standard deviations (>= 0). */
double bn_w2_diag(const double *m1, const double *s1, const double *m2, const double *s2, int64_t c);
/* W2 between the affine laws N(beta, gamma^2) of one layer at two checkpoints */
double bn_w2_affine(const bn_layer *a, const bn_layer *b);
/* W2 between the running-statistics laws N(mean, var) (standard deviations
 * sqrt(var)); NaN without them */
double bn_w2_running(const bn_layer *a, const bn_layer *b);

#endif
