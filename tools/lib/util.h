/* util.h: small pure helpers shared by the library, the tools and the unit
 * tests: a hash, a random-number generator, UTF-8. Nothing here allocates or fails.
 *
 * Error rule: nothing can fail; never exits. */
#ifndef LS_UTIL_H
#define LS_UTIL_H

#include <stddef.h>
#include <stdint.h>

/* FNV-1a, 64 bits, over n bytes; chain by passing the previous hash as h
 * (start with UTIL_FNV1A_INIT). */
#define UTIL_FNV1A_INIT 1469598103934665603ULL
static inline uint64_t util_fnv1a(uint64_t h, const void *p, size_t n)
{
	const unsigned char *b = p;
	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 1099511628211ULL;
	return h;
}

/* SplitMix64 (Steele, Lea, Flood 2014): small, fast, and the same on every
 * platform, so seeded outputs are reproducible bit for bit. */
static inline uint64_t util_splitmix64(uint64_t *state)
{
	uint64_t z = (*state += 0x9E3779B97F4A7C15ULL);
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
	return z ^ (z >> 31);
}

/* The length (1 to 4) of the UTF-8 sequence at s, of which n bytes are
 * there, and its code point in *cp; 0 when s does not start a valid one
 * (overlong forms, surrogates and code points past U+10FFFF are not UTF-8). */
static inline size_t util_utf8_seq(const unsigned char *s, size_t n, uint32_t *cp)
{
	unsigned c = n ? s[0] : 0;
	size_t len = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 0;
	if (!n || !len || len > n || (len == 2 && c < 0xC2) || (len == 4 && c > 0xF4))
		return 0;
	uint32_t v = len == 1 ? c : c & (0x7Fu >> len);
	for (size_t k = 1; k < len; k++) {
		if ((s[k] & 0xC0) != 0x80)
			return 0;
		v = v << 6 | (s[k] & 0x3F);
	}
	if ((len == 3 && v < 0x800) || (len == 4 && (v < 0x10000 || v > 0x10FFFF)) || (v >= 0xD800 && v <= 0xDFFF))
		return 0;
	*cp = v;
	return len;
}

/* 1 when s[0..n) is UTF-8; else 0, with *bad (when not NULL) the offset of
 * the first byte that is not. */
static inline int util_utf8_valid(const char *s, size_t n, size_t *bad)
{
	const unsigned char *p = (const unsigned char *)s;
	uint32_t cp;
	for (size_t i = 0, len; i < n; i += len)
		if (!(len = util_utf8_seq(p + i, n - i, &cp))) {
			if (bad)
				*bad = i;
			return 0;
		}
	return 1;
}

#endif
