/* rules.c: the grid, the costs, and every rule scored on the tune and eval
 * splits (exit.h). The search counts, per q, the labels above q once per
 * layer and row and then tries every gamma on the counts; exit_apply is the
 * plain reference through metrics_exit_rule. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"
#include "exit.h"

/* grid values rounded to 1e-10, so 0.5 + 3*0.05 is 0.65 exactly as typed */
static double grid_value(double x) { return round(x * 1e10) / 1e10; }

void exit_grid_make(exit_grid *g, double step, double q, double gamma)
{
	static const double tail[] = { 0.99, 0.999, 0.9999 };
	memset(g, 0, sizeof *g);
	if (q >= 0) {
		g->q[g->nq++] = q;
		g->q_fixed = 1;
	} else {
		for (int k = 0; k < EXIT_GRID_MAX; k++) {
			double v = grid_value(0.5 + k * step);
			if (v >= 1 - 1e-9)
				break;
			g->q[g->nq++] = v;
		}
		for (int i = 0; i < 3; i++)
			if (tail[i] > g->q[g->nq - 1] + 1e-9)
				g->q[g->nq++] = tail[i];
	}
	if (gamma >= 0) {
		g->gamma[g->ng++] = gamma;
		g->gamma_fixed = 1;
		return;
	}
	for (int k = 0; k < EXIT_GRID_MAX; k++) {
		double v = grid_value(0.5 + k * step);
		if (v > 1 + 1e-9)
			break;
		g->gamma[g->ng++] = v;
	}
}

/* ---- costs ---- */

/* layer_flops: cumulative FLOPs up to each tap, then the whole network (L
 * numbers, or L-1 when prob has no head layer); NULL when absent */
static double *backbone_flops(const study *s, double *total)
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
	*total = cum[s->L - 1];
	if (!(*total > 0))
		cli_die("%s: metadata layer_flops: the total is 0", s->fname);
	return cum;
}

/* K*D multiply-adds of each probe from probe.NN.weight [K,D]; 0 when any is missing */
static int probe_flops(const study *s, double *probe)
{
	for (int l = 0; l < s->L - 1; l++) {
		char name[32];
		snprintf(name, sizeof name, "probe.%02d.weight", l);
		st_tensor *t = st_find(s->f, name);
		if (!t || t->ndim != 2 || t->shape[0] != s->K || t->shape[1] < 1) {
			memset(probe, 0, (size_t)(s->L - 1) * sizeof *probe);
			return 0;
		}
		probe[l] = (double)t->shape[0] * (double)t->shape[1];
	}
	return 1;
}

void exit_costs(exit_ctx *c)
{
	const study *s = c->s;
	double total = 0;
	double *cum = backbone_flops(s, &total);
	c->backbone = cli_calloc((size_t)s->L, sizeof *c->backbone);
	c->probe = cli_calloc((size_t)s->L, sizeof *c->probe);
	c->have_flops = cum != NULL;
	if (!cum) {
		for (int l = 0; l < s->L; l++)
			c->backbone[l] = (l + 1.0) / s->L;
		return;
	}
	for (int l = 0; l < s->L; l++)
		c->backbone[l] = cum[l] / total;
	free(cum);
	c->have_probes = probe_flops(s, c->probe);
	for (int l = 0; l < s->L - 1; l++)
		c->probe[l] /= total;
}

double exit_row_cost(const exit_ctx *c, int layer, int e)
{
	int L = c->s->L;
	if (layer == L - 1)
		return 1;
	if (layer >= 0)
		return c->backbone[e] + c->probe[layer];
	double probes = 0;   /* the cascade ran every probe up to its exit */
	for (int l = 0; l <= e && l < L - 1; l++)
		probes += c->probe[l];
	return c->backbone[e] + probes;
}

/* ---- scoring ---- */

/* accuracy, mean cost and the objective of exits ex[N] (only the rows of the
 * two splits are read) */
static void score(const exit_ctx *c, exit_rule *r, const int32_t *ex, const double *cost_of)
{
	const study *s = c->s;
	for (int sp = 0; sp < 2; sp++) {
		int64_t ok = 0;
		double cost = 0;
		for (int64_t j = 0; j < c->n[sp]; j++) {
			int64_t i = c->rows[sp][j];
			ok += c->correct[(int64_t)ex[i] * s->N + i];
			cost += cost_of[ex[i]];
		}
		r->acc[sp] = (double)ok / c->n[sp];
		r->cost[sp] = cost / c->n[sp];
	}
	r->objective = r->acc[EXIT_TUNE];
	if (c->objective == MT_ACC)
		return;
	float *p = cli_malloc(cli_mul((size_t)s->N, (size_t)s->K * sizeof *p, "exit scores"));
	for (int64_t j = 0; j < c->n[EXIT_TUNE]; j++) {
		int64_t i = c->rows[EXIT_TUNE][j];
		memcpy(p + i * s->K, s->prob + ((int64_t)ex[i] * s->N + i) * s->K, s->K * sizeof *p);
	}
	mt_layer m = { p, s->labels, s->ignore, s->K };
	double sc[MT_NSCORES];
	if (metrics_compute(&m, c->rows[EXIT_TUNE], c->n[EXIT_TUNE], METRICS_THRESHOLD, sc))
		cli_die("scores: out of memory");
	r->objective = sc[c->objective];
	free(p);
}

/* the cost of exiting at each layer under a rule of this layer */
static void cost_table(const exit_ctx *c, int layer, double *cost_of)
{
	for (int e = 0; e < c->s->L; e++)
		cost_of[e] = exit_row_cost(c, layer, e);
}

void exit_apply(const exit_ctx *c, const exit_rule *r, int32_t *ex)
{
	const study *s = c->s;
	int from = r->layer < 0 ? 0 : r->layer, to = r->layer < 0 ? s->L - 2 : r->layer;
	for (int64_t i = 0; i < s->N; i++) {
		ex[i] = s->L - 1;
		for (int l = from; l <= to && l < s->L - 1; l++)
			if (metrics_exit_rule(s->prob + ((int64_t)l * s->N + i) * s->K, s->K, r->q, r->gamma)) {
				ex[i] = l;
				break;
			}
	}
}

exit_rule exit_head_rule(const exit_ctx *c)
{
	int L = c->s->L;
	exit_rule r = { NAN, NAN, L - 1, { 0 }, { 0 }, 0 };
	int32_t *ex = cli_malloc(cli_mul((size_t)c->s->N + 1, sizeof *ex, "exit_layer"));
	double *cost_of = cli_malloc(cli_mul((size_t)L, sizeof *cost_of, "costs"));
	for (int64_t i = 0; i < c->s->N; i++)
		ex[i] = L - 1;
	cost_table(c, L - 1, cost_of);
	score(c, &r, ex, cost_of);
	free(cost_of);
	free(ex);
	return r;
}

/* ---- the search ---- */

typedef struct {
	int64_t *rows, n;        /* the rows of either split */
	int32_t *npos, *nq;      /* [L-1, n]: labels above 0.5, above q */
	uint8_t *fire;           /* [L-1, n]: the rule holds */
} counts;

static void count_above(const exit_ctx *c, counts *k, double t, int32_t *out)
{
	const study *s = c->s;
	for (int l = 0; l < s->L - 1; l++)
		for (int64_t j = 0; j < k->n; j++) {
			const float *p = s->prob + ((int64_t)l * s->N + k->rows[j]) * s->K;
			int32_t m = 0;
			for (int q = 0; q < s->K; q++)
				m += (double)p[q] > t;
			out[(int64_t)l * k->n + j] = m;
		}
}

static void counts_init(const exit_ctx *c, counts *k)
{
	const study *s = c->s;
	uint8_t *in = cli_calloc((size_t)s->N + 1, 1);
	k->rows = cli_malloc(cli_mul((size_t)s->N + 1, sizeof *k->rows, "rows"));
	k->n = 0;
	for (int sp = 0; sp < 2; sp++)
		for (int64_t j = 0; j < c->n[sp]; j++)
			in[c->rows[sp][j]] = 1;
	for (int64_t i = 0; i < s->N; i++)
		if (in[i])
			k->rows[k->n++] = i;
	free(in);
	size_t cells = cli_mul((size_t)(s->L > 1 ? s->L - 1 : 1), (size_t)k->n + 1, "exit counts");
	k->npos = cli_malloc(cli_mul(cells, sizeof *k->npos, "exit counts"));
	k->nq = cli_malloc(cli_mul(cells, sizeof *k->nq, "exit counts"));
	k->fire = cli_malloc(cells);
	count_above(c, k, 0.5, k->npos);
}

static void counts_free(counts *k)
{
	free(k->rows);
	free(k->npos);
	free(k->nq);
	free(k->fire);
}

static void fire_of(const exit_ctx *c, counts *k, double gamma)
{
	int64_t cells = (int64_t)(c->s->L - 1) * k->n;
	for (int64_t x = 0; x < cells; x++)
		k->fire[x] = k->npos[x] >= 1 && k->nq[x] >= gamma * k->npos[x] - METRICS_GAMMA_SLACK;
}

/* exits of the rows of k under the fired table, for a rule of this layer */
static void exits_of(const exit_ctx *c, const counts *k, int layer, int32_t *ex)
{
	int L = c->s->L;
	for (int64_t j = 0; j < k->n; j++) {
		int e = L - 1;
		if (layer >= 0)
			e = k->fire[(int64_t)layer * k->n + j] ? layer : L - 1;
		else
			for (int l = 0; l < L - 1; l++)
				if (k->fire[(int64_t)l * k->n + j]) {
					e = l;
					break;
				}
		ex[k->rows[j]] = e;
	}
}

exit_rule *exit_search(const exit_ctx *c, const exit_grid *g, int cascade, int from, int to, int *nrules)
{
	const study *s = c->s;
	int L = s->L, nlayers = to >= from ? to - from + 1 : 0;
	int per = g->nq * g->ng, n = 1 + (cascade ? per : 0) + nlayers * per;
	exit_rule *r = cli_malloc(cli_mul((size_t)n, sizeof *r, "rules"));
	r[0] = exit_head_rule(c);
	*nrules = 1;
	if (L < 2 || n == 1)
		return r;
	counts k;
	counts_init(c, &k);
	int32_t *ex = cli_malloc(cli_mul((size_t)s->N + 1, sizeof *ex, "exit_layer"));
	double *cost_of = cli_malloc(cli_mul((size_t)L * (L + 1), sizeof *cost_of, "costs"));
	double *cascade_cost = cost_of + (size_t)L * L;
	cost_table(c, EXIT_CASCADE, cascade_cost);
	for (int l = 0; l < L; l++)
		cost_table(c, l, cost_of + (size_t)l * L);
	/* the variants tried: the cascade, then each selected layer */
	int *variant = cli_malloc(cli_mul((size_t)nlayers + 1, sizeof *variant, "rules")), nv = 0;
	if (cascade)
		variant[nv++] = EXIT_CASCADE;
	for (int l = from; l <= to; l++)
		variant[nv++] = l;
	for (int a = 0; a < g->nq; a++) {
		count_above(c, &k, g->q[a], k.nq);
		for (int b = 0; b < g->ng; b++) {
			fire_of(c, &k, g->gamma[b]);
			for (int v = 0; v < nv; v++) {
				exit_rule *x = &r[(*nrules)++];
				*x = (exit_rule){ .q = g->q[a], .gamma = g->gamma[b], .layer = variant[v] };
				exits_of(c, &k, variant[v], ex);
				score(c, x, ex, variant[v] < 0 ? cascade_cost : cost_of + (size_t)variant[v] * L);
			}
		}
	}
	free(variant);
	free(cost_of);
	free(ex);
	counts_free(&k);
	return r;
}

int exit_best(const exit_rule *r, int n, int (*keep)(const exit_rule *, int L), int L)
{
	int best = -1;
	for (int i = 0; i < n; i++) {
		if (keep && !keep(&r[i], L))
			continue;
		if (best < 0 || r[i].objective > r[best].objective + 1e-12 ||
		    (fabs(r[i].objective - r[best].objective) <= 1e-12 &&
		     r[i].cost[EXIT_TUNE] < r[best].cost[EXIT_TUNE] - 1e-12))
			best = i;
	}
	return best;
}

void exit_oracle(const exit_ctx *c, double *cost, double *acc)
{
	const study *s = c->s;
	int64_t ok = 0;
	double sum = 0;
	for (int64_t j = 0; j < c->n[EXIT_EVAL]; j++) {
		int64_t i = c->rows[EXIT_EVAL][j];
		int e = s->L - 1;
		for (int l = 0; l < s->L - 1; l++)
			if (c->correct[(int64_t)l * s->N + i]) {
				e = l;
				break;
			}
		ok += c->correct[(int64_t)e * s->N + i];
		sum += exit_row_cost(c, EXIT_CASCADE, e);
	}
	*acc = (double)ok / c->n[EXIT_EVAL];
	*cost = sum / c->n[EXIT_EVAL];
}

/* ---- names ---- */

const char *const exit_pick_names[PICK_N] = { "head alone", "chosen", "best cascade", "best one layer" };

const char *exit_grid_edge(const exit_grid *g, const exit_rule *r, int L)
{
	if (r->layer == L - 1)
		return NULL;
	int q = !g->q_fixed && g->nq > 1 && r->q == g->q[g->nq - 1];
	int gamma = !g->gamma_fixed && g->ng > 1 && r->gamma == g->gamma[0];
	return q && gamma ? "q and gamma" : q ? "q" : gamma ? "gamma" : NULL;
}

const char *exit_rule_name(const study *s, const exit_rule *r, char *buf, size_t n)
{
	char lb[32];
	if (r->layer == s->L - 1)
		snprintf(buf, n, "head alone (no exit)");
	else if (r->layer < 0)
		snprintf(buf, n, "cascade");
	else
		snprintf(buf, n, "one layer: %s", study_layer_name(s, r->layer, lb));
	return buf;
}
