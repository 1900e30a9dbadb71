/* bn-drift: how far the law of every BatchNorm layer moves between
 * consecutive checkpoints of a training run: the 2-Wasserstein distance
 * between its per-channel Gaussians (docs/bn-drift.md; the math is
 * tools/lib/bn.c, the list files tools/lib/ckpt.c). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bn.h"
#include "ckpt.h"
#include "cli.h"

static const char *usage = "bn-drift [options] CKPT CKPT... | --list FILE";
static const char *about =
	"Reads the checkpoints of one training run in order (model state dicts as\n"
	"safetensors, e.g. fixtures/checkpoints/) and writes, for every BatchNorm layer b and\n"
	"consecutive pair (t, t+1), the 2-Wasserstein distance between the layer's Gaussian\n"
	"laws at t and t+1, channel by channel independent (Gelbrich's formula, diagonal):\n"
	"  bn_w2 [T-1,B] F64          law N(beta_c, gamma_c^2) of the output (affine parameters):\n"
	"                             sqrt(sum_c (beta_c,t - beta_c,t+1)^2 + (|gamma_c,t| - |gamma_c,t+1|)^2)\n"
	"  bn_w2_running [T-1,B] F64  law N(running_mean_c, running_var_c), when the layers keep\n"
	"                             running statistics: the same with the means and sqrt(var)\n"
	"BatchNorm layers: every module P with a 1-D P.weight and P.bias, or P.running_mean\n"
	"and P.running_var; they must be the same in every checkpoint. Metadata: `layers`\n"
	"(B module names), `stages` (each layer's stage: its name's first component, e.g.\n"
	"layer2; torchvision VGG's features.N by the max pools between them: block1, ...),\n"
	"`channels`, `checkpoints` (the T paths), `checkpoint_epochs` (from the list, else\n"
	"from every checkpoint's metadata `epoch`; absent when unknown), `arch`, `precision`.\n"
	"Checkpoints stored at different precisions (F16 checkpoints and an F32 final model)\n"
	"are compared at the coarsest (every value rounded to it), so that rounding is not\n"
	"counted as drift; --no-round compares the values as stored.\n"
	"--list FILE: one `EPOCH<TAB>PATH` line per checkpoint in training order, PATH\n"
	"relative to the list's folder ('#' lines and blank lines skipped). Epochs must\n"
	"increase.\n"
	"\n"
	"Examples:\n"
	"  bn-drift --list fixtures/checkpoints/fmnist-resnet18.list -o bn.st\n"
	"  bn-drift e1.safetensors e2.safetensors e3.safetensors -o bn.st && tensors dump bn_w2 bn.st";

typedef struct {
	const char *list;   /* NULL: the positional CKPTs */
	int no_round;       /* compare values as stored even when the dtypes differ */
} options;

static void options_default(options *o)
{
	*o = (options){0};
}

/* the checkpoints in order, from --list or the arguments */
static ckpt_list checkpoints(const options *o, int argc, char **argv, int first)
{
	ckpt_list l = {0};
	char err[ERR_LEN];
	if (o->list) {
		if (first < argc)
			cli_usage("give the checkpoints either as files or with --list, not both");
		if (ckpt_list_read(o->list, &l, err))
			cli_die("%s", err);
	} else {
		l.n = argc - first;
		l.paths = cli_calloc((size_t)l.n + 1, sizeof *l.paths);
		for (int i = 0; i < l.n; i++)
			l.paths[i] = cli_strdup(argv[first + i]);
	}
	if (l.n < 2)
		cli_usage("%d checkpoint%s given: need at least 2 (in training order)", l.n, l.n == 1 ? "" : "s");
	return l;
}

/* metadata `epoch` of a checkpoint, NAN when absent or not a number */
static double meta_epoch(const st_file *f)
{
	const char *s = st_meta_get(f, "epoch");
	char *end;
	double e = s ? strtod(s, &end) : NAN;
	return s && *s && !*end && isfinite(e) ? e : NAN;
}

typedef struct {
	int T, B, running;
	bn_model *models;          /* [T]: every checkpoint's BatchNorm layers */
	double *meta_epochs;       /* [T]: NAN where a checkpoint has none */
	st_dtype precision;        /* the values' precision as compared */
	char *arch;
} drift;

static void load_model(const char *path, bn_model *m, double *epoch, char **arch)
{
	char err[ERR_LEN];
	st_file *f = cli_load(path);
	if (bn_find(f, cli_name(path), m, err))
		cli_die("%s", err);
	if (m->n == 0)
		cli_die("%s: no BatchNorm layer (no 1-D tensor NAME.weight, no NAME.running_mean)", cli_name(path));
	*epoch = meta_epoch(f);
	if (arch && st_meta_get(f, "arch"))
		*arch = cli_strdup(st_meta_get(f, "arch"));
	st_file_free(f);
}

/* Every checkpoint's layers (small: the BatchNorm parameters only), checked
 * against the first; then all rounded to the coarsest precision among them. */
static void load_models(const options *o, const ckpt_list *l, drift *d)
{
	char err[ERR_LEN];
	d->T = l->n;
	d->models = cli_calloc((size_t)d->T, sizeof *d->models);
	d->meta_epochs = cli_calloc((size_t)d->T, sizeof *d->meta_epochs);
	cli_progress *p = cli_progress_start("checkpoints", (uint64_t)d->T, "files");
	st_dtype coarsest = ST_F64, finest = ST_BF16;
	for (int t = 0; t < d->T; t++) {
		load_model(l->paths[t], &d->models[t], &d->meta_epochs[t], t ? NULL : &d->arch);
		if (t && bn_match(&d->models[0], cli_name(l->paths[0]), &d->models[t], cli_name(l->paths[t]), err))
			cli_die("%s", err);
		coarsest = bn_coarser(coarsest, d->models[t].dtype);
		finest = bn_coarser(finest, d->models[t].dtype) == finest ? d->models[t].dtype : finest;
		cli_progress_update(p, (uint64_t)t + 1);
	}
	cli_progress_end(p);
	d->B = d->models[0].n;
	for (int b = 0; b < d->B; b++)
		d->running |= d->models[0].l[b].mean != NULL;
	d->precision = o->no_round ? finest : coarsest;
	if (coarsest != finest && !o->no_round) {
		cli_info("the checkpoints hold %s and %s values: all compared at %s precision (--no-round: as stored)",
			 st_dtype_name(finest), st_dtype_name(coarsest), st_dtype_name(coarsest));
		for (int t = 0; t < d->T; t++)
			bn_round(&d->models[t], coarsest);
	}
}

/* bn_w2 and bn_w2_running [T-1,B] */
static void measure(const drift *d, double **w2, double **w2_running)
{
	size_t n = cli_mul((size_t)d->T - 1, (size_t)d->B, "bn_w2");
	*w2 = cli_calloc(n, sizeof **w2);
	*w2_running = cli_calloc(n, sizeof **w2_running);
	for (int t = 0; t + 1 < d->T; t++)
		for (int b = 0; b < d->B; b++) {
			(*w2)[(size_t)t * d->B + b] = bn_w2_affine(&d->models[t].l[b], &d->models[t + 1].l[b]);
			(*w2_running)[(size_t)t * d->B + b] = bn_w2_running(&d->models[t].l[b], &d->models[t + 1].l[b]);
		}
}

/* the list's epochs, else every checkpoint's metadata `epoch`, else none */
static double *epochs_of(const ckpt_list *l, const drift *d)
{
	if (l->epochs)
		return l->epochs;
	for (int t = 0; t < d->T; t++)
		if (isnan(d->meta_epochs[t]))
			return NULL;
	ckpt_list m = *l;
	m.epochs = d->meta_epochs;
	char err[ERR_LEN];
	if (ckpt_check_order(&m, "the checkpoints' metadata `epoch`", err))
		cli_die("%s", err);
	return d->meta_epochs;
}

static void write_output(const ckpt_list *l, const drift *d)
{
	st_file *out = st_file_new();
	int64_t shape[2] = {d->T - 1, d->B};
	double *w2, *w2_running;
	measure(d, &w2, &w2_running);
	st_add(out, "bn_w2", ST_F64, 2, shape, w2, 1);
	if (d->running)
		st_add(out, "bn_w2_running", ST_F64, 2, shape, w2_running, 1);
	else
		free(w2_running);
	char **names = cli_calloc((size_t)d->B, sizeof *names), **stages = cli_calloc((size_t)d->B, sizeof *stages);
	double *channels = cli_calloc((size_t)d->B, sizeof *channels);
	for (int b = 0; b < d->B; b++) {
		names[b] = d->models[0].l[b].name;
		stages[b] = d->models[0].l[b].stage;
		channels[b] = (double)d->models[0].l[b].channels;
	}
	st_meta_set_list(out, "layers", names, d->B);
	st_meta_set_list(out, "stages", stages, d->B);
	st_meta_set_numbers(out, "channels", channels, d->B);
	st_meta_set_list(out, "checkpoints", l->paths, l->n);
	const double *epochs = epochs_of(l, d);
	if (epochs)
		st_meta_set_numbers(out, "checkpoint_epochs", epochs, d->T);
	if (d->arch)
		st_meta_set(out, "arch", d->arch);
	st_meta_set(out, "precision", st_dtype_name(d->precision));
	cli_write(out, cli_opts.output);
	st_file_free(out);
	free(names);
	free(stages);
	free(channels);
}

int main(int argc, char **argv)
{
	options o;
	options_default(&o);
	cli_opt opts[] = {
		{ "list", 0, CLI_STR, &o.list, "FILE", "the checkpoints from a list file (EPOCH<TAB>PATH lines)" },
		{ "no-round", 0, CLI_FLAG, &o.no_round, NULL, "compare the values as stored even when the checkpoints' dtypes differ" },
		{ 0 }
	};
	cli_init(argc, argv, "bn-drift");
	int first = cli_parse(argc, argv, opts, usage, about);
	ckpt_list l = checkpoints(&o, argc, argv, first);
	drift d = {0};
	load_models(&o, &l, &d);
	write_output(&l, &d);
	for (int t = 0; t < d.T; t++)
		bn_free(&d.models[t]);
	free(d.models);
	free(d.meta_epochs);
	free(d.arch);
	ckpt_list_free(&l);
	return 0;
}
