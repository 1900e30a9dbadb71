/* cli.h: the command-line layer every tool's front end shares (contract
 * section 2). Error rule: functions here EXIT on failure; nothing else in
 * tools/lib does (the returning modules follow err.h).
 *
 * cli_die() prints one line "TOOL: what failed: why" and exits 1;
 * cli_usage() prints the same and a hint to --help, exit 2. Both remove any
 * half-written output file first, so a failed run leaves nothing behind.
 * So does a SIGBUS from a mapped file truncated while in use (any reader
 * that maps: train-probe's input, a legacy PyTorch checkpoint), with the
 * line "TOOL: FILE: changed or was truncated while being read", exit 1.
 * Every other function below that can fail (allocation, loading, writing,
 * a tensor's shape) ends in cli_die with the file and the reason. */
#ifndef LS_CLI_H
#define LS_CLI_H

#include <stdio.h>
#include <stdint.h>
#include "gpu.h"
#include "st.h"

#define LAYERSCOPE_VERSION "0.1.0"

extern const char *cli_prog;

/* Call first: records the program name and the command line for `history`. */
void cli_init(int argc, char **argv, const char *prog);

__attribute__((noreturn, format(printf, 1, 2))) void cli_die(const char *fmt, ...);
__attribute__((noreturn, format(printf, 1, 2))) void cli_usage(const char *fmt, ...);
__attribute__((format(printf, 1, 2))) void cli_warn(const char *fmt, ...);
/* Messages are one line: control characters and bytes that are not UTF-8
 * in what they show (names from files, paths) are escaped (err_escape). */
/* fn runs when the run fails (cli_die, cli_usage, a signal that ends the
 * run: SIGINT, SIGTERM, SIGQUIT, SIGHUP, SIGUSR1, ...),
 * before the exit, like the removal of half-written outputs: it must be
 * async-signal-safe (unlink, rmdir, unlinkat; no malloc, no stdio). */
void cli_on_failure(void (*fn)(void));
/* informational line on stderr unless -q */
__attribute__((format(printf, 1, 2))) void cli_info(const char *fmt, ...);

void *cli_malloc(size_t n);
void *cli_calloc(size_t n, size_t size);   /* overflow-checked */
void *cli_realloc(void *p, size_t n);
char *cli_strdup(const char *s);
/* a*b and a*b*c with overflow check: dies with what on overflow */
size_t cli_mul(size_t a, size_t b, const char *what);

/* ---- options ----
 * A table of options; --help prints each with its current value as default.
 * Every tool gets -o/--output, -t/--threads, -q/--quiet, --progress, -h/--help, --version. */
typedef enum { CLI_FLAG, CLI_INT, CLI_DOUBLE, CLI_STR, CLI_LIST } cli_optkind;
/* CLI_LIST: a repeatable option; every value in order */
typedef struct { const char **v; int n; } cli_list;
typedef struct {
	const char *name;    /* long name without dashes */
	char shortname;      /* 0 for none */
	cli_optkind kind;
	void *dst;           /* int*, int*, double*, const char**, cli_list* */
	const char *arg;     /* placeholder in help, e.g. "N", "FILE" */
	const char *help;
} cli_opt;

typedef struct {
	const char *output;  /* default "-" */
	int threads;         /* default: threads_cpus() */
	int quiet;
	int progress;        /* forced progress bar */
} cli_common;
extern cli_common cli_opts;

/* Parses argv against opts (terminated by a {0} entry) plus the common options.
 * usage: "sinkhorn [options] [INPUT]"; about: paragraphs after the usage line
 * (may be NULL). Returns the index of the first positional argument.
 * -h prints help and exits 0; a bad option exits 2. Then checks -o before
 * any work is spent (cli_out_check, binary unless cli_text_output is set). */
int cli_parse(int argc, char **argv, const cli_opt *opts, const char *usage, const char *about);
void cli_help(FILE *fp, const cli_opt *opts, const char *usage, const char *about);

/* Sets OpenBLAS/OpenMP thread counts from cli_opts.threads. */
void cli_apply_threads(void);

/* --device NAME: DEVICE_CPU, or DEVICE_CUDA once gpu_open found a GPU this
 * build can run on (named on stderr unless -q). A name other than cpu or
 * cuda is a usage error; cuda without a GPU or without a CUDA build dies. */
device_kind cli_device(const char *name);

/* ---- input and output ---- */
/* Opens INPUT ("-" or NULL = stdin) for binary reading; refuses a terminal. */
FILE *cli_open_in(const char *path);

/* Outputs. A regular FILE (or one not there yet) appears whole or not at
 * all: it is written as FILE.PID.HOST.XXXXXX.tmp in its folder (unique to
 * the process: of two runs writing FILE, the last rename wins with a whole
 * file) and renamed over FILE by cli_out_close; a symlink is followed and
 * the file it names replaced, the link kept. Anything else -- a device, a
 * FIFO, a socket, /dev/stdout, /dev/fd/N -- is written in place. Opening
 * removes the temporaries of FILE left by processes of this host that no
 * longer run (SIGKILL). "-" is standard output. Binary data are refused on
 * a terminal; the close checks for write errors (EPIPE, ENOSPC). */
typedef struct cli_out cli_out;
cli_out *cli_out_open(const char *path);
FILE *cli_out_fp(cli_out *o);
void cli_out_close(cli_out *o);           /* dies on failure */
/* text outputs (TSV, Markdown) may go to a terminal */
cli_out *cli_out_open_text(const char *path);
/* Dies unless PATH can be written: not a folder, its folder exists and is
 * writable; with binary, standard output ("-", /dev/stdout) no terminal.
 * For checking an output before the work that fills it. */
void cli_out_check(const char *path, int binary);
/* Set before cli_parse by a tool whose -o may be text (tensors info). */
extern int cli_text_output;

/* ---- safetensors, dying on error with the file name ---- */
/* How an input path is named in messages: "standard input" for "-". */
const char *cli_name(const char *path);
st_file *cli_load(const char *path);     /* all tensors */
st_file *cli_load_some(const char *path, int (*keep)(const char *name, void *ctx), void *ctx);
void cli_write(st_file *f, const char *path);  /* appends history, atomic */
/* Appends this run's command line to metadata `history` (JSON array). */
void cli_history_append(st_file *f);

/* Looks a tensor up, or dies "FILE: missing tensor 'NAME'". */
st_tensor *cli_get(st_file *f, const char *fname, const char *name);
/* Checks ndim and the dims given (-1 = any); dies naming the tensor, the
 * offending shape and what was expected. */
void cli_check_shape(const st_tensor *t, const char *fname, int ndim, const int64_t *dims);
/* float copy of any numeric tensor; dies on NaN/Inf when finite != 0 */
float *cli_f32(const st_tensor *t, const char *fname, int finite);
/* Copies the context a tool forwards (labels, ignore, split, index and metadata). */
void cli_forward_context(st_file *dst, const st_file *src);
/* Adds a copy of src's tensor NAME to dst when present. */
void cli_forward_tensor(st_file *dst, const st_file *src, const char *name);

/* ---- progress bar on stderr (terminal or --progress; never with -q) ---- */
typedef struct cli_progress cli_progress;
cli_progress *cli_progress_start(const char *what, uint64_t total, const char *unit);
void cli_progress_update(cli_progress *p, uint64_t done);
void cli_progress_end(cli_progress *p);

double cli_now(void);   /* monotonic seconds */

#endif
