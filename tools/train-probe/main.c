/* train-probe: one linear probe per layer on frozen features (contract
 * section 6; docs/train-probe.md). The training itself is tools/lib/probe.c. */
#include "cli.h"
#include "probe.h"
#include "shard.h"
#include "stmap.h"

#include <ctype.h>
#include <fnmatch.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *usage = "train-probe [options] [INPUT]";
static const char *about =
	"Trains one linear probe (FC + sigmoid per label) on every feat.NN tensor of INPUT\n"
	"(F32, F16 or BF16, [N,D]) against `labels` [N,K] on the rows whose `split` is\n"
	"--train-split, as PyTorch would: BCEWithLogitsLoss (mean over batch and labels),\n"
	"SGD with momentum and weight decay (v = m*v + g + wd*w; w -= lr*v, bias decayed too),\n"
	"StepLR (lr / 10 every --lr-step epochs), nn.Linear's initialisation, batches in an\n"
	"order reshuffled every epoch from --seed, the last batch short. Layers train in\n"
	"parallel threads, or with --device cuda all at once on the GPU (cuBLAS; the same\n"
	"steps, weights within 1e-5 of the CPU's; needs a `make CUDA=1` build).\n"
	"\n"
	"Writes `prob` [L,N,K] for every row: the probes in feat order, then sigmoid(logits)\n"
	"(the network's own head) as the last layer; `probe.NN.weight` [K,D], `probe.NN.bias`\n"
	"[K] (with --standardize also `probe.NN.mean`, `probe.NN.scale` [D]); `loss` [L-1,E],\n"
	"the mean train loss of every epoch; metadata `layers` (L names). With --snapshots,\n"
	"`prob_epochs` [S,L',N,K] after epochs E, 2E, ... (E = --snapshot-every; all N rows),\n"
	"metadata `snapshot_epochs`, `snapshot_layers`. Context (labels, ignore, split, index,\n"
	"metadata) is forwarded; feat.* and logits only with --keep.\n"
	"\n"
	"--apply FILE computes `prob` with the probes of FILE (a train-probe output) instead\n"
	"of training; labels and split are then optional.\n"
	"--init FILE (probe.NN.weight/.bias) and --order FILE (`order` [E,M] integer: the\n"
	"training rows of each epoch in batch order) replace the initialisation and the\n"
	"shuffle, to reproduce a run of another implementation exactly.\n"
	"\n"
	"Examples:\n"
	"  train-probe feats.st -o probs.st\n"
	"  train-probe --epochs 30 --standardize --snapshots 0,4 --snapshot-every 5 feats.st -o p.st\n"
	"  train-probe --apply p.st other-feats.st -o other-probs.st";

typedef struct {
	int epochs, batch, lr_step;         /* 100, 128, 40 */
	int seed, patience, train_split;    /* 0, 0 (off), 0 (train) */
	int standardize, no_head;
	int snapshot_every;                 /* 1 */
	double lr, momentum, weight_decay;  /* 0.01, 0.9, 1e-4 */
	const char *snapshots;              /* NULL: no prob_epochs */
	const char *apply_path, *init_path, *order_path, *keep_pattern;
	const char *device;                 /* "cpu" */
} options;

static void options_default(options *o)
{
	*o = (options){ .epochs = 100, .batch = 128, .lr_step = 40, .snapshot_every = 1,
			.lr = 0.01, .momentum = 0.9, .weight_decay = 1e-4, .device = "cpu" };
}

static options o;

static const cli_opt opts[] = {
	{"epochs", 'e', CLI_INT, &o.epochs, "N", "training epochs"},
	{"lr", 0, CLI_DOUBLE, &o.lr, "X", "initial learning rate"},
	{"lr-step", 0, CLI_INT, &o.lr_step, "N", "divide the learning rate by 10 every N epochs (0: never)"},
	{"batch", 'b', CLI_INT, &o.batch, "N", "batch size"},
	{"momentum", 0, CLI_DOUBLE, &o.momentum, "X", "SGD momentum"},
	{"weight-decay", 0, CLI_DOUBLE, &o.weight_decay, "X", "L2 weight decay (on weights and biases)"},
	{"seed", 's', CLI_INT, &o.seed, "N", "seed of the initialisation and the shuffles"},
	{"train-split", 0, CLI_INT, &o.train_split, "S", "train on the rows whose split is S"},
	{"standardize", 0, CLI_FLAG, &o.standardize, NULL, "z-score every feature with the training rows' mean and std"},
	{"patience", 0, CLI_INT, &o.patience, "N",
	 "stop a layer after N epochs without a lower val loss (split 1) and keep its best epoch; 0: off"},
	{"snapshots", 0, CLI_STR, &o.snapshots, "LAYERS",
	 "write prob_epochs for these probe layers: 'all' or indices/names, comma-separated"},
	{"snapshot-every", 0, CLI_INT, &o.snapshot_every, "E", "snapshot after every E epochs"},
	{"apply", 0, CLI_STR, &o.apply_path, "FILE", "apply the probes of FILE instead of training"},
	{"keep", 0, CLI_STR, &o.keep_pattern, "PATTERN", "also forward input tensors matching PATTERN (e.g. 'feat.*')"},
	{"device", 0, CLI_STR, &o.device, "DEV", "train on cpu or cuda (the GPU)"},
	{"no-head", 0, CLI_FLAG, &o.no_head, NULL,
	 "leave the head out: prob has the probe layers only (also when the input has no `logits`)"},
	{"init", 0, CLI_STR, &o.init_path, "FILE", "testing: initial probe.NN.weight/.bias from FILE"},
	{"order", 0, CLI_STR, &o.order_path, "FILE", "testing: batch order per epoch from tensor `order` [E,M] of FILE"},
	{0},
};

static const char *input = "-";
static device_kind device;
static st_map *in_map;   /* the input, when a regular file: mapped, not read */

/* 1 when x lies in the mapped input (a tensor whose offset is misaligned
 * is a copy: not mapped) */
static int mapped(const void *x)
{
	return in_map && st_map_owns(in_map, x);
}

/* Frees x, or gives back its pages when it is mapped. */
static void release(void *x, size_t bytes)
{
	if (mapped(x))
		st_map_drop(in_map, x, bytes);
	else
		free(x);
}

/* A regular file is mapped (no copy of the features, no fresh pages to
 * zero; a SIGBUS from it, the file truncated under us, ends the run with a
 * message); a pipe, or a file the mapping refuses, is read and checked by
 * cli_load. */
static st_file *load_input(void)
{
	if (strcmp(input, "-") != 0 && (in_map = st_map_open(input)))
		return st_map_file(in_map);
	return cli_load(input);
}

/* 1 when x has a NaN or an Inf (exponent bits all set). Blocks of a fixed
 * length, so that gcc -O2 vectorises the test; a scan of the whole input
 * costs as much as an epoch's sgemm calls otherwise. */
static int has_nonfinite(const float *x, int64_t n)
{
	enum { BLOCK = 64 };
	uint32_t bad = 0, u[BLOCK];
	int64_t i = 0;
	for (; i + BLOCK <= n; i += BLOCK) {
		memcpy(u, x + i, sizeof u);
		for (int j = 0; j < BLOCK; j++)
			bad |= (u[j] & 0x7f800000u) == 0x7f800000u;
	}
	for (; i < n; i++)
		bad |= !isfinite(x[i]);
	return bad != 0;
}

/* Dies on a NaN or Inf in x, naming the tensor. */
static void check_finite(const float *x, const st_tensor *t, const char *fname)
{
	int64_t n = st_numel(t);
	if (!has_nonfinite(x, n))
		return;
	for (int64_t i = 0; i < n; i++)
		if (!isfinite(x[i]))
			cli_die("%s: tensor '%s' has a non-finite value %g at flat index %" PRId64, cli_name(fname),
				t->name, x[i], i);
}

static float *f32_finite(const st_tensor *t, const char *fname)
{
	float *x = cli_f32(t, fname, 0);
	check_finite(x, t, fname);
	return x;
}

/* ---- the layers of the input ---- */

typedef struct {
	st_tensor *t;
	const char *suffix;   /* "03" of feat.03 */
	long num;
} feat;

static int feat_cmp(const void *a, const void *b)
{
	const feat *x = a, *y = b;
	return (x->num > y->num) - (x->num < y->num);
}

static feat *find_feats(st_file *f, int *nfeat)
{
	feat *fs = cli_calloc((size_t)f->n + 1, sizeof *fs);
	int n = 0;
	for (int i = 0; i < f->n; i++) {
		const char *name = f->t[i].name, *s = name + 5;
		if (strncmp(name, "feat.", 5) != 0)
			continue;
		int digits = 1;
		for (const char *p = s; *p; p++)
			digits &= isdigit((unsigned char)*p) != 0;
		if (!*s || !digits || strlen(s) > 9)
			cli_die("%s: tensor '%s': expected feat.NN with NN a layer number", cli_name(input), name);
		fs[n++] = (feat){&f->t[i], s, strtol(s, NULL, 10)};
	}
	qsort(fs, (size_t)n, sizeof *fs, feat_cmp);
	for (int i = 1; i < n; i++)
		if (fs[i].num == fs[i - 1].num)
			cli_die("%s: tensors '%s' and '%s' are the same layer", cli_name(input), fs[i - 1].t->name,
			       fs[i].t->name);
	if (n == 0)
		cli_die("%s: no feat.NN tensor: nothing to train", cli_name(input));
	*nfeat = n;
	return fs;
}

/* L names. The input's `layers` (extract-feats: one name per tap, in tap
 * order) names feat.NN by its number NN, so a subset of the taps keeps its
 * names; without it, the tensor names. The network's head is "head". */
static char **layer_names(const st_file *in, const feat *fs, int nfeat, int head)
{
	int nm = 0;
	char **meta = st_meta_get_list(in, "layers", &nm);
	char **names = cli_calloc((size_t)nfeat + 2, sizeof *names);
	int use = meta && fs[nfeat - 1].num < nm;   /* fs is sorted: the last has the largest NN */
	for (int i = 0; i < nfeat; i++)
		names[i] = cli_strdup(use ? meta[fs[i].num] : fs[i].t->name);
	if (head)
		names[nfeat] = cli_strdup("head");
	if (meta)
		st_list_free(meta, nm);
	return names;
}

/* extract-feats' `layer_flops` has one entry per tap, then the whole
 * network's; keep the entries of the layers in prob, in prob's order. */
static void select_flops(st_file *out, const feat *fs, int nfeat, int head)
{
	if (!st_meta_get(out, "layer_flops"))
		return;
	int n = 0;
	double *flops = st_meta_get_numbers(out, "layer_flops", &n);
	if (flops && n >= 2 && fs[nfeat - 1].num < n - 1) {
		double *sel = cli_malloc(sizeof *sel * (size_t)(nfeat + 1));
		for (int i = 0; i < nfeat; i++)
			sel[i] = flops[fs[i].num];
		sel[nfeat] = flops[n - 1];
		st_meta_set_numbers(out, "layer_flops", sel, nfeat + head);
		free(sel);
	} else {
		cli_warn("metadata layer_flops does not match the feat.NN tensors: left out");
		st_meta_del(out, "layer_flops");
	}
	free(flops);
}

static void check_shape(const feat *f, int64_t n)
{
	int64_t want[2] = {n, -1};
	cli_check_shape(f->t, input, 2, want);
	if (f->t->shape[1] <= 0 || f->t->shape[1] > INT_MAX)
		cli_die("%s: tensor '%s' has %" PRId64 " features, expected 1 to %d", cli_name(input), f->t->name,
		       f->t->shape[1], INT_MAX);
	if (f->t->dtype != ST_F32 && f->t->dtype != ST_F16 && f->t->dtype != ST_BF16)
		cli_die("%s: tensor '%s' has dtype %s, expected F32, F16 or BF16", cli_name(input), f->t->name,
		       st_dtype_name(f->t->dtype));
}

static int keep_tensor(const char *name)
{
	return o.keep_pattern && fnmatch(o.keep_pattern, name, 0) == 0;
}

/* The input's copy of a feature is not needed once converted, unless
 * forwarded. A mapped copy stays readable (from the file): remade() below. */
static void drop_data(st_tensor *t)
{
	if (keep_tensor(t->name))
		return;
	release(t->data, st_nbytes(t));
	if (!mapped(t->data))
		t->data = NULL;
}

/* 1 when the layer's floats can be made again from the input once given
 * back: a mapped input (read again from the file) or a forwarded one */
static int remade(const feat *f)
{
	return f->t->data != NULL;
}

/* Checks a layer's shape, dtype and values before any training is spent,
 * holding at most one layer's features (F16/BF16: a float copy) meanwhile. */
static void check_feature(const feat *f, int64_t n)
{
	check_shape(f, n);
	if (f->t->dtype == ST_F32) {
		check_finite(f->t->data, f->t, input);
		if (mapped(f->t->data) && !keep_tensor(f->t->name))
			st_map_drop(in_map, f->t->data, st_nbytes(f->t));
	} else {
		float *x = cli_f32(f->t, input, 0);
		check_finite(x, f->t, input);
		free(x);
	}
}

/* The features of a checked layer as floats; NULL when memory runs out. F32
 * features are taken over from the input without a copy (the bulk of the
 * memory and of the loading time); others are widened. The input's copy is
 * kept only when --keep forwards it. Safe in the training threads: nothing
 * exits. */
static float *features(const feat *f)
{
	float *x;
	if (f->t->dtype == ST_F32 && !keep_tensor(f->t->name)) {
		x = f->t->data;
		if (mapped(x))
			st_map_load(in_map, x, st_nbytes(f->t));
		else
			f->t->data = NULL;
	} else if ((x = st_to_f32(f->t))) {
		drop_data(f->t);
	}
	return x;
}

/* ---- targets and splits ---- */

typedef struct {
	int64_t n, k;
	float *y;
	uint8_t *split;
	int64_t *train, ntrain, *val, nval;
} targets;

static void load_targets(st_file *in, targets *tg)
{
	st_tensor *lt = cli_get(in, input, "labels");
	cli_check_shape(lt, input, 2, NULL);
	tg->n = lt->shape[0], tg->k = lt->shape[1];
	if (tg->k == 0)
		cli_die("%s: tensor 'labels' has shape [%" PRId64 ",0]: K = 0 labels, expected at least 1",
		       cli_name(input), tg->n);
	if (tg->n == 0)
		cli_die("%s: tensor 'labels' has no rows", cli_name(input));
	if (tg->n > INT_MAX)
		cli_die("%s: tensor 'labels' has %" PRId64 " rows, at most %d are supported", cli_name(input), tg->n, INT_MAX);
	tg->y = f32_finite(lt, input);
	for (int64_t i = 0; i < tg->n * tg->k; i++)
		if (tg->y[i] != 0 && tg->y[i] != 1)
			cli_die("%s: tensor 'labels' has value %g at row %" PRId64 ", expected 0 or 1", cli_name(input),
			       tg->y[i], i / tg->k);
	st_tensor *st = cli_get(in, input, "split");
	int64_t want[1] = {tg->n};
	cli_check_shape(st, input, 1, want);
	if (st->dtype != ST_U8)
		cli_die("%s: tensor 'split' has dtype %s, expected U8", cli_name(input), st_dtype_name(st->dtype));
	tg->split = st->data;
	tg->train = cli_malloc(cli_mul((size_t)tg->n, sizeof(int64_t), "rows"));
	tg->val = cli_malloc(cli_mul((size_t)tg->n, sizeof(int64_t), "rows"));
	for (int64_t i = 0; i < tg->n; i++) {
		if (tg->split[i] > 2)
			cli_die("%s: tensor 'split' has value %d at row %" PRId64 ", expected 0 (train), 1 (val) or 2 (test)",
			       cli_name(input), tg->split[i], i);
		if (tg->split[i] == o.train_split)
			tg->train[tg->ntrain++] = i;
		else if (tg->split[i] == 1)
			tg->val[tg->nval++] = i;
	}
	if (tg->ntrain == 0)
		cli_die("%s: tensor 'split' has no row with value %d: no training rows", cli_name(input), o.train_split);
	if (o.patience && tg->nval == 0)
		cli_die("%s: --patience needs val rows, but tensor 'split' has no row with value 1", cli_name(input));
}

/* ---- testing inputs: initial probes and batch orders ---- */

static void load_init(probe_layer *ly, const feat *fs, int nfeat, int64_t k)
{
	st_file *f = cli_load(o.init_path);
	for (int l = 0; l < nfeat; l++) {
		char name[64];
		const float *src[2];
		int64_t shape[2][2] = {{k, ly[l].d}, {k, 0}};
		for (int part = 0; part < 2; part++) {
			snprintf(name, sizeof name, "probe.%s.%s", fs[l].suffix, part ? "bias" : "weight");
			st_tensor *t = cli_get(f, o.init_path, name);
			cli_check_shape(t, o.init_path, 2 - part, shape[part]);
			src[part] = f32_finite(t, o.init_path);
		}
		memcpy(ly[l].w, src[0], (size_t)(k * ly[l].d) * sizeof(float));
		memcpy(ly[l].b, src[1], (size_t)k * sizeof(float));
		free((void *)src[0]);
		free((void *)src[1]);
	}
	st_file_free(f);
}

static int64_t *load_order(const targets *tg)
{
	st_file *f = cli_load(o.order_path);
	st_tensor *t = cli_get(f, o.order_path, "order");
	int64_t want[2] = {-1, tg->ntrain};
	cli_check_shape(t, o.order_path, 2, want);
	if (t->shape[0] < o.epochs)
		cli_die("%s: tensor 'order' has %" PRId64 " epochs, expected at least %d", o.order_path, t->shape[0], o.epochs);
	if (t->dtype != ST_I64 && t->dtype != ST_I32 && t->dtype != ST_I16 && t->dtype != ST_U8 && t->dtype != ST_I8)
		cli_die("%s: tensor 'order' has dtype %s, expected an integer type", o.order_path, st_dtype_name(t->dtype));
	double *v = st_to_f64(t);
	if (!v)
		cli_die("%s: tensor 'order' is too large", o.order_path);
	int64_t m = tg->ntrain, *order = cli_malloc(cli_mul(cli_mul((size_t)o.epochs, (size_t)m, "order"), sizeof *order, "order"));
	int *seen = cli_calloc((size_t)tg->n, sizeof *seen);
	for (int e = 0; e < o.epochs; e++)
		for (int64_t i = 0; i < m; i++) {
			double r = v[(int64_t)e * m + i];
			if (r < 0 || r >= (double)tg->n || tg->split[(int64_t)r] != o.train_split || seen[(int64_t)r] == e + 1)
				cli_die("%s: tensor 'order' has value %.0f in epoch %d, expected each training row once",
					o.order_path, r, e);
			seen[(int64_t)r] = e + 1;
			order[(int64_t)e * m + i] = (int64_t)r;
		}
	free(seen);
	free(v);
	st_file_free(f);
	return order;
}

/* ---- snapshots ---- */

/* Probe layer indices named by --snapshots; *n receives the count. */
static int *snapshot_layers(char *const *names, const feat *fs, int nfeat, int *n)
{
	int *sel = cli_calloc((size_t)nfeat, sizeof *sel), *out = cli_malloc((size_t)nfeat * sizeof *out);
	*n = 0;
	if (strcmp(o.snapshots, "all") == 0) {
		for (int l = 0; l < nfeat; l++)
			out[(*n)++] = l;
		free(sel);
		return out;
	}
	char *list = cli_strdup(o.snapshots), *save = NULL;
	for (char *tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		int l = -1;
		for (int i = 0; i < nfeat && l < 0; i++)
			if (strcmp(tok, names[i]) == 0 || strcmp(tok, fs[i].t->name) == 0)
				l = i;
		char *end;
		long v = strtol(tok, &end, 10);
		if (l < 0 && *tok && !*end && v >= 0 && v < nfeat)
			l = (int)v;
		if (l < 0)
			cli_usage("option --snapshots: '%s' is not a probe layer (0 to %d or a layer name)", tok, nfeat - 1);
		if (sel[l]++)
			cli_usage("option --snapshots: layer '%s' given twice", tok);
		out[(*n)++] = l;
	}
	if (*n == 0)
		cli_usage("option --snapshots: no layer given");
	free(list);
	free(sel);
	return out;
}

/* ---- the run ---- */

static void check_options(void)
{
	if (o.epochs < 1)
		cli_usage("option --epochs: %d, expected at least 1", o.epochs);
	if (o.batch < 1)
		cli_usage("option --batch: %d, expected at least 1", o.batch);
	if (o.lr_step < 0 || o.patience < 0 || o.seed < 0)
		cli_usage("options --lr-step, --patience and --seed must be >= 0");
	if (o.lr < 0 || o.weight_decay < 0 || o.momentum < 0 || o.momentum >= 1)
		cli_usage("options --lr and --weight-decay must be >= 0, --momentum in [0,1)");
	if (o.train_split < 0 || o.train_split > 2)
		cli_usage("option --train-split: %d, expected 0, 1 or 2", o.train_split);
	if (o.snapshot_every < 1 || o.snapshot_every > o.epochs)
		cli_usage("option --snapshot-every: %d, expected 1 to --epochs (%d)", o.snapshot_every, o.epochs);
	if (o.apply_path && (o.snapshots || o.init_path || o.order_path || o.patience || o.standardize))
		cli_usage("--apply takes no training option (--snapshots, --init, --order, --patience, --standardize)");
}

static void progress_tick(void *ctx)
{
	static uint64_t done;
	cli_progress_update(ctx, ++done);
}

/* The head's logits, checked before any training is spent; NULL with --no-head. */
static float *head_logits(st_file *in, int64_t n, int64_t k)
{
	if (o.no_head)
		return NULL;
	st_tensor *t = cli_get(in, input, "logits");
	int64_t want[2] = {n, k};
	cli_check_shape(t, input, 2, want);
	return f32_finite(t, input);
}

/* sigmoid of the head into prob's last layer */
static void head_layer(float *z, int64_t n, int64_t k, float *dst)
{
	for (int64_t i = 0; i < n * k; i++)
		dst[i] = 1.0f / (1.0f + expf(-z[i]));
	free(z);
}

static float *alloc_f32(size_t a, size_t b, size_t c, const char *what)
{
	return cli_malloc(cli_mul(cli_mul(cli_mul(a, b, what), c, what), sizeof(float), what));
}

static void add_f32(st_file *out, const char *name, int ndim, const int64_t *shape, float *data)
{
	st_add(out, name, ST_F32, ndim, shape, data, 1);
}

/* The probe's tensors into the output; they are trained in place afterwards.
 * mean and scale (NULL without --standardize) are what --apply needs. */
static void add_probe(st_file *out, const char *suffix, const probe_layer *ly, int64_t k,
		      float *mean, float *scale)
{
	char name[64];
	int64_t ws[2] = {k, ly->d}, bs[1] = {k}, ds[1] = {ly->d};
	snprintf(name, sizeof name, "probe.%s.weight", suffix);
	add_f32(out, name, 2, ws, ly->w);
	snprintf(name, sizeof name, "probe.%s.bias", suffix);
	add_f32(out, name, 1, bs, ly->b);
	if (mean) {
		snprintf(name, sizeof name, "probe.%s.mean", suffix);
		add_f32(out, name, 1, ds, mean);
		snprintf(name, sizeof name, "probe.%s.scale", suffix);
		add_f32(out, name, 1, ds, scale);
	}
}

/* A probe whose loss became NaN or infinite ends the run, naming the layer
 * and the epoch: its weights are unusable and its prob would be NaN. */
static void check_diverged(const probe_layer *ly, const feat *fs, int nfeat, char **names)
{
	int first = -1, count = 0;
	for (int l = 0; l < nfeat; l++)
		if (ly[l].diverged) {
			count++;
			if (first < 0)
				first = l;
		}
	if (first < 0)
		return;
	const probe_layer *d = &ly[first];
	char more[64] = "";
	if (count > 1)
		snprintf(more, sizeof more, " (and %d more layer%s)", count - 1, count > 2 ? "s" : "");
	cli_die("layer '%s' (%s): training diverged at epoch %d: the mean loss is %s%s; try a smaller --lr, "
		"or --standardize for features of large scale", names[first], fs[first].t->name, d->diverged,
		isnan(d->loss[d->diverged - 1]) ? "NaN" : "infinite", more);
}

/* prob of one layer must be a probability everywhere: features or weights
 * so large that x W^T overflows give NaN, which no later stage should see. */
static void check_prob(const float *p, int64_t n, int64_t k, const char *layer, const char *tensor)
{
	if (!has_nonfinite(p, n * k))
		return;
	int64_t i = 0;
	while (isfinite(p[i]))
		i++;
	cli_die("layer '%s' (%s): probability %s for row %" PRId64 ", label %" PRId64 ": the features or the "
		"probe's weights are too large (try --standardize)", layer, tensor, isnan(p[i]) ? "NaN" : "infinite",
		i / k, i % k);
}

/* What the training threads need to load, standardise and give back one
 * layer's features (layer_begin, layer_end). */
typedef struct {
	const feat *fs;
	const targets *tg;
	float **mean, **scale;   /* [nfeat]: NULL without --standardize */
} layer_ctx;

static size_t feature_bytes(int64_t n, int64_t d)
{
	return cli_mul(cli_mul((size_t)n, (size_t)d, "features"), sizeof(float), "features");
}

/* x itself, or a copy when x lies in the mapped input (whose pages are then
 * given back) and is to be written: the file's values must stay readable
 * there for predict(). NULL when memory runs out. */
static float *writable(float *x, size_t bytes)
{
	if (!mapped(x))
		return x;
	float *copy = malloc(bytes);
	if (copy)
		memcpy(copy, x, bytes);
	st_map_drop(in_map, x, bytes);
	return copy;
}

/* Layer l's features as floats, writable when --standardize scales them in
 * place; NULL when memory runs out. */
static float *layer_floats(const layer_ctx *c, int l, int64_t d)
{
	float *x = features(&c->fs[l]);
	return x && c->mean ? writable(x, feature_bytes(c->tg->n, d)) : x;
}

static int layer_begin(void *ctx, int l, probe_layer *ly)
{
	layer_ctx *c = ctx;
	const targets *tg = c->tg;
	float *x = layer_floats(c, l, ly->d);
	if (!(ly->x = x))
		return -1;
	if (c->mean)
		return probe_standardize(x, tg->n, ly->d, tg->train, tg->ntrain, c->mean[l], c->scale[l]);
	return 0;
}

/* A trained layer's features are given back when they can be remade for
 * its prob (predict(), after the training: there BLAS has every thread, as
 * before, so that prob stays the same to the bit). */
static void layer_end(void *ctx, int l, probe_layer *ly)
{
	layer_ctx *c = ctx;
	if (!remade(&c->fs[l]))
		return;
	release((void *)ly->x, feature_bytes(c->tg->n, ly->d));
	ly->x = NULL;
}

/* prob of layer l into dst, its features remade when layer_end gave them back */
static void predict(layer_ctx *c, int l, probe_layer *ly, float *dst)
{
	int64_t n = c->tg->n, k = c->tg->k;
	float *x = (float *)ly->x;
	if (!x) {
		if (!(x = layer_floats(c, l, ly->d)))
			cli_die("%s: tensor '%s': out of memory", cli_name(input), c->fs[l].t->name);
		if (c->mean)   /* as probe_standardize did, with the same mean and scale */
			probe_apply_standardize(x, n, ly->d, c->mean[l], c->scale[l]);
	}
	probe_predict(x, n, ly->d, ly->w, ly->b, k, dst);
	release(x, feature_bytes(n, ly->d));
	ly->x = NULL;
}

static void train(st_file *in, st_file *out, feat *fs, int nfeat, char **names)
{
	targets tg = {0};
	load_targets(in, &tg);
	int64_t n = tg.n, k = tg.k;
	float *logits = head_logits(in, n, k);
	probe_recipe r = {.epochs = o.epochs, .batch = o.batch, .lr_step = o.lr_step, .patience = o.patience,
			  .lr = o.lr, .momentum = o.momentum, .weight_decay = o.weight_decay, .seed = (uint64_t)o.seed};
	probe_layer *ly = cli_calloc((size_t)nfeat, sizeof *ly);
	int nsnap = 0, *snap = o.snapshots ? snapshot_layers(names, fs, nfeat, &nsnap) : NULL;
	int64_t ns = o.epochs / o.snapshot_every;
	float *snapbuf = snap ? alloc_f32((size_t)(ns * nsnap), (size_t)n, (size_t)k, "prob_epochs") : NULL;
	layer_ctx lc = {.fs = fs, .tg = &tg};
	if (o.standardize) {
		lc.mean = cli_calloc((size_t)nfeat, sizeof *lc.mean);
		lc.scale = cli_calloc((size_t)nfeat, sizeof *lc.scale);
	}
	for (int l = 0; l < nfeat; l++) {
		check_feature(&fs[l], n);
		int64_t d = fs[l].t->shape[1];
		ly[l] = (probe_layer){.d = d};
		ly[l].w = alloc_f32((size_t)k, (size_t)d, 1, "probe");
		ly[l].b = alloc_f32((size_t)k, 1, 1, "probe");
		ly[l].loss = alloc_f32((size_t)o.epochs, 1, 1, "loss");
		probe_init(ly[l].w, ly[l].b, d, k, r.seed, (int)fs[l].num);
		if (o.standardize) {
			lc.mean[l] = alloc_f32((size_t)d, 1, 1, "mean");
			lc.scale[l] = alloc_f32((size_t)d, 1, 1, "scale");
		}
		add_probe(out, fs[l].suffix, &ly[l], k, o.standardize ? lc.mean[l] : NULL,
			  o.standardize ? lc.scale[l] : NULL);
	}
	for (int s = 0; s < nsnap; s++)
		ly[snap[s]].snap = snapbuf + (int64_t)s * n * k;
	if (o.init_path)
		load_init(ly, fs, nfeat, k);
	int64_t *order = o.order_path ? load_order(&tg)
				    : cli_malloc(cli_mul(cli_mul((size_t)o.epochs, (size_t)tg.ntrain, "order"), sizeof(int64_t), "order"));
	if (!o.order_path)
		probe_shuffle(order, tg.train, tg.ntrain, o.epochs, r.seed);
	probe_data dt = {.n = n, .k = k, .y = tg.y, .ntrain = tg.ntrain, .order = order, .nval = tg.nval,
			 .val = tg.val, .snap_every = snap ? o.snapshot_every : 0, .snap_stride = (int64_t)nsnap * n * k,
			 .layer_begin = layer_begin, .layer_end = layer_end, .layer_ctx = &lc};

	cli_progress *pg = cli_progress_start("train-probe", (uint64_t)nfeat * (uint64_t)o.epochs, "epochs");
	double t0 = cli_now();
	char err[ERR_LEN];
	int rc;
	if (device == DEVICE_CUDA) {   /* every layer on the GPU at once */
		rc = 0;
		for (int l = 0; l < nfeat && !rc; l++)
			rc = layer_begin(&lc, l, &ly[l]) ? err_set(err, "out of memory") : 0;
		rc = rc ? rc : gpu_probe_train(&dt, &r, ly, nfeat, pg ? progress_tick : NULL, pg, err);
		for (int l = 0; l < nfeat && !rc; l++)
			layer_end(&lc, l, &ly[l]);
	} else {
		rc = probe_train(&dt, &r, ly, nfeat, cli_opts.threads, pg ? progress_tick : NULL, pg)
			     ? err_set(err, "out of memory") : 0;
	}
	if (rc)
		cli_die("training: %s", err);
	cli_progress_end(pg);
	check_diverged(ly, fs, nfeat, names);
	cli_info("trained %d probes on %" PRId64 " rows x %d epochs in %.2f s", nfeat, tg.ntrain, o.epochs, cli_now() - t0);

	int L = nfeat + !o.no_head;
	float *prob = alloc_f32((size_t)L, (size_t)n, (size_t)k, "prob");
	float *loss = alloc_f32((size_t)nfeat, (size_t)o.epochs, 1, "loss");
	double *best = cli_calloc((size_t)nfeat, sizeof *best);
	for (int l = 0; l < nfeat; l++) {
		predict(&lc, l, &ly[l], prob + (int64_t)l * n * k);
		check_prob(prob + (int64_t)l * n * k, n, k, names[l], fs[l].t->name);
		memcpy(loss + (int64_t)l * o.epochs, ly[l].loss, (size_t)o.epochs * sizeof(float));
		best[l] = ly[l].best_epoch;
		free(ly[l].loss);
	}
	if (logits)
		head_layer(logits, n, k, prob + (int64_t)nfeat * n * k);
	int64_t ps[3] = {L, n, k}, ls[2] = {nfeat, o.epochs};
	add_f32(out, "prob", 3, ps, prob);
	add_f32(out, "loss", 2, ls, loss);
	if (o.patience)
		st_meta_set_numbers(out, "best_epoch", best, nfeat);
	if (snap) {
		int64_t es[4] = {ns, nsnap, n, k};
		add_f32(out, "prob_epochs", 4, es, snapbuf);
		double *ep = cli_malloc((size_t)ns * sizeof *ep);
		char **sn = cli_calloc((size_t)nsnap + 1, sizeof *sn);
		for (int64_t s = 0; s < ns; s++)
			ep[s] = (double)(s + 1) * o.snapshot_every;
		for (int s = 0; s < nsnap; s++)
			sn[s] = names[snap[s]];
		st_meta_set_numbers(out, "snapshot_epochs", ep, (int)ns);
		st_meta_set_list(out, "snapshot_layers", sn, nsnap);
		free(ep);
		free(sn);
	}
	free(best), free(snap), free(order), free(ly), free(lc.mean), free(lc.scale);
	free(tg.y), free(tg.train), free(tg.val);
}

/* --apply: prob from stored probes */
static void apply(st_file *in, st_file *out, feat *fs, int nfeat)
{
	st_file *pf = cli_load(o.apply_path);
	int64_t n = -1, k = -1;
	float *prob = NULL;
	int L = nfeat + !o.no_head;
	for (int l = 0; l < nfeat; l++) {
		char name[64];
		snprintf(name, sizeof name, "probe.%s.weight", fs[l].suffix);
		st_tensor *wt = cli_get(pf, o.apply_path, name);
		if (n < 0) {
			cli_check_shape(fs[l].t, input, 2, NULL);
			cli_check_shape(wt, o.apply_path, 2, NULL);
			n = fs[l].t->shape[0], k = wt->shape[0];
			if (k == 0)
				cli_die("%s: tensor '%s' has K = 0 labels, expected at least 1", o.apply_path, name);
			prob = alloc_f32((size_t)L, (size_t)n, (size_t)k, "prob");
		}
		check_shape(&fs[l], n);
		int64_t d = fs[l].t->shape[1], ws[2] = {k, d}, vs[1] = {k}, ds[1] = {d};
		cli_check_shape(wt, o.apply_path, 2, ws);
		snprintf(name, sizeof name, "probe.%s.bias", fs[l].suffix);
		st_tensor *bt = cli_get(pf, o.apply_path, name);
		cli_check_shape(bt, o.apply_path, 1, vs);
		snprintf(name, sizeof name, "probe.%s.mean", fs[l].suffix);
		st_tensor *mt = st_find(pf, name), *sc = NULL;
		if (mt) {
			cli_check_shape(mt, o.apply_path, 1, ds);
			snprintf(name, sizeof name, "probe.%s.scale", fs[l].suffix);
			sc = cli_get(pf, o.apply_path, name);
			cli_check_shape(sc, o.apply_path, 1, ds);
		}
		check_feature(&fs[l], n);
		float *x = features(&fs[l]);
		if (!x)
			cli_die("%s: tensor '%s': out of memory", cli_name(input), fs[l].t->name);
		if (mt) {
			float *mean = f32_finite(mt, o.apply_path), *scale = f32_finite(sc, o.apply_path);
			for (int64_t j = 0; j < d; j++)
				if (!(scale[j] > 0))
					cli_die("%s: tensor '%s' has value %g, expected > 0", o.apply_path, name, scale[j]);
			probe_apply_standardize(x, n, d, mean, scale);
			free(mean), free(scale);
		}
		float *w = f32_finite(wt, o.apply_path), *b = f32_finite(bt, o.apply_path);
		probe_predict(x, n, d, w, b, k, prob + (int64_t)l * n * k);
		check_prob(prob + (int64_t)l * n * k, n, k, fs[l].t->name, fs[l].t->name);
		release(x, feature_bytes(n, d)), free(w), free(b);
	}
	float *logits = head_logits(in, n, k);
	if (logits)
		head_layer(logits, n, k, prob + (int64_t)nfeat * n * k);
	int64_t ps[3] = {L, n, k};
	add_f32(out, "prob", 3, ps, prob);
	st_file_free(pf);
}

int main(int argc, char **argv)
{
	options_default(&o);
	cli_init(argc, argv, "train-probe");
	int i = cli_parse(argc, argv, opts, usage, about);
	if (i < argc)
		input = argv[i++];
	if (i < argc)
		cli_usage("one input only; extra argument '%s'", argv[i]);
	check_options();
	device = cli_device(o.device);

	st_file *in = load_input();
	char err[ERR_LEN];
	if (shard_check_input(in, err))   /* a probe needs every row */
		cli_die("%s: %s", cli_name(input), err);
	if (!o.no_head && !st_find(in, "logits")) {   /* extract-feats drops a head that is not the labels' */
		cli_info("%s has no 'logits' (no head over these labels): prob has the probe layers only", input);
		o.no_head = 1;
	}
	int nfeat;
	feat *fs = find_feats(in, &nfeat);
	char **names = layer_names(in, fs, nfeat, !o.no_head);
	st_file *out = st_file_new();
	cli_forward_context(out, in);   /* first: our own metadata keys win */
	if (o.apply_path)
		apply(in, out, fs, nfeat);
	else
		train(in, out, fs, nfeat, names);
	for (int t = 0; t < in->n; t++)
		if (keep_tensor(in->t[t].name))
			cli_forward_tensor(out, in, in->t[t].name);
	st_meta_set_list(out, "layers", names, nfeat + !o.no_head);
	select_flops(out, fs, nfeat, !o.no_head);
	cli_write(out, cli_opts.output);

	st_list_free(names, nfeat + !o.no_head);
	st_file_free(out);
	if (in_map)
		st_map_close(in_map);
	else
		st_file_free(in);
	free(fs);
	return 0;
}
