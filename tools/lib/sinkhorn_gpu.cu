/* sinkhorn_gpu.cu: the batched Sinkhorn iteration on the GPU (gpu_sk_solve, gpu.h).
 *
 * A warp solves one problem at a time and takes the next as soon as it
 * finishes (a persistent grid with a job counter), so every problem stops
 * at its own iteration, as sk_batch's slots do. Lane l holds entries
 * l, l + 32, ... (R = ceil(K/32) <= 4 of each of x, y, u, v, K v, K^T u)
 * in registers. The kernel matrix sits in shared memory once per block,
 * rows padded to an odd stride so that both products read it without bank
 * conflicts: K v walks j with each lane on its row, K^T u walks i with
 * lanes along the row; the scaling broadcast to the warp by shuffles.
 * Everything is float64, and the per-entry steps are sinkhorn_step.h's:
 * the arithmetic of the CPU's plain path, in the same order per entry;
 * only the sums of the products and of the error differ in order. The
 * copies and the kernel share the legacy stream, which orders them. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "gpu_int.h"
#include "sinkhorn_step.h"

enum { THREADS = 512, KMAX = 128 };
static const size_t CHUNK_BYTES = (size_t)256 << 20;   /* x, y, u and v of one chunk */
#define FULL 0xffffffffu

typedef struct {
	int k, stride, max_iter, newton_after, sym, want;
	double eps, tol, omega;
	const double *kern, *kernc;   /* device, [k,k] */
} sk_args;

__device__ __forceinline__ double warp_sum(double v)
{
	for (int o = 16; o > 0; o >>= 1)
		v += __shfl_xor_sync(FULL, v, o);
	return v;
}

/* out = K v (t = 0) or K^T v (t = 1), K in shared memory with an odd stride */
template <int R>
__device__ __forceinline__ void matvec(const double *ks, int stride, int k, int lane, const double (&v)[R],
				       double (&out)[R], int t)
{
#pragma unroll
	for (int r = 0; r < R; r++)
		out[r] = 0;
#pragma unroll
	for (int rr = 0; rr < R; rr++)
#pragma unroll 4
		for (int s = 0; s < 32; s++) {
			int j = rr * 32 + s;
			if (j >= k)
				break;
			double vj = __shfl_sync(FULL, v[rr], s);
#pragma unroll
			for (int r = 0; r < R; r++) {
				int i = lane + 32 * r;
				out[r] += (t ? ks[j * stride + i] : ks[i * stride + j]) * vj;
			}
		}
}

template <int R>
__global__ void __launch_bounds__(THREADS) sk_solve(sk_args a, const double *x, const double *y, int64_t n,
						    unsigned long long *next, double *val, double *errs, int *iters,
						    unsigned char *status, double *uo, double *vo)
{
	extern __shared__ double ks[];   /* [32 R][stride]: K, zero beyond k */
	const int k = a.k, S = a.stride, lane = threadIdx.x & 31;
	for (int q = threadIdx.x; q < 32 * R * S; q += blockDim.x) {
		int i = q / S, j = q % S;
		ks[q] = i < k && j < k ? a.kern[(size_t)i * k + j] : 0;
	}
	__syncthreads();
	for (;;) {
		unsigned long long job = 0;
		if (lane == 0)
			job = atomicAdd(next, 1ull);
		job = __shfl_sync(FULL, job, 0);
		if (job >= (unsigned long long)n)
			return;
		double xr[R], yr[R], u[R], v[R], w[R], z[R];
#pragma unroll
		for (int r = 0; r < R; r++) {
			int i = lane + 32 * r;
			xr[r] = i < k ? x[job * k + i] : 0;
			yr[r] = a.sym ? xr[r] : i < k ? y[job * k + i] : 0;
			/* the start: v = 1 on the support of y, or u = sqrt(x) (the
			 * solution when K = I) for the symmetric form */
			u[r] = a.sym ? sqrt(xr[r]) : 0;
			v[r] = a.sym ? 0 : yr[r] > 0;
			z[r] = 0;
		}
		int it = 0, how = GPU_SK_DONE;
		double slot_omega = a.sym ? 1 : a.omega, prev = INFINITY, e = 0, e8 = INFINITY;
		for (;;) {
			if (a.sym)   /* (arrays chosen by branches: a pointer would move them to memory) */
				matvec<R>(ks, S, k, lane, u, w, 0);
			else
				matvec<R>(ks, S, k, lane, v, w, 0);
			if (it > 0) {
				/* the plan of (u, v): rows u (K v) = u w, columns v (K^T u) = v z */
				double part = 0;
#pragma unroll
				for (int r = 0; r < R; r++)
					part += sk_resid1(u[r], w[r], xr[r]) + (a.sym ? 0 : sk_resid1(v[r], z[r], yr[r]));
				e = warp_sum(part);
				if (a.sym)
					e *= 2;
				if (!isfinite(e)) {
					how = GPU_SK_LOG;
					break;
				}
				if (e <= a.tol || it >= a.max_iter)
					break;
				/* every 8 iterations from the 16th, a slow rate hands the problem to Newton */
				if (a.newton_after && it % 8 == 0) {
					if (it >= 16 && sk_slow(e8, e, a.tol, a.newton_after, it)) {
						how = GPU_SK_NEWTON;
						break;
					}
					e8 = e;
				}
				/* relaxed steps may raise the error a little; tenfold gives
				 * the problem back to plain Sinkhorn */
				if (e > 10 * prev)
					slot_omega = 1;
				prev = e;
			}
			double om = it > 0 ? slot_omega : 1;
			int bad = 0;
			if (a.sym) {   /* the averaged fixed point: f <- (f + T(f)) / 2 */
#pragma unroll
				for (int r = 0; r < R; r++)
					u[r] = sqrt(u[r] * sk_scale1(xr[r], w[r], u[r], 1, &bad));
				it++;
				if (__any_sync(FULL, bad)) {
					how = GPU_SK_LOG;
					break;
				}
				continue;
			}
#pragma unroll
			for (int r = 0; r < R; r++)
				u[r] = sk_scale1(xr[r], w[r], u[r], om, &bad);
			if (__any_sync(FULL, bad)) {
				how = GPU_SK_LOG;
				break;
			}
			matvec<R>(ks, S, k, lane, u, z, 1);
#pragma unroll
			for (int r = 0; r < R; r++)
				v[r] = sk_scale1(yr[r], z[r], v[r], om, &bad);
			if (__any_sync(FULL, bad)) {
				how = GPU_SK_LOG;
				break;
			}
			it++;
		}
		double result = NAN;
		if (how == GPU_SK_NEWTON)   /* the CPU goes on from these scalings */
#pragma unroll
			for (int r = 0; r < R; r++) {
				int i = lane + 32 * r;
				if (i < k) {
					uo[job * k + i] = u[r];
					if (!a.sym)
						vo[job * k + i] = v[r];
				}
			}
		if (how == GPU_SK_DONE) {
			/* the values of (u, v), w = K v and z = K^T u current, as slot_values */
			if (a.sym)
#pragma unroll
				for (int r = 0; r < R; r++)
					v[r] = u[r], z[r] = w[r];
			double mass = 0, dual = 0, xlx = 0, er = 0, tc = 0;
#pragma unroll
			for (int r = 0; r < R; r++) {
				mass += u[r] * w[r];
				er += sk_resid1(u[r], w[r], xr[r]) + sk_resid1(v[r], z[r], yr[r]);
				dual += sk_dual1(xr[r], u[r]) + sk_dual1(yr[r], v[r]);
				xlx += sk_xlogx1(xr[r]) + sk_xlogx1(yr[r]);
			}
			if (a.want == GPU_SK_TRANSPORT) {   /* <u, (K o C) v>, the product read from global memory */
#pragma unroll
				for (int rr = 0; rr < R; rr++)
					for (int s = 0; s < 32; s++) {
						int j = rr * 32 + s;
						if (j >= k)
							break;
						double vj = __shfl_sync(FULL, v[rr], s);
#pragma unroll
						for (int r = 0; r < R; r++) {
							int i = lane + 32 * r;
							if (i < k)
								tc += u[r] * a.kernc[(size_t)i * k + j] * vj;
						}
					}
			}
			mass = warp_sum(mass), dual = warp_sum(dual), xlx = warp_sum(xlx), e = warp_sum(er), tc = warp_sum(tc);
			double kl = a.eps * dual - a.eps * (mass - 1);
			result = a.want == GPU_SK_KL ? kl : a.want == GPU_SK_ENTROPIC ? kl + a.eps * (xlx - 1) : tc;
		}
		if (lane == 0) {
			val[job] = result;
			errs[job] = e;
			iters[job] = it;
			status[job] = (unsigned char)how;
		}
	}
}

typedef struct {
	double *x, *y, *u, *v, *val, *errs, *kern, *kernc;
	int *iters;
	unsigned char *status;
	unsigned long long *next;
} sk_dev;

static void sk_dev_free(sk_dev *d)
{
	void *p[] = {d->x, d->y, d->u, d->v, d->val, d->errs, d->kern, d->kernc, d->iters, d->status, d->next};
	for (size_t i = 0; i < sizeof p / sizeof *p; i++)
		cudaFree(p[i]);
}

template <int R>
static int launch(const sk_args *a, const sk_dev *d, int64_t m, char *err)
{
	size_t shared = (size_t)32 * R * a->stride * sizeof(double);
	CU_TRY(cudaFuncSetAttribute(sk_solve<R>, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)shared),
	       "sinkhorn kernel shared memory");
	int per_sm = 0, sms = 0, dev = 0;
	CU_TRY(cudaGetDevice(&dev), "sinkhorn kernel");
	CU_TRY(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev), "sinkhorn kernel");
	CU_TRY(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, sk_solve<R>, THREADS, shared), "sinkhorn kernel");
	int64_t blocks = (int64_t)sms * (per_sm > 0 ? per_sm : 1);
	if (blocks * (THREADS / 32) > m)   /* no more warps than problems */
		blocks = (m + THREADS / 32 - 1) / (THREADS / 32);
	CU_TRY(cudaMemset(d->next, 0, sizeof *d->next), "sinkhorn job counter");
	sk_solve<R><<<(unsigned)blocks, THREADS, shared>>>(*a, d->x, d->y, m, d->next, d->val, d->errs, d->iters,
							   d->status, d->u, d->v);
	CU_LAUNCHED("sinkhorn kernel");
	return 0;
}

/* the scalings of the problems handed to Newton, rows [s, s + m), back to the host */
static int download_scalings(const gpu_sk *p, const sk_dev *d, int64_t s, int64_t m, const unsigned char *status,
			     double *u, double *v, char *err)
{
	const size_t row = (size_t)p->k * sizeof(double);
	for (int64_t i = 0; i < m; i++) {
		if (status[s + i] != GPU_SK_NEWTON)
			continue;
		CU_TRY(cudaMemcpy(u + (size_t)(s + i) * p->k, d->u + (size_t)i * p->k, row, cudaMemcpyDeviceToHost),
		       "reading scalings back");
		if (!p->sym)
			CU_TRY(cudaMemcpy(v + (size_t)(s + i) * p->k, d->v + (size_t)i * p->k, row, cudaMemcpyDeviceToHost),
			       "reading scalings back");
	}
	return 0;
}

extern "C" int gpu_sk_solve(const gpu_sk *p, int64_t n, const double *x, const double *y, double *val, double *errs,
			    int *iters, unsigned char *status, double *u, double *v, char *err)
{
	if (p->k < 1 || p->k > KMAX)
		return err_set(err, "K = %d labels: the GPU path takes 1 to %d (use --device cpu)", p->k, KMAX);
	if (n < 1)
		return 0;
	if (gpu_open(err))
		return -1;
	const int k = p->k, R = (k + 31) / 32;
	int64_t chunk = (int64_t)(CHUNK_BYTES / (4 * sizeof(double) * (size_t)k));
	chunk = chunk < n ? chunk : n;
	sk_args a = {k, k | 1, p->max_iter, p->newton_after, p->sym, p->want, p->eps, p->tol, p->omega, NULL, NULL};
	sk_dev d;
	memset(&d, 0, sizeof d);
	size_t kk = (size_t)k * k * sizeof(double), rows = (size_t)chunk * k * sizeof(double);
	cudaError_t e = cudaSuccess;
	void **bufs[] = {(void **)&d.kern, (void **)&d.kernc, (void **)&d.x, (void **)&d.y, (void **)&d.u, (void **)&d.v,
			 (void **)&d.val, (void **)&d.errs, (void **)&d.iters, (void **)&d.status, (void **)&d.next};
	size_t sizes[] = {kk, kk, rows, p->sym ? 16 : rows, rows, p->sym ? 16 : rows, (size_t)chunk * sizeof(double),
			  (size_t)chunk * sizeof(double), (size_t)chunk * sizeof(int), (size_t)chunk,
			  sizeof(unsigned long long)};
	for (size_t b = 0; b < sizeof sizes / sizeof *sizes && e == cudaSuccess; b++)
		e = gpu_alloc(bufs[b], sizes[b]);
	if (e == cudaSuccess)
		e = cudaMemcpy(d.kern, p->kern, kk, cudaMemcpyHostToDevice);
	if (e == cudaSuccess)
		e = cudaMemcpy(d.kernc, p->kernc, kk, cudaMemcpyHostToDevice);
	a.kern = d.kern, a.kernc = d.kernc;
	int rc = e == cudaSuccess ? 0 : err_set(err, "sinkhorn on the GPU: %s", cudaGetErrorString(e));
	for (int64_t s = 0; s < n && !rc; s += chunk) {
		int64_t m = n - s < chunk ? n - s : chunk;
		size_t bytes = (size_t)m * k * sizeof(double);
		e = cudaMemcpy(d.x, x + (size_t)s * k, bytes, cudaMemcpyHostToDevice);
		if (e == cudaSuccess && !p->sym)
			e = cudaMemcpy(d.y, y + (size_t)s * k, bytes, cudaMemcpyHostToDevice);
		if (e != cudaSuccess) {
			rc = err_set(err, "uploading problems: %s", cudaGetErrorString(e));
			break;
		}
		rc = R == 1 ? launch<1>(&a, &d, m, err) : R == 2 ? launch<2>(&a, &d, m, err)
		   : R == 3 ? launch<3>(&a, &d, m, err) : launch<4>(&a, &d, m, err);
		if (!rc) {
			e = cudaMemcpy(val + s, d.val, (size_t)m * sizeof(double), cudaMemcpyDeviceToHost);
			if (e == cudaSuccess)
				e = cudaMemcpy(errs + s, d.errs, (size_t)m * sizeof(double), cudaMemcpyDeviceToHost);
			if (e == cudaSuccess)
				e = cudaMemcpy(iters + s, d.iters, (size_t)m * sizeof(int), cudaMemcpyDeviceToHost);
			if (e == cudaSuccess)
				e = cudaMemcpy(status + s, d.status, (size_t)m, cudaMemcpyDeviceToHost);
			if (e != cudaSuccess)
				rc = err_set(err, "sinkhorn on the GPU: %s", cudaGetErrorString(e));
			else if (p->newton_after)
				rc = download_scalings(p, &d, s, m, status, u, v, err);
		}
	}
	sk_dev_free(&d);
	return rc;
}
