/* ls.h: the command-line conventions every tool shares (contract section 2).
 *
 * Errors: ls_die() prints one line "TOOL: what failed: why" and exits 1;
 * ls_usage() prints the same and a hint to --help, exit 2. Both remove any
 * half-written output file first, so a failed run leaves nothing behind. */
#ifndef LS_LS_H
#define LS_LS_H

#include <stdio.h>
#include <stdint.h>
#include "st.h"

#define LS_VERSION "0.1.0"

extern const char *ls_prog;

/* Call first: records the program name and the command line for `history`. */
void ls_init(int argc, char **argv, const char *prog);

__attribute__((noreturn, format(printf, 1, 2))) void ls_die(const char *fmt, ...);
__attribute__((noreturn, format(printf, 1, 2))) void ls_usage(const char *fmt, ...);
__attribute__((format(printf, 1, 2))) void ls_warn(const char *fmt, ...);
/* informational line on stderr unless -q */
__attribute__((format(printf, 1, 2))) void ls_info(const char *fmt, ...);

void *ls_malloc(size_t n);
void *ls_calloc(size_t n, size_t size);   /* overflow-checked */
void *ls_realloc(void *p, size_t n);
char *ls_strdup(const char *s);
/* a*b and a*b*c with overflow check: dies with what on overflow */
size_t ls_mul(size_t a, size_t b, const char *what);

/* ---- options ----
 * A table of options; --help prints each with its current value as default.
 * Every tool gets -o/--output, -t/--threads, -q/--quiet, --progress, -h/--help, --version. */
typedef enum { LS_FLAG, LS_INT, LS_DOUBLE, LS_STR, LS_LIST } ls_optkind;
/* LS_LIST: a repeatable option; every value in order */
typedef struct { const char **v; int n; } ls_list;
typedef struct {
	const char *name;    /* long name without dashes */
	char shortname;      /* 0 for none */
	ls_optkind kind;
	void *dst;           /* int*, int*, double*, const char**, ls_list* */
	const char *arg;     /* placeholder in help, e.g. "N", "FILE" */
	const char *help;
} ls_opt;

typedef struct {
	const char *output;  /* default "-" */
	int threads;         /* default: all cores */
	int quiet;
	int progress;        /* forced progress bar */
} ls_common;
extern ls_common ls_opts;

/* Parses argv against opts (terminated by a {0} entry) plus the common options.
 * usage: "sinkhorn [options] [INPUT]"; about: paragraphs after the usage line
 * (may be NULL). Returns the index of the first positional argument.
 * -h prints help and exits 0; a bad option exits 2. */
int ls_parse(int argc, char **argv, const ls_opt *opts, const char *usage, const char *about);
void ls_help(FILE *fp, const ls_opt *opts, const char *usage, const char *about);

/* Sets OpenBLAS/OpenMP thread counts from ls_opts.threads. */
void ls_apply_threads(void);

/* ---- input and output ---- */
/* Opens INPUT ("-" or NULL = stdin) for binary reading; refuses a terminal. */
FILE *ls_open_in(const char *path);

/* Output that appears whole or not at all: FILE is written as FILE.tmp and
 * renamed by ls_out_close; "-" is stdout (refused when it is a terminal);
 * the close checks for write errors (EPIPE, ENOSPC). */
typedef struct ls_out ls_out;
ls_out *ls_out_open(const char *path);
FILE *ls_out_fp(ls_out *o);
void ls_out_close(ls_out *o);           /* dies on failure */
/* text outputs (TSV, Markdown) may go to a terminal */
ls_out *ls_out_open_text(const char *path);

/* ---- safetensors, dying on error with the file name ---- */
/* How an input path is named in messages: "standard input" for "-". */
const char *ls_name(const char *path);
st_file *ls_load(const char *path);     /* all tensors */
st_file *ls_load_some(const char *path, int (*keep)(const char *name, void *ctx), void *ctx);
void ls_write(st_file *f, const char *path);  /* appends history, atomic */
/* Appends this run's command line to metadata `history` (JSON array). */
void ls_history_append(st_file *f);

/* Looks a tensor up, or dies "FILE: missing tensor 'NAME'". */
st_tensor *ls_get(st_file *f, const char *fname, const char *name);
/* Checks ndim and the dims given (-1 = any); dies naming the tensor, the
 * offending shape and what was expected. */
void ls_check_shape(const st_tensor *t, const char *fname, int ndim, const int64_t *dims);
/* float copy of any numeric tensor; dies on NaN/Inf when finite != 0 */
float *ls_f32(const st_tensor *t, const char *fname, int finite);
/* Copies the context a tool forwards (labels, ignore, split, index and metadata). */
void ls_forward_context(st_file *dst, const st_file *src);
/* Adds a copy of src's tensor NAME to dst when present. */
void ls_forward_tensor(st_file *dst, const st_file *src, const char *name);

/* ---- progress bar on stderr (terminal or --progress; never with -q) ---- */
typedef struct ls_progress ls_progress;
ls_progress *ls_progress_start(const char *what, uint64_t total, const char *unit);
void ls_progress_update(ls_progress *p, uint64_t done);
void ls_progress_end(ls_progress *p);

double ls_now(void);   /* monotonic seconds */

#endif
