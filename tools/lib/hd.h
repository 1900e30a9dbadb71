/* hd.h: LS_HD marks a small function that runs on the host and on the GPU.
 * Such functions live in headers that both the C library (gcc) and the
 * kernels in the tools/lib/ .cu files (nvcc) include, so that the arithmetic of a
 * kernel is the arithmetic the CPU path and its tests run on every machine.
 *
 * Error rule: nothing here can fail; never exits. */
#ifndef LS_HD_H
#define LS_HD_H

#if defined(__CUDACC__)
#define LS_HD __host__ __device__ static inline
#else
#define LS_HD static inline
#endif

#endif
