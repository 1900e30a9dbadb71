/* net.h: torchvision ResNet and VGG forward passes on the CPU, with the taps
 * of contract section 5 (docs/extract-feats.md).
 *
 * A model is a torchvision state_dict in safetensors (F32, F16 or BF16);
 * channel counts come from the tensor shapes, eval-mode BatchNorm is folded
 * into the convolutions at load time. Inside, activations are kept
 * channel-major, [C][N][H][W] ("CNHW"). Convolutions run through oneDNN
 * (net_dnnl.c, the default), or as one matrix product per batch
 * W[Cout][Cin*k*k] x columns[Cin*k*k][N*H*W] (OpenBLAS sgemm after im2col; a
 * 1x1 stride-1 convolution needs no im2col), or through conv_reference,
 * the plain loop beside both fast paths.
 *
 * Nothing here exits: errors go to a caller's err[ERR_LEN]. */
#ifndef LS_NET_H
#define LS_NET_H

#include <stdint.h>
#include "st.h"

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

/* ---- pooled features of a tap: --pool avg|max|avgmax|grid:S ---- */
typedef struct { enum { POOL_AVG, POOL_MAX, POOL_AVGMAX, POOL_GRID } kind; int grid; } net_pool;
int pool_parse(const char *s, net_pool *p, char *err);
int64_t pool_dim(const net_pool *p, int c);   /* D for c channels */
/* act CNHW [c][n][h][w] -> out [n][D] (grid: torch's flatten of [c][S][S]; avgmax: avg then max) */
int pool_apply(const net_pool *p, const float *act, int c, int n, int h, int w, float *out,
		  char *err);

/* ---- networks ---- */
typedef struct net_model net_model;

/* arch: resnet18|34|50|101|152, vgg11|13|16|19[_bn]; head (VGG only): NULL or
 * "torchvision" (adaptive 7x7 average pool + classifier.0/3/6) or "gap"
 * (global average pool + classifier.0). Every weight is checked against the
 * shape the architecture implies; leftovers that the arch does not use are an
 * error too (a resnet34 file read as resnet18). */
net_model *net_load(const st_file *weights, const char *arch, const char *head, char *err);
void net_free(net_model *net);
/* How convolutions run: oneDNN (default), im2col + OpenBLAS sgemm, or the
 * plain reference loops. */
typedef enum { CONV_DNNL, CONV_SGEMM, CONV_REFERENCE } conv_engine;
int conv_engine_parse(const char *s, conv_engine *e, char *err);
void net_set_engine(net_model *net, conv_engine e);
/* Threads of a forward pass (default 1): the batch is shared among them. */
void net_set_threads(net_model *net, int threads);

int net_ntaps(const net_model *net);
const char *net_tap_name(const net_model *net, int tap);  /* torchvision module name */
int net_tap_channels(const net_model *net, int tap);
int net_classes(const net_model *net);                     /* K of the head */

/* Called at each tap with the activation, CNHW, of images row0 .. row0+n-1 of
 * the batch; from several threads at once (each its own rows) when threads > 1. */
typedef int (*net_tap_fn)(void *ctx, int tap, const float *act, int c, int n, int h, int w,
			 int row0, char *err);

/* images: [n][3][h][w] (NCHW, normalised); logits: [n][K]. tap may be NULL.
 * Returns 0, or -1 with err filled (input too small for the arch, a tap callback's
 * failure, out of memory). */
int net_forward(net_model *net, const float *images, int n, int h, int w, net_tap_fn tap,
		   void *ctx, float *logits, char *err);

/* Floating-point operations (2 per multiply-add, convolutions and linear layers)
 * of one image of h x w, cumulative: flops[t] from the input up to tap t,
 * flops[ntaps] the whole network with its head. 0, or -1 if the input is too small. */
int net_flops(const net_model *net, int h, int w, double *flops, char *err);

#endif
