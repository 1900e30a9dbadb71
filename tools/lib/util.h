/* util.h: small pure helpers shared by the library, the tools and the unit
 * tests: a hash and a random-number generator. Nothing here allocates or fails.
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

#endif
