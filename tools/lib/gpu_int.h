/* gpu_int.h: what the .cu files of tools/lib share (C++, nvcc only): the
 * library's C headers with C linkage, and the checks that turn a failed
 * CUDA, cuBLAS or cuDNN call into the library's error rule: fill err, return -1.
 *
 * Each GPU object (a trainer, a network) is zero-initialised, its free
 * function releases whatever was allocated, so a function that fails
 * halfway returns -1 and its caller frees the object.
 *
 * Error rule: returns -1/NULL with err (char err[ERR_LEN]); never exits or prints. */
#ifndef LS_GPU_INT_H
#define LS_GPU_INT_H

#include <cuda_runtime.h>
#include <cublas_v2.h>

extern "C" {
#include "gpu.h"
}

/* Fills err with "what: CUDA's reason" and returns -1 from the enclosing
 * function when call fails; err must be in scope. */
#define CU_TRY(call, what)                                                                    \
	do {                                                                                  \
		cudaError_t e_ = (call);                                                      \
		if (e_ != cudaSuccess)                                                        \
			return err_set(err, "%s: %s", (what), cudaGetErrorString(e_));        \
	} while (0)
#define CUBLAS_TRY(call, what)                                                                \
	do {                                                                                  \
		cublasStatus_t s_ = (call);                                                   \
		if (s_ != CUBLAS_STATUS_SUCCESS)                                              \
			return err_set(err, "%s: cuBLAS: %s", (what), cublasGetStatusString(s_)); \
	} while (0)
/* a kernel launch: its configuration errors show at once, the rest at the next sync */
#define CU_LAUNCHED(what) CU_TRY(cudaGetLastError(), what)

/* blocks of `threads` covering n items, capped where a grid-stride loop takes over */
static inline unsigned gpu_blocks(int64_t n, int threads)
{
	int64_t b = (n + threads - 1) / threads;
	return (unsigned)(b < 1 ? 1 : b > 65535 * 16 ? 65535 * 16 : b);
}

/* cudaMalloc of n bytes into *p (n == 0 allocates a little, so p is valid) */
static inline cudaError_t gpu_alloc(void *p, size_t n)
{
	return cudaMalloc((void **)p, n ? n : 16);
}

#endif
