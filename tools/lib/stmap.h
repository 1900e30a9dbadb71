/* stmap.h: a safetensors file mapped into memory instead of read.
 *
 * For large inputs in regular files (train-probe's features: 1.6 GB at
 * N = 20000, D = 2048, 10 layers): the data stay in the page cache and are
 * mapped copy-on-write, so loading costs neither a copy nor the zeroing of
 * fresh pages, which were about half of train-probe's fixed cost. Tensors
 * are writable (private copies of the touched pages). Nothing is read at
 * open but the header: the caller loads and drops ranges as it goes. A tensor whose offset
 * is not a multiple of its element size is copied out, so every data
 * pointer is aligned.
 *
 * Error rule: returns NULL; never exits. st_map_open returns NULL whenever the file is not a regular file or not a
 * valid safetensors file: the caller then reads it the ordinary way (cli_load),
 * which reports what is wrong. */
#ifndef LS_STMAP_H
#define LS_STMAP_H

#include "st.h"

typedef struct st_map st_map;

st_map *st_map_open(const char *path);
st_file *st_map_file(st_map *m);
/* 1 when p points into the mapping (not to be freed) */
int st_map_owns(const st_map *m, const void *p);
/* Faults in the pages of [p, p+n) (read, copy-on-write kept) before they
 * are read; a hint, nothing to fail. */
void st_map_load(st_map *m, const void *p, size_t n);
/* Gives back the pages wholly inside [p, p+n) (a page shared with the data
 * around stays): their private copies are discarded, so that reading there
 * again sees the file. For data no longer needed: train-probe's features of
 * one layer once its probe is trained, so that the layers are never all
 * resident at once. */
void st_map_drop(st_map *m, const void *p, size_t n);
/* Frees the file (its copied tensors too, not the mapped data) and unmaps. */
void st_map_close(st_map *m);

#endif
