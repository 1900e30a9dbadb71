/* TAP for the C unit tests: ok() numbers the tests and prints "ok N - ..."
 * or "not ok N - ...", tap_done() prints the plan "1..N" and gives main()'s
 * exit status (1 if any failed). rel_diff() is the comparison most of them
 * make: max |a-b| / max |b|. Header only; every function is static inline,
 * so a test that does not use one is not warned about it. */
#ifndef LS_TESTS_TAP_H
#define LS_TESTS_TAP_H

#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

static int ntest, nfail;

__attribute__((format(printf, 2, 3))) static inline int ok(int cond, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	printf("%sok %d - ", cond ? "" : "not ", ++ntest);
	vprintf(fmt, ap);
	printf("\n");
	va_end(ap);
	nfail += !cond;
	return cond;
}

static inline int tap_done(void)
{
	printf("1..%d\n", ntest);
	return nfail != 0;
}

/* max |a-b| / max |b| (max |a-b| where b is all 0) */
static inline double rel_diff(const float *a, const float *b, size_t n)
{
	double m = 0, s = 0;
	for (size_t i = 0; i < n; i++) {
		m = fmax(m, fabs((double)a[i] - b[i]));
		s = fmax(s, fabs((double)b[i]));
	}
	return m / (s > 0 ? s : 1);
}

#endif
