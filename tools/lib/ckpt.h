/* ckpt.h: a training run's checkpoints in order, from a list file or from
 * the files themselves (docs/bn-drift.md, fixtures/README.md).
 *
 * A list file holds one `EPOCH<TAB>PATH` line per checkpoint in training
 * order (blank lines and lines starting with '#' are skipped); EPOCH is a
 * finite number, PATH is relative to the list's folder unless absolute.
 * Epochs must increase strictly: consecutive lines are consecutive points of
 * one run.
 *
 * Error rule: returns -1 with err (err.h); never exits. */
#ifndef LS_CKPT_H
#define LS_CKPT_H

#include "err.h"

typedef struct {
	int n;
	char **paths;     /* n paths, as opened */
	double *epochs;   /* n epochs; NULL when unknown */
} ckpt_list;

/* Reads a list file into l. */
int ckpt_list_read(const char *path, ckpt_list *l, char *err);
/* Epochs must increase strictly; what names them in the message (a list's
 * path, or "the checkpoints' metadata `epoch`"). */
int ckpt_check_order(const ckpt_list *l, const char *what, char *err);
void ckpt_list_free(ckpt_list *l);

#endif
