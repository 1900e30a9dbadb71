/* conv.h: the layers inside the networks of net.h, on CNHW activations
 * ([C][N][H][W]). Private to net*.c, the unit tests (tests/unit/net.c) and
 * the benchmark (bench/extract-feats-conv.c); the tools include net.h.
 *
 * Convolutions run through oneDNN (net_dnnl.c, the network's default), or
 * as one matrix product per batch W[Cout][Cin*k*k] x columns[Cin*k*k][N*H*W]
 * (OpenBLAS sgemm after im2col; a 1x1 stride-1 convolution needs no im2col),
 * or through conv_reference, the plain loop beside both fast paths. The
 * pooling kernels are here too (pool_max, pool_adaptive, pool_cn_to_rows).
 *
 * Returns -1/NULL with err where it can fail (out of memory, oneDNN); never exits. */
#ifndef LS_CONV_H
#define LS_CONV_H

#include <stddef.h>
#include <stdint.h>
#include "err.h"

/* One convolution with its BatchNorm folded in (and the ReLU, if any, fused). */
typedef struct {
	int cin, cout, k, stride, pad, relu;
	float *w;   /* [cout][cin*k*k] */
	float *b;   /* [cout] */
} conv_layer;

static inline int conv_out_size(int in, int k, int stride, int pad)
{
	return in + 2 * pad < k ? 0 : (in + 2 * pad - k) / stride + 1;
}

/* Scratch memory that grows on demand and is reused between calls. */
typedef struct { float *p; size_t cap; } conv_buf;
float *conv_buf_get(conv_buf *b, size_t nfloat);   /* NULL when out of memory */

/* out[cout][n][oh][ow] = relu?(conv(in) + b + residual); residual may be NULL.
 * The fast path (im2col + sgemm, columns in scratch) and the reference
 * (direct loops) compute the same thing. 0, or -1 when out of memory. */
int conv_forward(const conv_layer *c, const float *in, int n, int h, int w,
		    const float *residual, float *out, conv_buf *scratch);
void conv_reference(const conv_layer *c, const float *in, int n, int h, int w,
		       const float *residual, float *out);

/* oneDNN's direct convolution on the same CNHW buffers (reordered to its
 * blocked layout and back). An onednn_engine is shared by the threads of a
 * network and keeps the weights in oneDNN's layout (once, whatever the
 * threads); an onednn is one thread's stream and primitives, cached per
 * convolution and input size. 0, or -1 with err. */
typedef struct onednn_engine onednn_engine;
onednn_engine *onednn_engine_new(char *err);
void onednn_engine_free(onednn_engine *e);
typedef struct onednn onednn;
onednn *onednn_new(onednn_engine *shared, char *err);
void onednn_free(onednn *d);
/* lazy = 0: out (CNHW) is written before the call returns, as the reference.
 * lazy = 1: the thread keeps a blocked copy of in and of out, keyed by their
 * addresses, and writes out itself only when onednn_sync asks; a later call
 * whose input or residual is a buffer with a blocked copy uses the copy (no
 * reorder), and a residual's copy in the output's layout is summed into
 * (oneDNN's sum post-op), which consumes it: the residual's CNHW contents are
 * then undefined unless it was synced before. The caller must onednn_forget a
 * buffer that it writes itself or frees. */
int conv_onednn(onednn *d, const conv_layer *c, const float *in, int n, int h, int w,
		 const float *residual, float *out, int lazy, char *err);
/* write buffer p (CNHW) from its blocked copy if still owed; d may be NULL */
int onednn_sync(onednn *d, const float *p, char *err);
/* drop p's blocked copy (p is about to be written or freed); d may be NULL */
void onednn_forget(onednn *d, const float *p);

/* k x k max pooling, -inf padding (torch.nn.MaxPool2d, floor mode), CNHW. */
void pool_max(const float *in, int c, int n, int h, int w, int k, int stride, int pad,
		float *out);
/* torch's adaptive average (max != 0: max) pooling to oh x ow, CNHW -> [c][n][oh][ow]. */
void pool_adaptive(const float *in, int c, int n, int h, int w, int oh, int ow, int max,
		      float *out);

/* [c][n][s] -> out[n][ld] with channel ch at columns off + ch*s .. off + ch*s + s-1 */
void pool_cn_to_rows(const float *cn, int c, int n, int s, float *out, int64_t ld, int64_t off);

#endif
