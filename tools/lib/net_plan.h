/* net_plan.h: a network of net.h as a flat list of layer operations on
 * numbered activation buffers, for an engine that runs the network itself
 * (the GPU's, net_gpu.cu). The plan is recorded by the very walk that
 * net_forward runs, so it cannot disagree with the CPU path about the
 * architecture. Private to net*.c, net_gpu.cu and the unit tests.
 *
 * Execution: buffer 0 holds the input images (3 channels); the operations
 * run in order, each reading buffer `in` (and `res`) and writing `out`;
 * after them, the head reads buffer head.buf: adaptive average pool to
 * pool x pool, flattened per image as torch does ([c][pool][pool]), then
 * the linear layers.
 *
 * Returns -1 with err (char err[ERR_LEN]); never exits. */
#ifndef LS_NET_PLAN_H
#define LS_NET_PLAN_H

#include "conv.h"
#include "net.h"
#include "st.h"

typedef enum { PLAN_CONV, PLAN_MAXPOOL, PLAN_TAP } plan_kind;

typedef struct {
	plan_kind kind;
	int in, out, res;        /* buffers; res: the residual added before the bias, -1 none; TAP: out = in */
	int c, h, w;             /* the input, per image */
	int oc, oh, ow;          /* the output */
	const conv_layer *conv;  /* CONV: owned by the net */
	int k, stride, pad;      /* MAXPOOL (CONV: conv's) */
	int tap;                 /* TAP */
} plan_op;

typedef struct { int in, out, relu; const float *w, *b; } plan_linear;  /* w [out][in] */

typedef struct {
	plan_op *op;
	int nops, nbuf, ntaps, K;
	struct {
		int buf, c, h, w, pool, nfc;
		plan_linear fc[3];
	} head;
	st_dtype wtype;   /* ST_F16 or ST_BF16 when the model's weights came in that type, else ST_F32 */
} net_plan;

/* The plan of net for images of h x w: 0, or -1 with err (too small an
 * input, out of memory). Pointers in it are the net's: valid while it is. */
int net_plan_make(const net_model *net, int h, int w, net_plan *plan, char *err);
void net_plan_free(net_plan *plan);
/* conv's weights in the NHWC filter layout [cout][k][k][cin_pad]: input
 * channels cin .. cin_pad-1 zero (tensor cores want channels by 8) */
void net_plan_weights_nhwc(const conv_layer *c, int cin_pad, float *out);

#endif
