/* strmap.h: a string -> int map (open addressing, FNV-1a), for the data set
 * readers' indexes: ids, label names, file names.
 *
 * Returns -1 when out of memory (the map is then unchanged); never exits.
 * A zeroed strmap is an empty map. */
#ifndef LS_STRMAP_H
#define LS_STRMAP_H

#include <stddef.h>

typedef struct {
	char **keys;
	int *vals;
	size_t cap, n;
} strmap;

/* The value of key, or -1 when absent. */
int strmap_get(const strmap *m, const char *key);
/* Inserts or overwrites; the key is copied. 0, or -1 when out of memory. */
int strmap_put(strmap *m, const char *key, int val);
void strmap_free(strmap *m);

#endif
