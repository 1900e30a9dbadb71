/* dataset_list.c: a TSV list of images (docs/datasets.md):
 *   path <TAB> label,label,... [<TAB> split]
 * with an optional "#labels NAMES" line first that fixes the label order;
 * other lines starting with '#' and blank lines are skipped. Relative paths
 * are below the list's folder. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dataset_int.h"
#include "err.h"

/* "#labels NAMES" (after "#labels": space, tab, ':' or '=') fixes the order */
static int list_header(char *line, ds_table *t, const char *where, char *err)
{
	if (strncmp(line, "#labels", 7) || !strchr(" \t:=", line[7]) || !line[7])
		return 0;
	if (t->n)
		return err_set(err, "%s: the #labels line must come before the first image", where);
	if (t->fixed_labels)
		return err_set(err, "%s: a second #labels line", where);
	return ds_table_set_labels(t, line + 8, where, err) ? -1 : 0;
}

static int list_row(char *line, const char *dir, int mask, int64_t index, ds_table *t,
		    const char *where, char *err)
{
	char *f[3] = { line, NULL, NULL };
	int nf = 1;
	for (char *p = line; *p; p++)
		if (*p == '\t') {
			if (nf == 3)
				return err_set(err, "%s: more than 3 tab-separated fields", where);
			*p = 0;
			f[nf++] = p + 1;
		}
	char *path = ds_trim(f[0]);
	if (!*path)
		return err_set(err, "%s: empty image path", where);
	if (ds_has_control(path))
		return err_set(err, "%s: the image path holds a control character", where);
	int split = SPLIT_TRAIN;
	const char *named = f[2] ? ds_trim(f[2]) : "";
	if (*named && (split = ds_parse_split_name(named, strlen(named))) < 0)
		return err_set(err, "%s: unknown split '%s' (expected train, val, test or 0, 1, 2)", where, err_esc(named));
	ds_sample *s = ds_table_add(t, path, split, index, (mask >> split) & 1);
	if (!s || !(s->path = path[0] == '/' ? strdup(path) : file_path_join(dir, path)))
		return err_set(err, "out of memory");
	char *save = NULL;
	for (char *tok = f[1] ? strtok_r(f[1], ",", &save) : NULL; tok; tok = strtok_r(NULL, ",", &save)) {
		tok = ds_trim(tok);
		if (!*tok)
			continue;
		char why[ERR_LEN];
		int k = ds_table_label(t, tok, why);
		if (k < 0)
			return err_set(err, "%s: %s", where, why);
		if (ds_sample_add_obj(s, k, 0))
			return err_set(err, "out of memory");
	}
	return 0;
}

ds_dataset *ds_open_list(const char *file, int mask, char *err)
{
	char *text = file_read_text(file, DS_MAX_TEXT_FILE, err);
	ds_table t = { 0 };
	if (!text)
		return NULL;
	const char *slash = strrchr(file, '/');
	char *dir = slash ? strndup(file, (size_t)(slash - file) + 1) : strdup("");
	char source[600], where[700];
	snprintf(source, sizeof(source), "list:%s", file);
	int rc = dir ? 0 : err_set(err, "out of memory"), lineno = 0;
	int64_t index = 0;
	for (char *line = text, *next; line && *line && !rc; line = next) {
		if ((next = strchr(line, '\n')))
			*next++ = 0;
		size_t l = strlen(line);
		lineno++;
		if (l && line[l - 1] == '\r')
			line[--l] = 0;
		snprintf(where, sizeof(where), "%s:%d", file, lineno);
		if (line[0] == '#') {
			rc = list_header(line, &t, where, err);
			continue;
		}
		if (!*ds_trim(line))
			continue;
		t.where = "the #labels line";
		rc = list_row(line, dir, mask, index++, &t, where, err);
	}
	free(text);
	free(dir);
	if (rc) {
		ds_table_free(&t);
		return NULL;
	}
	return ds_finish(&t, NULL, source, err);
}
