/* net.h: torchvision ResNet and VGG forward passes on the CPU, with the taps
 * of contract section 5 (docs/extract-feats.md): what extract-feats uses.
 *
 * A model is a torchvision state_dict in safetensors (F32, F16 or BF16);
 * channel counts come from the tensor shapes, eval-mode BatchNorm is folded
 * into the convolutions at load time. Activations are handed to the taps
 * channel-major, [C][N][H][W] ("CNHW"). The layers themselves (convolution
 * engines, pooling kernels) are private to the library: conv.h.
 *
 * Returns -1/NULL with err (char err[ERR_LEN]); never exits. */
#ifndef LS_NET_H
#define LS_NET_H

#include <stdint.h>
#include "st.h"

/* ---- pooled features of a tap: --pool avg|max|avgmax|grid:S ---- */
typedef enum { POOL_AVG, POOL_MAX, POOL_AVGMAX, POOL_GRID } net_pool_kind;
typedef struct { net_pool_kind kind; int grid; } net_pool;
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
