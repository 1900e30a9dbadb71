/* mosaic: the default multi-label data set, Fashion-MNIST items on a 2x2 grid,
 * written as a PASCAL VOC tar (docs/mosaic.md). */
#include <archive.h>
#include <archive_entry.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "idx.h"
#include "cli.h"
#include "mosaic.h"
#include "names.h"

#define N_CLASSES 10
static const char *const class_names[N_CLASSES] = {
	"tshirt_top", "trouser", "pullover", "dress", "coat",
	"sandal", "shirt", "sneaker", "bag", "ankle_boot",
};
#define FMNIST_PACKAGE "dataset-fashion-mnist"
#define ROOT "VOCdevkit/VOC2007/"
/* train items come from 0..49,999 of the training file, val items from the
 * rest, so fresh training mosaics can be composed without touching val */
#define TRAIN_POOL_END 50000u
#define MTIME 946684800   /* 2000-01-01: fixed, so a seed gives the same bytes */

typedef struct {
	const char *data_dir, *manifest;
	int n[3], size, quality, seed;
	double cell_prob;
} options;

typedef struct {
	idx_array images, labels;
} fmnist_part;

static void load_part(const char *dir, const char *prefix, fmnist_part *p)
{
	char path[4096], err[ERR_LEN];
	snprintf(path, sizeof path, "%s/%s-images-idx3-ubyte.gz", dir, prefix);
	if (idx_read_u8(path, 3, &p->images, err) < 0)
		cli_die("reading Fashion-MNIST: %s (install the Debian package %s, or give --data DIR)", err, FMNIST_PACKAGE);
	if (p->images.dims[1] != MOSAIC_ITEM || p->images.dims[2] != MOSAIC_ITEM)
		cli_die("reading Fashion-MNIST: %s: images of %ux%u, expected %dx%d", path,
		       p->images.dims[1], p->images.dims[2], MOSAIC_ITEM, MOSAIC_ITEM);
	snprintf(path, sizeof path, "%s/%s-labels-idx1-ubyte.gz", dir, prefix);
	if (idx_read_u8(path, 1, &p->labels, err) < 0)
		cli_die("reading Fashion-MNIST: %s (install the Debian package %s, or give --data DIR)", err, FMNIST_PACKAGE);
	if (p->labels.dims[0] != p->images.dims[0])
		cli_die("reading Fashion-MNIST: %s: %u labels for %u images", path, p->labels.dims[0], p->images.dims[0]);
	for (uint32_t i = 0; i < p->labels.dims[0]; i++)
		if (p->labels.data[i] >= N_CLASSES)
			cli_die("reading Fashion-MNIST: %s: label %u of item %u, expected 0 to %d", path,
			       p->labels.data[i], i, N_CLASSES - 1);
}

static void add_entry(struct archive *a, const char *path, const void *data, size_t len, int is_dir)
{
	struct archive_entry *e = archive_entry_new();
	archive_entry_set_pathname(e, path);
	archive_entry_set_filetype(e, is_dir ? AE_IFDIR : AE_IFREG);
	archive_entry_set_perm(e, is_dir ? 0755 : 0644);
	archive_entry_set_size(e, is_dir ? 0 : (la_int64_t)len);
	archive_entry_set_mtime(e, MTIME, 0);
	archive_entry_set_uid(e, 0);
	archive_entry_set_gid(e, 0);
	if (archive_write_header(a, e) != ARCHIVE_OK)
		cli_die("writing the tar: %s: %s", path, archive_error_string(a));
	if (!is_dir && len > 0 && archive_write_data(a, data, len) != (la_ssize_t)len)
		cli_die("writing the tar: %s: %s", path, archive_error_string(a));
	archive_entry_free(e);
}

/* Appends printf output to a growing string. */
typedef struct { char *s; size_t len, cap; } text;

__attribute__((format(printf, 2, 3))) static void text_printf(text *t, const char *fmt, ...)
{
	for (;;) {
		va_list ap;
		va_start(ap, fmt);
		int n = vsnprintf(t->s ? t->s + t->len : NULL, t->s ? t->cap - t->len : 0, fmt, ap);
		va_end(ap);
		if (n < 0) cli_die("formatting text: %s", fmt);
		if (t->s && t->len + (size_t)n < t->cap) {
			t->len += (size_t)n;
			return;
		}
		t->cap = 2 * (t->cap + (size_t)n + 64);
		t->s = cli_realloc(t->s, t->cap);
	}
}

static void write_lists(struct archive *a, const options *o)
{
	text t = { 0 };
	for (int k = 0; k < N_CLASSES; k++) text_printf(&t, "%s\n", class_names[k]);
	add_entry(a, ROOT "labels.txt", t.s, t.len, 0);
	add_entry(a, ROOT "ImageSets/", NULL, 0, 1);
	add_entry(a, ROOT "ImageSets/Main/", NULL, 0, 1);
	int id = 1;
	for (int s = 0; s < 3; s++) {
		char path[64];
		t.len = 0;
		for (int i = 0; i < o->n[s]; i++) text_printf(&t, "%06d\n", id++);
		snprintf(path, sizeof path, ROOT "ImageSets/Main/%s.txt", split_names[s]);
		add_entry(a, path, t.s ? t.s : "", t.len, 0);
	}
	free(t.s);
}

static void annotation(text *t, int id, int size, unsigned cells, const int *cls)
{
	int side = size / MOSAIC_GRID;
	t->len = 0;
	text_printf(t, "<annotation>\n\t<folder>VOC2007</folder>\n\t<filename>%06d.jpg</filename>\n"
		    "\t<source>\n\t\t<database>Fashion-MNIST mosaics</database>\n\t</source>\n"
		    "\t<size>\n\t\t<width>%d</width>\n\t\t<height>%d</height>\n\t\t<depth>1</depth>\n\t</size>\n"
		    "\t<segmented>0</segmented>\n", id, size, size);
	for (int c = 0; c < MOSAIC_CELLS; c++) {
		if (!(cells >> c & 1)) continue;
		/* VOC boxes are 1-based and inclusive */
		int x0 = (c % MOSAIC_GRID) * side + 1, y0 = (c / MOSAIC_GRID) * side + 1;
		text_printf(t, "\t<object>\n\t\t<name>%s</name>\n\t\t<pose>Unspecified</pose>\n"
			    "\t\t<truncated>0</truncated>\n\t\t<difficult>0</difficult>\n"
			    "\t\t<bndbox>\n\t\t\t<xmin>%d</xmin>\n\t\t\t<ymin>%d</ymin>\n"
			    "\t\t\t<xmax>%d</xmax>\n\t\t\t<ymax>%d</ymax>\n\t\t</bndbox>\n\t</object>\n",
			    class_names[cls[c]], x0, y0, x0 + side - 1, y0 + side - 1);
	}
	text_printf(t, "</annotation>\n");
}

typedef struct {
	const fmnist_part *part;
	uint32_t lo, hi;       /* item range of the part */
	const char *source;    /* the Fashion-MNIST file, for the manifest */
} split_source;

/* Composes and writes the images of split s; ids continue from *id. */
static void write_split(struct archive *a, const options *o, int s, const split_source *src,
			int *id, FILE *manifest, cli_progress *pb, uint64_t *done)
{
	mosaic_rng rng;
	mosaic_pool pool;
	/* one stream per split: changing one split's count leaves the others alone */
	mosaic_rng_seed(&rng, (uint64_t)o->seed, (uint64_t)s + 1);
	mosaic_pool_init(&pool, src->lo, src->hi);
	uint8_t *img = cli_malloc((size_t)o->size * o->size);
	text xml = { 0 };
	for (int i = 0; i < o->n[s]; i++, (*id)++) {
		unsigned cells = mosaic_draw_cells(&rng, o->cell_prob);
		int cls[MOSAIC_CELLS];
		memset(img, 0, (size_t)o->size * o->size);
		for (int c = 0; c < MOSAIC_CELLS; c++) {
			if (!(cells >> c & 1)) continue;
			uint32_t item = mosaic_pool_draw(&pool, &rng);
			cls[c] = src->part->labels.data[item];
			mosaic_place(img, o->size, c, src->part->images.data + (size_t)item * MOSAIC_ITEM * MOSAIC_ITEM);
			if (manifest)
				fprintf(manifest, "%06d\t%s\t%d\t%s\t%u\t%s\n", *id, split_names[s], c, src->source,
					item, class_names[cls[c]]);
		}
		uint8_t *jpg;
		size_t len;
		char err[ERR_LEN], path[64];
		if (mosaic_jpeg(img, o->size, o->quality, &jpg, &len, err) < 0) cli_die("image %06d: %s", *id, err);
		snprintf(path, sizeof path, ROOT "JPEGImages/%06d.jpg", *id);
		add_entry(a, path, jpg, len, 0);
		free(jpg);
		annotation(&xml, *id, o->size, cells, cls);
		snprintf(path, sizeof path, ROOT "Annotations/%06d.xml", *id);
		add_entry(a, path, xml.s, xml.len, 0);
		cli_progress_update(pb, ++*done);
	}
	free(xml.s);
	free(img);
	mosaic_pool_free(&pool);
}

static void check_options(const options *o)
{
	for (int s = 0; s < 3; s++)
		if (o->n[s] < 0 || o->n[s] > 999999)
			cli_usage("--%s %d: expected a count from 0 to 999999", split_names[s], o->n[s]);
	if ((long)o->n[0] + o->n[1] + o->n[2] > 999999)
		cli_usage("%d images in all: at most 999999 (six-digit ids)", o->n[0] + o->n[1] + o->n[2]);
	if (o->size < 8 || o->size > 4096 || o->size % 2)
		cli_usage("--size %d: expected an even number from 8 to 4096", o->size);
	if (!(o->cell_prob > 0 && o->cell_prob <= 1))
		cli_usage("--cell-prob %g: expected a probability in (0, 1]", o->cell_prob);
	if (o->quality < 1 || o->quality > 100)
		cli_usage("--quality %d: expected 1 to 100", o->quality);
	if (o->seed < 0) cli_usage("--seed %d: expected a non-negative integer", o->seed);
}

static void options_default(options *o)
{
	*o = (options){ "/usr/share/datasets/fashion-mnist", NULL, { 20000, 4000, 5000 }, 56, 90, 1, 0.7 };
}

/* the tar: the lists, then every split's images and annotations */
static void write_tar(cli_out *out, const options *o, const split_source src[3], FILE *manifest)
{
	struct archive *a = archive_write_new();
	if (!a || archive_write_set_format_ustar(a) != ARCHIVE_OK || archive_write_add_filter_none(a) != ARCHIVE_OK ||
	    archive_write_open_FILE(a, cli_out_fp(out)) != ARCHIVE_OK)
		cli_die("writing the tar: %s", a ? archive_error_string(a) : "out of memory");
	add_entry(a, "VOCdevkit/", NULL, 0, 1);
	add_entry(a, ROOT, NULL, 0, 1);
	write_lists(a, o);
	add_entry(a, ROOT "JPEGImages/", NULL, 0, 1);
	add_entry(a, ROOT "Annotations/", NULL, 0, 1);
	uint64_t done = 0;
	cli_progress *pb = cli_progress_start("mosaic", (uint64_t)o->n[0] + o->n[1] + o->n[2], "images");
	int id = 1;
	for (int s = 0; s < 3; s++)
		write_split(a, o, s, &src[s], &id, manifest, pb, &done);
	cli_progress_end(pb);
	if (archive_write_close(a) != ARCHIVE_OK) cli_die("writing the tar: %s", archive_error_string(a));
	archive_write_free(a);
}

int main(int argc, char **argv)
{
	options o;
	options_default(&o);
	const cli_opt opts[] = {
		{ "train", 0, CLI_INT, &o.n[0], "N", "train images (items from Fashion-MNIST training items 0-49,999)" },
		{ "val", 0, CLI_INT, &o.n[1], "N", "val images (items from training items 50,000-59,999)" },
		{ "test", 0, CLI_INT, &o.n[2], "N", "test images (items from the Fashion-MNIST test set)" },
		{ "size", 0, CLI_INT, &o.size, "S", "image side in pixels (even; cells of S/2, items resized bilinearly when S != 56)" },
		{ "cell-prob", 0, CLI_DOUBLE, &o.cell_prob, "P", "probability that a cell holds an item (redrawn until one does)" },
		{ "quality", 0, CLI_INT, &o.quality, "Q", "JPEG quality (libjpeg scale, 1-100)" },
		{ "seed", 's', CLI_INT, &o.seed, "N", "random seed: the same seed and options give a byte-identical tar" },
		{ "data", 0, CLI_STR, &o.data_dir, "DIR", "Fashion-MNIST IDX files (*-idx?-ubyte.gz, Debian package " FMNIST_PACKAGE ")" },
		{ "manifest", 0, CLI_STR, &o.manifest, "FILE", "also write a TSV of every item placed: id, split, cell, source file, item, label" },
		{ 0 },
	};
	cli_init(argc, argv, "mosaic");
	int first = cli_parse(argc, argv, opts,
		"mosaic [options] [-o FILE.tar]",
		"Writes a multi-label data set in the PASCAL VOC layout as a tar: grey JPEG images,\n"
		"each a 2x2 grid of Fashion-MNIST items; an image's labels are the classes of its items.\n"
		"  VOCdevkit/VOC2007/labels.txt                 the 10 label names, in column order\n"
		"  VOCdevkit/VOC2007/ImageSets/Main/{train,val,test}.txt   image ids per split\n"
		"  VOCdevkit/VOC2007/JPEGImages/ID.jpg, Annotations/ID.xml (one object per item,\n"
		"  the cell as its box, difficult 0); ids 000001... run through train, val, test.");
	if (first < argc) cli_usage("unexpected argument '%s': mosaic reads no input file (see --data)", argv[first]);
	check_options(&o);
	if (o.manifest)
		cli_out_check(o.manifest, 0);   /* before the data are read */

	fmnist_part train, test;
	load_part(o.data_dir, "train", &train);
	load_part(o.data_dir, "t10k", &test);
	if (train.images.dims[0] <= TRAIN_POOL_END)
		cli_die("reading Fashion-MNIST: %s: %u training items, expected more than %u", o.data_dir,
		       train.images.dims[0], TRAIN_POOL_END);
	const split_source src[3] = {
		{ &train, 0, TRAIN_POOL_END, "train" },
		{ &train, TRAIN_POOL_END, train.images.dims[0], "train" },
		{ &test, 0, test.images.dims[0], "t10k" },
	};

	cli_out *manifest = NULL;
	if (o.manifest) {
		manifest = cli_out_open_text(o.manifest);
		fprintf(cli_out_fp(manifest), "id\tsplit\tcell\tsource\titem\tlabel\n");
	}
	cli_out *out = cli_out_open(cli_opts.output);
	write_tar(out, &o, src, manifest ? cli_out_fp(manifest) : NULL);
	cli_out_close(out);
	if (manifest) cli_out_close(manifest);
	cli_info("%d images: %d train, %d val, %d test", o.n[0] + o.n[1] + o.n[2], o.n[0], o.n[1], o.n[2]);
	idx_free(&train.images); idx_free(&train.labels);
	idx_free(&test.images); idx_free(&test.labels);
	return 0;
}
