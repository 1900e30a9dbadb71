/* summary.c: classify-samples' Markdown summary (--summary): the rule, the
 * counts, how the categories relate to prediction depth and destructive
 * over-thinking, the layer quality, the paths, the profiles, the examples. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include "cli.h"
#include "classes.h"

static double pct(double a, double b) { return b > 0 ? 100 * a / b : NAN; }

/* a table cell: v in fmt with suffix, or "-" when v is NaN (an empty category) */
static const char *cell(char buf[32], const char *fmt, double v, const char *suffix)
{
	if (isnan(v))
		return "-";
	int n = snprintf(buf, 32, fmt, v);
	snprintf(buf + n, 32 - (size_t)n, "%s", suffix);
	return buf;
}

static void rule_text(FILE *fp, const options *o, const classes *c)
{
	const study *s = &c->s;
	char b1[32], b2[32];
	if (c->rule == RULE_QUANTILE) {
		char b3[32];
		fprintf(fp, "Rule: quantiles (--rule quantile). Thresholds: easy A <= %s, hard A >= %s, confused "
			"F >= %s (A: mean distance over layers, F: distance at the last layer; -: no rows to set it).\n\n",
			cell(b1, "%.4g", c->t[CAT_EASY], ""), cell(b2, "%.4g", c->t[CAT_HARD], ""),
			cell(b3, "%.4g", c->t[CAT_CONFUSED], ""));
		return;
	}
	if (o->near >= 0)
		fprintf(fp, "Rule: the paper's (section 6.1.3). A sample is *close* at a layer when its %s there is "
			"at most %.4g, *far* otherwise.", o->distance, o->near);
	else
		fprintf(fp, "Rule: the paper's (section 6.1.3). A sample is *right* at a layer when the label set "
			"the layer predicts (p >= 0.5) is its label set (subset accuracy), *wrong* otherwise.");
	const char *r = o->near >= 0 ? "close" : "right", *wr = o->near >= 0 ? "far" : "wrong";
	fprintf(fp, " Early layers: 0 to %d (%s); late layers: %d (%s) to the head.\n\n"
		"- confused: %s at some layer before the last, %s at the last;\n"
		"- hard: not confused; first %s at a late layer, or never;\n"
		"- easy: not hard; %s from an early layer through the last;\n- regular: the rest.\n\n",
		c->early, study_layer_name(s, c->early < s->L ? c->early : s->L - 1, b1), c->late,
		study_layer_name(s, c->late < s->L ? c->late : s->L - 1, b2), r, wr, r, r);
}

/* per category: count, share, depth, destructive, first, A, F */
static void counts_table(FILE *fp, const options *o, const classes *c, const double *prof,
			 const int64_t count[CAT_N])
{
	const study *s = &c->s;
	int64_t total = 0;
	for (int k = 0; k < CAT_N; k++)
		total += count[k];
	fprintf(fp, "| category | samples | share | mean depth | destructive | mean first %s layer | mean A | mean F |\n"
		"| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n", o->near >= 0 ? "close" : "right");
	for (int k = 0; k < CAT_N; k++) {
		double dsum = 0, destr = 0, asum = 0, fsum = 0;
		for (int64_t j = 0; j < c->nrows; j++) {
			int64_t i = c->rows[j];
			if (c->cat[i] != k || !classes_has_profile(c, i))
				continue;
			dsum += c->depth[i], destr += c->destructive[i], asum += c->area[i];
			fsum += c->first ? c->first[i] : NAN;   /* the quantile rule has none: nan */
		}
		double n = count[k] ? (double)count[k] : NAN;
		char b[6][32];
		fprintf(fp, "| %s | %lld | %s | %s | %s | %s | %s | %s |\n", category_names[k], (long long)count[k],
			cell(b[0], "%.1f", pct(count[k], total), "%"), cell(b[1], "%.2f", dsum / n, ""),
			cell(b[2], "%.1f", 100 * destr / n, "%"), cell(b[3], "%.2f", fsum / n, ""),
			cell(b[4], "%.4f", asum / n, ""), cell(b[5], "%.4f", prof[k * s->L + s->L - 1], ""));
	}
	fprintf(fp, "\nA: mean distance over the layers; F: distance at the last layer. Prediction depth: "
		"the first layer from which every later layer predicts the last layer's label set. "
		"Destructive (SDN's over-thinking): right at an earlier layer, wrong at the last. "
		"First right (or close): %d when never.\n\n", s->L);
}

static void depth_table(FILE *fp, const options *o, const classes *c, const int64_t count[CAT_N])
{
	const study *s = &c->s;
	int early = c->rule == RULE_PAPER ? c->early : (int)lround((s->L - 1) / 3.0);
	int late = c->rule == RULE_PAPER ? c->late : (int)lround(3 * (s->L - 1) / 4.0);
	int64_t in[CAT_N][3] = { { 0 } }, destr = 0, both = 0;
	for (int64_t j = 0; j < c->nrows; j++) {
		int64_t i = c->rows[j];
		if (!classes_has_profile(c, i))
			continue;
		in[c->cat[i]][c->depth[i] <= early ? 0 : c->depth[i] >= late ? 2 : 1]++;
		destr += c->destructive[i];
		both += c->destructive[i] && c->cat[i] == CAT_CONFUSED;
	}
	fprintf(fp, "## Categories, prediction depth and destructive over-thinking\n\n"
		"Where each category's prediction settles (its depth: early = layers 0-%d, late = %d to the head):\n\n"
		"| category | depth early | depth middle | depth late |\n| --- | ---: | ---: | ---: |\n", early, late);
	for (int k = 0; k < CAT_N; k++) {
		char b[3][32];
		fprintf(fp, "| %s | %s | %s | %s |\n", category_names[k], cell(b[0], "%.1f", pct(in[k][0], count[k]), "%"),
			cell(b[1], "%.1f", pct(in[k][1], count[k]), "%"), cell(b[2], "%.1f", pct(in[k][2], count[k]), "%"));
	}
	char b[3][32];
	fprintf(fp, "\n%lld of the %s rows (%s) show destructive over-thinking (right at an earlier layer, "
		"wrong at the last). ", (long long)destr, o->split, cell(b[0], "%.1f", pct(destr, c->nrows), "%"));
	if (c->rule == RULE_PAPER && o->near < 0)
		fprintf(fp, "With right = subset accuracy these are exactly the confused rows: the paper's confused "
			"sample and SDN's destructive over-thinking are one definition.\n\n");
	else
		fprintf(fp, "%lld of them (%s) are confused, which is %s of the %lld confused rows.\n\n",
			(long long)both, cell(b[1], "%.1f", pct(both, destr), "%"),
			cell(b[2], "%.1f", pct(both, count[CAT_CONFUSED]), "%"), (long long)count[CAT_CONFUSED]);
}

/* the mean distance per layer on train and test and its drop from the layer before */
static void layer_quality(FILE *fp, const options *o, const classes *c)
{
	const study *s = &c->s;
	const double *tr = c->layer_mean, *te = c->layer_mean + 2 * s->L;
	char buf[32];
	fprintf(fp, "## Layer quality (paper section 6.1.2)\n\nThe mean %s per layer and its drop from the "
		"layer before (positive: the layer brings the predictions closer to the target), on the train "
		"rows (%lld) and the test rows (%lld):\n\n"
		"| layer | name | train | drop | test | drop |\n| ---: | --- | ---: | ---: | ---: | ---: |\n",
		o->distance, (long long)c->split_rows[0], (long long)c->split_rows[2]);
	for (int l = 0; l < s->L; l++) {
		char b[4][32];
		fprintf(fp, "| %d | %s | %s | %s | %s | %s |\n", l, study_layer_name(s, l, buf), cell(b[0], "%.4f", tr[l], ""),
			l ? cell(b[1], "%+.4f", tr[l - 1] - tr[l], "") : "", cell(b[2], "%.4f", te[l], ""),
			l ? cell(b[3], "%+.4f", te[l - 1] - te[l], "") : "");
	}
	fputc('\n', fp);
}

static void paths(FILE *fp, const options *o, const classes *c)
{
	int64_t n = 0, rising = 0, rises = 0;
	for (int64_t j = 0; j < c->nrows; j++) {
		int64_t i = c->rows[j];
		if (!classes_has_profile(c, i))
			continue;
		n++;
		rising += c->rises[i] > 0;
		rises += c->rises[i];
	}
	char b[3][32];
	fprintf(fp, "## Paths\n\n%lld of the %lld %s rows (%s) have a %s profile that rises from one layer to "
		"the next by more than %g at least once; %s rises per row on average (%s among those that rise).\n\n",
		(long long)rising, (long long)n, o->split, cell(b[0], "%.1f", pct(rising, n), "%"), o->distance, o->rise_tol,
		cell(b[1], "%.2f", n ? (double)rises / n : NAN, ""), cell(b[2], "%.2f", rising ? (double)rises / rising : NAN, ""));
}

static void profile_table(FILE *fp, const options *o, const classes *c, const double *prof)
{
	const study *s = &c->s;
	char buf[32], bc[32];
	fprintf(fp, "## Mean %s per layer\n\n| layer | name |", o->distance);
	for (int k = 0; k < CAT_N; k++)
		fprintf(fp, " %s |", category_names[k]);
	fprintf(fp, "\n| ---: | --- |%s\n", " ---: | ---: | ---: | ---: |");
	for (int l = 0; l < s->L; l++) {
		fprintf(fp, "| %d | %s |", l, study_layer_name(s, l, buf));
		for (int k = 0; k < CAT_N; k++)
			fprintf(fp, " %s |", cell(bc, "%.4f", prof[k * s->L + l], ""));
		fputc('\n', fp);
	}
}

static void examples_list(FILE *fp, const options *o, const classes *c, const int64_t *ex)
{
	const study *s = &c->s;
	int nids = 0;
	char **ids = st_meta_get_list(s->f, "ids", &nids);
	int with_ids = ids && nids == s->N;
	fprintf(fp, "\n## Examples (row numbers%s, most typical first)\n\n", with_ids ? ": id" : "");
	for (int k = 0; k < CAT_N; k++) {
		fprintf(fp, "- %s:", category_names[k]);
		for (int e = 0; e < o->examples && ex[k * o->examples + e] >= 0; e++) {
			int64_t i = ex[k * o->examples + e];
			if (with_ids)
				fprintf(fp, " %lld: %s", (long long)i, ids[i]);
			else
				fprintf(fp, " %lld", (long long)i);
			fputc(e + 1 < o->examples && ex[k * o->examples + e + 1] >= 0 ? ',' : ' ', fp);
		}
		fputc('\n', fp);
	}
	if (ids)
		st_list_free(ids, nids);
}

void write_summary(const options *o, const classes *c, const double *prof, const int64_t count[CAT_N],
		   const int64_t *ex)
{
	cli_out *out = cli_out_open_text(o->summary);
	FILE *fp = cli_out_fp(out);
	fprintf(fp, "# Sample categories: %s (%s rows, distance %s)\n\n", c->s.fname, o->split, o->distance);
	rule_text(fp, o, c);
	counts_table(fp, o, c, prof, count);
	depth_table(fp, o, c, count);
	layer_quality(fp, o, c);
	paths(fp, o, c);
	profile_table(fp, o, c, prof);
	examples_list(fp, o, c, ex);
	cli_out_close(out);
}
