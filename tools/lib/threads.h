/* threads.h: running work on threads, and the one place that sizes the
 * thread pools of the libraries underneath (OpenBLAS, and OpenMP for oneDNN
 * and OpenBLAS's OpenMP build).
 *
 * Error rule: nothing fails and nothing exits: work whose thread cannot be
 * created runs in the caller instead. */
#ifndef LS_THREADS_H
#define LS_THREADS_H

#include <stddef.h>

/* Runs fn(args + i * stride) for i = 0..n-1 and waits for all: task 0 in the
 * caller, the others on threads of their own; a task whose thread cannot be
 * created runs in the caller too, after task 0. n <= 1 runs inline. Workers
 * that share one queue pass stride 0. */
void threads_run(int n, void *(*fn)(void *), void *args, size_t stride);

/* The CPUs this process may use, the default thread count of every tool:
 * the count of its affinity mask (taskset, Slurm's task/affinity), capped by
 * the CPU quota of its cgroup and of every cgroup above it (v2 cpu.max, v1
 * cpu.cfs_quota_us over cpu.cfs_period_us), rounded up; at least 1. A quota
 * file that cannot be read or parsed counts as no quota. */
int threads_cpus(void);
/* The same with /proc and the cgroup file systems read under root ("" for
 * the system itself) and the affinity count given: the rule made testable. */
int threads_cpus_under(const char *root, int affinity);

/* OpenBLAS's thread count. Its OpenMP build keeps the count per calling
 * thread, and a new thread starts at "all cores": a worker that calls BLAS
 * sets its own. */
void threads_set_blas(int n);
int threads_get_blas(void);
/* OpenMP's alone (oneDNN's CPU engine). */
void threads_set_omp(int n);

#endif
