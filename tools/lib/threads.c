/* threads.c: see threads.h. */
#include "threads.h"

#include <cblas.h>
#include <dlfcn.h>
#include <pthread.h>
#include <stdlib.h>

void threads_run(int n, void *(*fn)(void *), void *args, size_t stride)
{
	char *base = args;
	pthread_t *tid = n > 1 ? malloc((size_t)n * sizeof *tid) : NULL;
	char *started = n > 1 ? calloc((size_t)n, 1) : NULL;
	if (!tid || !started) {   /* no room to track threads: all inline */
		for (int i = 0; i < n; i++)
			fn(base + (size_t)i * stride);
		free(tid);
		free(started);
		return;
	}
	for (int i = 1; i < n; i++)
		started[i] = pthread_create(&tid[i], NULL, fn, base + (size_t)i * stride) == 0;
	fn(base);
	for (int i = 1; i < n; i++)
		if (!started[i])
			fn(base + (size_t)i * stride);
	for (int i = 1; i < n; i++)
		if (started[i])
			pthread_join(tid[i], NULL);
	free(tid);
	free(started);
}

void threads_set_omp(int n)
{
	/* libgomp is in the process (oneDNN and OpenBLAS use it) without being
	 * linked by name, so its setter is looked up rather than called. */
	static void (*set)(int);
	if (!set)
		*(void **)&set = dlsym(RTLD_DEFAULT, "omp_set_num_threads");
	if (set)
		set(n < 1 ? 1 : n);
}

void threads_set_blas(int n)
{
	openblas_set_num_threads(n < 1 ? 1 : n);
}

int threads_get_blas(void)
{
	return openblas_get_num_threads();
}
