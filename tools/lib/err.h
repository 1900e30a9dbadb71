/* err.h: the one error rule of the returning modules (st, dataset, image,
 * net, idx, npy, ...): a function that fails fills the caller's
 * char err[ERR_LEN] with one line (what failed and why, no program name,
 * no newline) and returns -1 or NULL. Only the command-line layer (cli.h)
 * prints the line and exits. Nothing here exits. */
#ifndef LS_ERR_H
#define LS_ERR_H

#include <stddef.h>

#define ERR_LEN 512

/* Formats a message into err[ERR_LEN] (cut short, if it must be, between
 * UTF-8 sequences); returns -1, so `return err_set(err, ...)` reports. */
__attribute__((format(printf, 2, 3))) int err_set(char *err, const char *fmt, ...);

/* s as it may appear inside a one-line message on a terminal: newline, tab
 * and carriage return as \n \t \r, other control characters (C0, DEL, and
 * C1 written in UTF-8, which terminals may take as escape sequences) as
 * \xHH or \u00HH, bytes that are not UTF-8 as \xHH; printable text, non-ASCII
 * included, unchanged. Writes at most cap bytes with the NUL (cap >= 8),
 * ending in "..." when s does not fit; returns the length written. */
size_t err_escape(char *dst, size_t cap, const char *s);

/* err_escape of a string from untrusted input, cut at about 90 bytes with
 * "...". Returns one of four rotating thread-local buffers, so one message
 * can show several. */
const char *err_esc(const char *s);

#endif
