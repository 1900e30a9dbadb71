/* fuzz.h: what the libFuzzer targets (tests/fuzz/fuzz_*.c) share. Define
 * FUZZ_TARGET (the target's name, for messages) before including it. */
#ifndef LS_FUZZ_H
#define LS_FUZZ_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include "util.h"

/* A broken invariant is a finding: abort, so that libFuzzer keeps the input. */
static inline void check(int cond, const char *what)
{
	if (!cond) {
		fprintf(stderr, FUZZ_TARGET ": invariant broken: %s\n", what);
		abort();
	}
}

/* A message is one line of text: UTF-8 without a newline or any other
 * control character, C1 included (names from the input must reach it
 * escaped, err_esc). */
static inline int fuzz_one_line(const char *msg)
{
	const unsigned char *p = (const unsigned char *)msg;
	size_t n = strlen(msg), len;
	for (size_t i = 0; i < n; i += len) {
		uint32_t cp;
		if (!(len = util_utf8_seq(p + i, n - i, &cp)) || cp < 0x20 || (cp >= 0x7f && cp < 0xa0))
			return 0;
	}
	return 1;
}

/* The input as a regular file, the way the tools open theirs (size known,
 * seeks allowed): one memfd, rewritten for every input. Returns its path. */
static inline const char *fuzz_file(const uint8_t *data, size_t size)
{
	static int fd = -1;
	static char path[64];
	if (fd < 0) {
		fd = memfd_create(FUZZ_TARGET, 0);
		check(fd >= 0, "memfd_create");
		snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
	}
	check(ftruncate(fd, 0) == 0 && (size == 0 || pwrite(fd, data, size, 0) == (ssize_t)size),
	      "memfd write");
	return path;
}

#endif
