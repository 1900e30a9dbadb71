/* ckpt.c: checkpoint list files (ckpt.h). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ckpt.h"
#include "fileio.h"

/* a list of a few hundred checkpoints is a few KB; a larger file is not a list */
#define CKPT_LIST_MAX (16u << 20)

static char *trim(char *s)
{
	while (*s == ' ' || *s == '\r')
		s++;
	size_t n = strlen(s);
	while (n && (s[n - 1] == ' ' || s[n - 1] == '\r'))
		s[--n] = 0;
	return s;
}

static int has_control(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return 1;
	return 0;
}

/* one "EPOCH<TAB>PATH" line into l (grown by one) */
static int list_line(char *line, const char *dir, ckpt_list *l, const char *where, char *err)
{
	char *tab = strchr(line, '\t');
	if (!tab)
		return err_set(err, "%s: expected EPOCH<TAB>PATH", where);
	*tab = 0;
	char *ep = trim(line), *path = trim(tab + 1), *end;
	if (strchr(path, '\t'))
		return err_set(err, "%s: more than 2 tab-separated fields", where);
	double e = strtod(ep, &end);
	if (!*ep || *end || !isfinite(e))
		return err_set(err, "%s: epoch '%s' is not a finite number", where, err_esc(ep));
	if (!*path)
		return err_set(err, "%s: empty checkpoint path", where);
	if (has_control(path))
		return err_set(err, "%s: the checkpoint path holds a control character", where);
	char **paths = realloc(l->paths, sizeof *paths * (size_t)(l->n + 1));
	if (paths)
		l->paths = paths;
	double *epochs = realloc(l->epochs, sizeof *epochs * (size_t)(l->n + 1));
	if (epochs)
		l->epochs = epochs;
	char *p = !paths || !epochs ? NULL : path[0] == '/' ? strdup(path) : file_path_join(dir, path);
	if (!p)
		return err_set(err, "out of memory");
	l->paths[l->n] = p;
	l->epochs[l->n++] = e;
	return 0;
}

int ckpt_list_read(const char *path, ckpt_list *l, char *err)
{
	*l = (ckpt_list){0};
	char why[ERR_LEN], where[ERR_LEN];
	char *text = file_read_text(path, CKPT_LIST_MAX, why);
	if (!text)
		return err_set(err, "%s", why);
	/* the list's folder: relative paths are below it */
	const char *base = file_basename(path);
	char *dir = strndup(path, (size_t)(base - path));
	if (!dir) {
		free(text);
		return err_set(err, "out of memory");
	}
	int rc = 0, lineno = 0;
	for (char *line = text, *next; line && !rc; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = 0;
		lineno++;
		char *s = trim(line);
		if (!*s || *s == '#')
			continue;
		snprintf(where, sizeof where, "%s line %d", path, lineno);
		rc = list_line(s, *dir ? dir : ".", l, where, err);
	}
	free(dir);
	free(text);
	if (!rc && l->n == 0)
		rc = err_set(err, "%s: no checkpoint listed (EPOCH<TAB>PATH lines)", path);
	if (!rc)
		rc = ckpt_check_order(l, path, err);
	if (rc)
		ckpt_list_free(l);
	return rc;
}

int ckpt_check_order(const ckpt_list *l, const char *what, char *err)
{
	for (int i = 1; l->epochs && i < l->n; i++)
		if (!(l->epochs[i] > l->epochs[i - 1]))
			return err_set(err, "%s: epoch %g of %s follows epoch %g: checkpoints must be in training order "
				       "(epochs increasing)", what, l->epochs[i], err_esc(file_basename(l->paths[i])),
				       l->epochs[i - 1]);
	return 0;
}

void ckpt_list_free(ckpt_list *l)
{
	for (int i = 0; i < l->n; i++)
		free(l->paths[i]);
	free(l->paths);
	free(l->epochs);
	*l = (ckpt_list){0};
}
