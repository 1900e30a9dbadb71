/* probe_step.h: the arithmetic of probe training entry by entry (probe.h),
 * shared by the CPU path (probe.c) and the GPU kernels (probe_gpu.cu): the
 * loss and its gradient at one logit, torch's SGD on one parameter, and the
 * early-stopping rule.
 *
 * Error rule: nothing here can fail; never exits. */
#ifndef LS_PROBE_STEP_H
#define LS_PROBE_STEP_H

#include <math.h>
#include "hd.h"

/* the probe's output: probe_predict, the snapshots */
LS_HD float probe_sigmoid(float z)
{
	return 1.0f / (1.0f + expf(-z));
}

/* BCEWithLogits of one entry, in torch's stable form, in double: the
 * reported val loss and the plain reference */
LS_HD double probe_bce(float z, float y)
{
	return (double)fmaxf(z, 0.0f) - (double)z * y + log1p(exp(-fabs((double)z)));
}

/* The same in float and sigmoid(z), from one expf: the loss of every batch
 * is reported, and a double exp and log1p per entry cost a quarter of a step. */
LS_HD float probe_bce_sigmoid(float z, float y, float *sig)
{
	float e = expf(-fabsf(z)), inv = 1.0f / (1.0f + e);
	*sig = z >= 0 ? inv : e * inv;
	return fmaxf(z, 0.0f) - z * y + log1pf(e);
}

/* torch.optim.SGD on one parameter w with momentum buffer v and gradient g:
 * weight decay first, then momentum (v starts at 0), in torch's order */
LS_HD void probe_sgd1(float *w, float *v, float g, float lr, float m, float wd)
{
	float dp = g + wd * *w;
	*v = m * *v + dp;
	*w -= lr * *v;
}

/* Early stopping on the val loss: after epoch e (0-based) with val loss vl,
 * returns 1 when these weights are the best so far (the caller keeps a
 * copy), else 0 and sets *stop once `patience` epochs passed without one. */
typedef struct {
	double best;
	int since;
} probe_stopper;

LS_HD int probe_stop_update(probe_stopper *st, double vl, int e, int patience, int *stop)
{
	*stop = 0;
	if (e == 0 || vl < st->best) {
		st->best = vl;
		st->since = 0;
		return 1;
	}
	*stop = ++st->since >= patience;
	return 0;
}

#endif
