/* dataset_coco.c: COCO, an image folder or archive with an instances JSON
 * (docs/datasets.md). Categories become the labels (sorted by name), every
 * annotation an object of its image. An image zip is read in place
 * (zipfile.h); other archives are scanned once and the images asked for
 * kept in memory. */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "dataset_int.h"
#include "err.h"

/* Replaces the value of every "key": member with 0 and spaces, string-aware.
 * COCO's segmentation polygons are most of an instances file; cJSON would
 * need several bytes of tree per byte of them. */
static void json_blank_member(char *s, size_t len, const char *key)
{
	size_t kl = strlen(key);
	int in_str = 0;
	for (size_t i = 0; i < len; i++) {
		if (in_str) {
			if (s[i] == '\\')
				i++;
			else if (s[i] == '"')
				in_str = 0;
			continue;
		}
		if (s[i] != '"')
			continue;
		if (i + kl + 2 > len || memcmp(s + i + 1, key, kl) || s[i + kl + 1] != '"') {
			in_str = 1;
			continue;
		}
		size_t j = i + kl + 2;
		while (j < len && isspace((unsigned char)s[j]))
			j++;
		if (j >= len || s[j] != ':') {
			i += kl + 1;
			continue;
		}
		j++;
		while (j < len && isspace((unsigned char)s[j]))
			j++;
		size_t start = j;
		int depth = 0, str = 0;
		for (; j < len; j++) {
			char c = s[j];
			if (str) {
				if (c == '\\')
					j++;
				else if (c == '"')
					str = 0;
			} else if (c == '"')
				str = 1;
			else if (c == '[' || c == '{')
				depth++;
			else if (c == ']' || c == '}') {
				if (depth == 0)
					break;
				if (--depth == 0) {
					j++;
					break;
				}
			} else if (c == ',' && depth == 0)
				break;
		}
		if (depth || str || j <= start)
			return;   /* malformed: leave it to cJSON to report */
		memset(s + start, ' ', j - start);
		s[start] = '0';
		i = j - 1;
	}
}

static int json_int(const cJSON *o, const char *key, long long *out)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	/* in range before the cast: converting 1e300 to long long is undefined */
	if (!cJSON_IsNumber(v) || !(fabs(v->valuedouble) < 9.2e18) || v->valuedouble != floor(v->valuedouble))
		return -1;
	*out = (long long)v->valuedouble;
	return 0;
}

static const char *json_str(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	return cJSON_IsString(v) && v->valuestring[0] ? v->valuestring : NULL;
}

/* A member of "categories" or "images": its integer "id", also written as a
 * map key, and its non-empty string `field`; -1 when either is missing. */
static int coco_member(const cJSON *c, const char *field, long long *id, char key[32], const char **s)
{
	if (json_int(c, "id", id) || !(*s = json_str(c, field)))
		return -1;
	snprintf(key, 32, "%lld", *id);
	return 0;
}

static int coco_split_from_name(const char *path)
{
	const char *base = file_basename(path);
	if (strstr(base, "train"))
		return SPLIT_TRAIN;
	if (strstr(base, "val"))
		return SPLIT_VAL;
	if (strstr(base, "test"))
		return SPLIT_TEST;
	return -1;
}

static int coco_categories(const cJSON *root, const char *ann, ds_table *t, strmap *cat, char *err)
{
	const cJSON *cats = cJSON_GetObjectItemCaseSensitive(root, "categories"), *c;
	if (!cJSON_IsArray(cats) || cJSON_GetArraySize(cats) == 0)
		return err_set(err, "%s: no \"categories\" array", ann);
	cJSON_ArrayForEach(c, cats) {
		long long id;
		const char *name;
		char key[32];
		if (coco_member(c, "name", &id, key, &name))
			return err_set(err, "%s: a category without an integer id or a name", ann);
		if (strmap_get(cat, key) >= 0)
			return err_set(err, "%s: category id %lld given twice", ann, id);
		if (ds_has_control(name))
			return err_set(err, "%s: category %lld: a label name holds a control character", ann, id);
		if (strmap_get(&t->label_of, name) >= 0)
			return err_set(err, "%s: category name '%s' given twice", ann, err_esc(name));
		char why[ERR_LEN];
		int k = ds_table_label(t, name, why);
		if (k < 0)
			return err_set(err, "%s: category %lld: %s", ann, id, why);
		if (strmap_put(cat, key, k))
			return err_set(err, "out of memory");
	}
	return 0;
}

static int coco_images(const cJSON *root, const char *ann, int split, int keep, ds_table *t,
		       strmap *img, char *err)
{
	const cJSON *imgs = cJSON_GetObjectItemCaseSensitive(root, "images"), *c;
	int64_t index = 0;
	if (!cJSON_IsArray(imgs))
		return err_set(err, "%s: no \"images\" array", ann);
	cJSON_ArrayForEach(c, imgs) {
		long long id;
		const char *file;
		char key[32];
		if (coco_member(c, "file_name", &id, key, &file))
			return err_set(err, "%s: image %lld has no integer id or no file_name", ann,
				    (long long)index);
		if (strstr(file, "..") || file[0] == '/')
			return err_set(err, "%s: image file_name '%s' leaves the image folder", ann, err_esc(file));
		if (ds_has_control(file))
			return err_set(err, "%s: image %lld: file_name holds a control character", ann, id);
		if (strmap_get(img, key) >= 0)
			return err_set(err, "%s: image id %lld given twice", ann, id);
		if (!ds_table_add(t, file, split, index++, keep) || strmap_put(img, key, t->n - 1))
			return err_set(err, "out of memory");
	}
	return 0;
}

static int coco_annotations(const cJSON *root, const char *ann, ds_table *t, strmap *img,
			    strmap *cat, char *err)
{
	const cJSON *anns = cJSON_GetObjectItemCaseSensitive(root, "annotations"), *c;
	if (!anns)
		return 0;   /* image_info_test*.json: images only */
	if (!cJSON_IsArray(anns))
		return err_set(err, "%s: \"annotations\" is not an array", ann);
	cJSON_ArrayForEach(c, anns) {
		long long iid, cid;
		char ik[32], ck[32];
		if (json_int(c, "image_id", &iid) || json_int(c, "category_id", &cid))
			return err_set(err, "%s: an annotation without an integer image_id or category_id", ann);
		snprintf(ik, sizeof(ik), "%lld", iid);
		snprintf(ck, sizeof(ck), "%lld", cid);
		int i = strmap_get(img, ik), k = strmap_get(cat, ck);
		if (i < 0)
			return err_set(err, "%s: annotation of image id %lld, which \"images\" does not list", ann, iid);
		if (k < 0)
			return err_set(err, "%s: annotation with category_id %lld, which \"categories\" does not list", ann, cid);
		if (ds_sample_add_obj(&t->s[i], k, 0))
			return err_set(err, "out of memory");
	}
	return 0;
}

/* An archive other than a zip (libarchive): the images asked for are kept
 * in memory, found by their base name. */
typedef struct { ds_table *t; strmap byname; } coco_archive;

static int coco_want(const char *path, void *ctx)
{
	coco_archive *a = ctx;
	int i = strmap_get(&a->byname, file_basename(path));
	return i >= 0 && !a->t->s[i].bytes.p;
}

static int coco_take(const char *path, blob data, void *ctx, char *err)
{
	coco_archive *a = ctx;
	(void)err;
	a->t->s[strmap_get(&a->byname, file_basename(path))].bytes = data;
	return 0;
}

/* A zip is read in place: each kept sample remembers its entry, found by
 * base name (the last entry of that name wins). */
static int coco_zip_entries(const char *images, ds_table *t, zip_file **zip, char *err)
{
	strmap byname = { 0 };
	int rc = 0;
	if (!(*zip = zip_open(images, err)))
		return -1;
	for (int k = 0; k < zip_count(*zip) && !rc; k++)
		if (strmap_put(&byname, file_basename(zip_entry_at(*zip, k)->name), k))
			rc = err_set(err, "out of memory");
	for (int i = 0; i < t->n && !rc; i++)
		if (t->s[i].keep)
			t->s[i].zipent = strmap_get(&byname, file_basename(t->s[i].id));
	strmap_free(&byname);
	return rc;
}

static int coco_attach_images(const char *images, ds_table *t, zip_file **zip, char *err)
{
	if (zip_detect(images))
		return coco_zip_entries(images, t, zip, err);
	if (file_is_dir(images)) {
		for (int i = 0; i < t->n; i++)
			if (t->s[i].keep && !(t->s[i].path = file_path_join(images, t->s[i].id)))
				return err_set(err, "out of memory");
		return 0;
	}
	coco_archive a = { t, { 0 } };
	int rc = 0;
	for (int i = 0; i < t->n && !rc; i++)
		if (t->s[i].keep && strmap_put(&a.byname, file_basename(t->s[i].id), i))
			rc = err_set(err, "out of memory");
	if (!rc)
		rc = file_scan_archive(images, DS_MAX_IMAGE_FILE, coco_want, coco_take, &a, err);
	strmap_free(&a.byname);
	return rc;
}

ds_dataset *ds_open_coco(const char *spec, int mask, char *err)
{
	char *copy = strdup(spec);
	char *images = copy, *ann = copy ? strchr(copy, ',') : NULL, *splitname = NULL;
	ds_table t = { 0 };
	strmap cat = { 0 }, img = { 0 };
	cJSON *root = NULL;
	char *text = NULL;
	int rc = 0, split = -1;
	char source[600];
	snprintf(source, sizeof(source), "coco:%s", spec);
	if (!ann) {
		free(copy);
		err_set(err, "%s: expected coco:IMAGES,ANNOTATIONS[,SPLIT]", source);
		return NULL;
	}
	*ann++ = 0;
	if ((splitname = strchr(ann, ','))) {
		*splitname++ = 0;
		if ((split = ds_parse_split_name(splitname, strlen(splitname))) < 0)
			rc = err_set(err, "%s: unknown split '%s' (expected train, val or test)", source, err_esc(splitname));
	} else if ((split = coco_split_from_name(ann)) < 0)
		rc = err_set(err, "%s: cannot tell the split from the name %s; say it: coco:%s,%s,val",
			  source, ann, images, ann);
	if (!rc && !(text = file_read_text(ann, DS_MAX_TEXT_FILE, err)))
		rc = -1;
	if (!rc) {
		size_t len = strlen(text);
		json_blank_member(text, len, "segmentation");
		if (!(root = cJSON_ParseWithLength(text, len)) || !cJSON_IsObject(root))
			rc = err_set(err, "%s: not valid JSON (near byte %zu)", ann,
				  root ? 0 : (size_t)(cJSON_GetErrorPtr() ? cJSON_GetErrorPtr() - text : 0));
	}
	free(text);
	if (!rc)
		rc = coco_categories(root, ann, &t, &cat, err);
	if (!rc)
		rc = coco_images(root, ann, split, (mask >> split) & 1, &t, &img, err);
	if (!rc)
		rc = coco_annotations(root, ann, &t, &img, &cat, err);
	cJSON_Delete(root);
	strmap_free(&cat);
	strmap_free(&img);
	zip_file *zip = NULL;
	if (!rc)
		rc = coco_attach_images(images, &t, &zip, err);
	free(copy);
	if (rc) {
		ds_table_free(&t);
		zip_close(zip);
		return NULL;
	}
	return ds_finish(&t, zip, source, err);
}
