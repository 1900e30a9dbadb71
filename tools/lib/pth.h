/* pth.h: PyTorch checkpoints (.pth, .pt) read without Python
 * (docs/models.md, "Checkpoint files").
 *
 * Two containers: the zip archive torch.save writes since torch 1.6
 * (<archive>/data.pkl, one record <archive>/data/<key> per storage), and
 * the legacy stream of _use_new_zipfile_serialization=False (five pickles
 * and the storages one after another). The pickle is read by pickle.c
 * (nothing runs); its tensors become an st_file of contiguous tensors in the
 * storage's dtype, whatever their strides, offsets and sharing.
 *
 * Which dict is the state dict: the whole pickle when it is a dict of
 * tensors; else, in a checkpoint dict ({'state_dict': ..., 'epoch': ...}),
 * the entry opts->key, or the one entry that is a dict of tensors. The
 * DataParallel prefix 'module.' is removed when every name has it.
 *
 * Error rule (err.h): failures fill err[ERR_LEN] and return NULL or -1;
 * nothing here exits or prints. */
#ifndef LS_PTH_H
#define LS_PTH_H

#include <stddef.h>
#include <stdint.h>
#include "pickle.h"
#include "st.h"

/* the largest data.pkl read (a state dict of 100,000 tensors needs about 10 MB) */
#define PTH_MAX_PICKLE (1ULL << 30)

typedef struct {
	const char *key;            /* entry of a checkpoint dict; NULL: find it */
	const char *strip_prefix;   /* removed from every name that has it; NULL: 'module.'
	                             * when every name has it; "": nothing */
} pth_opts;

/* What pth_load chose, for the caller's notes. */
typedef struct {
	char key[128];        /* the checkpoint entry taken; "" when the pickle is the state dict */
	char stripped[64];    /* the prefix removed; "" when none */
	int legacy;           /* the pre-1.6 stream format */
} pth_info;

/* 1 when the file starts like a checkpoint (zip, or the legacy magic pickle) */
int pth_sniff(const uint8_t *head, size_t n);
int pth_is_file(const char *path);

/* Reads the state dict of a checkpoint; info may be NULL. */
st_file *pth_load(const char *path, const pth_opts *opts, pth_info *info, char *err);

/* The legacy stream already in memory (pth_load maps the file; the fuzzer). */
st_file *pth_load_legacy(const uint8_t *buf, size_t len, const pth_opts *opts, pth_info *info, char *err);

/* The state dict of an interpreted pickle, with each storage's bytes from
 * fetch (called once per storage key, nbytes as the pickle declares; returns
 * malloc'ed memory the caller takes, or NULL with err filled). For the
 * readers above and the fuzzer. */
typedef void *(*pth_fetch_fn)(void *ctx, const pk_storage *s, uint64_t nbytes, char *err);
st_file *pth_state_dict(const pk_value *root, const pth_opts *opts, pth_info *info,
			pth_fetch_fn fetch, void *ctx, char *err);

#endif
