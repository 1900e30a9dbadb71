/* dataset_voc.c: PASCAL VOC, from a VOCdevkit folder or from the original
 * tar files (docs/datasets.md): the split files list the images, one
 * Annotations/ID.xml per image names its objects. Archives are scanned
 * once (standard input too); the bytes of the images that may be needed
 * are kept in memory, so reading a sample later is a copy and safe from
 * any thread. A VOCdevkit may hold several years: one is read (vocYYYY:),
 * or VOC2007 and VOC2012 as the 07+12 protocol (voc0712:). */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "dataset_int.h"
#include "err.h"
#include "xml.h"

static const char *const voc_labels[20] = {
	"aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow",
	"diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa",
	"train", "tvmonitor"
};

/* ---- one annotation file ----
 * Only annotation/object/name and annotation/object/difficult are kept, so
 * part/name (person layout) and every other field are passed over; an
 * element written empty (<object/>) carries nothing. */
typedef struct {
	char *name;
	int difficult;
} voc_obj;

typedef struct {
	voc_obj *o;
	int n, cap;
} voc_ann;

static void voc_ann_free(voc_ann *a)
{
	for (int i = 0; i < a->n; i++)
		free(a->o[i].name);
	free(a->o);
	a->o = NULL;
	a->n = a->cap = 0;
}

static int voc_xml_open(void *ctx, const xml_path *path, int empty, char *err)
{
	voc_ann *ann = ctx;
	const char *tag = path->name[path->depth - 1];
	if (empty)
		return 0;
	if (path->depth == 2 && !strcmp(tag, "object")) {
		voc_obj *o = ds_grow(ann->o, &ann->cap, ann->n + 1, sizeof(voc_obj));
		if (!o)
			return err_set(err, "out of memory");
		ann->o = o;
		memset(&o[ann->n++], 0, sizeof(voc_obj));
		return 0;
	}
	return path->depth == 3 && !strcmp(path->name[1], "object") &&
	       (!strcmp(tag, "name") || !strcmp(tag, "difficult"));
}

static int voc_xml_close(void *ctx, const xml_path *path, const char *text, char *err)
{
	voc_ann *ann = ctx;
	if (!text)
		return 0;
	char buf[XML_TEXT_LEN], *v = ds_trim(strcpy(buf, text));
	voc_obj *o = &ann->o[ann->n - 1];
	if (!strcmp(path->name[path->depth - 1], "name")) {
		if (!*v)
			return err_set(err, "object with an empty name");
		free(o->name);
		if (!(o->name = strdup(v)))
			return err_set(err, "out of memory");
		return 0;
	}
	char *e;
	long dv = strtol(v, &e, 10);
	if (!*v || *e || dv < 0 || dv > 1)
		return err_set(err, "difficult is '%s', expected 0 or 1", err_esc(v));
	o->difficult = (int)dv;
	return 0;
}

/* Parses one annotation; where names the file in errors. */
static int voc_parse_xml(const char *xml, size_t len, const char *where, voc_ann *ann, char *err)
{
	static const xml_handler h = { voc_xml_open, voc_xml_close };
	memset(ann, 0, sizeof(*ann));
	if (xml_parse(xml, len, where, "annotation", &h, ann, err))
		return -1;
	for (int i = 0; i < ann->n; i++)
		if (!ann->o[i].name)
			return err_set(err, "%s: object %d has no <name>", where, i + 1);
	return 0;
}

/* Where VOC files come from: a folder, or the entries of archives kept in
 * memory by their path below the VOC root ("Annotations/000005.xml"). */
typedef struct {
	char *root;       /* folder mode */
	strmap files;     /* archive mode: relative path -> index in kept */
	blob *kept;
	int nkept, capkept;
	char *aroot;      /* the root prefix inside the archives ("VOCdevkit/VOC2007/") */
	const char *cur;  /* archive being scanned, for errors */
	int want_mask;
	strmap split_of;  /* ids seen in split files so far -> bit mask of splits */
	int year;         /* the VOC<year>/ folder to read; 0: the only one there is */
} voc_src;

static const char *const voc_parts[] = { "JPEGImages/", "Annotations/", "ImageSets/Main/" };

/* The VOC root prefix of an archive path, and the path below it. */
static const char *voc_below_root(const char *path, size_t *rootlen)
{
	for (const char *p = path; *p; p = strchr(p, '/') ? strchr(p, '/') + 1 : p + strlen(p)) {
		for (size_t k = 0; k < sizeof(voc_parts) / sizeof(*voc_parts); k++)
			if (!strncmp(p, voc_parts[k], strlen(voc_parts[k]))) {
				*rootlen = (size_t)(p - path);
				return p;
			}
		if (!strcmp(p, "labels.txt")) {
			*rootlen = (size_t)(p - path);
			return p;
		}
	}
	return NULL;
}

static int is_split_file(const char *rel)
{
	return !strcmp(rel, "ImageSets/Main/train.txt") || !strcmp(rel, "ImageSets/Main/val.txt") ||
	       !strcmp(rel, "ImageSets/Main/test.txt") || !strcmp(rel, "ImageSets/Main/trainval.txt");
}

/* The image id of "JPEGImages/ID.ext", written into id; 0 when rel is no image. */
static int jpeg_id(const char *rel, char *id, size_t cap)
{
	if (strncmp(rel, "JPEGImages/", 11))
		return 0;
	const char *base = rel + 11, *dot = strrchr(base, '.');
	size_t l = dot ? (size_t)(dot - base) : strlen(base);
	if (strchr(base, '/') || l == 0 || l >= cap)
		return 0;
	memcpy(id, base, l);
	id[l] = 0;
	return 1;
}

/* Images whose id the split files already place in no wanted split are
 * not kept: reading only `test` of both original tars holds only test JPEGs. */
/* 1 when the root prefix path[0, rl) is the year's folder (or any, year 0) */
static int voc_root_of_year(const char *path, size_t rl, int year)
{
	char want[16];
	int n = snprintf(want, sizeof(want), "VOC%d/", year);
	return !year || (rl >= (size_t)n && !strncmp(path + rl - n, want, (size_t)n) &&
			 (rl == (size_t)n || path[rl - n - 1] == '/'));
}

static int voc_want(const char *path, void *ctx)
{
	voc_src *v = ctx;
	size_t rl;
	const char *rel = voc_below_root(path, &rl);
	char id[256];
	if (!rel || (strcmp(rel, "labels.txt") && !voc_root_of_year(path, rl, v->year)))
		return 0;
	if (!strncmp(rel, "Annotations/", 12))
		return strlen(rel) > 16 && !strcmp(rel + strlen(rel) - 4, ".xml");
	if (is_split_file(rel) || !strcmp(rel, "labels.txt"))
		return 1;
	if (jpeg_id(rel, id, sizeof(id))) {
		int m = strmap_get(&v->split_of, id);
		return m < 0 || (m & v->want_mask);
	}
	return 0;
}

/* Each id line of a split file: the first token; blank lines skipped. */
typedef int (*id_fn)(const char *id, void *ctx, char *err);

static int for_each_id(const char *text, size_t len, const char *where, id_fn fn, void *ctx, char *err)
{
	const char *p = text, *end = text + len;
	int line = 0;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *e = nl ? nl : end;
		line++;
		while (p < e && isspace((unsigned char)*p))
			p++;
		const char *s = p;
		while (p < e && !isspace((unsigned char)*p))
			p++;
		if (p > s) {
			char id[256];
			if ((size_t)(p - s) >= sizeof(id) || memchr(s, '/', (size_t)(p - s)))
				return err_set(err, "%s:%d: image id too long or holding '/'", where, line);
			memcpy(id, s, (size_t)(p - s));
			id[p - s] = 0;
			if (strlen(id) != (size_t)(p - s) || ds_has_control(id))
				return err_set(err, "%s:%d: image id holding a control character", where, line);
			if (fn(id, ctx, err))
				return -1;
		}
		p = nl ? nl + 1 : end;
	}
	return 0;
}

typedef struct { voc_src *v; int bit; } note_ctx;

static int note_id(const char *id, void *ctx, char *err)
{
	note_ctx *c = ctx;
	int m = strmap_get(&c->v->split_of, id);
	if (strmap_put(&c->v->split_of, id, (m < 0 ? 0 : m) | c->bit))
		return err_set(err, "out of memory");
	return 0;
}

static int voc_note_split(voc_src *v, const char *rel, const blob *b, char *err)
{
	const char *base = rel + strlen("ImageSets/Main/");
	note_ctx c = { v, !strcmp(base, "train.txt") ? 1 : !strcmp(base, "val.txt") ? 2
			 : !strcmp(base, "test.txt") ? 4 : 3 };
	return for_each_id((const char *)b->p, b->len, rel, note_id, &c, err);
}

static int voc_take(const char *path, blob data, void *ctx, char *err)
{
	voc_src *v = ctx;
	size_t rl;
	const char *rel = voc_below_root(path, &rl);
	char id[256];
	if (!v->aroot && strcmp(rel, "labels.txt")) {
		if (!(v->aroot = strndup(path, rl)))
			return free(data.p), err_set(err, "out of memory");
	} else if (v->aroot && strcmp(rel, "labels.txt") &&
		   (strlen(v->aroot) != rl || strncmp(v->aroot, path, rl))) {
		char other[300];
		snprintf(other, sizeof other, "%.*s", (int)rl, path);
		err_set(err, "%s: two VOC folders in the archives ('%s' and '%s'): choose a year (--year, "
			"voc2007:, voc2012:) or read both as the 07+12 protocol (voc0712:)", v->cur, err_esc(v->aroot),
			err_esc(other));
		free(data.p);
		return -1;
	}
	/* labels.txt is kept by its full path, matched with the root at the end */
	const char *key = strcmp(rel, "labels.txt") ? rel : path;
	char keybuf[300];
	if (is_split_file(rel) && voc_note_split(v, rel, &data, err)) {
		free(data.p);
		return -1;
	}
	if (jpeg_id(rel, id, sizeof(id))) {
		snprintf(keybuf, sizeof(keybuf), "JPEGImages/%s", id);
		key = keybuf;
	}
	int at = strmap_get(&v->files, key);
	if (at < 0) {
		if (v->nkept == v->capkept) {
			int cap = v->capkept ? v->capkept * 2 : 256;
			blob *k = ds_realloc_array(v->kept, (size_t)cap, sizeof(blob));
			if (!k)
				return free(data.p), err_set(err, "out of memory");
			v->kept = k;
			v->capkept = cap;
		}
		if (strmap_put(&v->files, key, v->nkept))
			return free(data.p), err_set(err, "out of memory");
		at = v->nkept++;
	} else {
		free(v->kept[at].p);   /* a later archive's copy wins */
	}
	v->kept[at] = data;
	return 0;
}

/* A file below the VOC root: from the folder, or from the kept entries
 * (taken, or copied: an annotation is read again for an id listed in two
 * split files). Returns 1 found, 0 absent, -1 error. */
static int voc_get(voc_src *v, const char *rel, blob *out, int take, char *err)
{
	if (v->root) {
		char *path = file_path_join(v->root, rel);
		struct stat st;
		if (!path)
			return err_set(err, "out of memory");
		if (stat(path, &st) != 0) {
			free(path);
			return 0;
		}
		int rc = file_read_all(path, DS_MAX_TEXT_FILE, out, err);
		free(path);
		return rc ? -1 : 1;
	}
	int at = strmap_get(&v->files, rel);
	if (at < 0)
		return 0;
	if (!take) {
		if (!(out->p = malloc(v->kept[at].len + 1)))
			return err_set(err, "out of memory");
		memcpy(out->p, v->kept[at].p, v->kept[at].len);
		out->len = v->kept[at].len;
		return 1;
	}
	*out = v->kept[at];
	v->kept[at].p = NULL;
	v->kept[at].len = 0;
	return 1;
}

/* path/rel when it holds ImageSets/Main, else NULL */
static char *voc_root_at(const char *path, const char *rel)
{
	char *root = file_path_join(path, rel), *main = root ? file_path_join(root, "ImageSets/Main") : NULL;
	int ok = main && file_is_dir(main);
	free(main);
	if (!ok)
		free(root);
	return ok ? root : NULL;
}

/* folder: PATH holding ImageSets/Main, or the year's folder in PATH or
 * PATH/VOCdevkit; without a year, the only year there is. NULL with err. */
static char *voc_find_root(const char *path, int year, char *err)
{
	char rel[64], *root = NULL, *found[2] = { NULL, NULL };
	static const int years[2] = { 2007, 2012 };
	for (int y = 0; y < 2; y++) {
		if (year && year != years[y])
			continue;
		snprintf(rel, sizeof(rel), "VOC%d", years[y]);
		if (!(found[y] = voc_root_at(path, rel))) {
			snprintf(rel, sizeof(rel), "VOCdevkit/VOC%d", years[y]);
			found[y] = voc_root_at(path, rel);
		}
	}
	if (found[0] && found[1] && !year) {
		free(found[0]);
		free(found[1]);
		err_set(err, "%s holds VOC2007 and VOC2012: choose a year (--year, voc2007:, voc2012:) or read both as "
			"the 07+12 protocol (voc0712:)", path);
		return NULL;
	}
	root = found[0] ? found[0] : found[1];
	if (!root && !(root = voc_root_at(path, "")))
		err_set(err, "no ImageSets/Main in %s, nor in its VOC%s or VOCdevkit/VOC%s folder", path,
			year ? (year == 2007 ? "2007" : "2012") : "2007/VOC2012",
			year ? (year == 2007 ? "2007" : "2012") : "2007/VOC2012");
	return root;
}

typedef struct {
	ds_table *t;
	strmap *seen;     /* id -> bit mask of the splits it is listed in */
	int split, mask;
	int64_t *next_index;
	const char *where;
} list_ctx;

/* An id of a split file. Test copies of VOC often list the same ids in
 * several split files: that is an error only when both splits are asked for. */
static int add_split_id(const char *id, void *ctx, char *err)
{
	list_ctx *c = ctx;
	int had = strmap_get(c->seen, id), bit = 1 << c->split;
	if (had < 0)
		had = 0;
	if (had & bit)
		return 0;   /* listed twice in one split: once is enough */
	int64_t index = (*c->next_index)++;
	if ((had & c->mask) && (bit & c->mask)) {
		int other = had & c->mask & 1 ? 0 : had & c->mask & 2 ? 1 : 2;
		return err_set(err, "%s: image '%s' is in split %s and %s, both asked for (ask for splits that do not "
			       "overlap: --splits)", c->where, err_esc(id), split_names[other], split_names[c->split]);
	}
	if (!ds_table_add(c->t, id, c->split, index, (c->mask >> c->split) & 1) || strmap_put(c->seen, id, had | bit))
		return err_set(err, "out of memory");
	return 0;
}

/* The listing: train.txt, val.txt, test.txt in that order (trainval.txt as
 * train when neither train.txt nor val.txt exists); remap[k]: the split the
 * k-th file's images get, -1 to leave them out (voc0712). */
static int voc_listing(voc_src *v, ds_table *t, const int remap[3], int mask, int asked, int64_t *next,
		       const char *source, char *err)
{
	static const char *const files[4] = { "ImageSets/Main/train.txt", "ImageSets/Main/val.txt",
					      "ImageSets/Main/test.txt", "ImageSets/Main/trainval.txt" };
	blob b[4] = { { 0 } };
	int have[4], rc = 0;
	strmap seen = { 0 };
	for (int k = 0; k < 4; k++)
		if ((have[k] = voc_get(v, files[k], &b[k], 1, err)) < 0)
			rc = -1;
	if (!rc && !have[0] && !have[1] && !have[2] && !have[3])
		rc = err_set(err, "%s: no ImageSets/Main/{train,val,test,trainval}.txt", source);
	for (int k = 0; k < 3 && !rc; k++) {
		int src = k == 0 && !have[0] && !have[1] && have[3] ? 3 : k;
		if (remap[k] < 0)
			continue;
		if (!have[src]) {
			if (asked && (mask & (1 << k)) && remap[k] == k)
				rc = err_set(err, "%s: split %s asked for, but there is no %s", source,
					  split_names[k], files[k]);
			continue;
		}
		char where[700];
		snprintf(where, sizeof(where), "%s: %s", source, files[src]);
		list_ctx c = { t, &seen, remap[k], mask, next, where };
		rc = for_each_id((const char *)b[src].p, b[src].len, files[src], add_split_id, &c, err);
	}
	for (int k = 0; k < 4; k++)
		free(b[k].p);
	strmap_free(&seen);
	return rc;
}

/* labels.txt at the VOC root, else VOC's 20 when every name is one of
 * them, else the sorted names found */
static int voc_label_set(voc_src *v, ds_table *t, voc_ann *anns, char *err)
{
	blob b = { 0 };
	int got;
	if (v->root) {
		got = voc_get(v, "labels.txt", &b, 1, err);
	} else {
		char *key = v->aroot ? file_path_join(v->aroot, "labels.txt") : NULL;
		got = key ? voc_get(v, key, &b, 1, err) : 0;
		free(key);
	}
	if (got < 0)
		return -1;
	if (got) {
		char *text = malloc(b.len + 1);
		int rc = text ? 0 : err_set(err, "out of memory");
		if (text) {
			memcpy(text, b.p, b.len);
			text[b.len] = 0;
			rc = ds_table_set_labels(t, text, "labels.txt", err);
		}
		free(text);
		free(b.p);
		return rc;
	}
	int all_voc = 1;
	for (int i = 0; i < t->n && all_voc; i++)
		for (int j = 0; j < anns[i].n && all_voc; j++) {
			int k = 0;
			while (k < 20 && strcmp(anns[i].o[j].name, voc_labels[k]))
				k++;
			all_voc = k < 20;
		}
	if (!all_voc)
		return 0;
	char list[256];
	size_t len = 0;
	for (int k = 0; k < 20; k++)
		len += (size_t)snprintf(list + len, sizeof list - len, "%s%s", k ? "," : "", voc_labels[k]);
	return ds_table_set_labels(t, list, "VOC's 20 labels", err);
}

/* The annotations of samples first .. t->n-1 (this source's) */
static int voc_annotations(voc_src *v, ds_table *t, int first, const char *source, char *err)
{
	voc_ann *anns = calloc((size_t)t->n + 1, sizeof(voc_ann));
	int rc = anns ? 0 : err_set(err, "out of memory");
	for (int i = first; i < t->n && !rc; i++) {
		char rel[300];
		blob b;
		snprintf(rel, sizeof(rel), "Annotations/%s.xml", t->s[i].id);
		int got = voc_get(v, rel, &b, 0, err);
		if (got == 0)
			rc = err_set(err, "%s: no %s for image '%s'", source, err_esc(rel), err_esc(t->s[i].id));
		else if (got > 0) {
			rc = voc_parse_xml((const char *)b.p, b.len, rel, &anns[i], err);
			free(b.p);
		} else
			rc = -1;
	}
	if (!rc && !t->fixed_labels)   /* a second year keeps the first's label set */
		rc = voc_label_set(v, t, anns, err);
	for (int i = first; i < t->n && !rc; i++)
		for (int j = 0; j < anns[i].n && !rc; j++) {
			char why[ERR_LEN];
			int k = ds_table_label(t, anns[i].o[j].name, why);
			if (k < 0)
				rc = err_set(err, "Annotations/%s.xml: %s", t->s[i].id, why);
			else if (ds_sample_add_obj(&t->s[i], k, anns[i].o[j].difficult))
				rc = err_set(err, "out of memory");
		}
	for (int i = 0; anns && i < t->n; i++)
		voc_ann_free(&anns[i]);
	free(anns);
	return rc;
}

static int voc_images(voc_src *v, ds_table *t, int first, char *err)
{
	for (int i = first; i < t->n; i++) {
		char rel[300];
		ds_sample *s = &t->s[i];
		if (!s->keep)
			continue;
		if (v->root) {
			snprintf(rel, sizeof(rel), "JPEGImages/%s.jpg", s->id);
			s->path = file_path_join(v->root, rel);
			struct stat st;
			if (s->path && stat(s->path, &st) != 0) {
				/* PNG where there is no JPEG; the read reports the .jpg when neither exists */
				snprintf(rel, sizeof(rel), "JPEGImages/%s.png", s->id);
				char *png = file_path_join(v->root, rel);
				if (png && stat(png, &st) == 0) {
					free(s->path);
					s->path = png;
				} else
					free(png);
			}
			if (!s->path)
				return err_set(err, "out of memory");
		} else {
			snprintf(rel, sizeof(rel), "JPEGImages/%s", s->id);
			if (voc_get(v, rel, &s->bytes, 1, err) < 0)
				return -1;
		}
	}
	return 0;
}

static void voc_src_free(voc_src *v)
{
	for (int i = 0; i < v->nkept; i++)
		free(v->kept[i].p);
	free(v->kept);
	strmap_free(&v->files);
	strmap_free(&v->split_of);
	free(v->root);
	free(v->aroot);
}

/* One year's files (year 0: the only one there is) into t: folder or
 * archives, listing, annotations, images. */
static int voc_read(const char *paths, int year, const int remap[3], int mask, int asked, ds_table *t,
		    int64_t *next, const char *source, char *err)
{
	voc_src v = { 0 };
	char *list = strdup(paths), *save = NULL, why[ERR_LEN];
	int rc = list ? 0 : err_set(err, "out of memory"), nparts = 0, first = t->n;
	v.want_mask = mask;
	v.year = year;
	for (char *p = list ? strtok_r(list, ",", &save) : NULL; p && !rc; p = strtok_r(NULL, ",", &save)) {
		nparts++;
		if (strcmp(p, "-") && file_is_dir(p)) {
			if (v.root || v.nkept)
				rc = err_set(err, "%s: give one VOC folder, or archives, not both", source);
			else if (!(v.root = voc_find_root(p, year, why)))
				rc = err_set(err, "%s: %s", source, why);
		} else if (v.root) {
			rc = err_set(err, "%s: give one VOC folder, or archives, not both", source);
		} else {
			v.cur = strcmp(p, "-") ? p : "standard input";
			rc = file_scan_archive(p, DS_MAX_IMAGE_FILE, voc_want, voc_take, &v, err);
		}
	}
	if (!rc && nparts == 0)
		rc = err_set(err, "%s: no path given", source);
	if (!rc && !v.root && !v.aroot)
		rc = err_set(err, "%s: no VOC%s folders (JPEGImages, Annotations, ImageSets/Main) in the archive",
			     source, year == 2007 ? "2007" : year == 2012 ? "2012" : "");
	if (!rc)
		rc = voc_listing(&v, t, remap, mask, asked, next, source, err);
	if (!rc)
		rc = voc_annotations(&v, t, first, source, err);
	if (!rc)
		rc = voc_images(&v, t, first, err);
	voc_src_free(&v);
	free(list);
	return rc;
}

ds_dataset *ds_open_voc(const char *paths, int year, int mask, int asked, char *err)
{
	static const int same[3] = { SPLIT_TRAIN, SPLIT_VAL, SPLIT_TEST };
	ds_table t = { 0 };
	int64_t next = 0;
	char source[600];
	if (year)
		snprintf(source, sizeof(source), "voc%d:%s", year, paths);
	else
		snprintf(source, sizeof(source), "voc:%s", paths);
	if (voc_read(paths, year, same, mask, asked, &t, &next, source, err)) {
		ds_table_free(&t);
		return NULL;
	}
	return ds_finish(&t, NULL, source, err);
}

/* The 07+12 protocol: train on VOC2007 and VOC2012 trainval, test on
 * VOC2007 test (VOC2012's test annotations were never released). The
 * listing is 2007's, then 2012's. */
ds_dataset *ds_open_voc0712(const char *paths, int mask, int asked, char *err)
{
	static const int y07[3] = { SPLIT_TRAIN, SPLIT_TRAIN, SPLIT_TEST }, y12[3] = { SPLIT_TRAIN, SPLIT_TRAIN, -1 };
	ds_table t = { 0 };
	int64_t next = 0;
	char source[600];
	snprintf(source, sizeof(source), "voc0712:%s", paths);
	if (asked && (mask & (1 << SPLIT_VAL)))
		return err_set(err, "%s: the 07+12 protocol has no val split (train: 2007 and 2012 trainval; "
			       "test: 2007 test)", source), NULL;
	if (!strcmp(paths, "-") || strstr(paths, ",-,") || !strncmp(paths, "-,", 2) ||
	    (strlen(paths) > 2 && !strcmp(paths + strlen(paths) - 2, ",-")))
		return err_set(err, "%s: standard input can be read once; voc0712 reads its archives twice: "
			       "give the files", source), NULL;
	if (voc_read(paths, 2007, y07, mask, asked, &t, &next, source, err) ||
	    voc_read(paths, 2012, y12, mask, asked, &t, &next, source, err)) {
		ds_table_free(&t);
		return NULL;
	}
	return ds_finish(&t, NULL, source, err);
}
