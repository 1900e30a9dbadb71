/* dataset_table.c: the sample table every reader fills, and ds_finish /
 * ds_free, which make and free the public ds_dataset (dataset_int.h). */
#include <ctype.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dataset_int.h"
#include "err.h"
#include "util.h"


void *ds_realloc_array(void *p, size_t n, size_t size)
{
	if (size && n > SIZE_MAX / size)
		return NULL;
	return realloc(p, n * size > 0 ? n * size : 1);
}

void *ds_grow(void *p, int *cap, int n, size_t size)
{
	if (n <= *cap)
		return p;
	int c = *cap > 0 ? *cap : 8;
	while (c < n) {
		if (c > INT_MAX / 2)
			return NULL;
		c *= 2;
	}
	void *q = ds_realloc_array(p, (size_t)c, size);
	if (q)
		*cap = c;
	return q;
}

int ds_has_control(const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)   /* C0, DEL, and C1 in UTF-8 */
		if (*p < 0x20 || *p == 0x7f || (*p == 0xc2 && p[1] >= 0x80 && p[1] < 0xa0))
			return 1;
	return 0;
}

char *ds_trim(char *s)
{
	while (isspace((unsigned char)*s))
		s++;
	size_t l = strlen(s);
	while (l && isspace((unsigned char)s[l - 1]))
		s[--l] = 0;
	return s;
}

int ds_parse_split_name(const char *s, size_t l)
{
	for (int k = 0; k < 3; k++)
		if (strlen(split_names[k]) == l && !strncmp(s, split_names[k], l))
			return k;
	if (l == 1 && s[0] >= '0' && s[0] <= '2')
		return s[0] - '0';
	return -1;
}

ds_sample *ds_table_add(ds_table *t, const char *id, int split, int64_t index, int keep)
{
	if (t->n == t->cap) {
		int cap = t->cap ? t->cap * 2 : 256;
		ds_sample *s = ds_realloc_array(t->s, (size_t)cap, sizeof(ds_sample));
		if (!s)
			return NULL;
		t->s = s;
		t->cap = cap;
	}
	ds_sample *s = &t->s[t->n];
	memset(s, 0, sizeof(*s));
	if (!(s->id = strdup(id)))
		return NULL;
	s->split = split;
	s->index = index;
	s->keep = keep;
	s->zipent = -1;
	t->n++;
	return s;
}

int ds_table_label(ds_table *t, const char *name, char *err)
{
	int k = strmap_get(&t->label_of, name);
	if (k >= 0)
		return k;
	if (ds_has_control(name))
		return err_set(err, "a label name holds a control character");
	/* names end up in JSON metadata, which must be UTF-8 */
	if (!util_utf8_valid(name, strlen(name), NULL))
		return err_set(err, "label '%s' is not valid UTF-8", err_esc(name));
	if (t->fixed_labels)
		return err_set(err, "label '%s' is not in %s", err_esc(name), t->where);
	char **l = ds_grow(t->labels, &t->caplabels, t->K + 1, sizeof(char *));
	if (l)
		t->labels = l;
	if (!l || !(l[t->K] = strdup(name)))
		return err_set(err, "out of memory");
	if (strmap_put(&t->label_of, name, t->K)) {
		free(l[t->K]);
		return err_set(err, "out of memory");
	}
	return t->K++;
}

int ds_sample_add_obj(ds_sample *s, int label, int difficult)
{
	ds_obj *o = ds_grow(s->obj, &s->capobj, s->nobj + 1, sizeof(ds_obj));
	if (!o)
		return -1;
	s->obj = o;
	o[s->nobj].label = label;
	o[s->nobj].difficult = difficult;
	s->nobj++;
	return 0;
}

int ds_table_set_labels(ds_table *t, const char *text, const char *where, char *err)
{
	char *copy = strdup(text), *save = NULL;
	if (!copy)
		return err_set(err, "out of memory");
	int rc = 0;
	for (char *tok = strtok_r(copy, ",\n\r", &save); tok; tok = strtok_r(NULL, ",\n\r", &save)) {
		tok = ds_trim(tok);
		if (!*tok)
			continue;
		if (!ds_has_control(tok) && strmap_get(&t->label_of, tok) >= 0) {
			rc = err_set(err, "%s: label '%s' listed twice", where, err_esc(tok));
			break;
		}
		char why[ERR_LEN];
		if (ds_table_label(t, tok, why) < 0) {
			rc = err_set(err, "%s: %s", where, why);
			break;
		}
	}
	free(copy);
	if (!rc && t->K == 0)
		rc = err_set(err, "%s: no label names", where);
	t->fixed_labels = 1;
	t->where = where;
	return rc;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Open label sets end sorted by name: renumber every object. */
static int table_sort_labels(ds_table *t, char *err)
{
	if (t->fixed_labels || t->K == 0)
		return 0;
	int *map = malloc(sizeof(int) * t->K);
	if (!map)
		return err_set(err, "out of memory");
	qsort(t->labels, (size_t)t->K, sizeof(char *), cmp_str);
	for (int k = 0; k < t->K; k++) {
		int old = strmap_get(&t->label_of, t->labels[k]);
		map[old] = k;
		strmap_put(&t->label_of, t->labels[k], k);   /* overwrites: never allocates */
	}
	for (int i = 0; i < t->n; i++)
		for (int j = 0; j < t->s[i].nobj; j++)
			t->s[i].obj[j].label = map[t->s[i].obj[j].label];
	free(map);
	return 0;
}

void ds_table_free(ds_table *t)
{
	for (int i = 0; i < t->n; i++) {
		free(t->s[i].id);
		free(t->s[i].obj);
		free(t->s[i].path);
		free(t->s[i].bytes.p);
	}
	free(t->s);
	for (int k = 0; k < t->K; k++)
		free(t->labels[k]);
	free(t->labels);
	strmap_free(&t->label_of);
	memset(t, 0, sizeof(*t));
}

/* Sample s's row of labels and ignore flags. */
static int fill_row(const ds_sample *s, int K, uint8_t *lab, uint8_t *ign)
{
	memset(ign, 1, K);
	for (int j = 0; j < s->nobj; j++) {
		lab[s->obj[j].label] = 1;
		if (!s->obj[j].difficult)
			ign[s->obj[j].label] = 0;
	}
	int any = 0;
	for (int k = 0; k < K; k++) {
		ign[k] &= lab[k];
		any |= lab[k];
	}
	return any;
}

ds_dataset *ds_finish(ds_table *t, zip_file *zip, const char *source, char *err)
{
	int kept = 0;
	for (int i = 0; i < t->n; i++) {
		kept += t->s[i].keep;
		if (!util_utf8_valid(t->s[i].id, strlen(t->s[i].id), NULL)) {   /* the ids go into JSON metadata */
			err_set(err, "%s: sample '%s': its name is not valid UTF-8", source, err_esc(t->s[i].id));
			ds_table_free(t);
			zip_close(zip);
			return NULL;
		}
	}
	if (kept == 0 || t->K == 0 || table_sort_labels(t, err)) {
		if (kept == 0 || t->K == 0)
			err_set(err, "%s: no %s", source, kept ? "labels in the data set" : "samples in the requested splits");
		ds_table_free(t);
		zip_close(zip);
		return NULL;
	}
	ds_dataset *d = calloc(1, sizeof(*d));
	size_t nk = (size_t)kept * t->K;
	if (!d || !(d->priv = calloc(1, sizeof(*d->priv))))
		goto oom;
	d->n = kept;
	d->K = t->K;
	d->label_names = t->labels;
	t->labels = NULL;
	t->K = t->caplabels = 0;
	d->ids = calloc(d->n, sizeof(char *));
	d->labels = calloc(nk, 1);
	d->ignore = calloc(nk, 1);
	d->split = calloc(d->n, 1);
	d->index = calloc(d->n, sizeof(int64_t));
	d->priv->paths = calloc(d->n, sizeof(char *));
	d->priv->bytes = calloc(d->n, sizeof(blob));
	d->priv->zipent = calloc(d->n, sizeof(int));
	d->priv->zip = zip;
	zip = NULL;
	d->priv->source = strdup(source);
	if (!d->ids || !d->labels || !d->ignore || !d->split || !d->index || !d->priv->paths ||
	    !d->priv->bytes || !d->priv->zipent || !d->priv->source)
		goto oom;
	for (int i = 0, from = 0; i < d->n; i++, from++) {
		while (!t->s[from].keep)
			from++;
		ds_sample *s = &t->s[from];
		d->n_unannotated += !fill_row(s, d->K, d->labels + (size_t)i * d->K, d->ignore + (size_t)i * d->K);
		d->ids[i] = s->id;
		d->split[i] = (uint8_t)s->split;
		d->index[i] = s->index;
		d->priv->paths[i] = s->path;
		d->priv->bytes[i] = s->bytes;
		d->priv->zipent[i] = s->zipent;
		s->id = s->path = NULL;
		s->bytes.p = NULL;
	}
	ds_table_free(t);
	return d;
oom:
	ds_free(d);
	ds_table_free(t);
	zip_close(zip);
	err_set(err, "%s: out of memory", source);
	return NULL;
}

void ds_free(ds_dataset *d)
{
	if (!d)
		return;
	for (int k = 0; d->label_names && k < d->K; k++)
		free(d->label_names[k]);
	free(d->label_names);
	for (int i = 0; i < d->n; i++) {
		if (d->ids)
			free(d->ids[i]);
		if (d->priv && d->priv->paths)
			free(d->priv->paths[i]);
		if (d->priv && d->priv->bytes)
			free(d->priv->bytes[i].p);
	}
	free(d->ids);
	free(d->labels);
	free(d->ignore);
	free(d->split);
	free(d->index);
	if (d->priv) {
		free(d->priv->paths);
		free(d->priv->bytes);
		free(d->priv->zipent);
		zip_close(d->priv->zip);
		free(d->priv->source);
		free(d->priv);
	}
	free(d);
}
