/* rules.c: the categories (the paper's rule and the quantile rule), the
 * prediction depth, destructive over-thinking, the rises of each profile and
 * the mean distance per layer (classes.h). */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"
#include "classes.h"
#include "metrics.h"

int classes_has_profile(const classes *c, int64_t i) { return !isnan(c->area[i]); }

static int32_t *i32s(int64_t n) { return cli_calloc((size_t)n + 1, sizeof(int32_t)); }

/* A, F and the rises of every row's profile */
static void profiles(classes *c, double tol)
{
	int L = c->s.L;
	int64_t N = c->s.N;
	c->area = cli_calloc((size_t)N + 1, sizeof *c->area);
	c->final = cli_calloc((size_t)N + 1, sizeof *c->final);
	c->rises = i32s(N);
	for (int64_t i = 0; i < N; i++) {
		double sum = 0;
		for (int l = 0; l < L; l++) {
			float w = c->w[(int64_t)l * N + i];
			sum += w;
			if (l && w > c->w[(int64_t)(l - 1) * N + i] + tol)
				c->rises[i]++;
		}
		c->area[i] = sum / L;
		c->final[i] = c->w[(int64_t)(L - 1) * N + i];
	}
}

/* mean distance per split and layer, NaN skipped */
static void layer_means(classes *c)
{
	int L = c->s.L;
	c->layer_mean = cli_calloc(3 * (size_t)L, sizeof *c->layer_mean);
	for (int sp = 0; sp < 3; sp++) {
		int64_t n, *rows = study_rows(&c->s, sp, &n);
		for (int l = 0; l < L; l++) {
			double sum = 0;
			int64_t m = 0;
			for (int64_t j = 0; j < n; j++) {
				float w = c->w[(int64_t)l * c->s.N + rows[j]];
				if (!isnan(w))
					sum += w, m++;
			}
			c->layer_mean[sp * L + l] = m ? sum / m : NAN;
		}
		c->split_rows[sp] = n;
		free(rows);
	}
}

static void depths(classes *c)
{
	const study *s = &c->s;
	c->depth = i32s(s->N);
	c->destructive = cli_calloc((size_t)s->N + 1, 1);
	mt_layer last = study_layer(s, s->L - 1);
	for (int64_t i = 0; i < s->N; i++) {
		c->depth[i] = metrics_prediction_depth(s->prob, s->L, s->N, s->K, i, METRICS_THRESHOLD);
		if (metrics_row_correct(&last, i, METRICS_THRESHOLD))
			continue;
		for (int l = 0; l < s->L - 1 && !c->destructive[i]; l++) {
			mt_layer m = study_layer(s, l);
			c->destructive[i] = (uint8_t)metrics_row_correct(&m, i, METRICS_THRESHOLD);
		}
	}
}

/* ---- the paper's rule (section 6.1.3) ---- */

/* close at layer l: right (subset accuracy), or W <= near when near >= 0 */
static int is_close(const classes *c, const options *o, int l, int64_t i)
{
	if (o->near >= 0)
		return c->w[(int64_t)l * c->s.N + i] <= o->near;
	mt_layer m = study_layer(&c->s, l);
	return metrics_row_correct(&m, i, METRICS_THRESHOLD);
}

static void paper_rule(classes *c, const options *o)
{
	int L = c->s.L;
	c->early = o->early >= 0 ? o->early : (int)lround((L - 1) / 3.0);
	c->late = o->late >= 0 ? o->late : (int)lround(3 * (L - 1) / 4.0);
	c->first = i32s(c->s.N);
	c->stay = i32s(c->s.N);
	uint8_t *close = cli_malloc((size_t)L);
	for (int64_t i = 0; i < c->s.N; i++) {
		if (!classes_has_profile(c, i))
			continue;
		for (int l = 0; l < L; l++)
			close[l] = (uint8_t)is_close(c, o, l, i);
		int first = 0, stay = L;
		while (first < L && !close[first])
			first++;
		if (close[L - 1])
			for (stay = L - 1; stay > 0 && close[stay - 1]; stay--)
				;
		c->first[i] = first, c->stay[i] = stay;
		if (!close[L - 1] && first < L - 1)
			c->cat[i] = CAT_CONFUSED;   /* right earlier, wrong at the last layer */
		else if (first >= c->late)
			c->cat[i] = CAT_HARD;       /* resolved only late, or never */
		else if (stay <= c->early)
			c->cat[i] = CAT_EASY;       /* right from an early layer to the end */
	}
	free(close);
}

/* ---- the quantile rule ---- */

/* the quantile of v over the --split rows with a profile, confused rows left out when skip */
static double quantile_of(const classes *c, const double *v, double q, int skip_confused)
{
	double *tmp = cli_malloc(cli_mul((size_t)c->nrows + 1, sizeof *tmp, "quantile"));
	int64_t n = 0;
	for (int64_t j = 0; j < c->nrows; j++) {
		int64_t i = c->rows[j];
		if (!isnan(v[i]) && !(skip_confused && c->cat[i] == CAT_CONFUSED))
			tmp[n++] = v[i];
	}
	double t = study_quantile(tmp, n, q);
	free(tmp);
	return t;
}

static void quantile_rule(classes *c, const options *o)
{
	int64_t N = c->s.N;
	c->t[CAT_CONFUSED] = o->t_confused >= 0 ? o->t_confused : quantile_of(c, c->final, o->q_confused, 0);
	for (int64_t i = 0; i < N; i++)
		if (c->final[i] >= c->t[CAT_CONFUSED])
			c->cat[i] = CAT_CONFUSED;
	c->t[CAT_EASY] = o->t_easy >= 0 ? o->t_easy : quantile_of(c, c->area, o->q_easy, 1);
	c->t[CAT_HARD] = o->t_hard >= 0 ? o->t_hard : quantile_of(c, c->area, o->q_hard, 1);
	for (int64_t i = 0; i < N; i++) {
		if (c->cat[i] == CAT_CONFUSED || isnan(c->area[i]))
			continue;
		if (c->area[i] <= c->t[CAT_EASY])
			c->cat[i] = CAT_EASY;
		else if (c->area[i] >= c->t[CAT_HARD])
			c->cat[i] = CAT_HARD;
	}
}

void classify_all(classes *c, const options *o)
{
	profiles(c, o->rise_tol);
	int64_t nan_rows = 0;
	for (int64_t i = 0; i < c->s.N; i++)
		nan_rows += isnan(c->area[i]);
	if (nan_rows)
		cli_warn("%s: %lld samples have NaN distances (no label?): left regular and out of the thresholds",
			 c->s.fname, (long long)nan_rows);
	c->cat = cli_calloc((size_t)c->s.N + 1, 1);
	if (c->rule == RULE_PAPER)
		paper_rule(c, o);
	else
		quantile_rule(c, o);
	depths(c);
	layer_means(c);
}

/* ---- profiles and examples ---- */

double *category_profile(const classes *c, int64_t count[CAT_N])
{
	int L = c->s.L;
	double *prof = cli_calloc((size_t)CAT_N * L, sizeof *prof);
	memset(count, 0, CAT_N * sizeof *count);
	for (int64_t j = 0; j < c->nrows; j++) {
		int64_t i = c->rows[j];
		if (!classes_has_profile(c, i))
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

/* the largest fall back: F minus the smallest distance before the last layer */
static double fall_back(const classes *c, int64_t i)
{
	double lo = INFINITY;
	for (int l = 0; l + 1 < c->s.L; l++)
		lo = fmin(lo, c->w[(int64_t)l * c->s.N + i]);
	return c->final[i] - lo;
}

/* how typical row i is of its category: lower first */
static double atypical(const classes *c, int64_t i, double median_area)
{
	switch (c->cat[i]) {
	case CAT_EASY: return c->area[i];
	case CAT_HARD: return -c->area[i];
	case CAT_CONFUSED: return c->rule == RULE_PAPER ? -fall_back(c, i) : -c->final[i];
	default: return fabs(c->area[i] - median_area);
	}
}

static const double *sort_key;
static int by_key(const void *a, const void *b)
{
	int64_t i = *(const int64_t *)a, j = *(const int64_t *)b;
	double x = sort_key[i], y = sort_key[j];
	if (x != y)
		return (x > y) - (x < y);
	return (i > j) - (i < j);
}

int64_t *category_examples(const classes *c, int E)
{
	int64_t N = c->s.N;
	int64_t *ex = cli_malloc(cli_mul((size_t)CAT_N * (size_t)E + 1, sizeof *ex, "examples"));
	for (int64_t j = 0; j < (int64_t)CAT_N * E; j++)
		ex[j] = -1;
	double *key = cli_malloc(cli_mul((size_t)N + 1, sizeof *key, "examples"));
	int64_t *order = cli_malloc(cli_mul((size_t)c->nrows + 1, sizeof *order, "examples"));
	double median = quantile_of(c, c->area, 0.5, 0);
	for (int64_t i = 0; i < N; i++)
		key[i] = isnan(c->area[i]) ? INFINITY : atypical(c, i, median);
	memcpy(order, c->rows, c->nrows * sizeof *order);
	sort_key = key;
	qsort(order, c->nrows, sizeof *order, by_key);
	int got[CAT_N] = { 0 };
	for (int64_t j = 0; j < c->nrows; j++) {
		int64_t i = order[j];
		int k = c->cat[i];
		if (got[k] < E && classes_has_profile(c, i))
			ex[k * E + got[k]++] = i;
	}
	free(key);
	free(order);
	return ex;
}
