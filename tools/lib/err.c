/* err.c: the error-message helpers of err.h. */
#include "err.h"
#include "util.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

int err_set(char *err, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(err, ERR_LEN, fmt, ap);
	va_end(ap);
	if (n >= ERR_LEN) {   /* cut short: not inside a UTF-8 sequence */
		size_t end = ERR_LEN - 1, lead = end;
		uint32_t cp;
		while (lead > 0 && end - lead < 4 && ((unsigned char)err[lead - 1] & 0xC0) == 0x80)
			lead--;
		if (lead > 0 && (unsigned char)err[lead - 1] >= 0xC0 &&
		    !util_utf8_seq((const unsigned char *)err + lead - 1, end - lead + 1, &cp))
			err[lead - 1] = 0;
	}
	return -1;
}

size_t err_escape(char *dst, size_t cap, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t k = 0;
	while (*p) {
		char piece[8];
		uint32_t cp = 0;
		size_t len = util_utf8_seq(p, strnlen((const char *)p, 4), &cp), n;
		if (len == 0)
			n = (size_t)snprintf(piece, sizeof piece, "\\x%02x", *p), len = 1;
		else if (cp == '\n' || cp == '\t' || cp == '\r')
			n = (size_t)snprintf(piece, sizeof piece, "\\%c", cp == '\n' ? 'n' : cp == '\t' ? 't' : 'r');
		else if (cp < 0x20 || cp == 0x7F)
			n = (size_t)snprintf(piece, sizeof piece, "\\x%02x", (unsigned)cp);
		else if (cp >= 0x80 && cp < 0xA0)
			n = (size_t)snprintf(piece, sizeof piece, "\\u%04x", (unsigned)cp);
		else
			memcpy(piece, p, len), n = len;
		if (k + n + 4 > cap) {   /* room for "..." and the NUL */
			memcpy(dst + k, "...", 3);
			k += 3;
			break;
		}
		memcpy(dst + k, piece, n);
		k += n;
		p += len;
	}
	dst[k] = 0;
	return k;
}

const char *err_esc(const char *s)
{
	static __thread char bufs[4][96];
	static __thread int next;
	char *b = bufs[next++ & 3];
	err_escape(b, sizeof bufs[0], s);
	return b;
}
