/* gpu.h: the device a tool computes on (--device cpu|cuda, contract section
 * 10) and the GPU paths of train-probe, extract-feats and sinkhorn.
 *
 * The GPU paths live in the tools/lib/ .cu files and are linked by `make CUDA=1`; a
 * CPU-only build links gpu_none.c instead, where gpu_open and every entry
 * point below fail with "built without CUDA". Each GPU path computes what its
 * CPU reference computes (probe.h, net.h, sinkhorn.h), within the tolerances
 * stated at its entry point; tests/unit/gpu.c holds them to it where a GPU is
 * visible.
 *
 * Error rule: returns -1/NULL with err (char err[ERR_LEN]); never exits or prints. */
#ifndef LS_GPU_H
#define LS_GPU_H

#include <stdint.h>
#include "err.h"
#include "net.h"
#include "probe.h"

typedef enum { DEVICE_CPU, DEVICE_CUDA } device_kind;

/* "cpu" or "cuda" */
int device_parse(const char *s, device_kind *d, char *err);

/* 0 when this build has GPU code and a CUDA device can run it (the first
 * visible one, which every later call uses); else -1 with why not: built
 * without CUDA, no driver, no device, or a device this build has no code for. */
int gpu_open(char *err);
/* The device gpu_open chose, e.g. "NVIDIA H200 (sm_90, 132 SMs, 140 GiB)". */
const char *gpu_describe(void);

/* ---- train-probe: probe_train on the GPU ----
 * The same recipe, batches, early stopping and snapshots as probe_train
 * (probe.h). Each layer's features, the targets and the batch orders are
 * uploaded once and stay on the device across epochs; every layer trains on
 * its own stream (all layers at once), each batch a gather, two cuBLAS
 * sgemm (FP32, no TF32) and the fused loss/gradient and SGD kernels of
 * probe_step.h, an epoch replayed as one CUDA graph. Weights agree with
 * probe_train's within 1e-5 after the same steps (summation order differs).
 * progress is called after every epoch of every layer, from this thread. */
int gpu_probe_train(const probe_data *data, const probe_recipe *r, probe_layer *layers, int nlayers,
		    void (*progress)(void *ctx), void *ctx, char *err);

/* ---- extract-feats: net_forward on the GPU ----
 * The network of net_load run by cuDNN in NHWC: F16 (or BF16) tensor cores
 * with F32 accumulation when the model's weights were F16 (BF16), F32 with
 * no TF32 otherwise (GPU_NET_F32 forces it). Every tap is pooled on the
 * device; per batch the host sees only the pooled rows and the logits.
 * In F32 each tap's features agree with net_forward's within 1e-4 x max|ref|. */
typedef enum { GPU_NET_AUTO, GPU_NET_F32 } gpu_net_precision;
typedef struct gpu_net gpu_net;
/* For batches of up to max_batch images of h x w; the weights are copied
 * to the device, so net may be freed afterwards. */
gpu_net *gpu_net_new(const net_model *net, const net_pool *pool, int max_batch, int h, int w,
		     gpu_net_precision prec, char *err);
void gpu_net_free(gpu_net *g);
/* "f16", "bf16" or "f32": the precision the convolutions run in */
const char *gpu_net_precision_name(const gpu_net *g);
/* images [n][3][h][w] (NCHW, as net_forward); pooled[t] receives tap t's
 * [n][pool_dim] rows, logits [n][K]. 0, or -1 with err. */
int gpu_net_forward(gpu_net *g, const float *images, int n, float *const *pooled, float *logits,
		    char *err);

/* ---- sinkhorn: the batched Sinkhorn iteration of sk_batch on the GPU ----
 * n problems on K <= 128 bins sharing one kernel: a warp per problem, its
 * scalings in registers, the kernel in shared memory; the same updates,
 * over-relaxation, error, stopping and hand-over rules per problem as
 * sk_batch (sinkhorn_step.h), so each value agrees with the CPU's to
 * rounding (1e-9 relative). A problem that the rule sends to Newton comes
 * back with its scalings, one out of the float64 range without; the caller
 * finishes both in the log domain on the CPU, as sk_batch does. */
enum { GPU_SK_KL, GPU_SK_ENTROPIC, GPU_SK_TRANSPORT };   /* the value wanted */
enum { GPU_SK_DONE, GPU_SK_NEWTON, GPU_SK_LOG };         /* a problem's status */
typedef struct {
	int k;
	double eps, tol, omega;       /* omega: the relaxation of pairs (sym problems use 1) */
	int max_iter, newton_after;   /* sk_params' */
	int sym;                      /* OT(x,x) by the averaged fixed point (symmetric cost) */
	int want;                     /* GPU_SK_* */
	const double *kern, *kernc;   /* [k,k]: exp(-C/eps), exp(-C/eps) * C */
} gpu_sk;
/* x, y [n,k] normalised (y unused when sym); out per problem: val, errs
 * (the final marginal error), iters (Sinkhorn iterations done), status, and
 * for GPU_SK_NEWTON the scalings u, v [n,k] (v unused when sym).
 * 0, or -1 with err. */
int gpu_sk_solve(const gpu_sk *p, int64_t n, const double *x, const double *y, double *val, double *errs,
		 int *iters, unsigned char *status, double *u, double *v, char *err);

#endif
