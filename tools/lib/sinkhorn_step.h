/* sinkhorn_step.h: the per-entry arithmetic of the batched Sinkhorn
 * iteration (sinkhorn.h), shared by the CPU path (sinkhorn.c's plain loops)
 * and the GPU kernel (sinkhorn_gpu.cu): the over-relaxed scaling update,
 * the marginal error, the rule that hands a slow problem to Newton, and the
 * terms of a finished problem's values.
 *
 * Error rule: nothing here can fail; never exits. */
#ifndef LS_SINKHORN_STEP_H
#define LS_SINKHORN_STEP_H

#include <float.h>
#include <math.h>
#include "hd.h"

/* One entry of u = x / w on the support of x, over-relaxed when omega != 1:
 * u <- u^(1-omega) (x/w)^omega, i.e. f <- f + omega (T(f) - f) for the
 * potential. 0 off the support; *bad set when the value leaves the normal
 * float64 range (the problem then goes to the log domain). */
LS_HD double sk_scale1(double x, double w, double u, double omega, int *bad)
{
	if (!(x > 0))
		return 0;
	if (!(w >= DBL_MIN)) {
		*bad = 1;
		return 0;
	}
	double r = x / w;
	if (omega == 1.5)
		r *= sqrt(r / u);
	else if (omega != 1)
		r *= pow(r / u, omega - 1);
	if (!(r <= 1 / DBL_MIN && r >= DBL_MIN))
		*bad = 1;
	return r;
}

/* |u w - x|: one entry of a marginal's L1 error */
LS_HD double sk_resid1(double u, double w, double x) { return fabs(u * w - x); }

/* Whether a problem at error err, e0 eight iterations ago, goes on with
 * Newton: its rate over those eight predicts more than `after` iterations to
 * tol, or it has taken 8 x after already. A fixed count would send the
 * problems of a fast rate that started far (K = 80: 40 iterations) to Newton,
 * which costs them more than finishing; the rate sends only the slow ones. */
LS_HD int sk_slow(double e0, double err, double tol, int after, int it)
{
	if (it >= 8 * after || !(err < e0))
		return 1;
	return 8 * log(tol / err) / log(err / e0) > after;
}

/* one entry's terms of a finished problem's dual value, x log(u / x), and
 * of its entropy, x log x (0 log 0 = 0) */
LS_HD double sk_dual1(double x, double u) { return x > 0 ? x * log(u / x) : 0; }
LS_HD double sk_xlogx1(double x) { return x > 0 ? x * log(x) : 0; }

#endif
