/* probe_gpu.cu: probe_train on the GPU (gpu_probe_train, gpu.h).
 *
 * Every layer keeps its features, probe, momentum and gradient on the
 * device for the whole run, and trains on its own stream with its own
 * cuBLAS handle, so all layers run at once. One step of one layer is what
 * probe.c's fast path does, in the same order and with the arithmetic of
 * probe_step.h:
 *   gather the batch's rows of x and y;
 *   Z = Xb W^T (cuBLAS sgemm), then per label column, rows in order:
 *   z += b, loss, G = (sigmoid(z) - y) / (nb k), gb = column sums of G;
 *   gW = G^T Xb (sgemm); SGD on [W | b] with [gW | gb].
 * An epoch is hundreds of such small steps, so each layer's epoch is
 * captured once as a CUDA graph and replayed: the steps read the epoch
 * number (its batch order, its learning rate) from device memory. The host
 * synchronises once an epoch, for the val loss of early stopping, the
 * snapshots and the progress bar.
 *
 * cuBLAS runs in its default math mode, which keeps FP32 products in FP32
 * (no TF32), so the weights follow probe_train's within rounding. */
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "gpu_int.h"
#include "probe_step.h"

enum { THREADS = 256 };
static const int64_t VAL_ROWS = 1024;          /* val rows gathered per product */
static const int64_t SNAP_FLOATS = 4 << 20;    /* logits per snapshot product */
static const size_t BLAS_WORKSPACE = 8 << 20;  /* bytes: set, so that graph capture never allocates */

typedef struct {
	cudaStream_t stream;
	cublasHandle_t blas;
	void *blas_ws;
	int64_t d, np;              /* features; parameters k*d + k */
	float *x;                   /* [n,d] */
	float *p, *v, *g, *best;    /* [np] each: W then b; momentum; gradient; best epoch's */
	float *xb, *yb, *z;         /* gathered rows, their targets, logits or G */
	double *loss;               /* [epochs]: summed train loss */
	double *val;                /* summed val loss of the last epoch */
	cudaGraphExec_t epoch;
	int stopped;
	probe_stopper st;
} layer_dev;

typedef struct {
	int64_t n, k, ntrain, batch, snap_rows, xb_rows, z_rows;
	int nlayers, epochs;
	float *y;                   /* [n,k] */
	int *order;                 /* [epochs, ntrain] */
	int *val_rows;              /* [nval] */
	float *lr;                  /* [epochs] */
	int *epoch;                 /* the epoch being trained */
	layer_dev *l;
} trainer;

/* ---- kernels ---- */

/* xb[i] = x[rows[i]], yb[i] = y[rows[i]] (yb may be NULL); with epoch, the
 * rows are those of epoch *epoch in an [epochs, stride] order */
__global__ void gather_rows(const float *x, int64_t d, const float *y, int64_t k, const int *rows,
			    const int *epoch, int64_t stride, float *xb, float *yb)
{
	if (epoch)
		rows += (int64_t)*epoch * stride;
	int64_t i = blockIdx.x, r = rows[i];
	const float *src = x + r * d;
	float *dst = xb + i * d;
	if ((d & 3) == 0) {   /* rows of 16 bytes: 16-byte accesses */
		const float4 *s4 = (const float4 *)src;
		float4 *d4 = (float4 *)dst;
		for (int64_t c = threadIdx.x; c < d / 4; c += blockDim.x)
			d4[c] = s4[c];
	} else {
		for (int64_t c = threadIdx.x; c < d; c += blockDim.x)
			dst[c] = src[c];
	}
	if (yb)
		for (int64_t c = threadIdx.x; c < k; c += blockDim.x)
			yb[i * k + c] = y[r * k + c];
}

/* the block's sum of v, added to *sum by its thread 0 */
__device__ void block_add(double v, double *sum)
{
	__shared__ double part[THREADS / 32];
	for (int o = 16; o > 0; o >>= 1)
		v += __shfl_down_sync(0xffffffffu, v, o);
	if ((threadIdx.x & 31) == 0)
		part[threadIdx.x >> 5] = v;
	__syncthreads();
	if (threadIdx.x == 0) {
		double s = 0;
		for (int w = 0; w < (int)(blockDim.x + 31) / 32; w++)
			s += part[w];
		atomicAdd(sum, s);
	}
}

/* One thread per label column j, rows in order as probe.c's loss_grad:
 * z = Xb W^T + b, G = (sigmoid(z) - y) * scale in place of z, gb = column
 * sums of G; the summed loss into loss[*epoch]. */
__global__ void loss_grad(float *z, const float *yb, const float *b, int nb, int k, float scale,
			  float *gb, double *loss, const int *epoch)
{
	int j = blockIdx.x * blockDim.x + threadIdx.x;
	double l = 0;
	if (j < k) {
		float acc = 0, bj = b[j];
		for (int i = 0; i < nb; i++) {
			float sig, y = yb[(int64_t)i * k + j];
			l += probe_bce_sigmoid(z[(int64_t)i * k + j] + bj, y, &sig);
			float g = (sig - y) * scale;
			z[(int64_t)i * k + j] = g;
			acc += g;
		}
		gb[j] = acc;
	}
	block_add(l, loss + *epoch);
}

__global__ void sgd(float *p, float *v, const float *g, int64_t n, const float *lr, const int *epoch,
		    float m, float wd)
{
	float rate = lr[*epoch];
	for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x)
		probe_sgd1(&p[i], &v[i], g[i], rate, m, wd);
}

/* the summed BCE of logits z + b against yb, [rows, k], into *sum */
__global__ void bce_sum(const float *z, const float *b, const float *yb, int64_t rows, int k, double *sum)
{
	double l = 0;
	for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < rows * k; i += (int64_t)gridDim.x * blockDim.x)
		l += probe_bce(z[i] + b[i % k], yb[i]);
	block_add(l, sum);
}

__global__ void sigmoid_bias(float *z, const float *b, int64_t rows, int k)
{
	for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < rows * k; i += (int64_t)gridDim.x * blockDim.x)
		z[i] = probe_sigmoid(z[i] + b[i % k]);
}

/* ---- the steps, as the host issues them ---- */

/* Z[rows,k] = X[rows,d] W^T for row-major X and W, in cuBLAS's column-major
 * terms Z^T = W X^T (W^T stored, so transposed) */
static int logits(const trainer *t, layer_dev *L, const float *x, int64_t rows, char *err)
{
	const float one = 1, zero = 0;
	CUBLAS_TRY(cublasSgemm(L->blas, CUBLAS_OP_T, CUBLAS_OP_N, (int)t->k, (int)rows, (int)L->d, &one,
			       L->p, (int)L->d, x, (int)L->d, &zero, L->z, (int)t->k),
		   "probe logits");
	return 0;
}

/* one SGD step on the batch at offset s of the epoch's order (captured) */
static int step(const trainer *t, layer_dev *L, int64_t s, int64_t nb, const probe_recipe *r, char *err)
{
	const int64_t k = t->k, d = L->d;
	const float one = 1, zero = 0;
	gather_rows<<<(unsigned)nb, THREADS, 0, L->stream>>>(L->x, d, t->y, k, t->order + s, t->epoch,
							      t->ntrain, L->xb, L->yb);
	CU_LAUNCHED("gathering a batch");
	if (logits(t, L, L->xb, nb, err))
		return -1;
	loss_grad<<<gpu_blocks(k, THREADS), THREADS, 0, L->stream>>>(
		L->z, L->yb, L->p + k * d, (int)nb, (int)k, 1.0f / (float)(nb * k), L->g + k * d, L->loss, t->epoch);
	CU_LAUNCHED("loss and gradient");
	/* gW[k,d] = G^T Xb: column-major gW^T = Xb^T G */
	CUBLAS_TRY(cublasSgemm(L->blas, CUBLAS_OP_N, CUBLAS_OP_T, (int)d, (int)k, (int)nb, &one, L->xb,
			       (int)d, L->z, (int)k, &zero, L->g, (int)d),
		   "probe weight gradient");
	sgd<<<gpu_blocks(L->np, THREADS), THREADS, 0, L->stream>>>(L->p, L->v, L->g, L->np, t->lr, t->epoch,
								   (float)r->momentum, (float)r->weight_decay);
	CU_LAUNCHED("SGD step");
	return 0;
}

/* records one epoch of steps on the layer's stream as a graph */
static int capture_epoch(const trainer *t, layer_dev *L, const probe_recipe *r, char *err)
{
	cudaGraph_t graph = NULL;
	CU_TRY(cudaStreamBeginCapture(L->stream, cudaStreamCaptureModeThreadLocal), "recording an epoch");
	int rc = 0;
	for (int64_t s = 0; s < t->ntrain && !rc; s += t->batch)
		rc = step(t, L, s, t->ntrain - s < t->batch ? t->ntrain - s : t->batch, r, err);
	cudaError_t e = cudaStreamEndCapture(L->stream, &graph);
	if (!rc && e == cudaSuccess)
		e = cudaGraphInstantiate(&L->epoch, graph, 0);
	if (graph)
		cudaGraphDestroy(graph);
	if (rc)
		return -1;
	CU_TRY(e, "recording an epoch");
	return 0;
}

/* the mean val loss of the current probe, as probe.c's val_loss: summed on
 * the device, read after the epoch's sync */
static int val_loss(const trainer *t, layer_dev *L, const probe_data *dt, char *err)
{
	CU_TRY(cudaMemsetAsync(L->val, 0, sizeof *L->val, L->stream), "val loss");
	for (int64_t s = 0; s < dt->nval; s += VAL_ROWS) {
		int64_t m = dt->nval - s < VAL_ROWS ? dt->nval - s : VAL_ROWS;
		gather_rows<<<(unsigned)m, THREADS, 0, L->stream>>>(L->x, L->d, t->y, t->k, t->val_rows + s, NULL,
								     0, L->xb, L->yb);
		CU_LAUNCHED("gathering val rows");
		if (logits(t, L, L->xb, m, err))
			return -1;
		bce_sum<<<gpu_blocks(m * t->k, THREADS), THREADS, 0, L->stream>>>(L->z, L->p + t->k * L->d, L->yb, m,
										 (int)t->k, L->val);
		CU_LAUNCHED("val loss");
	}
	return 0;
}

/* sigmoid(x W^T + b) of all rows into dst [n,k] on the host */
static int snapshot(const trainer *t, layer_dev *L, float *dst, char *err)
{
	for (int64_t s = 0; s < t->n; s += t->snap_rows) {
		int64_t m = t->n - s < t->snap_rows ? t->n - s : t->snap_rows;
		if (logits(t, L, L->x + s * L->d, m, err))
			return -1;
		sigmoid_bias<<<gpu_blocks(m * t->k, THREADS), THREADS, 0, L->stream>>>(L->z, L->p + t->k * L->d, m,
										      (int)t->k);
		CU_LAUNCHED("snapshot");
		CU_TRY(cudaMemcpyAsync(dst + s * t->k, L->z, (size_t)(m * t->k) * sizeof(float),
				       cudaMemcpyDeviceToHost, L->stream), "copying a snapshot");
	}
	return 0;
}

/* ---- setting up and tearing down ---- */

static void trainer_free(trainer *t)
{
	for (int i = 0; t->l && i < t->nlayers; i++) {
		layer_dev *L = &t->l[i];
		if (L->epoch)
			cudaGraphExecDestroy(L->epoch);
		if (L->blas)
			cublasDestroy(L->blas);
		if (L->stream)
			cudaStreamDestroy(L->stream);
		void *bufs[] = {L->blas_ws, L->x, L->p, L->v, L->g, L->best, L->xb, L->yb, L->z, L->loss, L->val};
		for (size_t b = 0; b < sizeof bufs / sizeof *bufs; b++)
			cudaFree(bufs[b]);
	}
	free(t->l);
	void *bufs[] = {t->y, t->order, t->val_rows, t->lr, t->epoch};
	for (size_t b = 0; b < sizeof bufs / sizeof *bufs; b++)
		cudaFree(bufs[b]);
}

/* rows (int64 on the host) as int32 on the device */
static int upload_rows(int **dst, const int64_t *rows, int64_t n, char *err)
{
	int *tmp = (int *)malloc((size_t)(n > 0 ? n : 1) * sizeof *tmp);
	if (!tmp)
		return err_set(err, "out of memory");
	for (int64_t i = 0; i < n; i++)
		tmp[i] = (int)rows[i];
	cudaError_t e = gpu_alloc(dst, (size_t)n * sizeof **dst);
	if (e == cudaSuccess)
		e = cudaMemcpy(*dst, tmp, (size_t)n * sizeof *tmp, cudaMemcpyHostToDevice);
	free(tmp);
	CU_TRY(e, "uploading row indices");
	return 0;
}

static int shared_setup(trainer *t, const probe_data *dt, const probe_recipe *r, char *err)
{
	t->n = dt->n, t->k = dt->k, t->ntrain = dt->ntrain, t->epochs = r->epochs;
	t->batch = r->batch < dt->ntrain ? r->batch : dt->ntrain;
	if (dt->n > INT_MAX || dt->k > INT_MAX / 2)
		return err_set(err, "%lld rows of %lld labels: more than the GPU path indexes",
			       (long long)dt->n, (long long)dt->k);
	if (dt->snap_every > 0) {   /* rows of one snapshot product */
		t->snap_rows = SNAP_FLOATS / t->k;
		t->snap_rows = t->snap_rows < 1 ? 1 : t->snap_rows > t->n ? t->n : t->snap_rows;
	}
	int64_t vrows = r->patience && dt->nval > 0 ? (dt->nval < VAL_ROWS ? dt->nval : VAL_ROWS) : 0;
	t->xb_rows = t->batch > vrows ? t->batch : vrows;
	t->z_rows = t->xb_rows > t->snap_rows ? t->xb_rows : t->snap_rows;
	CU_TRY(gpu_alloc(&t->y, (size_t)(t->n * t->k) * sizeof(float)), "targets on the GPU");
	CU_TRY(cudaMemcpy(t->y, dt->y, (size_t)(t->n * t->k) * sizeof(float), cudaMemcpyHostToDevice),
	       "uploading targets");
	if (upload_rows(&t->order, dt->order, (int64_t)r->epochs * t->ntrain, err) ||
	    upload_rows(&t->val_rows, dt->val, vrows ? dt->nval : 0, err))
		return -1;
	float *lr = (float *)malloc((size_t)r->epochs * sizeof *lr);
	if (!lr)
		return err_set(err, "out of memory");
	for (int e = 0; e < r->epochs; e++)
		lr[e] = (float)probe_lr(r, e);   /* the float the CPU path uses */
	cudaError_t e = gpu_alloc(&t->lr, (size_t)r->epochs * sizeof *lr);
	if (e == cudaSuccess)
		e = cudaMemcpy(t->lr, lr, (size_t)r->epochs * sizeof *lr, cudaMemcpyHostToDevice);
	free(lr);
	CU_TRY(e, "uploading the learning rates");
	CU_TRY(gpu_alloc(&t->epoch, sizeof *t->epoch), "epoch counter");
	return 0;
}

static int layer_setup(const trainer *t, layer_dev *L, const probe_layer *ly, const probe_recipe *r,
		       char *err)
{
	const int64_t k = t->k, d = ly->d;
	L->d = d, L->np = k * d + k;
	CU_TRY(cudaStreamCreateWithFlags(&L->stream, cudaStreamNonBlocking), "creating a stream");
	CUBLAS_TRY(cublasCreate(&L->blas), "creating a handle");
	CU_TRY(gpu_alloc(&L->blas_ws, BLAS_WORKSPACE), "cuBLAS workspace");
	CUBLAS_TRY(cublasSetWorkspace(L->blas, L->blas_ws, BLAS_WORKSPACE), "setting the workspace");
	CUBLAS_TRY(cublasSetStream(L->blas, L->stream), "setting the stream");
	/* the default mode keeps FP32 products in FP32; said explicitly */
	CUBLAS_TRY(cublasSetMathMode(L->blas, CUBLAS_DEFAULT_MATH), "setting the math mode");
	size_t pbytes = (size_t)L->np * sizeof(float);
	CU_TRY(gpu_alloc(&L->x, (size_t)(t->n * d) * sizeof(float)), "a layer's features on the GPU");
	CU_TRY(cudaMemcpy(L->x, ly->x, (size_t)(t->n * d) * sizeof(float), cudaMemcpyHostToDevice),
	       "uploading features");
	CU_TRY(gpu_alloc(&L->p, pbytes), "probe");
	CU_TRY(gpu_alloc(&L->v, pbytes), "momentum");
	CU_TRY(gpu_alloc(&L->g, pbytes), "gradient");
	if (r->patience)
		CU_TRY(gpu_alloc(&L->best, pbytes), "best probe");
	CU_TRY(cudaMemcpy(L->p, ly->w, (size_t)(k * d) * sizeof(float), cudaMemcpyHostToDevice), "uploading the probe");
	CU_TRY(cudaMemcpy(L->p + k * d, ly->b, (size_t)k * sizeof(float), cudaMemcpyHostToDevice), "uploading the probe");
	CU_TRY(cudaMemset(L->v, 0, pbytes), "momentum");
	CU_TRY(gpu_alloc(&L->xb, (size_t)(t->xb_rows * d) * sizeof(float)), "batch rows");
	CU_TRY(gpu_alloc(&L->yb, (size_t)(t->xb_rows * k) * sizeof(float)), "batch targets");
	CU_TRY(gpu_alloc(&L->z, (size_t)(t->z_rows * k) * sizeof(float)), "logits");
	CU_TRY(gpu_alloc(&L->loss, (size_t)r->epochs * sizeof(double)), "losses");
	CU_TRY(cudaMemset(L->loss, 0, (size_t)r->epochs * sizeof(double)), "losses");
	CU_TRY(gpu_alloc(&L->val, sizeof(double)), "val loss");
	return capture_epoch(t, L, r, err);
}

/* ---- training ---- */

/* the work of epoch e on every running layer, then one sync */
static int run_epoch(trainer *t, const probe_data *dt, const probe_recipe *r, probe_layer *ly, int e,
		     char *err)
{
	/* every stream is idle here; a plain copy may still be in flight when
	 * it returns, and the layers' streams do not wait for it */
	CU_TRY(cudaMemcpy(t->epoch, &e, sizeof e, cudaMemcpyHostToDevice), "setting the epoch");
	CU_TRY(cudaDeviceSynchronize(), "setting the epoch");
	int snap = dt->snap_every > 0 && (e + 1) % dt->snap_every == 0;
	for (int i = 0; i < t->nlayers; i++) {
		layer_dev *L = &t->l[i];
		if (L->stopped)
			continue;
		CU_TRY(cudaGraphLaunch(L->epoch, L->stream), "running an epoch");
		if (snap && ly[i].snap &&
		    snapshot(t, L, ly[i].snap + (int64_t)((e + 1) / dt->snap_every - 1) * dt->snap_stride, err))
			return -1;
		if (r->patience && dt->nval > 0 && val_loss(t, L, dt, err))
			return -1;
	}
	for (int i = 0; i < t->nlayers; i++)
		if (!t->l[i].stopped)
			CU_TRY(cudaStreamSynchronize(t->l[i].stream), "training");
	return 0;
}

/* after epoch e: early stopping as probe.c's stop_check, the best probe kept on the device */
static int after_epoch(trainer *t, const probe_data *dt, const probe_recipe *r, probe_layer *ly, int e,
		       char *err)
{
	for (int i = 0; i < t->nlayers; i++) {
		layer_dev *L = &t->l[i];
		if (L->stopped)
			continue;
		ly[i].epochs_run = e + 1;
		if (r->patience && dt->nval > 0) {
			double sum;
			CU_TRY(cudaMemcpy(&sum, L->val, sizeof sum, cudaMemcpyDeviceToHost), "reading the val loss");
			int stop;
			if (probe_stop_update(&L->st, sum / (double)(dt->nval * t->k), e, r->patience, &stop)) {
				ly[i].best_epoch = e + 1;
				/* on the layer's stream: before its next epoch changes p */
				CU_TRY(cudaMemcpyAsync(L->best, L->p, (size_t)L->np * sizeof(float),
						       cudaMemcpyDeviceToDevice, L->stream),
				       "keeping the best probe");
			}
			L->stopped = stop;
		}
	}
	return 0;
}

/* the probe (the best epoch's after an early stop) and the losses back to the host */
static int download(trainer *t, const probe_data *dt, const probe_recipe *r, probe_layer *ly, char *err)
{
	double *loss = (double *)malloc((size_t)r->epochs * sizeof *loss);
	if (!loss)
		return err_set(err, "out of memory");
	int rc = 0;
	for (int i = 0; i < t->nlayers && !rc; i++) {
		layer_dev *L = &t->l[i];
		const float *src = L->stopped ? L->best : L->p;
		cudaError_t e = cudaMemcpy(ly[i].w, src, (size_t)(t->k * L->d) * sizeof(float), cudaMemcpyDeviceToHost);
		if (e == cudaSuccess)
			e = cudaMemcpy(ly[i].b, src + t->k * L->d, (size_t)t->k * sizeof(float), cudaMemcpyDeviceToHost);
		if (e == cudaSuccess)
			e = cudaMemcpy(loss, L->loss, (size_t)r->epochs * sizeof *loss, cudaMemcpyDeviceToHost);
		if (e != cudaSuccess) {
			rc = err_set(err, "reading the probes back: %s", cudaGetErrorString(e));
			break;
		}
		for (int ep = 0; ep < ly[i].epochs_run; ep++)
			ly[i].loss[ep] = (float)(loss[ep] / (double)(dt->ntrain * t->k));
		probe_layer_finish(dt, r, &ly[i], 0, NULL, NULL);   /* restored above */
	}
	free(loss);
	return rc;
}

extern "C" int gpu_probe_train(const probe_data *dt, const probe_recipe *r, probe_layer *ly, int nlayers,
			       void (*progress)(void *ctx), void *ctx, char *err)
{
	trainer t;
	memset(&t, 0, sizeof t);
	if (nlayers < 1)
		return 0;
	if (gpu_open(err))
		return -1;
	t.l = (layer_dev *)calloc((size_t)nlayers, sizeof *t.l);
	if (!t.l)
		return err_set(err, "out of memory");
	t.nlayers = nlayers;
	int rc = shared_setup(&t, dt, r, err);
	for (int i = 0; i < nlayers && !rc; i++) {
		ly[i].best_epoch = 0;
		rc = layer_setup(&t, &t.l[i], &ly[i], r, err);
	}
	/* the uploads ran on the legacy stream, which the layers' streams do not wait for */
	cudaError_t e0 = rc ? cudaSuccess : cudaDeviceSynchronize();
	if (e0 != cudaSuccess)
		rc = err_set(err, "uploading the data: %s", cudaGetErrorString(e0));
	int running = nlayers;
	for (int e = 0; e < r->epochs && !rc && running; e++) {
		rc = run_epoch(&t, dt, r, ly, e, err) || after_epoch(&t, dt, r, ly, e, err) ? -1 : 0;
		running = 0;
		for (int i = 0; i < nlayers; i++) {
			running += !t.l[i].stopped;
			if (progress && ly[i].epochs_run == e + 1)
				progress(ctx);
		}
	}
	e0 = rc ? cudaSuccess : cudaDeviceSynchronize();   /* the last best-probe copies */
	if (e0 != cudaSuccess)
		rc = err_set(err, "training: %s", cudaGetErrorString(e0));
	if (!rc)
		rc = download(&t, dt, r, ly, err);
	trainer_free(&t);
	return rc;
}
