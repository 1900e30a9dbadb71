/* err.h: the one error rule of the returning modules (st, dataset, image,
 * net, idx, npy, ...): a function that fails fills the caller's
 * char err[ERR_LEN] with one line (what failed and why, no program name,
 * no newline) and returns -1 or NULL. Only the command-line layer (cli.h)
 * prints the line and exits. Nothing here exits. */
#ifndef LS_ERR_H
#define LS_ERR_H

#define ERR_LEN 512

/* Formats a message into err[ERR_LEN]; returns -1, so `return err_set(err, ...)` reports. */
__attribute__((format(printf, 2, 3))) int err_set(char *err, const char *fmt, ...);

/* A string from untrusted input as it may appear inside a one-line message:
 * control characters (newline, escape, ...) shown as \n or \xHH, long
 * strings cut with "...". Returns one of four rotating thread-local
 * buffers, so one message can show several. */
const char *err_esc(const char *s);

#endif
