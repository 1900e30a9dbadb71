/* strmap.c: the string -> int map of strmap.h. The table stays at most half
 * full, so probe runs stay short. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "strmap.h"
#include "util.h"

static size_t strmap_slot(const char *const *keys, size_t cap, const char *key)
{
	size_t i = util_fnv1a(UTIL_FNV1A_INIT, key, strlen(key)) & (cap - 1);
	while (keys[i] && strcmp(keys[i], key))
		i = (i + 1) & (cap - 1);
	return i;
}

int strmap_get(const strmap *m, const char *key)
{
	if (!m->cap)
		return -1;
	size_t i = strmap_slot((const char *const *)m->keys, m->cap, key);
	return m->keys[i] ? m->vals[i] : -1;
}

/* Doubles the table; on failure the map is left as it was. */
static int strmap_grow(strmap *m)
{
	size_t cap = m->cap ? m->cap * 2 : 64;
	char **keys = calloc(cap, sizeof(char *));
	int *vals = calloc(cap, sizeof(int));
	if (!keys || !vals) {
		free(keys);
		free(vals);
		return -1;
	}
	for (size_t i = 0; i < m->cap; i++)
		if (m->keys[i]) {
			size_t j = strmap_slot((const char *const *)keys, cap, m->keys[i]);
			keys[j] = m->keys[i];
			vals[j] = m->vals[i];
		}
	free(m->keys);
	free(m->vals);
	m->keys = keys;
	m->vals = vals;
	m->cap = cap;
	return 0;
}

int strmap_put(strmap *m, const char *key, int val)
{
	if (2 * (m->n + 1) > m->cap && strmap_grow(m))
		return -1;
	size_t i = strmap_slot((const char *const *)m->keys, m->cap, key);
	if (!m->keys[i]) {
		if (!(m->keys[i] = strdup(key)))
			return -1;
		m->n++;
	}
	m->vals[i] = val;
	return 0;
}

void strmap_free(strmap *m)
{
	for (size_t i = 0; i < m->cap; i++)
		free(m->keys[i]);
	free(m->keys);
	free(m->vals);
	memset(m, 0, sizeof(*m));
}
