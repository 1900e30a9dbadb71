/* classify-samples: easy, hard, confused and regular samples from their
 * distance profiles (paper section 6.1.3; docs/classify-samples.md), with
 * prediction depth and SDN-style destructive over-thinking. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"
#include "metrics.h"
#include "names.h"
#include "study.h"
#include <cjson/cJSON.h>

static const char *usage = "classify-samples [options] [INPUT]";
static const char *about =
	"INPUT holds a distance profile (default wdist [L,N], from sinkhorn) and the\n"
	"context; prob [L,N,K] comes from INPUT or --prob FILE. For each sample n with\n"
	"profile w[0..L-1]: area A = mean over layers of w[l], final F = w[L-1].\n"
	"  confused  F >= T_confused             (still far from its target at the end)\n"
	"  easy      not confused, A <= T_easy    (close from the early layers on)\n"
	"  hard      not confused, A >= T_hard    (far until the late layers)\n"
	"  regular   the rest\n"
	"Thresholds given as numbers win; otherwise they are quantiles of the --split rows:\n"
	"T_confused of F over every row, T_easy and T_hard of A over the non-confused rows.\n"
	"Also: depth [N] I32, the prediction depth (first layer from which every later\n"
	"layer predicts the last layer's label set); destructive [N] U8, right (subset) at\n"
	"some earlier layer but wrong at the last (SDN's destructive over-thinking).\n"
	"Writes category [N] U8 (0 regular, 1 easy, 2 hard, 3 confused), depth,\n"
	"destructive, category_profile [4,L] F64 (mean distance per layer), examples\n"
	"[4,E] I64 (row numbers, -1 where fewer; the most typical first), and forwards\n"
	"the context and the distance tensor. --summary FILE: the tables in Markdown.";

typedef struct {
	const char *prob_path;   /* NULL: prob from INPUT */
	const char *distance;    /* "wdist" */
	const char *split;       /* "all" */
	const char *summary;     /* NULL: no Markdown summary */
	double q_easy, q_hard, q_confused;   /* 0.25, 0.75, 0.9 */
	double t_easy, t_hard, t_confused;   /* -1: from the quantiles */
	int examples;            /* 8 */
} options;

static void options_default(options *o)
{
	*o = (options){ .distance = "wdist", .split = "all", .q_easy = 0.25, .q_hard = 0.75,
			.q_confused = 0.9, .t_easy = -1, .t_hard = -1, .t_confused = -1, .examples = 8 };
}

typedef struct {
	study s;
	float *w;                /* [L,N] distance profile */
	double *area, *final;    /* [N] */
	uint8_t *cat, *destructive;
	int32_t *depth;
	int64_t *rows, nrows;
	double t[CAT_N];          /* thresholds: [CAT_EASY], [CAT_HARD], [CAT_CONFUSED] */
} classes;

static void profiles(classes *c)
{
	int L = c->s.L;
	int64_t N = c->s.N;
	c->area = cli_calloc((size_t)N, sizeof *c->area);
	c->final = cli_calloc((size_t)N, sizeof *c->final);
	for (int64_t i = 0; i < N; i++) {
		double sum = 0;
		for (int l = 0; l < L; l++)
			sum += c->w[(int64_t)l * N + i];
		c->area[i] = sum / L;
		c->final[i] = c->w[(int64_t)(L - 1) * N + i];
	}
}

/* the quantile of v over the rows of the split that pass keep (NULL: all), skipping NaN */
static double quantile_of(const classes *c, const double *v, double q, const uint8_t *not_cat)
{
	double *tmp = cli_malloc(cli_mul((size_t)c->nrows + 1, sizeof *tmp, "quantile"));
	int64_t n = 0;
	for (int64_t j = 0; j < c->nrows; j++) {
		int64_t i = c->rows[j];
		if (!isnan(v[i]) && !(not_cat && not_cat[i] == CAT_CONFUSED))
			tmp[n++] = v[i];
	}
	double t = study_quantile(tmp, n, q);
	free(tmp);
	return t;
}

static void classify(classes *c, const options *o)
{
	int64_t N = c->s.N;
	c->cat = cli_calloc((size_t)N, 1);
	c->t[CAT_CONFUSED] = o->t_confused >= 0 ? o->t_confused : quantile_of(c, c->final, o->q_confused, NULL);
	for (int64_t i = 0; i < N; i++)
		if (c->final[i] >= c->t[CAT_CONFUSED])
			c->cat[i] = CAT_CONFUSED;
	c->t[CAT_EASY] = o->t_easy >= 0 ? o->t_easy : quantile_of(c, c->area, o->q_easy, c->cat);
	c->t[CAT_HARD] = o->t_hard >= 0 ? o->t_hard : quantile_of(c, c->area, o->q_hard, c->cat);
	for (int64_t i = 0; i < N; i++) {
		if (c->cat[i] == CAT_CONFUSED || isnan(c->area[i]))
			continue;
		if (c->area[i] <= c->t[CAT_EASY])
			c->cat[i] = CAT_EASY;
		else if (c->area[i] >= c->t[CAT_HARD])
			c->cat[i] = CAT_HARD;
	}
}

static void depths(classes *c)
{
	const study *s = &c->s;
	c->depth = cli_malloc(cli_mul((size_t)s->N, sizeof *c->depth, "depth"));
	c->destructive = cli_calloc((size_t)s->N, 1);
	for (int64_t i = 0; i < s->N; i++) {
		c->depth[i] = metrics_prediction_depth(s->prob, s->L, s->N, s->K, i, METRICS_THRESHOLD);
		mt_layer last = study_layer(s, s->L - 1);
		if (metrics_row_correct(&last, i, METRICS_THRESHOLD))
			continue;
		for (int l = 0; l < s->L - 1 && !c->destructive[i]; l++) {
			mt_layer m = study_layer(s, l);
			c->destructive[i] = (uint8_t)metrics_row_correct(&m, i, METRICS_THRESHOLD);
		}
	}
}

/* how typical row i is of its category: lower first */
static double atypical(const classes *c, int64_t i, double median_area)
{
	switch (c->cat[i]) {
	case CAT_EASY: return c->area[i];
	case CAT_HARD: return -c->area[i];
	case CAT_CONFUSED: return -c->final[i];
	default: return fabs(c->area[i] - median_area);
	}
}

static const double *sort_key;
static int by_key(const void *a, const void *b)
{
	double x = sort_key[*(const int64_t *)a], y = sort_key[*(const int64_t *)b];
	return (x > y) - (x < y);
}

static int64_t *examples(const classes *c, int E)
{
	int64_t N = c->s.N;
	int64_t *ex = cli_malloc(cli_mul((size_t)CAT_N * (size_t)E + 1, sizeof *ex, "examples"));
	for (int64_t j = 0; j < (int64_t)CAT_N * E; j++)
		ex[j] = -1;
	double *key = cli_malloc(cli_mul((size_t)N + 1, sizeof *key, "examples"));
	int64_t *order = cli_malloc(cli_mul((size_t)c->nrows + 1, sizeof *order, "examples"));
	double median = quantile_of(c, c->area, 0.5, NULL);
	for (int64_t i = 0; i < N; i++)
		key[i] = isnan(c->area[i]) ? INFINITY : atypical(c, i, median);
	memcpy(order, c->rows, c->nrows * sizeof *order);
	sort_key = key;
	qsort(order, c->nrows, sizeof *order, by_key);
	int got[CAT_N] = { 0 };
	for (int64_t j = 0; j < c->nrows; j++) {
		int64_t i = order[j];
		int k = c->cat[i];
		if (got[k] < E && !isnan(c->area[i]))
			ex[k * E + got[k]++] = i;
	}
	free(key);
	free(order);
	return ex;
}

static double *category_profile(const classes *c, int64_t count[CAT_N])
{
	int L = c->s.L;
	double *prof = cli_calloc((size_t)CAT_N * L, sizeof *prof);
	memset(count, 0, CAT_N * sizeof *count);
	for (int64_t j = 0; j < c->nrows; j++) {
		int64_t i = c->rows[j];
		if (isnan(c->area[i]))
			continue;
		count[c->cat[i]]++;
		for (int l = 0; l < L; l++)
			prof[c->cat[i] * L + l] += c->w[(int64_t)l * c->s.N + i];
	}
	for (int k = 0; k < CAT_N; k++)
		for (int l = 0; l < L; l++)
			prof[k * L + l] = count[k] ? prof[k * L + l] / count[k] : NAN;
	return prof;
}

/* a table cell: v in fmt with suffix, or "-" when v is NaN (an empty category) */
static const char *md_num(char buf[32], const char *fmt, double v, const char *suffix)
{
	if (isnan(v))
		return "-";
	int n = snprintf(buf, 32, fmt, v);
	snprintf(buf + n, 32 - n, "%s", suffix);
	return buf;
}

static void write_summary(const options *o, const classes *c, const double *prof,
			  const int64_t count[CAT_N], const int64_t *ex)
{
	const study *s = &c->s;
	cli_out *out = cli_out_open_text(o->summary);
	FILE *fp = cli_out_fp(out);
	int64_t total = 0;
	for (int k = 0; k < CAT_N; k++)
		total += count[k];
	char b1[32], b2[32], b3[32], b4[32], b5[32];
	fprintf(fp, "# Sample categories: %s (%s rows, distance %s)\n\n"
		"Thresholds: easy A <= %s, hard A >= %s, confused F >= %s "
		"(A: mean distance over layers, F: distance at the last layer; -: no rows to set it).\n\n"
		"| category | samples | share | mean depth | destructive | mean A | mean F |\n"
		"| --- | ---: | ---: | ---: | ---: | ---: | ---: |\n",
		s->fname, o->split, o->distance, md_num(b1, "%.4g", c->t[CAT_EASY], ""),
		md_num(b2, "%.4g", c->t[CAT_HARD], ""), md_num(b3, "%.4g", c->t[CAT_CONFUSED], ""));
	for (int k = 0; k < CAT_N; k++) {
		double dsum = 0, destr = 0, asum = 0;
		for (int64_t j = 0; j < c->nrows; j++) {
			int64_t i = c->rows[j];
			if (c->cat[i] != k || isnan(c->area[i]))
				continue;
			dsum += c->depth[i], destr += c->destructive[i], asum += c->area[i];
		}
		double n = count[k] ? (double)count[k] : NAN;
		fprintf(fp, "| %s | %lld | %.1f%% | %s | %s | %s | %s |\n", category_names[k],
			(long long)count[k], 100.0 * count[k] / (total ? total : 1), md_num(b1, "%.2f", dsum / n, ""),
			md_num(b2, "%.1f", 100 * destr / n, "%"), md_num(b3, "%.4f", asum / n, ""),
			md_num(b4, "%.4f", prof[k * s->L + s->L - 1], ""));
	}
	fprintf(fp, "\nPrediction depth: first layer from which every later layer predicts the "
		"last layer's label set. Destructive: right at an earlier layer, wrong at the last.\n\n"
		"## Mean %s per layer\n\n| layer | name |", o->distance);
	for (int k = 0; k < CAT_N; k++)
		fprintf(fp, " %s |", category_names[k]);
	fprintf(fp, "\n| ---: | --- |%s\n", " ---: | ---: | ---: | ---: |");
	char buf[32];
	for (int l = 0; l < s->L; l++) {
		fprintf(fp, "| %d | %s |", l, study_layer_name(s, l, buf));
		for (int k = 0; k < CAT_N; k++)
			fprintf(fp, " %s |", md_num(b5, "%.4f", prof[k * s->L + l], ""));
		fputc('\n', fp);
	}
	int nids = 0;
	char **ids = st_meta_get_list(s->f, "ids", &nids);
	fprintf(fp, "\n## Examples (row numbers%s, most typical first)\n\n", ids && nids == s->N ? ": id" : "");
	for (int k = 0; k < CAT_N; k++) {
		fprintf(fp, "- %s:", category_names[k]);
		for (int e = 0; e < o->examples && ex[k * o->examples + e] >= 0; e++) {
			int64_t i = ex[k * o->examples + e];
			if (ids && nids == s->N)
				fprintf(fp, " %lld: %s", (long long)i, ids[i]);
			else
				fprintf(fp, " %lld", (long long)i);
			fputc(e + 1 < o->examples && ex[k * o->examples + e + 1] >= 0 ? ',' : ' ', fp);
		}
		fputc('\n', fp);
	}
	if (ids)
		st_list_free(ids, nids);
	cli_out_close(out);
}

static void load(classes *c, const options *o, const char *input)
{
	study_load_with_prob(&c->s, input, o->prob_path);
	int L;
	c->w = study_profile(&c->s, o->distance, &L);
}

static void check_options(const options *o)
{
	const double q[3] = { o->q_easy, o->q_hard, o->q_confused };
	for (int i = 0; i < 3; i++)
		if (!(q[i] >= 0 && q[i] <= 1))
			cli_usage("quantiles: expected values in [0,1], got %g", q[i]);
	if (o->examples < 0 || o->examples > 100000)
		cli_usage("--examples %d: expected 0 to 100000", o->examples);
	if (o->t_easy >= 0 && o->t_hard >= 0 && o->t_easy > o->t_hard)
		cli_usage("--easy %g is above --hard %g", o->t_easy, o->t_hard);
}

/* profiles, thresholds, categories, depths; warns about rows without a profile */
static void classify_all(classes *c, const options *o)
{
	profiles(c);
	int64_t nan_rows = 0;
	for (int64_t i = 0; i < c->s.N; i++)
		nan_rows += isnan(c->area[i]);
	if (nan_rows)
		cli_warn("%s: %lld samples have NaN distances (no label?): left regular and out of the thresholds",
			 c->s.fname, (long long)nan_rows);
	classify(c, o);
	depths(c);
}

static void write_output(const classes *c, const options *o, double *prof, int64_t *ex)
{
	st_file *out = st_file_new();
	cli_forward_context(out, c->s.f);
	cli_forward_tensor(out, c->s.f, o->distance);
	int64_t n1[1] = { c->s.N }, pshape[2] = { CAT_N, c->s.L }, eshape[2] = { CAT_N, o->examples };
	st_put(out, "category", ST_U8, 1, n1, c->cat);
	st_put(out, "depth", ST_I32, 1, n1, c->depth);
	st_put(out, "destructive", ST_U8, 1, n1, c->destructive);
	st_put(out, "category_profile", ST_F64, 2, pshape, prof);
	st_put(out, "examples", ST_I64, 2, eshape, ex);
	/* the numbers as %.9g, the tensor name quoted as a JSON string */
	char v[160];
	snprintf(v, sizeof v, "{\"easy\":%.9g,\"hard\":%.9g,\"confused\":%.9g,\"distance\":",
		 c->t[CAT_EASY], c->t[CAT_HARD], c->t[CAT_CONFUSED]);
	cJSON *name = cJSON_CreateString(o->distance);
	char *quoted = cJSON_PrintUnformatted(name);
	char *meta = cli_malloc(strlen(v) + strlen(quoted) + 2);
	sprintf(meta, "%s%s}", v, quoted);
	st_meta_set(out, "category_thresholds", meta);
	free(meta);
	cJSON_free(quoted);
	cJSON_Delete(name);
	st_meta_set_list(out, "categories", (char *const *)category_names, CAT_N);
	cli_write(out, cli_opts.output);
	st_file_free(out);
}

int main(int argc, char **argv)
{
	options o;
	options_default(&o);
	cli_opt opts[] = {
		{ "prob", 0, CLI_STR, &o.prob_path, "FILE", "prob [L,N,K] when INPUT has none" },
		{ "distance", 0, CLI_STR, &o.distance, "NAME", "the [L,N] profile to classify by" },
		{ "split", 0, CLI_STR, &o.split, "SPLIT", "rows for thresholds, tables, examples (train, val, test, all)" },
		{ "easy-quantile", 0, CLI_DOUBLE, &o.q_easy, "Q", "T_easy: this quantile of A (non-confused rows)" },
		{ "hard-quantile", 0, CLI_DOUBLE, &o.q_hard, "Q", "T_hard: this quantile of A (non-confused rows)" },
		{ "confused-quantile", 0, CLI_DOUBLE, &o.q_confused, "Q", "T_confused: this quantile of F" },
		{ "easy", 0, CLI_DOUBLE, &o.t_easy, "X", "T_easy as a number (negative: the quantile)" },
		{ "hard", 0, CLI_DOUBLE, &o.t_hard, "X", "T_hard as a number (negative: the quantile)" },
		{ "confused", 0, CLI_DOUBLE, &o.t_confused, "X", "T_confused as a number (negative: the quantile)" },
		{ "examples", 0, CLI_INT, &o.examples, "E", "example rows per category" },
		{ "summary", 0, CLI_STR, &o.summary, "FILE", "counts, depth, profiles and examples in Markdown" },
		{ 0 }
	};
	cli_init(argc, argv, "classify-samples");
	int arg = cli_parse(argc, argv, opts, usage, about);
	if (argc - arg > 1)
		cli_usage("one INPUT at most");
	check_options(&o);
	int split = study_split_id(o.split);
	classes c = { 0 };
	load(&c, &o, arg < argc ? argv[arg] : "-");
	c.rows = study_rows(&c.s, split, &c.nrows);
	if (!c.nrows)
		cli_die("%s: no rows with split = %s", c.s.fname, o.split);
	classify_all(&c, &o);
	int64_t count[CAT_N];
	double *prof = category_profile(&c, count);
	int64_t *ex = examples(&c, o.examples);
	cli_info("%s rows: %lld easy, %lld hard, %lld confused, %lld regular (T_easy %.4g, T_hard %.4g, T_confused %.4g)",
		 o.split, (long long)count[CAT_EASY], (long long)count[CAT_HARD], (long long)count[CAT_CONFUSED],
		 (long long)count[CAT_REGULAR], c.t[CAT_EASY], c.t[CAT_HARD], c.t[CAT_CONFUSED]);
	if (o.summary)
		write_summary(&o, &c, prof, count, ex);
	write_output(&c, &o, prof, ex);
	free(c.w);
	free(c.area);
	free(c.final);
	free(c.rows);
	study_free(&c.s);
	return 0;
}
