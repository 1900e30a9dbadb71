/* extract-feats: per-layer pooled features and logits of a torchvision
 * ResNet/VGG over a data set (contract section 5, docs/extract-feats.md). */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "dataset.h"
#include "feed.h"
#include "image.h"
#include "cli.h"
#include "labelmap.h"
#include "names.h"
#include "net.h"
#include "net_guess.h"
#include "pth.h"
#include "shard.h"

typedef struct {
	const char *model_path, *dataset_spec;   /* required */
	const char *arch, *head, *splits;        /* NULL: from the model's metadata; all splits */
	const char *pool_spec;                   /* "avg" */
	const char *mean_opt, *std_opt;          /* NULL: metadata, else ImageNet's */
	const char *conv_opt;                    /* "dnnl" */
	const char *device;                      /* "cpu" */
	const char *resample, *interpolation;    /* NULL: metadata, else pil and bilinear */
	const char *key;                         /* a checkpoint's entry; NULL: found */
	const char *year;                        /* voc: the VOCdevkit year, NULL: the only one */
	const char *shard;                       /* "I/N", NULL: every sample */
	int resize, crop;                        /* -1: metadata, else 256 and 224 */
	int batch;                               /* 16 */
	int limit, skip_bad, strict;
} options;

static void options_default(options *o)
{
	*o = (options){ .pool_spec = "avg", .conv_opt = "dnnl", .device = "cpu", .resize = -1, .crop = -1, .batch = 16 };
}

static options o;
static conv_engine engine;
static device_kind device;
static shard_spec shard = { 0, 1 };   /* --shard, parsed */

static const cli_opt opts[] = {
	{"model", 'm', CLI_STR, &o.model_path, "FILE",
	 "torchvision state_dict: safetensors or a PyTorch checkpoint (.pth) (required)"},
	{"key", 0, CLI_STR, &o.key, "NAME", "the entry of a checkpoint dict holding the state dict (default: found)"},
	{"dataset", 'd', CLI_STR, &o.dataset_spec, "SPEC",
	 "voc:PATH[,PATH] (vocYYYY: one year of a VOCdevkit, voc0712: the 07+12 protocol, PATH '-': a tar on "
	 "standard input), coco:IMAGES,ANNOTATIONS[,SPLIT], list:FILE or tensor:FILE (required)"},
	{"splits", 0, CLI_STR, &o.splits, "LIST", "splits to read, e.g. train,val,test or trainval (default: all)"},
	{"year", 0, CLI_STR, &o.year, "YEAR", "voc: the VOCdevkit year to read, 2007 or 2012 (the same as voc2007:PATH)"},
	{"arch", 0, CLI_STR, &o.arch, "NAME",
	 "resnet18|34|50|101|152, vgg11|13|16|19[_bn] (default: metadata 'arch', else told by the tensor names)"},
	{"head", 0, CLI_STR, &o.head, "NAME", "VGG head: torchvision or gap (default: metadata 'head', else told by the names)"},
	{"pool", 'p', CLI_STR, &o.pool_spec, "KIND", "pooling of every tap: avg, max, avgmax (2C) or grid:S (C*S*S)"},
	{"resize", 0, CLI_INT, &o.resize, "S", "shorter side after resizing (-1: metadata 'resize', else 256; 0: none)"},
	{"crop", 0, CLI_INT, &o.crop, "S", "side of the centre crop (-1: metadata 'crop', else 224)"},
	{"resample", 0, CLI_STR, &o.resample, "HOW",
	 "resize as torchvision's PIL recipe (pil: Pillow's, bit for bit) or its tensor path (tensor) "
	 "(default: metadata 'resample', else pil)"},
	{"interpolation", 0, CLI_STR, &o.interpolation, "NAME",
	 "bilinear or bicubic (pil only) (default: metadata 'interpolation', else bilinear)"},
	{"mean", 0, CLI_STR, &o.mean_opt, "R,G,B", "normalisation mean (default: metadata 'mean', else ImageNet's)"},
	{"std", 0, CLI_STR, &o.std_opt, "R,G,B", "normalisation std (default: metadata 'std', else ImageNet's)"},
	{"batch", 'b', CLI_INT, &o.batch, "N", "images per forward pass; memory grows with it"},
	{"limit", 0, CLI_INT, &o.limit, "N", "only the first N samples (0: all)"},
	{"shard", 0, CLI_STR, &o.shard, "I/N",
	 "only block I (0..N-1) of N of the samples, in whole batches: of the B = ceil(n/batch) batches of the "
	 "n samples, batches I*B/N to (I+1)*B/N - 1 (rounded down); metadata 'shard' = I/N; tensors cat of "
	 "shards 0..N-1 is the output without --shard, bit for bit, given the same --batch (any --threads) "
	 "(default: all samples)"},
	{"skip-bad", 0, CLI_FLAG, &o.skip_bad, NULL, "leave out corrupt or missing images (counted) instead of failing"},
	{"strict", 0, CLI_FLAG, &o.strict, NULL, "fail when the model's labels are not the data set's (default: drop the head)"},
	{"conv", 0, CLI_STR, &o.conv_opt, "ENGINE", "convolutions: dnnl (oneDNN), sgemm (im2col + OpenBLAS) or reference (plain loops, slow)"},
	{"device", 0, CLI_STR, &o.device, "DEV",
	 "run the network on cpu or cuda (the GPU: cuDNN, in F16/BF16 when the model is, else F32)"},
	{0},
};

static const char *about =
	"Runs the network over every image and writes, per tap NN, the pooled features\n"
	"feat.NN [N,D] (F32), the head's logits [N,K], and the data set's labels, ignore,\n"
	"split and index. Taps: ResNet 00 after the stem (maxpool), then one per residual\n"
	"block; VGG one after every convolution's ReLU. Metadata: arch, layers (the taps'\n"
	"module names), layer_flops (cumulative FLOPs per image up to each tap, then the\n"
	"whole network), labels, ids, dataset, splits, pool and the preprocessing used.\n"
	"tensor:FILE takes an already preprocessed F32 tensor 'images' [N,3,H,W] instead\n"
	"of a data set (its labels, ignore, split, index and metadata are forwarded).\n"
	"--shard I/N splits the work across machines: each run reads, decodes and runs\n"
	"only its block of samples, in whole batches (so the same --batch in every shard and\n"
	"in a run without --shard gives the same bits, at any --threads); a block may be empty\n"
	"(N above the number of batches): a file of 0 rows.\n"
	"Examples:\n"
	"  extract-feats --model fixtures/resnet18.st --dataset voc:VOCtrainval_06-Nov-2007.tar -o feats.st\n"
	"  for i in 0 1 2; do extract-feats -m m.st -d voc:v.tar --shard $i/3 -o f$i.st; done\n"
	"  tensors cat f0.st f1.st f2.st -o feats.st      # the same as without --shard";

/* ---- the model's own preprocessing, from its metadata ---- */

static int meta_int(const st_file *m, const char *key, int fallback)
{
	const char *v = st_meta_get(m, key);
	if (!v)
		return fallback;
	char *end;
	errno = 0;
	long x = strtol(v, &end, 10);
	if (errno || end == v || *end || x < 0 || x > IMG_MAX_SIDE)
		cli_die("%s: metadata '%s' is '%s', expected a size in pixels", o.model_path, key, v);
	return (int)x;
}

/* "a,b,c" or "[a,b,c]" -> three positive-or-any floats; what names it in errors */
static void parse3(const char *s, float out[3], int positive, const char *what)
{
	char *end;
	const char *p = s + (*s == '[');
	for (int i = 0; i < 3; i++) {
		errno = 0;
		double v = strtod(p, &end);
		if (errno || end == p || !(v == v) || (positive && !(v > 0)))
			cli_usage("%s '%s': expected three %snumbers", what, s, positive ? "positive " : "");
		out[i] = (float)v;
		p = end + strspn(end, " ");
		if (i < 2 && *p++ != ',')
			cli_usage("%s '%s': expected three comma-separated numbers", what, s);
	}
	if (strcmp(p, *s == '[' ? "]" : ""))
		cli_usage("%s '%s': expected three comma-separated numbers", what, s);
}

static void preprocessing(const st_file *model, img_prep *p)
{
	char err[ERR_LEN];
	const char *how = o.resample ? o.resample : st_meta_get(model, "resample");
	const char *interp = o.interpolation ? o.interpolation : st_meta_get(model, "interpolation");
	if (img_resample_parse(how ? how : "pil", interp, &p->resample, err)) {
		if (o.resample || o.interpolation)
			cli_usage("%s", err);
		cli_die("%s: metadata: %s", o.model_path, err);
	}
	p->resize = o.resize >= 0 ? o.resize : meta_int(model, "resize", 256);
	p->crop = o.crop >= 0 ? o.crop : meta_int(model, "crop", 224);
	if (p->crop < 1)
		cli_usage("--crop %d: images of one batch need one size, give a crop of at least 1", p->crop);
	memcpy(p->mean, img_imagenet_mean, sizeof p->mean);
	memcpy(p->std, img_imagenet_std, sizeof p->std);
	const char *m = o.mean_opt ? o.mean_opt : st_meta_get(model, "mean");
	const char *s = o.std_opt ? o.std_opt : st_meta_get(model, "std");
	if (m)
		parse3(m, p->mean, 0, o.mean_opt ? "--mean" : "model metadata 'mean'");
	if (s)
		parse3(s, p->std, 1, o.std_opt ? "--std" : "model metadata 'std'");
}

static void set_prep_meta(st_file *f, const img_prep *p)
{
	char buf[160];
	st_meta_set(f, "resample", p->resample == IMG_TENSOR_BILINEAR ? "tensor" : "pil");
	st_meta_set(f, "interpolation", p->resample == IMG_PIL_BICUBIC ? "bicubic" : "bilinear");
	snprintf(buf, sizeof buf, "%d", p->resize);
	st_meta_set(f, "resize", buf);
	snprintf(buf, sizeof buf, "%d", p->crop);
	st_meta_set(f, "crop", buf);
	snprintf(buf, sizeof buf, "[%.9g,%.9g,%.9g]", p->mean[0], p->mean[1], p->mean[2]);
	st_meta_set(f, "mean", buf);
	snprintf(buf, sizeof buf, "[%.9g,%.9g,%.9g]", p->std[0], p->std[1], p->std[2]);
	st_meta_set(f, "std", buf);
}

/* ---- features streamed to temporary files, one per tap ---- */

typedef struct {
	net_pool pool;
	net_model *net;
	gpu_net *gpu;        /* --device cuda, made at the first batch (its image size) */
	FILE **spool;        /* ntaps feature spools, then the logits */
	float **pooled;      /* per tap, [batch][D] */
	int drop_head;       /* the head's labels are not the data set's: no logits */
	int *perm;           /* or the head's column of each data set label, NULL: as they are */
	float *reordered;    /* [batch][K] */
} sink;

static FILE *spool_open(void)
{
	const char *dir = getenv("TMPDIR");
	char path[4096];
	snprintf(path, sizeof path, "%s/extract-feats.XXXXXX", dir && *dir ? dir : "/tmp");
	int fd = mkstemp(path);
	if (fd < 0)
		cli_die("cannot create a temporary file in %s: %s", dir && *dir ? dir : "/tmp", strerror(errno));
	unlink(path);
	FILE *fp = fdopen(fd, "w+b");
	if (!fp)
		cli_die("cannot open a temporary file: %s", strerror(errno));
	return fp;
}

static void spool_put(FILE *fp, const float *x, size_t n)
{
	if (fwrite(x, sizeof(float), n, fp) != n)
		cli_die("writing a temporary file: %s", strerror(errno));
}

static size_t tap_dim(const sink *s, int t)
{
	return (size_t)pool_dim(&s->pool, net_tap_channels(s->net, t));
}

static void sink_open(sink *s)
{
	int T = net_ntaps(s->net);
	s->spool = cli_calloc(T + 1, sizeof *s->spool);
	s->pooled = cli_calloc(T, sizeof *s->pooled);
	for (int t = 0; t <= T; t++)
		s->spool[t] = spool_open();
	for (int t = 0; t < T; t++)
		s->pooled[t] = cli_malloc(cli_mul(cli_mul(o.batch, tap_dim(s, t), "features"), sizeof(float), "features"));
}

static void sink_close(sink *s)
{
	int T = net_ntaps(s->net);
	for (int t = 0; t <= T; t++)
		fclose(s->spool[t]);
	for (int t = 0; t < T; t++)
		free(s->pooled[t]);
	gpu_net_free(s->gpu);
	free(s->spool);
	free(s->pooled);
	free(s->perm);
	free(s->reordered);
}

/* runs on the forward pass's threads, each with its own rows */
static int on_tap(void *ctx, int tap, const float *act, int c, int n, int h, int w, int row0, char *err)
{
	sink *s = ctx;
	return pool_apply(&s->pool, act, c, n, h, w, s->pooled[tap] + row0 * tap_dim(s, tap), err);
}

static void forward(sink *s, const float *images, int n, int side, float *logits)
{
	char err[ERR_LEN];
	int T = net_ntaps(s->net);
	if (device == DEVICE_CUDA && !s->gpu) {
		if (!(s->gpu = gpu_net_new(s->net, &s->pool, o.batch, side, side, GPU_NET_AUTO, err)))
			cli_die("%s on the GPU: %s", o.model_path, err);
		cli_info("the network runs in %s on the GPU", gpu_net_precision_name(s->gpu));
	}
	if (s->gpu ? gpu_net_forward(s->gpu, images, n, s->pooled, logits, err)
		   : net_forward(s->net, images, n, side, side, on_tap, s, logits, err))
		cli_die("%s on %dx%d images: %s", o.model_path, side, side, err);
	for (int t = 0; t < T; t++)
		spool_put(s->spool[t], s->pooled[t], n * tap_dim(s, t));
	if (s->drop_head)
		return;
	int K = net_classes(s->net);
	if (s->perm) {
		for (int i = 0; i < n; i++)
			for (int j = 0; j < K; j++)
				s->reordered[(size_t)i * K + j] = logits[(size_t)i * K + s->perm[j]];
		logits = s->reordered;
	}
	spool_put(s->spool[T], logits, (size_t)n * K);
}

/* ---- the head's labels against the data set's ---- */

/* Reorders the head's columns to the data set's label order, or drops the
 * head when the label sets differ (an error with --strict), or warns that
 * the order is assumed when the model names no labels. */
static void check_head(sink *s, const st_file *model, char *const *data, int kd)
{
	int km = 0, K = net_classes(s->net);
	char **ml = st_meta_get_list(model, "labels", &km), why[ERR_LEN];
	if (ml && km != K)
		cli_die("%s: metadata 'labels' names %d labels, the head has %d outputs", o.model_path, km, K);
	int *perm = cli_malloc(cli_mul(kd ? kd : 1, sizeof *perm, "labels"));
	labelmap_match m = labelmap_compare(ml, km, data, kd, perm);
	if (m == LABELS_UNKNOWN && K == kd)
		cli_warn("%s has no 'labels' metadata: its %d outputs are taken as the data set's labels, in the data "
			 "set's order", o.model_path, K);
	else if (m == LABELS_UNKNOWN || m == LABELS_DIFFERENT) {
		if (m == LABELS_UNKNOWN)
			snprintf(why, sizeof why, "the head has %d outputs and no 'labels' metadata, the data set %d labels",
				 K, kd);
		else
			labelmap_describe(ml, km, data, kd, why, sizeof why);
		if (o.strict)
			cli_die("%s: the head's labels are not the data set's: %s", o.model_path, why);
		cli_warn("%s: the head's labels are not the data set's, so its logits are left out: %s", o.model_path,
			 why);
		s->drop_head = 1;
	} else if (m == LABELS_REORDERED) {
		cli_info("%s: the head's %d labels are the data set's in another order: its columns are reordered to "
			 "the data set's", o.model_path, K);
		s->perm = perm;
		s->reordered = cli_malloc(cli_mul(cli_mul(o.batch, K, "logits"), sizeof(float), "logits"));
		perm = NULL;
	}
	free(perm);
	st_list_free(ml, km);
}

/* ---- the output ---- */

/* --shard's block of the run's samples (all of them, or --limit's first ones) */
static void shard_block(int all, int *first, int *n)
{
	int64_t a, k;
	shard_rows(shard, all, o.batch, &a, &k);
	*first = (int)a, *n = (int)k;
	if (!o.shard)
		return;
	if (k)
		cli_info("shard %s: samples %d to %d of %d", o.shard, *first, *first + *n - 1, all);
	else
		cli_warn("shard %s: %d samples leave this shard none: its output has 0 rows", o.shard, all);
}

/* the chosen rows of src [*][k] as a U8 tensor [n,k] (ndim 1: [n]) */
static void add_u8_rows(st_file *out, const char *name, const uint8_t *src, int ndim, int k,
			const int *rows, int n)
{
	uint8_t *v = cli_malloc(cli_mul(n ? n : 1, k ? k : 1, name));
	for (int i = 0; i < n; i++)
		memcpy(v + (size_t)i * k, src + (size_t)rows[i] * k, k);
	int64_t shape[2] = {n, k};
	st_add(out, name, ST_U8, ndim, shape, v, 1);
}

static void add_outputs(st_file *out, sink *s, int n, int side)
{
	int T = net_ntaps(s->net);
	char name[32], err[ERR_LEN];
	for (int t = 0; t <= T - s->drop_head; t++) {
		int64_t shape[2] = {n, t < T ? pool_dim(&s->pool, net_tap_channels(s->net, t))
					     : net_classes(s->net)};
		snprintf(name, sizeof name, t < T ? "feat.%02d" : "logits", t);
		st_tensor *x = st_add(out, name, ST_F32, 2, shape, NULL, 0);
		x->spool = s->spool[t];
	}
	char **names = cli_malloc(T * sizeof *names);
	for (int t = 0; t < T; t++)
		names[t] = (char *)net_tap_name(s->net, t);
	st_meta_set_list(out, "layers", names, T);
	free(names);
	double *flops = cli_malloc((T + 1) * sizeof *flops);
	if (net_flops(s->net, side, side, flops, err))
		cli_die("%s: %s", o.model_path, err);
	st_meta_set_numbers(out, "layer_flops", flops, T + 1);
	free(flops);
	st_meta_set(out, "pool", o.pool_spec);
}

static cli_progress *progress(int n)
{
	return cli_progress_start("extract-feats", (uint64_t)n, "images");
}

/* The context forwarded from a tensor: file must have a row per image; only
 * rows first..first+n-1 (and their ids) are kept: those of --limit and --shard. */
static void keep_rows(st_file *out, const char *path, int64_t total, int64_t first, int n)
{
	for (int i = 0; i < CTX_N; i++) {
		st_tensor *x = st_find(out, context_names[i]);
		if (!x)
			continue;
		if (x->ndim < 1 || x->shape[0] != total)
			cli_die("%s: tensor '%s' has %lld rows, expected one per image (%lld)", path, context_names[i],
			       x->ndim ? (long long)x->shape[0] : 0LL, (long long)total);
		size_t row = total ? st_nbytes(x) / total : 0;   /* forwarded as a copy: ours to move */
		memmove(x->data, (char *)x->data + first * row, n * row);
		x->shape[0] = n;
	}
	int nids;
	char **ids = st_meta_get_list(out, "ids", &nids);
	if (ids && nids == total)
		st_meta_set_list(out, "ids", ids + first, n);
	else if (ids || st_meta_get(out, "ids"))
		cli_die("%s: metadata 'ids' is not a list of one name per image (%lld)", path, (long long)total);
	if (ids)
		st_list_free(ids, nids);
}

/* tensor:FILE: images [N,3,H,W] taken as they are */
static void run_tensor(const char *path, const st_file *model, sink *s, st_file *out)
{
	st_file *in = cli_load(path);
	int kd = 0;
	char **labels = st_meta_get_list(in, "labels", &kd);
	if (labels)   /* a tensor without label names: the logits stay the model's own */
		check_head(s, model, labels, kd);
	st_list_free(labels, kd);
	st_tensor *t = cli_get(in, path, "images");
	int64_t want[4] = {-1, 3, -1, -1};
	cli_check_shape(t, path, 4, want);
	if (t->shape[2] != t->shape[3] || t->shape[2] < 1 || t->shape[2] > IMG_MAX_SIDE)
		cli_die("%s: tensor 'images' is %lldx%lld, expected square images of 1 to %d pixels", path,
		       (long long)t->shape[2], (long long)t->shape[3], IMG_MAX_SIDE);
	int all = t->shape[0] > INT32_MAX / 2 ? INT32_MAX / 2 : (int)t->shape[0], side = (int)t->shape[2];
	if (o.limit > 0 && o.limit < all)
		all = o.limit;
	if (all < 1)
		cli_die("%s: tensor 'images' holds no image", path);
	int first, n;
	shard_block(all, &first, &n);
	size_t per = cli_mul(3, cli_mul(side, side, "image"), "image");
	st_tensor part = *t;   /* only the block's images are converted */
	part.shape[0] = n;
	part.data = (char *)t->data + st_dtype_size(t->dtype) * per * first;
	float *images = cli_f32(&part, path, 1);
	float *logits = cli_malloc(cli_mul(cli_mul(o.batch, net_classes(s->net), "logits"), sizeof(float), "logits"));
	cli_progress *bar = progress(n);
	for (int i = 0; i < n; i += o.batch) {
		int nb = n - i < o.batch ? n - i : o.batch;
		forward(s, images + per * i, nb, side, logits);
		if (i + nb < n)   /* cli_progress_end draws the last one */
			cli_progress_update(bar, i + nb);
	}
	cli_progress_end(bar);
	free(logits);
	free(images);
	cli_forward_context(out, in);
	st_meta_del(out, "shard");   /* the input's own block, if it was one, is not this run's */
	keep_rows(out, path, t->shape[0], first, n);
	add_outputs(out, s, n, side);
	st_file_free(in);
}

static void dataset_meta(st_file *out, const ds_dataset *d, const int *rows, int n)
{
	st_meta_set_list(out, "labels", d->label_names, d->K);
	char **ids = cli_malloc(cli_mul(n ? n : 1, sizeof *ids, "ids"));
	for (int i = 0; i < n; i++)
		ids[i] = d->ids[rows[i]];
	st_meta_set_list(out, "ids", ids, n);
	free(ids);
	st_meta_set_list(out, "splits", (char *const *)split_names, SPLIT_N);
	st_meta_set(out, "dataset", o.dataset_spec);
}

static void dataset_tensors(st_file *out, const ds_dataset *d, const int *rows, int n)
{
	add_u8_rows(out, context_names[CTX_LABELS], d->labels, 2, d->K, rows, n);
	add_u8_rows(out, context_names[CTX_IGNORE], d->ignore, 2, d->K, rows, n);
	add_u8_rows(out, context_names[CTX_SPLIT], d->split, 1, 1, rows, n);
	int64_t *index = cli_malloc(cli_mul(n ? n : 1, sizeof *index, "index")), shape[1] = {n};
	for (int i = 0; i < n; i++)
		index[i] = d->index[rows[i]];
	st_add(out, context_names[CTX_INDEX], ST_I64, 1, shape, index, 1);
}

static void run_dataset(const st_file *model, sink *s, st_file *out)
{
	char err[ERR_LEN];
	img_prep prep;
	preprocessing(model, &prep);
	ds_dataset *d = ds_open(o.dataset_spec, o.splits, err);
	if (!d)
		cli_die("%s", err);
	if (d->n_unannotated)
		cli_warn("%s: %d images without annotations keep all-zero label rows", o.dataset_spec, d->n_unannotated);
	int all = o.limit > 0 && o.limit < d->n ? o.limit : d->n, first, n;
	if (all < 1)
		cli_die("%s: no samples%s%s", o.dataset_spec, o.splits ? " in splits " : "", o.splits ? o.splits : "");
	shard_block(all, &first, &n);
	check_head(s, model, d->label_names, d->K);
	int *kept = cli_malloc(cli_mul(n ? n : 1, sizeof *kept, "rows")), nkept = 0;
	float *logits = cli_malloc(cli_mul(cli_mul(o.batch, net_classes(s->net), "logits"), sizeof(float), "logits"));
	feed *f = feed_start(d, first, n, &prep, o.batch, cli_opts.threads, o.skip_bad);
	cli_progress *bar = progress(n);
	const float *images;
	const int *rows;
	int nb, seen = 0;
	while (feed_next(f, &images, &rows, &nb)) {
		if (nb)
			forward(s, images, nb, prep.crop, logits);
		memcpy(kept + nkept, rows, nb * sizeof *rows);
		nkept += nb;
		seen += o.batch;
		if (seen < n)
			cli_progress_update(bar, seen);
	}
	cli_progress_end(bar);
	if (feed_skipped(f))
		cli_warn("%d of %d images skipped as unreadable", feed_skipped(f), n);
	feed_stop(f);
	if (!nkept && !o.shard)   /* a shard's 0 rows still join with the others */
		cli_die("%s: no readable image", o.dataset_spec);
	dataset_tensors(out, d, kept, nkept);
	dataset_meta(out, d, kept, nkept);
	set_prep_meta(out, &prep);
	add_outputs(out, s, nkept, prep.crop);
	free(logits);
	free(kept);
	ds_free(d);
}

/* the arch the run used: --arch, metadata or told by the names */
static char arch_used[32];

/* A safetensors state dict, or a PyTorch checkpoint (told by its magic bytes). */
static st_file *load_weights(void)
{
	char err[ERR_LEN];
	if (!pth_is_file(o.model_path))
		return cli_load(o.model_path);
	pth_opts po = { o.key, NULL };
	pth_info info;
	st_file *f = pth_load(o.model_path, &po, &info, err);
	if (!f)
		cli_die("%s", err);
	if (info.key[0])
		cli_info("%s: the state dict is the checkpoint's entry '%s'", o.model_path, info.key);
	if (info.stripped[0])
		cli_info("%s: prefix '%s' removed from every name", o.model_path, info.stripped);
	return f;
}

static net_model *load_net(st_file **model)
{
	char err[ERR_LEN];
	*model = load_weights();
	const char *a = o.arch ? o.arch : st_meta_get(*model, "arch");
	const char *h = o.head ? o.head : st_meta_get(*model, "head"), *guessed_head;
	if (!a) {
		if (net_guess(*model, arch_used, sizeof arch_used, &guessed_head, err))
			cli_usage("%s: no metadata 'arch' and %s", o.model_path, err);
		cli_info("%s: arch %s%s%s (told by its tensor names)", o.model_path, arch_used,
			 strncmp(arch_used, "vgg", 3) ? "" : ", head ", strncmp(arch_used, "vgg", 3) ? "" : guessed_head);
		a = arch_used;
		h = h ? h : guessed_head;
	}
	if (a != arch_used)
		snprintf(arch_used, sizeof arch_used, "%s", a);
	net_model *net = net_load(*model, a, h, err);
	if (!net)
		cli_die("%s: %s", o.model_path, err);
	net_set_engine(net, engine);
	for (int i = 0; i < (*model)->n; i++) {   /* the net has its own copy; the metadata stays */
		free((*model)->t[i].data);
		(*model)->t[i].data = NULL;
	}
	net_set_threads(net, cli_opts.threads);
	return net;
}

static void check_options(void)
{
	if (!o.model_path || !o.dataset_spec)
		cli_usage("%s", !o.model_path ? "--model FILE is required" : "--dataset SPEC is required");
	if (o.year) {   /* --year YYYY: the spec vocYYYY:PATH */
		if (strcmp(o.year, "2007") && strcmp(o.year, "2012"))
			cli_usage("--year %s: expected 2007 or 2012 (both as the 07+12 protocol: voc0712:PATH)", o.year);
		if (strncmp(o.dataset_spec, "voc:", 4))
			cli_usage("--year applies to a voc:PATH data set, not '%s'", o.dataset_spec);
		static char spec[4096];
		snprintf(spec, sizeof spec, "voc%s:%s", o.year, o.dataset_spec + 4);
		o.dataset_spec = spec;
	}
	char err[ERR_LEN];
	if (o.shard && shard_parse(o.shard, &shard, err))
		cli_usage("--shard %s", err);
	if (o.batch < 1 || o.limit < 0)
		cli_usage("--%s %d: expected %s", o.batch < 1 ? "batch" : "limit", o.batch < 1 ? o.batch : o.limit,
			  o.batch < 1 ? "at least 1" : "0 or more");
}

/* the run's own metadata, then the whole file through out */
static void write_output(st_file *out, const st_file *model, cli_out *co)
{
	char err[ERR_LEN];
	st_meta_set(out, "arch", arch_used);
	if (!st_meta_get(out, "labels") && st_meta_get(model, "labels"))
		st_meta_set(out, "labels", st_meta_get(model, "labels"));
	st_meta_set(out, "model", o.model_path);
	if (o.shard) {   /* canonical, for tensors cat to check */
		char buf[32];
		shard_format(shard, buf, sizeof buf);
		st_meta_set(out, "shard", buf);
	}
	cli_history_append(out);
	if (st_write(out, cli_out_fp(co), err))
		cli_die("%s: %s", cli_name(cli_opts.output), err);
	cli_out_close(co);
}

int main(int argc, char **argv)
{
	options_default(&o);
	cli_init(argc, argv, "extract-feats");
	int first = cli_parse(argc, argv, opts, "extract-feats [options] --model FILE --dataset SPEC", about);
	if (first < argc)
		cli_usage("unexpected argument '%s': the data set is given by --dataset", argv[first]);
	check_options();
	sink s = {0};
	char err[ERR_LEN];
	if (pool_parse(o.pool_spec, &s.pool, err) || conv_engine_parse(o.conv_opt, &engine, err))
		cli_usage("%s", err);
	device = cli_device(o.device);
	cli_out *co = cli_out_open(cli_opts.output);   /* refuses a terminal before the slow part */
	st_file *model;
	s.net = load_net(&model);
	sink_open(&s);
	st_file *out = st_file_new();
	if (!strncmp(o.dataset_spec, "tensor:", 7))
		run_tensor(o.dataset_spec + 7, model, &s, out);
	else
		run_dataset(model, &s, out);
	write_output(out, model, co);
	sink_close(&s);
	st_file_free(out);
	st_file_free(model);
	net_free(s.net);
	return 0;
}
