/* gpu_peak.cu: the ceilings bench/gpu.sh sets the GPU paths against,
 * measured on this machine's GPU: device-to-device copy bandwidth (bytes
 * read + written), and cuBLAS matrix-product rates in FP64, FP32 (no TF32)
 * and F16 with F32 accumulation (tensor cores), each the best of 5 timed
 * runs after a warm-up. Prints one line of KEY=VALUE for the script.
 *
 *   nvcc -O2 -arch=sm_90 -o gpu_peak bench/gpu_peak.cu -lcublas */
#include <stdio.h>
#include <cublas_v2.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#define CHECK(x)                                                                   \
	do {                                                                       \
		if ((x) != 0) {                                                    \
			fprintf(stderr, "gpu_peak: %s failed (line %d)\n", #x, __LINE__); \
			return 1;                                                  \
		}                                                                  \
	} while (0)

/* best seconds of 5 runs of what(), after one untimed */
template <class F> static float best(F what)
{
	cudaEvent_t a, b;
	cudaEventCreate(&a), cudaEventCreate(&b);
	what();
	float ms = 1e30f;
	for (int r = 0; r < 5; r++) {
		cudaEventRecord(a);
		what();
		cudaEventRecord(b);
		cudaEventSynchronize(b);
		float t;
		cudaEventElapsedTime(&t, a, b);
		ms = t < ms ? t : ms;
	}
	cudaEventDestroy(a), cudaEventDestroy(b);
	return ms * 1e-3f;
}

int main(void)
{
	const size_t bytes = (size_t)4 << 30, n = 8192;
	void *x, *y;
	CHECK(cudaMalloc(&x, bytes));
	CHECK(cudaMalloc(&y, bytes));
	CHECK(cudaMemset(x, 0, bytes));
	CHECK(cudaMemset(y, 0, bytes));
	double copy = 2.0 * bytes / best([&] { cudaMemcpy(y, x, bytes, cudaMemcpyDeviceToDevice); });
	cublasHandle_t h;
	CHECK(cublasCreate(&h));
	/* zeros would flatter the tensor cores; small random-ish values instead */
	CHECK(cudaMemset(x, 0x3c, n * n * 8));
	CHECK(cudaMemset(y, 0x3c, n * n * 8));
	double flop = 2.0 * n * n * n, one = 1, zero = 0;
	float onef = 1, zerof = 0;
	double *c64;
	CHECK(cudaMalloc(&c64, n * n * 8));
	double dgemm = flop / best([&] {
		cublasDgemm(h, CUBLAS_OP_N, CUBLAS_OP_N, n, n, n, &one, (double *)x, n, (double *)y, n, &zero, c64, n);
	});
	CHECK(cublasSetMathMode(h, CUBLAS_PEDANTIC_MATH));
	double sgemm = flop / best([&] {
		cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_N, n, n, n, &onef, (float *)x, n, (float *)y, n, &zerof, (float *)c64, n);
	});
	CHECK(cublasSetMathMode(h, CUBLAS_DEFAULT_MATH));
	double hgemm = flop / best([&] {
		cublasGemmEx(h, CUBLAS_OP_N, CUBLAS_OP_N, n, n, n, &onef, x, CUDA_R_16F, n, y, CUDA_R_16F, n, &zerof, c64,
			     CUDA_R_16F, n, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
	});
	CHECK(cudaGetLastError());
	cudaDeviceProp p;
	CHECK(cudaGetDeviceProperties(&p, 0));
	printf("gpu='%s' sms=%d copy_GBps=%.0f dgemm_TFLOPs=%.1f sgemm_TFLOPs=%.1f hgemm_TFLOPs=%.1f\n", p.name,
	       p.multiProcessorCount, copy * 1e-9, dgemm * 1e-12, sgemm * 1e-12, hgemm * 1e-12);
	return 0;
}
