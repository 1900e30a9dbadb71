/* early-exit: the over-thinking table and the multi-label early-exit rule
 * (contract section 8, paper tables 2-3 and appendix H; docs/early-exit.md). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"
#include "metrics.h"
#include "study.h"

static const char *usage = "early-exit [options] [INPUT]";
static const char *about =
	"Reads prob [L,N,K] with labels, split (and ignore) from INPUT, a train-probe output.\n"
	"Writes the over-thinking table (among samples wrong at the last layer, the share\n"
	"first right at each layer, and the ideal accuracy), every score of every layer,\n"
	"and tunes the exit rule of the paper's appendix H: at layer l, with N = #labels\n"
	"with p >= 0.5 and n = #labels with p >= q, exit when N >= 1 and n/N >= gamma.\n"
	"(q, gamma) are searched on a grid over [0.5,1] on the tune split, best objective\n"
	"first, then lowest cost; the chosen rule is scored on the eval split. Cascade\n"
	"(default): each sample exits at the first layer whose rule holds, else at the last.\n"
	"--layer L: exit at L when the rule holds there, else at the last layer.\n"
	"Cost: metadata layer_flops (extract-feats: cumulative FLOPs up to each tap, then\n"
	"the whole network) gives the relative cost of exiting at l: flops[l] / flops[last].\n"
	"Output tensors: exit_layer [N] I32, metrics [L+1,3,9] F64 (layers then the rule;\n"
	"train, val, test; the TSV's columns), overthinking and overthinking_right [L],\n"
	"exit_share [L] (eval split), and the forwarded context.";

typedef struct {
	int layer;                 /* -1: cascade */
	int cascade;
	const char *tune, *eval;   /* "val", "test" */
	const char *objective;     /* "accuracy" */
	const char *metrics_path, *report_path;   /* NULL: not written */
	double step;               /* 0.05 */
	double q, gamma;           /* -1: searched */
} options;

static void options_default(options *o)
{
	*o = (options){ .layer = -1, .tune = "val", .eval = "test", .objective = "accuracy",
			.step = 0.05, .q = -1, .gamma = -1 };
}

typedef struct {
	const study *s;
	uint8_t *correct;        /* [L,N]: subset-correct at layer l */
	double *cost;            /* [L]: relative cost of exiting at l, NULL without layer_flops */
	int objective;           /* MT_* */
} context;

typedef struct { double q, gamma, score, cost; } policy;

/* ---- cost ---- */

/* layer_flops (extract-feats): cumulative FLOPs per image up to each tap, then
 * the whole network; L numbers, or L-1 when prob has no head layer. The cost of
 * exiting at l is its entry over the last one (the probes' own FLOPs left out). */
static double *relative_costs(const study *s)
{
	if (!st_meta_get(s->f, "layer_flops"))
		return NULL;
	int n;
	double *flops = st_meta_get_numbers(s->f, "layer_flops", &n);
	if (n != s->L && n != s->L - 1) {
		cli_warn("%s: metadata layer_flops: expected a list of %d or %d numbers, ignored",
			 s->fname, s->L, s->L - 1);
		free(flops);
		return NULL;
	}
	double *cum = cli_calloc((size_t)s->L, sizeof *cum);
	for (int l = 0; l < n; l++) {
		if (!flops || !(flops[l] >= 0) || (l && flops[l] < cum[l - 1]))
			cli_die("%s: metadata layer_flops: entry %d is not a finite number >= the one before "
				"(cumulative FLOPs expected)", s->fname, l);
		cum[l] = flops[l];
	}
	free(flops);
	if (n < s->L)
		cum[s->L - 1] = cum[n - 1];
	double total = cum[s->L - 1];
	if (!(total > 0))
		cli_die("%s: metadata layer_flops: the total is 0", s->fname);
	for (int l = 0; l < s->L; l++)
		cum[l] /= total;
	return cum;
}

/* ---- the rule ---- */

static int exit_of(const study *s, int layer, double q, double g, int64_t i)
{
	int from = layer < 0 ? 0 : layer, to = layer < 0 ? s->L - 1 : layer;
	for (int l = from; l <= to && l < s->L - 1; l++)
		if (metrics_exit_rule(s->prob + ((int64_t)l * s->N + i) * s->K, s->K, q, g))
			return l;
	return s->L - 1;
}

static void exits_of(const study *s, int layer, double q, double g, int32_t *ex)
{
	for (int64_t i = 0; i < s->N; i++)
		ex[i] = exit_of(s, layer, q, g, i);
}

/* each row's probabilities at its exit layer, [N,K] */
static float *gather_exit(const study *s, const int32_t *ex)
{
	float *p = cli_malloc(cli_mul((size_t)s->N, (size_t)s->K * sizeof *p, "exit scores"));
	for (int64_t i = 0; i < s->N; i++)
		memcpy(p + i * s->K, s->prob + ((int64_t)ex[i] * s->N + i) * s->K, s->K * sizeof *p);
	return p;
}

static void exit_scores(const study *s, const int32_t *ex, const int64_t *rows, int64_t n,
			double out[MT_NSCORES])
{
	float *p = gather_exit(s, ex);
	mt_layer m = { p, s->labels, s->ignore, s->K };
	if (metrics_compute(&m, rows, n, METRICS_THRESHOLD, out))
		cli_die("scores: out of memory");
	free(p);
}

static double mean_cost(const context *c, const int32_t *ex, const int64_t *rows, int64_t n)
{
	double sum = 0;
	for (int64_t j = 0; j < n; j++)
		sum += c->cost ? c->cost[ex[rows[j]]] : (ex[rows[j]] + 1.0) / c->s->L;
	return n ? sum / n : NAN;
}

/* the objective on rows; subset accuracy from the precomputed table, fast */
static double objective(const context *c, const int32_t *ex, const int64_t *rows, int64_t n)
{
	if (c->objective == MT_ACC) {
		int64_t ok = 0;
		for (int64_t j = 0; j < n; j++)
			ok += c->correct[(int64_t)ex[rows[j]] * c->s->N + rows[j]];
		return (double)ok / n;
	}
	double sc[MT_NSCORES];
	exit_scores(c->s, ex, rows, n, sc);
	return sc[c->objective];
}

static policy search(const context *c, const options *o, const int64_t *rows, int64_t n, int32_t *ex)
{
	int steps = (int)floor(0.5 / o->step + 1e-9);
	policy best = { NAN, NAN, -INFINITY, INFINITY };
	for (int a = 0; a <= steps; a++) {
		double q = o->q >= 0 ? o->q : 0.5 + a * o->step;
		for (int b = 0; b <= steps; b++) {
			double g = o->gamma >= 0 ? o->gamma : 0.5 + b * o->step;
			exits_of(c->s, o->cascade ? -1 : o->layer, q, g, ex);
			policy p = { q, g, objective(c, ex, rows, n), mean_cost(c, ex, rows, n) };
			if (p.score > best.score + 1e-12 || (fabs(p.score - best.score) <= 1e-12 && p.cost < best.cost))
				best = p;
			if (o->gamma >= 0)
				break;
		}
		if (o->q >= 0)
			break;
	}
	return best;
}

/* ---- over-thinking ---- */

typedef struct {
	int64_t n, wrong_last;
	int64_t *first_right, *right;   /* [L], among the rows wrong at the last layer */
} overthinking;

static overthinking overthinking_of(const context *c, const int64_t *rows, int64_t n)
{
	const study *s = c->s;
	overthinking o = { n, 0, cli_calloc(s->L, sizeof(int64_t)), cli_calloc(s->L, sizeof(int64_t)) };
	for (int64_t j = 0; j < n; j++) {
		int64_t i = rows[j];
		if (c->correct[(int64_t)(s->L - 1) * s->N + i])
			continue;
		o.wrong_last++;
		int first = -1;
		for (int l = 0; l < s->L - 1; l++)
			if (c->correct[(int64_t)l * s->N + i]) {
				o.right[l]++;
				if (first < 0)
					first = l;
			}
		if (first >= 0)
			o.first_right[first]++;
	}
	return o;
}

static double share(int64_t a, int64_t b) { return b ? (double)a / b : NAN; }

/* accuracy if every sample right at some layer were counted right */
static double ideal_accuracy(const overthinking *ot, double acc_last, int L)
{
	int64_t rescued = 0;
	for (int l = 0; l < L - 1; l++)
		rescued += ot->first_right[l];
	return acc_last + share(rescued, ot->n);
}

/* ---- outputs ---- */

static void write_metrics_tsv(const options *o, const study *s, double (*met)[3][MT_NSCORES],
			      const int64_t nsplit[3])
{
	cli_out *out = cli_out_open_text(o->metrics_path);
	FILE *fp = cli_out_fp(out);
	fprintf(fp, "layer\tsplit");
	for (int m = 0; m < MT_NSCORES; m++)
		fprintf(fp, "\t%s", metrics_names[m]);
	fputc('\n', fp);
	for (int l = 0; l <= s->L; l++)
		for (int sp = 0; sp < 3; sp++) {
			if (!nsplit[sp] || isnan(met[l][sp][MT_ACC]))
				continue;
			if (l < s->L)
				fprintf(fp, "%d\t%s", l, split_names[sp]);
			else
				fprintf(fp, "exit\t%s", split_names[sp]);
			for (int m = 0; m < MT_NSCORES; m++)
				fprintf(fp, "\t%.6f", met[l][sp][m]);
			fputc('\n', fp);
		}
	cli_out_close(out);
}

static void report_overthinking(FILE *fp, const study *s, const overthinking *ot, double acc_last,
				const char *split)
{
	char buf[32];
	fprintf(fp, "## Over-thinking (%s split, paper tables 2-3)\n\n"
		"%lld of %lld samples (%.2f%%) are wrong at the last layer (subset accuracy). "
		"Of those, the share right at each earlier layer, and first right there:\n\n"
		"| layer | name | right here | first right here |\n| ---: | --- | ---: | ---: |\n",
		split, (long long)ot->wrong_last, (long long)ot->n, 100 * share(ot->wrong_last, ot->n));
	for (int l = 0; l < s->L - 1; l++)
		fprintf(fp, "| %d | %s | %.2f%% | %.2f%% |\n", l, study_layer_name(s, l, buf),
			100 * share(ot->right[l], ot->wrong_last), 100 * share(ot->first_right[l], ot->wrong_last));
	double ideal = ideal_accuracy(ot, acc_last, s->L);
	fprintf(fp, "\nLast-layer accuracy %.2f%%; ideal accuracy (right at some layer) %.2f%% "
		"(+%.2f points).\n\n", 100 * acc_last, 100 * ideal, 100 * (ideal - acc_last));
}

static void report_row(FILE *fp, const char *name, const double *sc)
{
	fprintf(fp, "| %s |", name);
	for (int m = 0; m < MT_NSCORES; m++)
		fprintf(fp, " %.2f |", 100 * sc[m]);
	fputc('\n', fp);
}

static void report_header(FILE *fp)
{
	fprintf(fp, "| layer |");
	for (int m = 0; m < MT_NSCORES; m++)
		fprintf(fp, " %s |", metrics_names[m]);
	fprintf(fp, "\n| --- |");
	for (int m = 0; m < MT_NSCORES; m++)
		fprintf(fp, " ---: |");
	fputc('\n', fp);
}

static void write_report(const options *o, const context *c, const overthinking *ot,
			 double (*met)[3][MT_NSCORES], const policy *pol, const double *exit_share,
			 double cost, int tune, int eval)
{
	const study *s = c->s;
	char buf[32];
	cli_out *out = cli_out_open_text(o->report_path);
	FILE *fp = cli_out_fp(out);
	fprintf(fp, "# Early exit: %s\n\n", s->fname);
	report_overthinking(fp, s, ot, met[s->L - 1][eval][MT_ACC], split_names[eval]);
	fprintf(fp, "## Scores per layer (%s split, %%)\n\n", split_names[eval]);
	report_header(fp);
	for (int l = 0; l < s->L; l++)
		report_row(fp, study_layer_name(s, l, buf), met[l][eval]);
	report_row(fp, "**exit rule**", met[s->L][eval]);
	fprintf(fp, "\n## Exit rule (paper appendix H)\n\n"
		"%s; q = %.3f, gamma = %.3f, chosen on the %s split by %s (%.2f%%).\n\n"
		"| layer | name | exits (%s) |\n| ---: | --- | ---: |\n",
		o->cascade ? "Cascade over every layer" : "One exit layer",
		pol->q, pol->gamma, split_names[tune], metrics_names[c->objective],
		100 * pol->score, split_names[eval]);
	for (int l = 0; l < s->L; l++)
		if (o->cascade || l == o->layer || l == s->L - 1)
			fprintf(fp, "| %d | %s | %.2f%% |\n", l, study_layer_name(s, l, buf), 100 * exit_share[l]);
	if (c->cost)
		fprintf(fp, "\nRelative cost (FLOPs up to the exit layer over the whole network's, "
			"mean over samples): %.3f.\n", cost);
	else
		fprintf(fp, "\nNo layer_flops metadata: mean exit depth (layer + 1) / L = %.3f.\n", cost);
	cli_out_close(out);
}

/* ---- main ---- */

static void check_options(options *o, const study *s)
{
	if (o->layer >= 0 && o->cascade)
		cli_usage("--layer and --cascade exclude each other");
	if (o->layer < 0)
		o->cascade = 1;
	if (o->layer >= s->L)
		cli_usage("--layer %d: the input has layers 0..%d", o->layer, s->L - 1);
	if (!(o->step > 0 && o->step <= 0.5))
		cli_usage("--grid-step %g: expected a value in (0, 0.5]", o->step);
	if ((o->q >= 0 && !(o->q >= 0.5 && o->q <= 1)) || (o->gamma >= 0 && !(o->gamma >= 0.5 && o->gamma <= 1)))
		cli_usage("--q and --gamma: expected values in [0.5, 1] (negative: search)");
}

static int objective_id(const char *name)
{
	for (int m = 0; m < MT_NSCORES; m++)
		if (!strcmp(name, metrics_names[m]))
			return m;
	cli_usage("--objective '%s': expected one of accuracy, CP, CR, CF1, macroF1, OP, OR, OF1, mAP", name);
}

/* subset correctness of every row at every layer, [L,N] */
static uint8_t *correctness(const study *s)
{
	uint8_t *correct = cli_malloc(cli_mul((size_t)s->L, (size_t)s->N, "correct"));
	for (int l = 0; l < s->L; l++) {
		mt_layer m = study_layer(s, l);
		for (int64_t i = 0; i < s->N; i++)
			correct[(int64_t)l * s->N + i] = metrics_row_correct(&m, i, METRICS_THRESHOLD);
	}
	return correct;
}

/* every score of every layer on every split; row L is left for the rule */
static double (*layer_scores(const study *s, int64_t *const rows[3], const int64_t nrows[3]))[3][MT_NSCORES]
{
	double (*met)[3][MT_NSCORES] = cli_calloc((size_t)s->L + 1, sizeof *met);
	for (int l = 0; l < s->L; l++)
		for (int sp = 0; sp < 3; sp++) {
			mt_layer m = study_layer(s, l);
			if (metrics_compute(&m, rows[sp], nrows[sp], METRICS_THRESHOLD, met[l][sp]))
				cli_die("scores: out of memory");
		}
	return met;
}

static double *exit_shares(const study *s, const int32_t *ex, const int64_t *rows, int64_t n)
{
	double *share = cli_calloc((size_t)s->L, sizeof *share);
	for (int64_t j = 0; j < n; j++)
		share[ex[rows[j]]] += 1.0 / n;
	return share;
}

static void set_number(st_file *f, const char *key, double x)
{
	char v[64];
	snprintf(v, sizeof v, "%.6g", x);
	st_meta_set(f, key, v);
}

static void write_output(const options *o, const context *c, const overthinking *ot,
			 double (*met)[3][MT_NSCORES], const policy *pol, int32_t *ex,
			 double *exit_share, double cost, int eval)
{
	const study *s = c->s;
	st_file *out = st_file_new();
	cli_forward_context(out, s->f);
	int64_t shp[3] = { s->N }, mshape[3] = { s->L + 1, 3, MT_NSCORES }, lshape[1] = { s->L };
	st_put(out, "exit_layer", ST_I32, 1, shp, ex);
	st_put(out, "metrics", ST_F64, 3, mshape, met);
	double *first = cli_malloc(cli_mul((size_t)s->L, sizeof *first, "overthinking"));
	double *right = cli_malloc(cli_mul((size_t)s->L, sizeof *right, "overthinking"));
	for (int l = 0; l < s->L; l++) {
		first[l] = share(ot->first_right[l], ot->wrong_last);
		right[l] = share(ot->right[l], ot->wrong_last);
	}
	first[s->L - 1] = right[s->L - 1] = 0;   /* the last layer rescues nobody */
	st_put(out, "overthinking", ST_F64, 1, lshape, first);
	st_put(out, "overthinking_right", ST_F64, 1, lshape, right);
	st_put(out, "exit_share", ST_F64, 1, lshape, exit_share);
	st_meta_set(out, "exit_mode", o->cascade ? "cascade" : "layer");
	set_number(out, "exit_q", pol->q);
	set_number(out, "exit_gamma", pol->gamma);
	set_number(out, c->cost ? "exit_relative_cost" : "exit_mean_depth", cost);
	set_number(out, "ideal_accuracy", ideal_accuracy(ot, met[s->L - 1][eval][MT_ACC], s->L));
	st_meta_set_list(out, "metrics_columns", (char *const *)metrics_names, MT_NSCORES);
	cli_write(out, cli_opts.output);
	st_file_free(out);
}

int main(int argc, char **argv)
{
	options o;
	options_default(&o);
	cli_opt opts[] = {
		{ "layer", 0, CLI_INT, &o.layer, "L", "exit rule at this one layer (-1: cascade)" },
		{ "cascade", 0, CLI_FLAG, &o.cascade, NULL, "cascade over every layer (the default)" },
		{ "tune-split", 0, CLI_STR, &o.tune, "SPLIT", "split that chooses q and gamma" },
		{ "eval-split", 0, CLI_STR, &o.eval, "SPLIT", "split that scores the rule and the tables" },
		{ "objective", 0, CLI_STR, &o.objective, "NAME", "score maximised on the tune split" },
		{ "grid-step", 0, CLI_DOUBLE, &o.step, "X", "grid spacing of q and gamma over [0.5,1]" },
		{ "q", 0, CLI_DOUBLE, &o.q, "X", "fix q instead of searching it (negative: search)" },
		{ "gamma", 0, CLI_DOUBLE, &o.gamma, "X", "fix gamma instead of searching it (negative: search)" },
		{ "metrics", 0, CLI_STR, &o.metrics_path, "FILE", "every score as TSV (contract header)" },
		{ "report", 0, CLI_STR, &o.report_path, "FILE", "the tables in Markdown" },
		{ 0 }
	};
	cli_init(argc, argv, "early-exit");
	int arg = cli_parse(argc, argv, opts, usage, about);
	if (argc - arg > 1)
		cli_usage("one INPUT at most");
	int tune = study_split_id(o.tune), eval = study_split_id(o.eval);
	if (tune < 0 || eval < 0)
		cli_usage("--tune-split and --eval-split: expected train, val or test");
	context c = { .objective = objective_id(o.objective) };
	study s;
	study_load(&s, arg < argc ? argv[arg] : "-", 1);
	check_options(&o, &s);
	c.s = &s;
	c.cost = relative_costs(&s);
	if (!s.split)
		cli_warn("%s: no 'split' tensor: tuning and scoring on every row", s.fname);
	c.correct = correctness(&s);
	int64_t *rows[3], nrows[3];
	for (int sp = 0; sp < 3; sp++)
		rows[sp] = study_rows(&s, sp, &nrows[sp]);
	if (!nrows[tune])
		cli_die("%s: no rows with split = %s to tune the exit rule on", s.fname, o.tune);
	if (!nrows[eval])
		cli_die("%s: no rows with split = %s to score on", s.fname, o.eval);

	double (*met)[3][MT_NSCORES] = layer_scores(&s, rows, nrows);
	overthinking ot = overthinking_of(&c, rows[eval], nrows[eval]);
	int32_t *ex = cli_malloc(cli_mul((size_t)s.N, sizeof *ex, "exit_layer"));
	policy pol = search(&c, &o, rows[tune], nrows[tune], ex);
	exits_of(&s, o.cascade ? -1 : o.layer, pol.q, pol.gamma, ex);
	for (int sp = 0; sp < 3; sp++)
		exit_scores(&s, ex, rows[sp], nrows[sp], met[s.L][sp]);
	double *exit_share = exit_shares(&s, ex, rows[eval], nrows[eval]);
	double cost = mean_cost(&c, ex, rows[eval], nrows[eval]);
	cli_info("q %.3f gamma %.3f (%s %s %.4f): %s accuracy %.4f at the last layer, %.4f with the rule, %s %.3f",
		 pol.q, pol.gamma, o.tune, o.objective, pol.score, o.eval, met[s.L - 1][eval][MT_ACC],
		 met[s.L][eval][MT_ACC], c.cost ? "relative cost" : "mean depth", cost);

	if (o.metrics_path)
		write_metrics_tsv(&o, &s, met, nrows);
	if (o.report_path)
		write_report(&o, &c, &ot, met, &pol, exit_share, cost, tune, eval);
	write_output(&o, &c, &ot, met, &pol, ex, exit_share, cost, eval);

	for (int sp = 0; sp < 3; sp++)
		free(rows[sp]);
	free(ot.first_right);
	free(ot.right);
	free(c.correct);
	free(c.cost);
	study_free(&s);
	return 0;
}
