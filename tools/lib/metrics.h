/* metrics.h: multi-label scores, layer-wise correctness and the early-exit
 * rule (contract section 8; docs/early-exit.md).
 *
 * Every function works on one layer's probabilities p[N,K] (row-major) and
 * the targets labels[N,K], with optional ignore[N,K] (1 = leave the entry out
 * of every score, VOC "difficult") and an optional row subset rows[n]
 * (NULL = rows 0..n-1). A label is predicted present when p >= thr (0.5).
 * Nothing here allocates more than O(N).
 *
 * Error rule: returns -1 when memory runs out; never exits or prints. */
#ifndef LS_METRICS_H
#define LS_METRICS_H

#include <stdint.h>

#define METRICS_THRESHOLD 0.5f
/* n/N >= gamma is tested as n >= gamma*N - METRICS_GAMMA_SLACK */
#define METRICS_GAMMA_SLACK 1e-9

enum { MT_ACC, MT_CP, MT_CR, MT_CF1, MT_MACROF1, MT_OP, MT_OR, MT_OF1, MT_MAP, MT_NSCORES };
extern const char *const metrics_names[MT_NSCORES]; /* "accuracy", "CP", ... as in the TSV */

typedef struct {
	const float *p;          /* [N,K] scores of the layer */
	const uint8_t *labels;   /* [N,K] */
	const uint8_t *ignore;   /* [N,K] or NULL */
	int K;
} mt_layer;

/* All nine scores (fractions), over rows (or 0..n-1 when rows is NULL).
 * Subset accuracy compares the non-ignored entries only. CP/CR/macro-F1
 * average over all K classes; a class with no predicted (CP) or no true (CR)
 * positive, or neither (F1), counts 0, as scikit-learn's zero_division=0.
 * mAP averages the non-interpolated AP (scikit-learn's
 * average_precision_score, ties grouped) over classes with >= 1 positive;
 * NaN when no class has one. Scores are NaN when n == 0.
 * Returns 0, or -1 when memory runs out. */
int metrics_compute(const mt_layer *m, const int64_t *rows, int64_t n, float thr,
		    double out[MT_NSCORES]);

/* Average precision of one class over rows, ties grouped like scikit-learn.
 * idx is scratch of n entries. NaN when the class has no positive. */
double metrics_ap(const mt_layer *m, int k, const int64_t *rows, int64_t n, int64_t *idx);

/* 1 when row i's predicted set equals its label set (ignored entries skipped). */
int metrics_row_correct(const mt_layer *m, int64_t i, float thr);
/* 1 when rows i of a and b predict the same label set. */
int metrics_same_prediction(const float *pa, const float *pb, int K, float thr);

/* The exit rule of appendix H on one row of K probabilities, with the
 * paper's strict "exceeding": N = #{p > 0.5}, n = #{p > q}, p compared in
 * double; exit when N >= 1 and n/N >= gamma, tested as n >= gamma*N - 1e-9
 * so that grid values such as 0.55 are not lost to rounding. */
int metrics_exit_rule(const float *p, int K, double q, double gamma);

/* Prediction depth of sample i over L layers of prob [L,N,K]: the first layer
 * from which every later layer predicts the same set as the last one. */
int metrics_prediction_depth(const float *prob, int L, int64_t N, int K, int64_t i, float thr);

#endif
