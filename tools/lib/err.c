/* err.c: the error-message helpers of err.h. */
#include "err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int err_set(char *err, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, ERR_LEN, fmt, ap);
	va_end(ap);
	return -1;
}

const char *err_esc(const char *s)
{
	static __thread char bufs[4][96];
	static __thread int next;
	char *b = bufs[next++ & 3];
	size_t k = 0;
	for (; *s && k < sizeof bufs[0] - 8; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '\n') { b[k++] = '\\'; b[k++] = 'n'; }
		else if (c < 0x20 || c == 0x7F) k += (size_t)snprintf(b + k, 8, "\\x%02x", c);
		else b[k++] = (char)c;
	}
	if (*s) { memcpy(b + k, "...", 3); k += 3; }
	b[k] = 0;
	return b;
}
