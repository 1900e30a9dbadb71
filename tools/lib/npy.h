/* npy.h: NumPy .npy arrays in and out, so any stage can be a Python script.
 *
 * Error rule: EXITS (cli_die, one line naming the file) on any bad input. */
#ifndef LS_NPY_H
#define LS_NPY_H

#include <stdio.h>
#include "st.h"

/* Reads PATH (format 1.0, 2.0 or 3.0, C order, little-endian) into a new
 * tensor NAME of f; dies with a one-line error on anything else. */
void npy_read_into(st_file *f, const char *name, const char *path);
/* Writes t as format 1.0; BF16, which NumPy lacks, is widened to float32. */
void npy_write(FILE *out, const st_tensor *t);

#endif
