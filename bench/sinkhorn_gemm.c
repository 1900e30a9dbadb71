/* The machine's GEMM rates, for bench/sinkhorn.sh: sgemm and dgemm on
 * 1024^3 (what the cores can do) and dgemm on the shape sinkhorn iterates
 * with one thread per block: [256,K] x [K,K].
 *   sinkhorn_gemm THREADS K  ->  "sgemm G dgemm G dgemm_block G" (GFLOP/s) */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static double rate_d(int m, int n, int k, double min_s)
{
	double *a = calloc((size_t)m * k, 8), *b = calloc((size_t)k * n, 8), *c = calloc((size_t)m * n, 8);
	long reps = 0;
	double t0 = now();
	do {
		cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, n, k, 1, a, k, b, k, 0, c, n);
		reps++;
	} while (now() - t0 < min_s);
	double dt = now() - t0;
	free(a), free(b), free(c);
	return 2.0 * m * n * k * reps / dt * 1e-9;
}

static double rate_s(int m, double min_s)
{
	float *a = calloc((size_t)m * m, 4), *b = calloc((size_t)m * m, 4), *c = calloc((size_t)m * m, 4);
	long reps = 0;
	double t0 = now();
	do {
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, m, m, 1, a, m, b, m, 0, c, m);
		reps++;
	} while (now() - t0 < min_s);
	double dt = now() - t0;
	free(a), free(b), free(c);
	return 2.0 * m * m * m * reps / dt * 1e-9;
}

int main(int argc, char **argv)
{
	int threads = argc > 1 ? atoi(argv[1]) : 1, k = argc > 2 ? atoi(argv[2]) : 20;
	openblas_set_num_threads(threads);
	double s = rate_s(1024, 1.0), d = rate_d(1024, 1024, 1024, 1.0);
	openblas_set_num_threads(1);
	printf("sgemm %.1f dgemm %.1f dgemm_block %.1f\n", s, d, rate_d(256, k, k, 1.0));
	return 0;
}
