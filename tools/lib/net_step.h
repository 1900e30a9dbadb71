/* net_step.h: the per-element arithmetic of the network's layers, shared by
 * the CPU path (net.c) and the GPU kernels (net_gpu.cu): a convolution's
 * epilogue, the windows of max pooling and of torch's adaptive pooling.
 *
 * Error rule: nothing here can fail; never exits. */
#ifndef LS_NET_STEP_H
#define LS_NET_STEP_H

#include <stdint.h>
#include "hd.h"
#include "net.h"

/* a convolution's output from its sum: relu?((acc + res) + bias), with
 * res = 0 when there is no residual; NaN stays NaN, as torch's relu */
LS_HD float net_epilogue(float acc, float bias, float res, int relu)
{
	float v = (acc + res) + bias;
	return relu && v < 0 ? 0.0f : v;
}

/* the input rows [*lo, *hi) of max-pool output o (kernel k, -inf padding) */
LS_HD void net_pool_window(int o, int k, int stride, int pad, int in, int *lo, int *hi)
{
	int a = o * stride - pad, b = a + k;
	*lo = a < 0 ? 0 : a;
	*hi = b > in ? in : b;
}

/* torch's adaptive bins of output i of out over in: [floor(i*in/out), ceil((i+1)*in/out)) */
LS_HD int net_bin_start(int i, int in, int out) { return (int)((int64_t)i * in / out); }
LS_HD int net_bin_end(int i, int in, int out) { return (int)(((int64_t)(i + 1) * in + out - 1) / out); }

/* Column j of a pooled tap (pool_apply's layout, D = pool_dim columns per
 * image) from an activation of c x h x w: its channel *ch, its window rows
 * [*y0, *y1) and columns [*x0, *x1), and whether it is a max (else the mean).
 * The head's pool is POOL_GRID with grid S. */
LS_HD void net_tap_cell(net_pool_kind kind, int grid, int c, int h, int w, int64_t j, int *ch, int *y0,
			int *y1, int *x0, int *x1, int *is_max)
{
	int s = kind == POOL_AVGMAX ? 1 : grid, cells = s * s;
	int64_t q = kind == POOL_AVGMAX ? j % c : j;   /* avgmax: the means, then the maxima */
	int cell = (int)(q % cells), oy = cell / s, ox = cell % s;
	*ch = (int)(q / cells);
	*is_max = kind == POOL_MAX || (kind == POOL_AVGMAX && j >= c);
	*y0 = net_bin_start(oy, h, s), *y1 = net_bin_end(oy, h, s);
	*x0 = net_bin_start(ox, w, s), *x1 = net_bin_end(ox, w, s);
}

#endif
