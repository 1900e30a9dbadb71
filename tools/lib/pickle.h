/* pickle.h: the part of Python's pickle that torch.save writes, read
 * without running anything (format: docs/models.md, "The pickle subset").
 *
 * pk_load interprets one pickle stream into a graph of pk_value: None,
 * booleans, integers, floats, strings, bytes, tuples, lists, dicts, and
 * the torch objects of a state dict (storages named by persistent ids,
 * tensors from torch._utils._rebuild_tensor_v2 and _rebuild_parameter).
 * No GLOBAL is ever imported: collections.OrderedDict makes a dict, the two
 * torch rebuild functions make tensors, torch.<T>Storage names a storage
 * type inside a persistent id, and calling any other global yields an inert
 * PK_OBJECT that records only the global's name (a checkpoint may keep an
 * argparse.Namespace beside its state dict); pth.c refuses such an object
 * wherever it would need a tensor or a dict. Every length, count, memo index
 * and shape is checked against the input and the limits below.
 *
 * Values may be shared (the memo) and lists may even contain themselves:
 * the pickle owns them all and pk_free releases them in one pass.
 *
 * Error rule (err.h): functions that fail fill err[ERR_LEN] and return
 * NULL or -1; nothing here exits or prints. */
#ifndef LS_PICKLE_H
#define LS_PICKLE_H

#include <stddef.h>
#include <stdint.h>
#include "st.h"

typedef enum {
	PK_NONE, PK_BOOL, PK_INT, PK_BIGINT, PK_FLOAT, PK_STR, PK_BYTES,
	PK_TUPLE, PK_LIST, PK_DICT,
	PK_GLOBAL,   /* a GLOBAL name, never resolved: s = "module.name" */
	PK_OBJECT,   /* the inert result of calling another global: s = its name */
	PK_STORAGE,  /* persistent id ('storage', torch.<T>Storage, key, location, numel) */
	PK_TENSOR,
} pk_kind;

typedef struct pk_value pk_value;

typedef struct {
	st_dtype dtype;
	const char *key;        /* the storage's record: <archive>/data/<key> in a zip checkpoint */
	const char *location;   /* 'cpu', 'cuda:0', ... */
	int64_t numel;          /* elements of dtype; numel * size fits in int64 */
} pk_storage;

/* A view of a storage. Checked at creation: shape and strides >= 0, and
 * every element inside the storage. */
typedef struct {
	const pk_value *storage;   /* a PK_STORAGE */
	int64_t offset;            /* in elements */
	int ndim;
	int64_t shape[ST_MAX_DIMS], stride[ST_MAX_DIMS];
} pk_tensor;

struct pk_value {
	pk_kind kind;
	union {
		int64_t i;                                 /* PK_BOOL, PK_INT */
		double f;                                  /* PK_FLOAT */
		struct { char *s; size_t len; };           /* PK_STR (UTF-8), PK_BYTES, PK_GLOBAL,
		                                            * PK_OBJECT: NUL-terminated; PK_BIGINT:
		                                            * little-endian two's complement */
		struct { pk_value **items; size_t n, cap; }; /* PK_TUPLE, PK_LIST: n items;
		                                            * PK_DICT: n pairs, key then value */
		pk_storage *storage;                       /* PK_STORAGE */
		pk_tensor *tensor;                         /* PK_TENSOR */
	};
	pk_value *next_alloc;   /* every value of a pickle, for pk_free */
};

typedef struct pk_pickle pk_pickle;   /* owns every value */

/* What a file may make us allocate, beyond its own bytes. */
#define PK_MAX_VALUES (1 << 23)
#define PK_MAX_MEMO (1 << 23)

/* Interprets buf[0, len) up to its STOP. *used gets the bytes read (the
 * legacy format puts several pickles one after another); may be NULL.
 * Returns the pickle (pk_root for its value) or NULL with err filled. */
pk_pickle *pk_load(const uint8_t *buf, size_t len, size_t *used, char *err);
const pk_value *pk_root(const pk_pickle *p);
void pk_free(pk_pickle *p);
/* Every PK_STORAGE made by a persistent id, in the order of the stream
 * (one per occurrence: tensors sharing a storage repeat its key). */
size_t pk_storages(const pk_pickle *p, const pk_value *const **out);

/* A dict's i-th key and value (i < d->n); pk_dict_get: the value of a string
 * key (the last one set, as Python keeps), NULL when absent. */
static inline const pk_value *pk_key(const pk_value *d, size_t i) { return d->items[2 * i]; }
static inline const pk_value *pk_val(const pk_value *d, size_t i) { return d->items[2 * i + 1]; }
const pk_value *pk_dict_get(const pk_value *d, const char *key);

/* "a dict", "a tensor", "an object built by argparse.Namespace", ... for messages */
const char *pk_describe(const pk_value *v);

#endif
