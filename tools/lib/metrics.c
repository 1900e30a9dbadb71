/* metrics.c: multi-label scores (see metrics.h). Counts in int64, sums in
 * double, so the scores agree with scikit-learn to rounding. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "metrics.h"

const char *const metrics_names[MT_NSCORES] = {
	"accuracy", "CP", "CR", "CF1", "macroF1", "OP", "OR", "OF1", "mAP"
};

static int64_t row_at(const int64_t *rows, int64_t j) { return rows ? rows[j] : j; }

static int ignored(const mt_layer *m, int64_t i, int k)
{
	return m->ignore && m->ignore[i * m->K + k];
}

int metrics_row_correct(const mt_layer *m, int64_t i, float thr)
{
	const float *p = m->p + i * m->K;
	const uint8_t *y = m->labels + i * m->K;
	for (int k = 0; k < m->K; k++)
		if (!ignored(m, i, k) && (p[k] >= thr) != (y[k] != 0))
			return 0;
	return 1;
}

int metrics_same_prediction(const float *pa, const float *pb, int K, float thr)
{
	for (int k = 0; k < K; k++)
		if ((pa[k] >= thr) != (pb[k] >= thr))
			return 0;
	return 1;
}

static double ratio(double a, double b) { return b > 0 ? a / b : 0.0; }
static double harmonic(double a, double b) { return a + b > 0 ? 2 * a * b / (a + b) : 0.0; }

/* score descending; the index breaks ties so the order is deterministic */
static int by_score_desc(const void *a, const void *b, void *ctx)
{
	const float *s = ctx;
	int64_t i = *(const int64_t *)a, j = *(const int64_t *)b;
	if (s[i] != s[j])
		return s[i] > s[j] ? -1 : 1;
	return (i > j) - (i < j);
}

double metrics_ap(const mt_layer *m, int k, const int64_t *rows, int64_t n, int64_t *idx)
{
	int64_t cnt = 0, npos = 0;
	for (int64_t j = 0; j < n; j++) {
		int64_t i = row_at(rows, j);
		if (ignored(m, i, k))
			continue;
		idx[cnt++] = i * m->K + k;   /* flat index into p and labels */
		npos += m->labels[i * m->K + k] != 0;
	}
	if (npos == 0)
		return NAN;
	qsort_r(idx, cnt, sizeof *idx, by_score_desc, (void *)m->p);
	/* sum over distinct thresholds of (recall step) x precision, as sklearn */
	double ap = 0;
	int64_t tp = 0, fp = 0, tp_prev = 0;
	for (int64_t j = 0; j < cnt; j++) {
		if (m->labels[idx[j]])
			tp++;
		else
			fp++;
		if (j + 1 < cnt && m->p[idx[j + 1]] == m->p[idx[j]])
			continue;
		ap += (double)(tp - tp_prev) / npos * ((double)tp / (tp + fp));
		tp_prev = tp;
	}
	return ap;
}

int metrics_compute(const mt_layer *m, const int64_t *rows, int64_t n, float thr,
		    double out[MT_NSCORES])
{
	int K = m->K;
	for (int s = 0; s < MT_NSCORES; s++)
		out[s] = NAN;
	if (n <= 0 || K <= 0)
		return 0;
	int64_t *tp = calloc(3 * (size_t)K, sizeof *tp), *fp = tp + K, *fn = tp + 2 * K;
	int64_t *idx = malloc((size_t)n * sizeof *idx);
	if (!tp || !idx) {
		free(tp);
		free(idx);
		return -1;
	}
	int64_t correct = 0;
	for (int64_t j = 0; j < n; j++) {
		int64_t i = row_at(rows, j);
		correct += metrics_row_correct(m, i, thr);
		for (int k = 0; k < K; k++) {
			if (ignored(m, i, k))
				continue;
			int pred = m->p[i * K + k] >= thr, truth = m->labels[i * K + k] != 0;
			tp[k] += pred && truth;
			fp[k] += pred && !truth;
			fn[k] += !pred && truth;
		}
	}
	double cp = 0, cr = 0, f1 = 0, ap = 0;
	int64_t stp = 0, sfp = 0, sfn = 0;
	int nap = 0;
	for (int k = 0; k < K; k++) {
		cp += ratio(tp[k], tp[k] + fp[k]);
		cr += ratio(tp[k], tp[k] + fn[k]);
		f1 += ratio(2.0 * tp[k], 2.0 * tp[k] + fp[k] + fn[k]);
		stp += tp[k], sfp += fp[k], sfn += fn[k];
		double a = metrics_ap(m, k, rows, n, idx);
		if (!isnan(a))
			ap += a, nap++;
	}
	out[MT_ACC] = (double)correct / n;
	out[MT_CP] = cp / K;
	out[MT_CR] = cr / K;
	out[MT_CF1] = harmonic(out[MT_CP], out[MT_CR]);
	out[MT_MACROF1] = f1 / K;
	out[MT_OP] = ratio(stp, stp + sfp);
	out[MT_OR] = ratio(stp, stp + sfn);
	out[MT_OF1] = harmonic(out[MT_OP], out[MT_OR]);
	out[MT_MAP] = nap ? ap / nap : NAN;
	free(tp);
	free(idx);
	return 0;
}

int metrics_exit_rule(const float *p, int K, double q, double gamma)
{
	int npos = 0, nq = 0;
	for (int k = 0; k < K; k++) {
		npos += (double)p[k] > 0.5;
		nq += (double)p[k] > q;
	}
	return npos >= 1 && nq >= gamma * npos - METRICS_GAMMA_SLACK;
}

int metrics_prediction_depth(const float *prob, int L, int64_t N, int K, int64_t i, float thr)
{
	const float *last = prob + ((int64_t)(L - 1) * N + i) * K;
	int d = L - 1;
	while (d > 0 && metrics_same_prediction(prob + ((int64_t)(d - 1) * N + i) * K, last, K, thr))
		d--;
	return d;
}
