/* classify-samples: easy, hard, confused and regular samples (paper section
 * 6.1.3; docs/classify-samples.md), with prediction depth, SDN-style
 * destructive over-thinking, the rises of each distance profile and the
 * mean distance per layer. The front end: options, steps, output tensors. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"
#include "classes.h"
#include "shard.h"
#include <cjson/cJSON.h>

static const char *usage = "classify-samples [options] [INPUT]";
static const char *about =
	"INPUT holds a distance profile (default wdist [L,N], from sinkhorn) and the\n"
	"context; prob [L,N,K] comes from INPUT or --prob FILE.\n"
	"The paper's rule (default): a sample is right at a layer when the layer's label\n"
	"set (p >= 0.5) is its label set (or, with --near X, close when its distance <= X).\n"
	"  confused  right at some layer before the last, wrong at the last\n"
	"  hard      not confused; first right at a late layer (>= --late-layer), or never\n"
	"  easy      not hard; right from an early layer (<= --early-layer) to the last\n"
	"  regular   the rest\n"
	"Early and late layers default to the first third and the last quarter of the depth.\n"
	"--rule quantile: with A the mean distance over layers and F the last layer's,\n"
	"confused F >= T_confused, else easy A <= T_easy, hard A >= T_hard; thresholds as\n"
	"numbers, or quantiles of the --split rows (F over every row, A over the others).\n"
	"Also: depth [N] I32 (first layer from which every later layer predicts the last\n"
	"layer's label set), destructive [N] U8 (right at an earlier layer, wrong at the\n"
	"last: SDN's destructive over-thinking), first_right [N] I32 (paper rule), rises\n"
	"[N] I32 (layers where the distance rises by more than --rise-tol), layer_mean [3,L]\n"
	"F64 (mean distance per split and layer). Writes category [N] U8 (0 regular, 1 easy,\n"
	"2 hard, 3 confused), category_profile [4,L] F64, examples [4,E] I64 (row numbers,\n"
	"-1 where fewer; the most typical first), and forwards the context and the distance\n"
	"tensor. --summary FILE: the tables in Markdown.\n"
	"--shard I/N: every row is classified as without it (the thresholds and depths\n"
	"from the whole input), and only block I of N of the N' rows (floor(I*N'/N) to\n"
	"floor((I+1)*N'/N)-1) is written: the per-row tensors, the context and the distance\n"
	"tensor's columns, metadata shard \"I/N\" and shard_axis; category_profile, examples\n"
	"and layer_mean, over every row, are left out and --summary is refused. Shards\n"
	"0..N-1 joined along the rows are the unsharded output without those three.\n"
	"\n"
	"Example:\n"
	"  classify-samples --shard 0/4 dist.st -o classes.shard-0-of-4.st";

static void options_default(options *o)
{
	*o = (options){ .distance = "wdist", .split = "all", .rule = "paper", .near = -1, .early = -1, .late = -1,
			.q_easy = 0.25, .q_hard = 0.75, .q_confused = 0.9, .t_easy = -1, .t_hard = -1,
			.t_confused = -1, .rise_tol = 0.01, .examples = 8 };
}

static rule_id check_options(options *o)
{
	const double q[3] = { o->q_easy, o->q_hard, o->q_confused };
	for (int i = 0; i < 3; i++)
		if (!(q[i] >= 0 && q[i] <= 1))
			cli_usage("quantiles: expected values in [0,1], got %g", q[i]);
	if (o->examples < 0 || o->examples > 100000)
		cli_usage("--examples %d: expected 0 to 100000", o->examples);
	if (o->t_easy >= 0 && o->t_hard >= 0 && o->t_easy > o->t_hard)
		cli_usage("--easy %g is above --hard %g", o->t_easy, o->t_hard);
	if (!(o->rise_tol >= 0) || isinf(o->rise_tol))
		cli_usage("--rise-tol %g: expected a finite value >= 0", o->rise_tol);
	char err[ERR_LEN];
	if (o->shard && shard_parse(o->shard, &o->block, err))
		cli_usage("option --shard: %s", err);
	if (o->shard && o->summary)
		cli_usage("--summary with --shard: the summary covers every row; run classify-samples without "
			  "--shard (on the joined input) for it");
	if (o->summary)
		cli_out_check(o->summary, 0);   /* before the work is spent */
	if (o->early < -1 || o->late < -1)
		cli_usage("--early-layer/--late-layer: expected a layer number (-1: the default)");
	if (isnan(o->near) || isinf(o->near))
		cli_usage("--near %g: expected a distance (negative: subset accuracy)", o->near);
	if (!strcmp(o->rule, "paper"))
		return RULE_PAPER;
	if (!strcmp(o->rule, "quantile"))
		return RULE_QUANTILE;
	cli_usage("--rule '%s': expected paper or quantile", o->rule);
}

static void check_layers(const options *o, const study *s)
{
	if (o->early >= s->L || o->late >= s->L)
		cli_usage("--early-layer %d / --late-layer %d: the input has layers 0..%d", o->early, o->late, s->L - 1);
}

/* category_thresholds: the rule and its parameters as JSON */
static void put_thresholds(st_file *out, const classes *c, const options *o)
{
	cJSON *j = cJSON_CreateObject();
	cJSON_AddStringToObject(j, "rule", c->rule == RULE_PAPER ? "paper" : "quantile");
	if (c->rule == RULE_PAPER) {
		if (o->near >= 0)
			cJSON_AddNumberToObject(j, "near", o->near);
		else
			cJSON_AddStringToObject(j, "close", "right");
		cJSON_AddNumberToObject(j, "early", c->early);
		cJSON_AddNumberToObject(j, "late", c->late);
	} else {
		cJSON_AddNumberToObject(j, "easy", c->t[CAT_EASY]);
		cJSON_AddNumberToObject(j, "hard", c->t[CAT_HARD]);
		cJSON_AddNumberToObject(j, "confused", c->t[CAT_CONFUSED]);
	}
	cJSON_AddStringToObject(j, "distance", o->distance);
	cJSON_AddNumberToObject(j, "rise_tol", o->rise_tol);
	char *v = cJSON_PrintUnformatted(j);
	if (!v)
		cli_die("category_thresholds: out of memory");
	st_meta_set(out, "category_thresholds", v);
	cJSON_free(v);
	cJSON_Delete(j);
}

/* --shard: out's rows cut to block I of N (the distance tensor [L,N] along
 * axis 1, the rest along axis 0), ids too, then marked. */
static void cut_to_shard(st_file *out, const classes *c, const options *o)
{
	int64_t lo, count;
	shard_rows(o->block, c->s.N, 1, &lo, &count);
	int64_t hi = lo + count;
	const char **names = cli_malloc(cli_mul((size_t)out->n, sizeof *names, "shard"));
	int *axes = cli_malloc(cli_mul((size_t)out->n, sizeof *axes, "shard"));
	char err[ERR_LEN];
	for (int j = 0; j < out->n; j++) {
		st_tensor *t = &out->t[j];
		names[j] = t->name;
		axes[j] = strcmp(t->name, o->distance) == 0;
		if (t->ndim <= axes[j] || t->shape[axes[j]] != c->s.N)
			cli_die("--shard: %s: tensor '%s' does not have the %lld rows of '%s' along axis %d", c->s.fname,
				t->name, (long long)c->s.N, o->distance, axes[j]);
		if (shard_cut(t, axes[j], lo, hi, err))
			cli_die("--shard: %s: %s", c->s.fname, err);
	}
	if (shard_cut_ids(out, c->s.N, lo, hi, err))
		cli_die("--shard: %s: %s", c->s.fname, err);
	shard_mark(out, o->block, names, axes, out->n);
	free(names);
	free(axes);
	cli_info("shard %lld of %lld: rows %lld to %lld of %lld", (long long)o->block.i, (long long)o->block.n, (long long)lo, (long long)hi - 1,
		 (long long)c->s.N);
}

static void write_output(classes *c, const options *o, double *prof, int64_t *ex)
{
	st_file *out = st_file_new();
	cli_forward_context(out, c->s.f);
	cli_forward_tensor(out, c->s.f, o->distance);
	int L = c->s.L;
	int64_t n1[1] = { c->s.N }, pshape[2] = { CAT_N, L }, eshape[2] = { CAT_N, o->examples }, mshape[2] = { 3, L };
	st_put(out, "category", ST_U8, 1, n1, c->cat);
	st_put(out, "depth", ST_I32, 1, n1, c->depth);
	st_put(out, "destructive", ST_U8, 1, n1, c->destructive);
	st_put(out, "rises", ST_I32, 1, n1, c->rises);
	if (c->first)
		st_put(out, "first_right", ST_I32, 1, n1, c->first);
	put_thresholds(out, c, o);
	st_meta_set_list(out, "categories", (char *const *)category_names, CAT_N);
	if (o->shard) {
		cut_to_shard(out, c, o);
		free(prof);
		free(ex);
		free(c->layer_mean);
	} else {
		st_put(out, "category_profile", ST_F64, 2, pshape, prof);
		st_put(out, "examples", ST_I64, 2, eshape, ex);
		st_put(out, "layer_mean", ST_F64, 2, mshape, c->layer_mean);
	}
	cli_write(out, cli_opts.output);
	st_file_free(out);
}

int main(int argc, char **argv)
{
	options o;
	options_default(&o);
	cli_opt opts[] = {
		{ "prob", 0, CLI_STR, &o.prob_path, "FILE", "prob [L,N,K] when INPUT has none" },
		{ "distance", 0, CLI_STR, &o.distance, "NAME", "the [L,N] profile" },
		{ "split", 0, CLI_STR, &o.split, "SPLIT", "rows for thresholds, tables, examples (train, val, test, all)" },
		{ "rule", 0, CLI_STR, &o.rule, "RULE", "paper (right early / late) or quantile (of A and F)" },
		{ "near", 0, CLI_DOUBLE, &o.near, "X", "paper: close = distance <= X (negative: right by subset accuracy)" },
		{ "early-layer", 0, CLI_INT, &o.early, "L", "paper: the last early layer (-1: a third of the depth)" },
		{ "late-layer", 0, CLI_INT, &o.late, "L", "paper: the first late layer (-1: three quarters of the depth)" },
		{ "easy-quantile", 0, CLI_DOUBLE, &o.q_easy, "Q", "quantile: T_easy, this quantile of A (non-confused rows)" },
		{ "hard-quantile", 0, CLI_DOUBLE, &o.q_hard, "Q", "quantile: T_hard, this quantile of A (non-confused rows)" },
		{ "confused-quantile", 0, CLI_DOUBLE, &o.q_confused, "Q", "quantile: T_confused, this quantile of F" },
		{ "easy", 0, CLI_DOUBLE, &o.t_easy, "X", "quantile: T_easy as a number (negative: the quantile)" },
		{ "hard", 0, CLI_DOUBLE, &o.t_hard, "X", "quantile: T_hard as a number (negative: the quantile)" },
		{ "confused", 0, CLI_DOUBLE, &o.t_confused, "X", "quantile: T_confused as a number (negative: the quantile)" },
		{ "rise-tol", 0, CLI_DOUBLE, &o.rise_tol, "X", "a profile rises where it grows by more than X" },
		{ "examples", 0, CLI_INT, &o.examples, "E", "example rows per category" },
		{ "summary", 0, CLI_STR, &o.summary, "FILE", "counts, depth, layer quality, profiles, examples in Markdown" },
		{ "shard", 0, CLI_STR, &o.shard, "I/N", "write only block I of N of the rows (0 <= I < N)" },
		{ 0 }
	};
	cli_init(argc, argv, "classify-samples");
	int arg = cli_parse(argc, argv, opts, usage, about);
	if (argc - arg > 1)
		cli_usage("one INPUT at most");
	classes c = { .rule = check_options(&o) };
	int split = study_split_id(o.split);
	study_load_with_prob(&c.s, arg < argc ? argv[arg] : "-", o.prob_path);
	int L;
	c.w = study_profile(&c.s, o.distance, &L);
	check_layers(&o, &c.s);
	c.rows = study_rows(&c.s, split, &c.nrows);
	if (!c.nrows)
		cli_die("%s: no rows with split = %s", c.s.fname, o.split);
	classify_all(&c, &o);
	int64_t count[CAT_N];
	double *prof = category_profile(&c, count);
	int64_t *ex = category_examples(&c, o.examples);
	cli_info("%s rows, %s rule: %lld easy, %lld hard, %lld confused, %lld regular", o.split, o.rule,
		 (long long)count[CAT_EASY], (long long)count[CAT_HARD], (long long)count[CAT_CONFUSED],
		 (long long)count[CAT_REGULAR]);
	if (o.summary)
		write_summary(&o, &c, prof, count, ex);
	write_output(&c, &o, prof, ex);
	free(c.w);
	free(c.area);
	free(c.final);
	free(c.stay);
	free(c.rows);   /* the rest went to the output file */
	study_free(&c.s);
	return 0;
}
