/* gpu_device.cu: opening the CUDA device (gpu.h). */
#include <stdio.h>
#include "gpu_int.h"

static char description[640] = "no GPU opened";

/* a kernel of this build: whether it loads tells whether the build has
 * machine code (or PTX) the device can run */
__global__ void gpu_probe_kernel(int *x)
{
	if (x)
		*x = 1;
}

extern "C" int gpu_open(char *err)
{
	int n = 0;
	cudaError_t e = cudaGetDeviceCount(&n);
	if (e != cudaSuccess)
		return err_set(err, "no usable CUDA device (%s)", cudaGetErrorString(e));
	if (n == 0)
		return err_set(err, "no CUDA device visible");
	CU_TRY(cudaSetDevice(0), "selecting CUDA device 0");
	cudaDeviceProp p;
	CU_TRY(cudaGetDeviceProperties(&p, 0), "reading CUDA device 0");
	cudaFuncAttributes a;
	e = cudaFuncGetAttributes(&a, gpu_probe_kernel);
	if (e != cudaSuccess)
		return err_set(err, "%s (sm_%d%d): this build has no code for it (%s); rebuild with "
			       "CUDA_ARCH naming it", p.name, p.major, p.minor, cudaGetErrorString(e));
	snprintf(description, sizeof description, "%s (sm_%d%d, %d SMs, %.0f GiB)", p.name, p.major,
		 p.minor, p.multiProcessorCount, p.totalGlobalMem / 1073741824.0);
	return 0;
}

extern "C" const char *gpu_describe(void) { return description; }
