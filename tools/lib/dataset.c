/* dataset.c: ds_open and ds_read of dataset.h. The spec's kind picks the
 * reader (dataset_voc.c, dataset_coco.c, dataset_list.c), each of which
 * fills the sample table of dataset_table.c; ds_read then finds a sample's
 * image bytes in a file, in memory or in a zip read in place. */
#include <stdlib.h>
#include <string.h>

#include "dataset_int.h"
#include "err.h"

/* "train,val,test,trainval" -> bit mask of SPLIT_*; NULL or "" = all */
static int parse_splits(const char *s, int *mask, char *err)
{
	*mask = 0;
	if (!s || !*s) {
		*mask = 7;
		return 0;
	}
	const char *p = s;
	while (*p) {
		size_t l = strcspn(p, ",");
		if (l == 5 && !strncmp(p, "train", 5))
			*mask |= 1;
		else if (l == 3 && !strncmp(p, "val", 3))
			*mask |= 2;
		else if (l == 4 && !strncmp(p, "test", 4))
			*mask |= 4;
		else if (l == 8 && !strncmp(p, "trainval", 8))
			*mask |= 3;
		else
			return err_set(err, "unknown split '%.*s' in '%s' (expected train, val, test or trainval)",
				    (int)l, p, s);
		p += l;
		if (*p == ',')
			p++;
	}
	return 0;
}

uint8_t *ds_read(ds_dataset *d, int i, size_t *len, char *err)
{
	if (i < 0 || i >= d->n) {
		err_set(err, "sample %d out of range (0..%d)", i, d->n - 1);
		return NULL;
	}
	const char *path = d->priv->paths[i];
	const blob *b = &d->priv->bytes[i];
	if (path) {
		blob f;
		char why[ERR_LEN];
		if (file_read_all(path, DS_MAX_IMAGE_FILE, &f, why)) {
			err_set(err, "image of sample '%s': %s", err_esc(d->ids[i]), why);
			return NULL;
		}
		*len = f.len;
		return f.p;
	}
	if (d->priv->zip && d->priv->zipent[i] >= 0) {
		char why[ERR_LEN];
		uint8_t *p = zip_read(d->priv->zip, d->priv->zipent[i], DS_MAX_IMAGE_FILE, len, why);
		if (!p)
			err_set(err, "image of sample '%s': %s", err_esc(d->ids[i]), why);
		return p;
	}
	if (!b->p) {
		err_set(err, "image of sample '%s': not found in %s", err_esc(d->ids[i]), d->priv->source);
		return NULL;
	}
	uint8_t *p = malloc(b->len ? b->len : 1);
	if (!p) {
		err_set(err, "image of sample '%s': out of memory", err_esc(d->ids[i]));
		return NULL;
	}
	memcpy(p, b->p, b->len);
	*len = b->len;
	return p;
}

ds_dataset *ds_open(const char *spec, const char *splits, char *err)
{
	int mask;
	if (!spec)
		return err_set(err, "no data set given"), NULL;
	if (parse_splits(splits, &mask, err))
		return NULL;
	if (!strncmp(spec, "voc:", 4))
		return ds_open_voc(spec + 4, 0, mask, splits && *splits, err);
	if (!strncmp(spec, "voc2007:", 8) || !strncmp(spec, "voc2012:", 8))
		return ds_open_voc(spec + 8, spec[6] == '7' ? 2007 : 2012, mask, splits && *splits, err);
	if (!strncmp(spec, "voc0712:", 8))
		return ds_open_voc0712(spec + 8, mask, splits && *splits, err);
	if (!strncmp(spec, "coco:", 5))
		return ds_open_coco(spec + 5, mask, err);
	if (!strncmp(spec, "list:", 5))
		return ds_open_list(spec + 5, mask, err);
	err_set(err, "unknown data set '%s' (expected voc:PATH, voc2007:PATH, voc2012:PATH, voc0712:PATH, "
		"coco:IMAGES,ANNOTATIONS or list:FILE)", err_esc(spec));
	return NULL;
}
