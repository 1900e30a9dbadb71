/* stmap.c: a safetensors file mapped into memory (stmap.h). */
#include "stmap.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

struct st_map {
	st_file *f;
	unsigned char *base;
	size_t len;
};

int st_map_owns(const st_map *m, const void *p)
{
	const unsigned char *c = p;
	return c >= m->base && c < m->base + m->len;
}

/* the whole pages of the mapping inside [p, p+n): *len 0 when none */
static unsigned char *inner_pages(const st_map *m, const void *p, size_t n, size_t *len)
{
	uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE), a = (uintptr_t)p, b = a + n;
	uintptr_t lo = (uintptr_t)m->base, hi = lo + m->len;
	a = a < lo ? lo : a;
	b = b > hi ? hi : b;
	a = (a + page - 1) / page * page;
	b = b / page * page;
	*len = b > a ? b - a : 0;
	return (unsigned char *)a;
}

void st_map_load(st_map *m, const void *p, size_t n)
{
	size_t len;
	unsigned char *a = inner_pages(m, p, n, &len);
	/* a hint: a kernel without MADV_POPULATE_READ (before 5.14) faults the
	 * pages in as they are read */
	if (len)
		madvise(a, len, MADV_POPULATE_READ);
}

void st_map_drop(st_map *m, const void *p, size_t n)
{
	size_t len;
	unsigned char *a = inner_pages(m, p, n, &len);
	if (len)
		madvise(a, len, MADV_DONTNEED);
}

st_file *st_map_file(st_map *m)
{
	return m->f;
}

void st_map_close(st_map *m)
{
	if (!m)
		return;
	for (int i = 0; i < m->f->n; i++)
		if (st_map_owns(m, m->f->t[i].data))
			m->f->t[i].data = NULL;
	st_file_free(m->f);
	munmap(m->base, m->len);
	free(m);
}

/* Points every tensor into the data section, or copies it when misaligned. */
static int place_tensors(st_map *m, const unsigned char *data)
{
	for (int i = 0; i < m->f->n; i++) {
		st_tensor *t = &m->f->t[i];
		uint64_t nb = st_nbytes(t);
		const unsigned char *p = data + t->begin;
		if (nb == 0)
			continue;
		if ((uintptr_t)p % st_dtype_size(t->dtype) == 0) {
			t->data = (void *)p;
		} else {
			if (!(t->data = malloc((size_t)nb)))
				return -1;
			memcpy(t->data, p, (size_t)nb);
		}
	}
	return 0;
}

st_map *st_map_open(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	struct stat sb;
	if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode) || sb.st_size < 8 || (uint64_t)sb.st_size > SIZE_MAX) {
		close(fd);
		return NULL;
	}
	size_t len = (size_t)sb.st_size;
	/* not populated: the caller loads what it reads when it reads it
	 * (st_map_load), so that the file is never resident all at once */
	void *base = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	close(fd);
	if (base == MAP_FAILED)
		return NULL;
	const unsigned char *b = base;
	uint64_t hlen = 0;
	for (int i = 7; i >= 0; i--)   /* little-endian on any host */
		hlen = hlen << 8 | b[i];
	st_map *m = calloc(1, sizeof *m);
	char err[ERR_LEN];
	if (m && hlen <= ST_MAX_HEADER && hlen <= len - 8) {
		m->base = base, m->len = len, m->f = st_file_new();
		if (st_parse_header((const char *)b + 8, (size_t)hlen, len - 8 - hlen, m->f, err) == 0 &&
		    place_tensors(m, b + 8 + hlen) == 0)
			return m;
		st_map_close(m);
		return NULL;
	}
	free(m);
	munmap(base, len);
	return NULL;
}
