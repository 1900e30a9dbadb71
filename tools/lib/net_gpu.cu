/* net_gpu.cu: extract-feats' network on the GPU (gpu_net_*, gpu.h).
 *
 * The network is net_forward's own walk, recorded as a plan (net_plan.h)
 * and run here on activations in NHWC: every convolution by cuDNN (the
 * fastest algorithm cudnnFind measures for the batch, F16/BF16 tensor cores
 * with F32 accumulation, or F32 with FMA math, never TF32), then an
 * epilogue kernel (residual, folded-BatchNorm bias, ReLU: net_epilogue);
 * max pools, every tap's pooling and the head's pool by kernels built on
 * net_step.h; the head's linear layers by cuBLAS sgemm. The stem's three
 * input channels are padded to 8 in half precision, as tensor cores want.
 * Per batch the host uploads the images and reads back one block holding
 * every tap's pooled rows and the logits. */
#include <stdlib.h>
#include <string.h>
#include <cudnn.h>
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include "gpu_int.h"
extern "C" {
#include "net_plan.h"
}
#include "net_step.h"

#define CUDNN_TRY(call, what)                                                             \
	do {                                                                              \
		cudnnStatus_t s_ = (call);                                                \
		if (s_ != CUDNN_STATUS_SUCCESS)                                           \
			return err_set(err, "%s: cuDNN: %s", (what), cudnnGetErrorString(s_)); \
	} while (0)

enum { THREADS = 256, NBUF_MAX = 8, STEM_PAD = 8 };
static const size_t FIND_WORKSPACE = (size_t)1 << 30;   /* what cudnnFind may try algorithms with */

typedef struct {
	plan_kind kind;
	int in, out, res, c, cp, h, w, oc, oh, ow, k, stride, pad, relu, tap;
	void *wt;                   /* CONV: [oc][k][k][cp] in the net's type */
	float *bias;                /* CONV: [oc] */
	cudnnFilterDescriptor_t fd;
	cudnnConvolutionDescriptor_t cd;
	cudnnTensorDescriptor_t xd, yd;
	cudnnConvolutionFwdAlgo_t algo;
	int64_t D, off;             /* TAP: columns, and where its rows start in `out` */
} gop;

typedef struct { int in, out, relu; float *w, *b; } gfc;

struct gpu_net {
	int nops, ntaps, K, max_batch, h, w, cur_n, nbuf;
	int in_cp;                  /* channels of the input as stored (the stem's, padded) */
	gop *op;
	net_pool pool;
	cudnnDataType_t dt;
	size_t esize;
	const char *prec;
	cudnnHandle_t dnn;
	cublasHandle_t blas;
	cudaStream_t stream;
	void *buf[NBUF_MAX];
	float *images;              /* [max_batch][3][h][w] */
	void *ws;
	size_t ws_bytes;
	int head_buf, head_c, head_h, head_w, head_pool, nfc;
	gfc fc[3];
	float *hx[2];               /* the head's rows, ping-pong */
	int64_t out_floats, logits_off;
	float *out, *staging;       /* taps' rows then the logits: device, pinned host */
};

/* ---- element types ---- */

__device__ __forceinline__ float to_f(float x) { return x; }
__device__ __forceinline__ float to_f(__half x) { return __half2float(x); }
__device__ __forceinline__ float to_f(__nv_bfloat16 x) { return __bfloat162float(x); }
template <class T> __device__ __forceinline__ T from_f(float x);
template <> __device__ __forceinline__ float from_f<float>(float x) { return x; }
template <> __device__ __forceinline__ __half from_f<__half>(float x) { return __float2half_rn(x); }
template <> __device__ __forceinline__ __nv_bfloat16 from_f<__nv_bfloat16>(float x) { return __float2bfloat16_rn(x); }

/* ---- kernels ---- */

/* images NCHW float -> NHWC T with cp >= c channels (the extra ones 0); a thread per pixel */
template <class T>
__global__ void to_nhwc(const float *img, int n, int c, int cp, int64_t hw, T *out)
{
	for (int64_t p = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; p < n * hw; p += (int64_t)gridDim.x * blockDim.x) {
		int64_t im = p / hw, px = p % hw;
		for (int ch = 0; ch < cp; ch++)
			out[p * cp + ch] = from_f<T>(ch < c ? img[(im * c + ch) * hw + px] : 0.0f);
	}
}

/* y = net_epilogue(y, bias, res) over [rows][oc], V elements a thread (16 bytes) when oc allows */
template <class T, int V>
__global__ void epilogue(T *y, const float *bias, const T *res, int64_t total, int oc, int relu)
{
	for (int64_t i = (blockIdx.x * (int64_t)blockDim.x + threadIdx.x) * V; i < total; i += (int64_t)gridDim.x * blockDim.x * V) {
		/* V elements in one 16-byte access (V = 1: one element) */
		uint4 yv, rv;
		T *v = (T *)&yv, *r = (T *)&rv;
		if (V > 1) {
			yv = *(const uint4 *)(y + i);
			if (res)
				rv = *(const uint4 *)(res + i);
		} else {
			v[0] = y[i];
			if (res)
				r[0] = res[i];
		}
		int ch = (int)(i % oc);
#pragma unroll
		for (int e = 0; e < V; e++)
			v[e] = from_f<T>(net_epilogue(to_f(v[e]), bias[ch + e], res ? to_f(r[e]) : 0.0f, relu));
		if (V > 1)
			*(uint4 *)(y + i) = yv;
		else
			y[i] = v[0];
	}
}

/* k x k max pool, NHWC, a thread per output element (channels fastest) */
template <class T>
__global__ void maxpool(const T *in, int n, int c, int h, int w, int oh, int ow, int k, int stride, int pad, T *out)
{
	int64_t total = (int64_t)n * oh * ow * c;
	for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < total; i += (int64_t)gridDim.x * blockDim.x) {
		int ch = (int)(i % c);
		int64_t q = i / c;
		int ox = (int)(q % ow), oy = (int)(q / ow % oh);
		int64_t im = q / ((int64_t)ow * oh);
		int y0, y1, x0, x1, nan = 0;
		net_pool_window(oy, k, stride, pad, h, &y0, &y1);
		net_pool_window(ox, k, stride, pad, w, &x0, &x1);
		float m = -INFINITY;
		for (int y = y0; y < y1; y++)
			for (int x = x0; x < x1; x++) {
				float v = to_f(in[((im * h + y) * w + x) * c + ch]);
				m = v > m ? v : m;
				nan |= v != v;
			}
		out[i] = from_f<T>(nan ? NAN : m);
	}
}

/* A pooled tap (or the head's pool) from an NHWC activation into out
 * [n][D] (float): a block per (32 channels, cell, image); lanes take
 * channels, the 8 warps share the window's pixels and meet in shared
 * memory. avgmax writes its mean and its max from one pass. */
template <class T>
__global__ void pool_tap(const T *in, int c, int h, int w, net_pool_kind kind, int grid, int64_t D, float *out)
{
	__shared__ double sum[THREADS / 32][32];
	__shared__ float mx[THREADS / 32][32];
	__shared__ int nan[THREADS / 32][32];
	int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, ch = blockIdx.x * 32 + lane, cell = blockIdx.y;
	int64_t im = blockIdx.z;
	int cells = kind == POOL_AVGMAX ? 1 : grid * grid;
	int64_t j = kind == POOL_AVGMAX ? ch : (int64_t)ch * cells + cell;
	int chj = 0, y0 = 0, y1 = 0, x0 = 0, x1 = 0, is_max = 0, bad = 0;
	double s = 0;
	float m = -INFINITY;
	if (ch < c) {
		net_tap_cell(kind, grid, c, h, w, j, &chj, &y0, &y1, &x0, &x1, &is_max);
		int ww = x1 - x0, npix = (y1 - y0) * ww;
		for (int p = warp; p < npix; p += THREADS / 32) {
			float v = to_f(in[((im * h + y0 + p / ww) * w + x0 + p % ww) * c + chj]);
			s += v;
			m = v > m ? v : m;
			bad |= v != v;
		}
	}
	sum[warp][lane] = s, mx[warp][lane] = m, nan[warp][lane] = bad;
	__syncthreads();
	if (warp || ch >= c)
		return;
	for (int q = 1; q < THREADS / 32; q++) {
		s += sum[q][lane];
		m = mx[q][lane] > m ? mx[q][lane] : m;
		bad |= nan[q][lane];
	}
	float mean = (float)(s / ((y1 - y0) * (x1 - x0))), max = bad ? NAN : m;
	out[im * D + j] = is_max ? max : mean;
	if (kind == POOL_AVGMAX)
		out[im * D + c + ch] = max;
}

/* out [rows][oc] = net_epilogue(out, b): the head's bias and ReLU */
__global__ void bias_relu(float *out, const float *b, int64_t total, int oc, int relu)
{
	for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < total; i += (int64_t)gridDim.x * blockDim.x)
		out[i] = net_epilogue(out[i], b[i % oc], 0.0f, relu);
}

/* ---- launching the kernels in the net's type ---- */

template <class T>
static int launch_op(gpu_net *g, const gop *op, int n, char *err)
{
	T *in = (T *)g->buf[op->in], *out = (T *)g->buf[op->out];
	if (op->kind == PLAN_CONV) {
		const float one = 1, zero = 0;
		CUDNN_TRY(cudnnConvolutionForward(g->dnn, &one, op->xd, in, op->fd, op->wt, op->cd, op->algo, g->ws,
						  g->ws_bytes, &zero, op->yd, out),
			  "convolution");
		int64_t total = (int64_t)n * op->oh * op->ow * op->oc;
		const T *res = op->res < 0 ? NULL : (const T *)g->buf[op->res];
		const int V = 16 / sizeof(T);
		if (op->oc % V == 0)
			epilogue<T, V><<<gpu_blocks(total / V, THREADS), THREADS, 0, g->stream>>>(out, op->bias, res, total,
												  op->oc, op->relu);
		else
			epilogue<T, 1><<<gpu_blocks(total, THREADS), THREADS, 0, g->stream>>>(out, op->bias, res, total,
											      op->oc, op->relu);
		CU_LAUNCHED("convolution epilogue");
	} else if (op->kind == PLAN_MAXPOOL) {
		maxpool<T><<<gpu_blocks((int64_t)n * op->oh * op->ow * op->c, THREADS), THREADS, 0, g->stream>>>(
			in, n, op->c, op->h, op->w, op->oh, op->ow, op->k, op->stride, op->pad, out);
		CU_LAUNCHED("max pool");
	} else {
		int cells = g->pool.kind == POOL_AVGMAX ? 1 : g->pool.grid * g->pool.grid;
		dim3 grid((unsigned)((op->c + 31) / 32), (unsigned)cells, (unsigned)n);
		pool_tap<T><<<grid, THREADS, 0, g->stream>>>(in, op->c, op->h, op->w, g->pool.kind, g->pool.grid, op->D,
							     g->out + op->off);
		CU_LAUNCHED("pooling a tap");
	}
	return 0;
}

template <class T>
static int launch_input(gpu_net *g, int n, char *err)
{
	to_nhwc<T><<<gpu_blocks((int64_t)n * g->h * g->w, THREADS), THREADS, 0, g->stream>>>(
		g->images, n, 3, g->in_cp, (int64_t)g->h * g->w, (T *)g->buf[0]);
	CU_LAUNCHED("input layout");
	return 0;
}

template <class T>
static int launch_head_pool(gpu_net *g, int n, char *err)
{
	int s = g->head_pool;
	dim3 grid((unsigned)((g->head_c + 31) / 32), (unsigned)(s * s), (unsigned)n);
	pool_tap<T><<<grid, THREADS, 0, g->stream>>>((const T *)g->buf[g->head_buf], g->head_c, g->head_h, g->head_w,
						     POOL_GRID, s, (int64_t)g->head_c * s * s, g->hx[0]);
	CU_LAUNCHED("the head's pool");
	return 0;
}

/* the three entry points above for the net's element type */
#define BY_TYPE(g, fn, ...)                                                                   \
	((g)->dt == CUDNN_DATA_HALF       ? fn<__half>(g, __VA_ARGS__)                        \
	 : (g)->dt == CUDNN_DATA_BFLOAT16 ? fn<__nv_bfloat16>(g, __VA_ARGS__)                 \
					  : fn<float>(g, __VA_ARGS__))

/* ---- building ---- */

extern "C" void gpu_net_free(gpu_net *g)
{
	if (!g)
		return;
	for (int i = 0; g->op && i < g->nops; i++) {
		gop *op = &g->op[i];
		cudaFree(op->wt);
		cudaFree(op->bias);
		if (op->fd)
			cudnnDestroyFilterDescriptor(op->fd);
		if (op->cd)
			cudnnDestroyConvolutionDescriptor(op->cd);
		if (op->xd)
			cudnnDestroyTensorDescriptor(op->xd);
		if (op->yd)
			cudnnDestroyTensorDescriptor(op->yd);
	}
	free(g->op);
	for (int i = 0; i < 3; i++)
		cudaFree(g->fc[i].w), cudaFree(g->fc[i].b);
	for (int i = 0; i < NBUF_MAX; i++)
		cudaFree(g->buf[i]);
	cudaFree(g->images), cudaFree(g->ws), cudaFree(g->hx[0]), cudaFree(g->hx[1]), cudaFree(g->out);
	cudaFreeHost(g->staging);
	if (g->blas)
		cublasDestroy(g->blas);
	if (g->dnn)
		cudnnDestroy(g->dnn);
	if (g->stream)
		cudaStreamDestroy(g->stream);
	free(g);
}

/* AUTO: the model's half type, unless a folded weight overflows F16 */
static void choose_precision(gpu_net *g, const net_plan *p, gpu_net_precision prec)
{
	g->dt = CUDNN_DATA_FLOAT, g->esize = 4, g->prec = "f32";
	if (prec != GPU_NET_AUTO || (p->wtype != ST_F16 && p->wtype != ST_BF16))
		return;
	if (p->wtype == ST_F16)
		for (int i = 0; i < p->nops; i++) {
			const conv_layer *c = p->op[i].conv;
			for (size_t q = 0; c && q < (size_t)c->cout * c->cin * c->k * c->k; q++)
				if (!(fabsf(c->w[q]) <= 65504.0f))
					return;
		}
	g->dt = p->wtype == ST_F16 ? CUDNN_DATA_HALF : CUDNN_DATA_BFLOAT16, g->esize = 2;
	g->prec = p->wtype == ST_F16 ? "f16" : "bf16";
}

/* the folded weights in cuDNN's NHWC filter layout and the net's type, on the device */
static int upload_conv(gpu_net *g, gop *op, const conv_layer *c, char *err)
{
	size_t nw = (size_t)c->cout * c->k * c->k * op->cp;
	float *w = (float *)malloc(nw * sizeof *w);
	void *conv = malloc(nw * g->esize);
	if (!w || !conv) {
		free(w), free(conv);
		return err_set(err, "out of memory");
	}
	net_plan_weights_nhwc(c, op->cp, w);
	for (size_t q = 0; q < nw; q++) {
		if (g->dt == CUDNN_DATA_HALF)
			((__half *)conv)[q] = __float2half_rn(w[q]);
		else if (g->dt == CUDNN_DATA_BFLOAT16)
			((__nv_bfloat16 *)conv)[q] = __float2bfloat16_rn(w[q]);
		else
			((float *)conv)[q] = w[q];
	}
	cudaError_t e = gpu_alloc(&op->wt, nw * g->esize);
	if (e == cudaSuccess)
		e = cudaMemcpy(op->wt, conv, nw * g->esize, cudaMemcpyHostToDevice);
	if (e == cudaSuccess)
		e = gpu_alloc(&op->bias, (size_t)c->cout * sizeof(float));
	if (e == cudaSuccess)
		e = cudaMemcpy(op->bias, c->b, (size_t)c->cout * sizeof(float), cudaMemcpyHostToDevice);
	free(w), free(conv);
	CU_TRY(e, "convolution weights on the GPU");
	return 0;
}

static int describe_conv(gpu_net *g, gop *op, char *err)
{
	CUDNN_TRY(cudnnCreateFilterDescriptor(&op->fd), "filter descriptor");
	CUDNN_TRY(cudnnSetFilter4dDescriptor(op->fd, g->dt, CUDNN_TENSOR_NHWC, op->oc, op->cp, op->k, op->k),
		  "filter descriptor");
	CUDNN_TRY(cudnnCreateConvolutionDescriptor(&op->cd), "convolution descriptor");
	CUDNN_TRY(cudnnSetConvolution2dDescriptor(op->cd, op->pad, op->pad, op->stride, op->stride, 1, 1,
						  CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT),
		  "convolution descriptor");
	/* F32 stays F32: FMA math keeps TF32 tensor cores out */
	CUDNN_TRY(cudnnSetConvolutionMathType(op->cd, g->esize == 2 ? CUDNN_TENSOR_OP_MATH : CUDNN_FMA_MATH),
		  "convolution math type");
	CUDNN_TRY(cudnnCreateTensorDescriptor(&op->xd), "tensor descriptor");
	CUDNN_TRY(cudnnCreateTensorDescriptor(&op->yd), "tensor descriptor");
	return 0;
}

/* every convolution's tensors for batches of n, and (with ws) the
 * workspace their algorithms need */
static int set_batch(gpu_net *g, int n, int ws, char *err)
{
	size_t need = 0;
	for (int i = 0; i < g->nops; i++) {
		gop *op = &g->op[i];
		if (op->kind != PLAN_CONV)
			continue;
		CUDNN_TRY(cudnnSetTensor4dDescriptor(op->xd, CUDNN_TENSOR_NHWC, g->dt, n, op->cp, op->h, op->w),
			  "tensor descriptor");
		CUDNN_TRY(cudnnSetTensor4dDescriptor(op->yd, CUDNN_TENSOR_NHWC, g->dt, n, op->oc, op->oh, op->ow),
			  "tensor descriptor");
		if (!ws)
			continue;
		size_t b = 0;
		CUDNN_TRY(cudnnGetConvolutionForwardWorkspaceSize(g->dnn, op->xd, op->fd, op->cd, op->yd, op->algo, &b),
			  "convolution workspace");
		need = b > need ? b : need;
	}
	if (ws && need > g->ws_bytes) {
		cudaFree(g->ws);
		g->ws = NULL, g->ws_bytes = 0;
		CU_TRY(gpu_alloc(&g->ws, need), "convolution workspace");
		g->ws_bytes = need;
	}
	g->cur_n = ws ? n : 0;
	return 0;
}

/* the fastest algorithm cudnnFind measures at the largest batch, shared by
 * convolutions of the same shape; FMA math only in F32 */
static int find_algorithms(gpu_net *g, char *err)
{
	void *ws = NULL;
	CU_TRY(gpu_alloc(&ws, FIND_WORKSPACE), "workspace to choose convolution algorithms");
	int rc = 0;
	for (int i = 0; i < g->nops && !rc; i++) {
		gop *op = &g->op[i], *same = NULL;
		if (op->kind != PLAN_CONV)
			continue;
		for (int j = 0; j < i && !same; j++) {
			gop *o = &g->op[j];
			if (o->kind == PLAN_CONV && o->cp == op->cp && o->oc == op->oc && o->k == op->k && o->h == op->h &&
			    o->w == op->w && o->stride == op->stride && o->pad == op->pad)
				same = o;
		}
		if (same) {
			op->algo = same->algo;
			continue;
		}
		cudnnConvolutionFwdAlgoPerf_t perf[CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
		int got = 0;
		cudnnStatus_t s = cudnnFindConvolutionForwardAlgorithmEx(
			g->dnn, op->xd, g->buf[op->in], op->fd, op->wt, op->cd, op->yd, g->buf[op->out],
			CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &got, perf, ws, FIND_WORKSPACE);
		if (s != CUDNN_STATUS_SUCCESS) {
			rc = err_set(err, "choosing a convolution algorithm: cuDNN: %s", cudnnGetErrorString(s));
			break;
		}
		/* in F32, no tensor-core algorithm (TF32) */
		int q = 0;
		while (q < got && (perf[q].status != CUDNN_STATUS_SUCCESS ||
				   (g->esize == 4 && (perf[q].mathType == CUDNN_TENSOR_OP_MATH ||
						      perf[q].mathType == CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION))))
			q++;
		if (q == got)
			rc = err_set(err, "no cuDNN algorithm for a %dx%d convolution of %d -> %d channels on %dx%d in %s",
				     op->k, op->k, op->c, op->oc, op->h, op->w, g->prec);
		else
			op->algo = perf[q].algo;
	}
	cudaFree(ws);
	return rc;
}

static int copy_plan(gpu_net *g, const net_plan *p, char *err)
{
	g->op = (gop *)calloc((size_t)p->nops, sizeof *g->op);
	if (!g->op)
		return err_set(err, "out of memory");
	g->nops = p->nops;
	g->in_cp = 3;
	int64_t off = 0;
	for (int i = 0; i < p->nops; i++) {
		const plan_op *o = &p->op[i];
		gop *op = &g->op[i];
		op->kind = o->kind, op->in = o->in, op->out = o->out, op->res = o->res, op->tap = o->tap;
		op->c = op->cp = o->c, op->h = o->h, op->w = o->w, op->oc = o->oc, op->oh = o->oh, op->ow = o->ow;
		op->k = o->k, op->stride = o->stride, op->pad = o->pad, op->relu = o->conv ? o->conv->relu : 0;
		if (o->kind == PLAN_CONV) {
			if (o->in == 0 && g->esize == 2 && o->c % STEM_PAD)
				op->cp = g->in_cp = o->c + STEM_PAD - o->c % STEM_PAD;
			if (upload_conv(g, op, o->conv, err) || describe_conv(g, op, err))
				return -1;
		} else if (o->kind == PLAN_TAP) {
			op->D = pool_dim(&g->pool, o->c);
			op->off = off;
			off += (int64_t)g->max_batch * op->D;
		}
	}
	g->logits_off = off;
	g->out_floats = off + (int64_t)g->max_batch * g->K;
	return 0;
}

static int head_setup(gpu_net *g, const net_plan *p, char *err)
{
	g->head_buf = p->head.buf, g->head_c = p->head.c, g->head_h = p->head.h, g->head_w = p->head.w;
	g->head_pool = p->head.pool, g->nfc = p->head.nfc;
	size_t width = (size_t)p->head.c * p->head.pool * p->head.pool;
	for (int i = 0; i < p->head.nfc; i++) {
		const plan_linear *f = &p->head.fc[i];
		gfc *d = &g->fc[i];
		d->in = f->in, d->out = f->out, d->relu = f->relu;
		width = width > (size_t)f->out ? width : (size_t)f->out;
		CU_TRY(gpu_alloc(&d->w, (size_t)f->in * f->out * sizeof(float)), "the head on the GPU");
		CU_TRY(cudaMemcpy(d->w, f->w, (size_t)f->in * f->out * sizeof(float), cudaMemcpyHostToDevice), "the head");
		CU_TRY(gpu_alloc(&d->b, (size_t)f->out * sizeof(float)), "the head on the GPU");
		CU_TRY(cudaMemcpy(d->b, f->b, (size_t)f->out * sizeof(float), cudaMemcpyHostToDevice), "the head");
	}
	for (int i = 0; i < 2; i++)
		CU_TRY(gpu_alloc(&g->hx[i], width * g->max_batch * sizeof(float)), "the head's rows");
	return 0;
}

static int buffers(gpu_net *g, char *err)
{
	size_t most = (size_t)STEM_PAD * g->h * g->w;
	for (int i = 0; i < g->nops; i++) {
		size_t o = (size_t)g->op[i].oc * g->op[i].oh * g->op[i].ow;
		most = o > most ? o : most;
	}
	for (int i = 0; i < g->nbuf; i++) {
		CU_TRY(gpu_alloc(&g->buf[i], most * g->max_batch * g->esize), "activations on the GPU");
		CU_TRY(cudaMemset(g->buf[i], 0, most * g->max_batch * g->esize), "activations");
	}
	CU_TRY(gpu_alloc(&g->images, (size_t)g->max_batch * 3 * g->h * g->w * sizeof(float)), "images on the GPU");
	CU_TRY(gpu_alloc(&g->out, (size_t)g->out_floats * sizeof(float)), "pooled features on the GPU");
	CU_TRY(cudaMallocHost((void **)&g->staging, (size_t)g->out_floats * sizeof(float)), "pinned host memory");
	return 0;
}

static int build(gpu_net *g, const net_model *net, gpu_net_precision prec, char *err)
{
	net_plan p;
	if (net_plan_make(net, g->h, g->w, &p, err))
		return -1;
	g->ntaps = p.ntaps, g->K = p.K, g->nbuf = p.nbuf;
	int rc = p.nbuf > NBUF_MAX ? err_set(err, "a plan with %d buffers", p.nbuf) : 0;
	if (!rc) {
		choose_precision(g, &p, prec);
		rc = copy_plan(g, &p, err) || head_setup(g, &p, err) ? -1 : 0;
	}
	net_plan_free(&p);
	return rc;
}

extern "C" gpu_net *gpu_net_new(const net_model *net, const net_pool *pool, int max_batch, int h, int w,
				gpu_net_precision prec, char *err)
{
	if (gpu_open(err))
		return NULL;
	gpu_net *g = (gpu_net *)calloc(1, sizeof *g);
	if (!g) {
		err_set(err, "out of memory");
		return NULL;
	}
	g->pool = *pool, g->max_batch = max_batch, g->h = h, g->w = w;
	int rc = max_batch < 1 || max_batch > 65535 ? err_set(err, "batch of %d: the GPU path takes 1 to 65535", max_batch) : 0;
	if (!rc)
		rc = build(g, net, prec, err);
	if (!rc) {
		cudaError_t e = cudaStreamCreateWithFlags(&g->stream, cudaStreamNonBlocking);
		cudnnStatus_t s = e == cudaSuccess ? cudnnCreate(&g->dnn) : CUDNN_STATUS_SUCCESS;
		cublasStatus_t b = e == cudaSuccess && s == CUDNN_STATUS_SUCCESS ? cublasCreate(&g->blas)
										 : CUBLAS_STATUS_SUCCESS;
		if (e != cudaSuccess || s != CUDNN_STATUS_SUCCESS || b != CUBLAS_STATUS_SUCCESS)
			rc = err_set(err, "starting cuDNN and cuBLAS: %s", e != cudaSuccess ? cudaGetErrorString(e)
					  : s != CUDNN_STATUS_SUCCESS ? cudnnGetErrorString(s) : cublasGetStatusString(b));
		else if (cudnnSetStream(g->dnn, g->stream) != CUDNN_STATUS_SUCCESS ||
			 cublasSetStream(g->blas, g->stream) != CUBLAS_STATUS_SUCCESS)
			rc = err_set(err, "setting the stream of cuDNN and cuBLAS");
	}
	if (!rc)
		rc = buffers(g, err) || set_batch(g, max_batch, 0, err) || find_algorithms(g, err) ||
		     set_batch(g, max_batch, 1, err) ? -1 : 0;
	/* the weights went up on the legacy stream, which g->stream does not wait for */
	cudaError_t e = rc ? cudaSuccess : cudaDeviceSynchronize();
	if (e != cudaSuccess)
		rc = err_set(err, "setting the network up: %s", cudaGetErrorString(e));
	if (rc) {
		gpu_net_free(g);
		return NULL;
	}
	return g;
}

extern "C" const char *gpu_net_precision_name(const gpu_net *g) { return g->prec; }

/* ---- running ---- */

static int head(gpu_net *g, int n, char *err)
{
	if (BY_TYPE(g, launch_head_pool, n, err))
		return -1;
	float *x = g->hx[0];
	for (int i = 0; i < g->nfc; i++) {
		const gfc *f = &g->fc[i];
		float *o = i == g->nfc - 1 ? g->out + g->logits_off : x == g->hx[0] ? g->hx[1] : g->hx[0];
		const float one = 1, zero = 0;
		/* o[n][out] = x[n][in] W^T: column-major o^T = W x^T, W [out][in] row-major */
		CUBLAS_TRY(cublasSgemm(g->blas, CUBLAS_OP_T, CUBLAS_OP_N, f->out, n, f->in, &one, f->w, f->in, x, f->in,
				       &zero, o, f->out),
			   "the head's linear layer");
		bias_relu<<<gpu_blocks((int64_t)n * f->out, THREADS), THREADS, 0, g->stream>>>(o, f->b, (int64_t)n * f->out,
											 f->out, f->relu);
		CU_LAUNCHED("the head's bias");
		x = o;
	}
	return 0;
}

extern "C" int gpu_net_forward(gpu_net *g, const float *images, int n, float *const *pooled, float *logits,
			       char *err)
{
	if (n < 1 || n > g->max_batch)
		return err_set(err, "batch of %d images: expected 1 to %d", n, g->max_batch);
	if (n != g->cur_n && set_batch(g, n, 1, err))
		return -1;
	CU_TRY(cudaMemcpyAsync(g->images, images, (size_t)n * 3 * g->h * g->w * sizeof(float), cudaMemcpyHostToDevice,
			       g->stream),
	       "uploading images");
	if (BY_TYPE(g, launch_input, n, err))
		return -1;
	for (int i = 0; i < g->nops; i++)
		if (BY_TYPE(g, launch_op, &g->op[i], n, err))
			return -1;
	if (head(g, n, err))
		return -1;
	CU_TRY(cudaMemcpyAsync(g->staging, g->out, (size_t)g->out_floats * sizeof(float), cudaMemcpyDeviceToHost,
			       g->stream),
	       "reading features back");
	CU_TRY(cudaStreamSynchronize(g->stream), "running the network");
	for (int i = 0; i < g->nops; i++)
		if (g->op[i].kind == PLAN_TAP)
			memcpy(pooled[g->op[i].tap], g->staging + g->op[i].off, (size_t)n * g->op[i].D * sizeof(float));
	memcpy(logits, g->staging + g->logits_off, (size_t)n * g->K * sizeof(float));
	return 0;
}
