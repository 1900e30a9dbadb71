/* early-exit: the over-thinking table and the multi-label early-exit rule
 * (contract section 8, paper tables 2-3 and appendix H; docs/early-exit.md).
 * The front end: options, the steps, the tensors and TSV files. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"
#include "exit.h"
#include "metrics.h"
#include "study.h"

static const char *usage = "early-exit [options] [INPUT]";
static const char *about =
	"Reads prob [L,N,K] with labels, split (and ignore) from INPUT, a train-probe output.\n"
	"Writes the over-thinking table (among samples wrong at the last layer, the share\n"
	"first right at each layer; the paper's share of all samples; the ideal accuracy),\n"
	"every score of every layer, and searches the exit rule of the paper's appendix H:\n"
	"at layer l, with N = #labels with p > 0.5 and n = #labels with p > q, exit when\n"
	"N >= 1 and n/N >= gamma. q runs over 0.5, 0.5+step, ... below 1, then 0.99, 0.999,\n"
	"0.9999 (compared in double: no float32 saturation decides); gamma over 0.5 ... 1.\n"
	"Candidates, all scored on the tune and eval splits: the head alone (no exit), the\n"
	"cascade (each sample exits at the first layer whose rule holds, else at the head)\n"
	"and the paper's one selected layer (exit there when the rule holds, else at the\n"
	"head; every layer searched, or --layer L). The best on the tune split wins (the\n"
	"objective, then the lower cost), if it beats the head alone; ties go to the head.\n"
	"Cost: metadata layer_flops (cumulative FLOPs to each tap, then the whole network)\n"
	"plus each probe evaluated (K*D multiply-adds from probe.NN.weight), over the\n"
	"network's FLOPs. The gain over the head on the eval split gets a paired bootstrap\n"
	"95% interval (--bootstrap resamples, --seed). Output tensors: exit_layer [N] I32,\n"
	"metrics [L+1,3,9] F64, overthinking, overthinking_right, overthinking_all,\n"
	"exit_share [L], exit_rules [R,7], exit_frontier and exit_frontier_test [P,4],\n"
	"exit_frontier_layer [P], exit_variants [4,12] (docs/early-exit.md), and the context.";

typedef struct {
	int layer;                 /* -1: not fixed */
	int cascade;               /* only the cascade */
	const char *tune, *eval;   /* "val", "test" */
	const char *objective;     /* "accuracy" */
	const char *metrics_path, *report_path, *frontier_path;   /* NULL: not written */
	double step;               /* 0.05 */
	double q, gamma;           /* -1: searched */
	int bootstrap;             /* 1000 */
	int seed;                  /* 1 */
} options;

static void options_default(options *o)
{
	*o = (options){ .layer = -1, .tune = "val", .eval = "test", .objective = "accuracy",
			.step = 0.05, .q = -1, .gamma = -1, .bootstrap = 1000, .seed = 1 };
}

/* ---- over-thinking ---- */

static exit_overthinking overthinking_of(const exit_ctx *c)
{
	const study *s = c->s;
	int64_t n = c->n[EXIT_EVAL];
	exit_overthinking o = { n, 0, cli_calloc(s->L, sizeof(int64_t)), cli_calloc(s->L, sizeof(int64_t)) };
	for (int64_t j = 0; j < n; j++) {
		int64_t i = c->rows[EXIT_EVAL][j];
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

/* ---- scores ---- */

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

/* all nine scores of exits ex on rows */
static void exit_scores(const study *s, const int32_t *ex, const int64_t *rows, int64_t n,
			double out[MT_NSCORES])
{
	float *p = cli_malloc(cli_mul((size_t)s->N, (size_t)s->K * sizeof *p, "exit scores"));
	for (int64_t i = 0; i < s->N; i++)
		memcpy(p + i * s->K, s->prob + ((int64_t)ex[i] * s->N + i) * s->K, s->K * sizeof *p);
	mt_layer m = { p, s->labels, s->ignore, s->K };
	if (metrics_compute(&m, rows, n, METRICS_THRESHOLD, out))
		cli_die("scores: out of memory");
	free(p);
}

/* ---- the search and its comparisons ---- */

static int is_cascade(const exit_rule *r, int L) { (void)L; return r->layer == EXIT_CASCADE; }
static int is_one_layer(const exit_rule *r, int L) { return r->layer >= 0 && r->layer < L - 1; }

static void search(const options *o, const exit_ctx *c, exit_result *x)
{
	const study *s = c->s;
	int from = o->layer >= 0 ? o->layer : 0, to = o->cascade ? -1 : o->layer >= 0 ? o->layer : s->L - 2;
	exit_grid_make(&x->grid, o->step, o->q, o->gamma);
	x->rules = exit_search(c, &x->grid, o->layer < 0, from, to, &x->nrules);
	x->pick[PICK_HEAD] = 0;
	/* a rule is chosen only when it beats the head alone; a tie goes to the head
	 * (what a rule saves at equal accuracy is the front's and the budgets' story) */
	x->pick[PICK_CHOSEN] = exit_best(x->rules, x->nrules, NULL, s->L);
	if (!(x->rules[x->pick[PICK_CHOSEN]].objective > x->rules[0].objective + 1e-12))
		x->pick[PICK_CHOSEN] = 0;
	x->pick[PICK_CASCADE] = exit_best(x->rules, x->nrules, is_cascade, s->L);
	x->pick[PICK_LAYER] = exit_best(x->rules, x->nrules, is_one_layer, s->L);
	int32_t *ex = cli_malloc(cli_mul((size_t)s->N + 1, sizeof *ex, "exit_layer"));
	for (int k = 0; k < PICK_N; k++) {
		if (x->pick[k] < 0)
			continue;
		exit_apply(c, &x->rules[x->pick[k]], ex);
		x->boot[k] = exit_bootstrap(c, ex, x->bootstrap, x->seed);
	}
	free(ex);
	x->ex = cli_malloc(cli_mul((size_t)s->N + 1, sizeof *x->ex, "exit_layer"));
	exit_apply(c, &x->rules[x->pick[PICK_CHOSEN]], x->ex);
	x->front = exit_pareto(x->rules, x->nrules, &x->nfront);
	exit_oracle(c, &x->oracle_cost, &x->oracle_acc);
}

/* ---- outputs ---- */

static void write_metrics_tsv(const char *path, const study *s, double (*met)[3][MT_NSCORES],
			      const int64_t nsplit[3])
{
	cli_out *out = cli_out_open_text(path);
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

/* every rule searched: the layer column is "cascade", the one exit layer, or
 * L-1 for the head alone (q and gamma nan) */
static void write_frontier_tsv(const char *path, const exit_result *x, int L)
{
	cli_out *out = cli_out_open_text(path);
	FILE *fp = cli_out_fp(out);
	fprintf(fp, "q\tgamma\tlayer\tcost\taccuracy_tune\taccuracy_eval\n");
	for (int i = 0; i < x->nrules; i++) {
		const exit_rule *r = &x->rules[i];
		if (r->layer == L - 1)
			fprintf(fp, "nan\tnan\t%d", r->layer);
		else if (r->layer < 0)
			fprintf(fp, "%.10g\t%.10g\tcascade", r->q, r->gamma);
		else
			fprintf(fp, "%.10g\t%.10g\t%d", r->q, r->gamma, r->layer);
		fprintf(fp, "\t%.6f\t%.6f\t%.6f\n", r->cost[EXIT_TUNE], r->acc[EXIT_TUNE], r->acc[EXIT_EVAL]);
	}
	cli_out_close(out);
}

static void set_number(st_file *f, const char *key, double x)
{
	char v[64];
	snprintf(v, sizeof v, "%.6g", x);
	st_meta_set(f, key, v);
}

static double *vec(int n) { return cli_calloc((size_t)n, sizeof(double)); }

/* overthinking, overthinking_right (shares of the last layer's errors),
 * overthinking_all (of all eval rows, the paper's tables) */
static void put_overthinking(st_file *out, const study *s, const exit_overthinking *ot)
{
	double *first = vec(s->L), *right = vec(s->L), *all = vec(s->L);
	for (int l = 0; l < s->L - 1; l++) {
		first[l] = share(ot->first_right[l], ot->wrong_last);
		right[l] = share(ot->right[l], ot->wrong_last);
		all[l] = share(ot->first_right[l], ot->n);
	}
	int64_t lshape[1] = { s->L };
	st_put(out, "overthinking", ST_F64, 1, lshape, first);
	st_put(out, "overthinking_right", ST_F64, 1, lshape, right);
	st_put(out, "overthinking_all", ST_F64, 1, lshape, all);
}

/* exit_rules [R,7], exit_frontier(_test) [P,4], exit_frontier_layer [P],
 * exit_variants [4,12] */
static void put_rules(st_file *out, const exit_result *x)
{
	double *all = vec(7 * x->nrules + 1);
	for (int i = 0; i < x->nrules; i++) {
		const exit_rule *r = &x->rules[i];
		double row[7] = { r->q, r->gamma, r->layer, r->cost[0], r->acc[0], r->cost[1], r->acc[1] };
		memcpy(all + 7 * i, row, sizeof row);
	}
	int64_t rshape[2] = { x->nrules, 7 };
	st_put(out, "exit_rules", ST_F64, 2, rshape, all);
	double *tune = vec(4 * x->nfront + 1), *eval = vec(4 * x->nfront + 1);
	int32_t *layer = cli_calloc((size_t)x->nfront + 1, sizeof *layer);
	for (int k = 0; k < x->nfront; k++) {
		const exit_rule *r = &x->rules[x->front[k]];
		double t[4] = { r->q, r->gamma, r->cost[0], r->acc[0] }, e[4] = { r->q, r->gamma, r->cost[1], r->acc[1] };
		memcpy(tune + 4 * k, t, sizeof t);
		memcpy(eval + 4 * k, e, sizeof e);
		layer[k] = r->layer;
	}
	int64_t fshape[2] = { x->nfront, 4 }, lshape[1] = { x->nfront };
	st_put(out, "exit_frontier", ST_F64, 2, fshape, tune);
	st_put(out, "exit_frontier_test", ST_F64, 2, fshape, eval);
	st_put(out, "exit_frontier_layer", ST_I32, 1, lshape, layer);
	double *v = vec(PICK_N * 12);
	for (int k = 0; k < PICK_N; k++) {
		double *row = v + 12 * k;
		for (int m = 0; m < 12; m++)
			row[m] = NAN;
		if (x->pick[k] < 0)
			continue;
		const exit_rule *r = &x->rules[x->pick[k]];
		const exit_boot *b = &x->boot[k];
		double val[12] = { r->q, r->gamma, r->layer, r->cost[0], r->acc[0], r->cost[1], r->acc[1],
				   b->diff, b->lo, b->hi, (double)b->rescued, (double)b->broken };
		memcpy(row, val, sizeof val);
	}
	int64_t vshape[2] = { PICK_N, 12 };
	st_put(out, "exit_variants", ST_F64, 2, vshape, v);
}

static void write_output(const exit_ctx *c, const exit_result *x)
{
	const study *s = c->s;
	st_file *out = st_file_new();
	cli_forward_context(out, s->f);
	int64_t shp[1] = { s->N }, mshape[3] = { s->L + 1, 3, MT_NSCORES }, lshape[1] = { s->L };
	st_put(out, "exit_layer", ST_I32, 1, shp, x->ex);
	st_put(out, "metrics", ST_F64, 3, mshape, x->met);
	put_overthinking(out, s, &x->ot);
	st_put(out, "exit_share", ST_F64, 1, lshape, x->exit_share);
	put_rules(out, x);
	const exit_rule *r = &x->rules[x->pick[PICK_CHOSEN]], *head = &x->rules[0];
	st_meta_set(out, "exit_mode", r->layer == s->L - 1 ? "none" : r->layer < 0 ? "cascade" : "layer");
	set_number(out, "exit_at", r->layer);
	set_number(out, "exit_q", r->q);
	set_number(out, "exit_gamma", r->gamma);
	set_number(out, c->have_flops ? "exit_relative_cost" : "exit_mean_depth", r->cost[EXIT_EVAL]);
	const char *edge = exit_grid_edge(&x->grid, r, s->L);
	st_meta_set(out, "exit_grid_edge", edge ? edge : "");
	set_number(out, "exit_margin_tune", r->objective - head->objective);
	set_number(out, "ideal_accuracy", x->oracle_acc);
	set_number(out, "oracle_relative_cost", x->oracle_cost);
	set_number(out, "exit_bootstrap", x->bootstrap);
	set_number(out, "exit_seed", (double)x->seed);
	st_meta_set(out, "exit_tune_split", x->tune);
	st_meta_set(out, "exit_eval_split", x->eval);
	st_meta_set_list(out, "metrics_columns", (char *const *)metrics_names, MT_NSCORES);
	cli_write(out, cli_opts.output);
	st_file_free(out);
}

/* ---- main ---- */

static void check_options(const options *o)
{
	if (o->layer >= 0 && o->cascade)
		cli_usage("--layer and --cascade exclude each other");
	if (!(o->step >= EXIT_STEP_MIN && o->step <= 0.5))
		cli_usage("--grid-step %g: expected %g to 0.5 (the grid has at most %d values per axis, "
			  "so that the search ends within seconds)", o->step, EXIT_STEP_MIN, EXIT_GRID_MAX);
	if (o->q >= 0 && !(o->q >= 0.5 && o->q <= EXIT_Q_MAX))
		cli_usage("--q %g: expected 0.5 to %g (closer to 1, float32 rounding decides p > q)", o->q, EXIT_Q_MAX);
	if (o->gamma >= 0 && !(o->gamma > 0 && o->gamma <= 1))
		cli_usage("--gamma %g: expected a value in (0, 1]", o->gamma);
	if (o->bootstrap < 0 || o->bootstrap > 100000)
		cli_usage("--bootstrap %d: expected 0 (none) to 100000 resamples", o->bootstrap);
}

static int objective_id(const char *name)
{
	for (int m = 0; m < MT_NSCORES; m++)
		if (!strcmp(name, metrics_names[m]))
			return m;
	cli_usage("--objective '%s': expected one of accuracy, CP, CR, CF1, macroF1, OP, OR, OF1, mAP", name);
}

static double *exit_shares(const study *s, const int32_t *ex, const int64_t *rows, int64_t n)
{
	double *share = vec(s->L);
	for (int64_t j = 0; j < n; j++)
		share[ex[rows[j]]] += 1.0 / n;
	return share;
}

int main(int argc, char **argv)
{
	options o;
	options_default(&o);
	cli_opt opts[] = {
		{ "layer", 0, CLI_INT, &o.layer, "L", "search only the one-layer rule at L (-1: every layer, and the cascade)" },
		{ "cascade", 0, CLI_FLAG, &o.cascade, NULL, "search only the cascade over every layer" },
		{ "tune-split", 0, CLI_STR, &o.tune, "SPLIT", "split that chooses the rule" },
		{ "eval-split", 0, CLI_STR, &o.eval, "SPLIT", "split that scores the rules and the tables" },
		{ "objective", 0, CLI_STR, &o.objective, "NAME", "score maximised on the tune split" },
		{ "grid-step", 0, CLI_DOUBLE, &o.step, "X", "grid spacing of q and gamma from 0.5 (0.005 to 0.5)" },
		{ "q", 0, CLI_DOUBLE, &o.q, "X", "fix q instead of searching it (negative: search)" },
		{ "gamma", 0, CLI_DOUBLE, &o.gamma, "X", "fix gamma instead of searching it (negative: search)" },
		{ "bootstrap", 0, CLI_INT, &o.bootstrap, "B", "resamples of the eval rows for the 95% interval (0: none)" },
		{ "seed", 0, CLI_INT, &o.seed, "S", "seed of the bootstrap's SplitMix64" },
		{ "metrics", 0, CLI_STR, &o.metrics_path, "FILE", "every score as TSV (contract header)" },
		{ "frontier", 0, CLI_STR, &o.frontier_path, "FILE", "every rule searched as TSV: q gamma layer cost accuracy_tune accuracy_eval" },
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
	exit_ctx c = { .objective = objective_id(o.objective) };
	check_options(&o);
	/* the side files too are checked before the work is spent */
	if (o.metrics_path) cli_out_check(o.metrics_path, 0);
	if (o.report_path) cli_out_check(o.report_path, 0);
	study s;
	study_load_lean(&s, arg < argc ? argv[arg] : "-", 1);
	if (o.layer >= s.L - 1 || o.layer < -1)
		cli_usage("--layer %d: expected a layer before the head, 0..%d", o.layer, s.L - 2);
	c.s = &s;
	exit_costs(&c);
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
	c.rows[EXIT_TUNE] = rows[tune], c.n[EXIT_TUNE] = nrows[tune];
	c.rows[EXIT_EVAL] = rows[eval], c.n[EXIT_EVAL] = nrows[eval];

	exit_result x = { .bootstrap = o.bootstrap, .seed = (uint64_t)o.seed, .tune = o.tune, .eval = o.eval };
	x.met = layer_scores(&s, rows, nrows);
	x.ot = overthinking_of(&c);
	search(&o, &c, &x);
	for (int sp = 0; sp < 3; sp++)
		exit_scores(&s, x.ex, rows[sp], nrows[sp], x.met[s.L][sp]);
	x.exit_share = exit_shares(&s, x.ex, rows[eval], nrows[eval]);
	const exit_rule *r = &x.rules[x.pick[PICK_CHOSEN]];
	char name[96];
	cli_info("%d rules on %s; chosen: %s q %.4g gamma %.4g (%s %s %.4f, head %.4f): %s accuracy %.4f "
		 "(head %.4f, %+.4f [%.4f, %.4f]), %s %.3f",
		 x.nrules, o.tune, exit_rule_name(&s, r, name, sizeof name), r->q, r->gamma, o.tune, o.objective,
		 r->objective, x.rules[0].objective, o.eval, r->acc[EXIT_EVAL], x.rules[0].acc[EXIT_EVAL],
		 x.boot[PICK_CHOSEN].diff, x.boot[PICK_CHOSEN].lo, x.boot[PICK_CHOSEN].hi,
		 c.have_flops ? "relative cost" : "mean depth", r->cost[EXIT_EVAL]);

	if (o.metrics_path)
		write_metrics_tsv(o.metrics_path, &s, x.met, nrows);
	if (o.frontier_path)
		write_frontier_tsv(o.frontier_path, &x, s.L);
	if (o.report_path)
		exit_write_report(o.report_path, &c, &x);
	write_output(&c, &x);

	for (int sp = 0; sp < 3; sp++)
		free(rows[sp]);
	free(x.ot.first_right);
	free(x.ot.right);
	free(x.rules);
	free(x.front);   /* x.ex, x.met, x.exit_share went to the output file */
	free(c.correct);
	free(c.backbone);
	free(c.probe);
	study_free(&s);
	return 0;
}
