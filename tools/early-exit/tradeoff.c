/* tradeoff.c: the Pareto front of the rules on the tune split and the
 * bootstrap interval of a rule's gain over the head (exit.h). */
#include <math.h>
#include <stdlib.h>
#include "cli.h"
#include "exit.h"
#include "util.h"

static const exit_rule *sort_rules;
/* tune cost ascending, then tune accuracy descending, then the search's order */
static int by_cost(const void *a, const void *b)
{
	int i = *(const int *)a, j = *(const int *)b;
	const exit_rule *x = &sort_rules[i], *y = &sort_rules[j];
	if (x->cost[EXIT_TUNE] != y->cost[EXIT_TUNE])
		return x->cost[EXIT_TUNE] < y->cost[EXIT_TUNE] ? -1 : 1;
	if (x->acc[EXIT_TUNE] != y->acc[EXIT_TUNE])
		return x->acc[EXIT_TUNE] > y->acc[EXIT_TUNE] ? -1 : 1;
	return (i > j) - (i < j);
}

int *exit_pareto(const exit_rule *r, int n, int *np)
{
	int *order = cli_malloc(cli_mul((size_t)n + 1, sizeof *order, "frontier"));
	for (int i = 0; i < n; i++)
		order[i] = i;
	sort_rules = r;
	qsort(order, n, sizeof *order, by_cost);
	*np = 0;
	double best = -INFINITY;
	for (int k = 0; k < n; k++)
		if (r[order[k]].acc[EXIT_TUNE] > best) {
			best = r[order[k]].acc[EXIT_TUNE];
			order[(*np)++] = order[k];
		}
	return order;
}

exit_boot exit_bootstrap(const exit_ctx *c, const int32_t *ex, int B, uint64_t seed)
{
	const study *s = c->s;
	int64_t n = c->n[EXIT_EVAL];
	exit_boot o = { 0, NAN, NAN, 0, 0 };
	int8_t *d = cli_malloc((size_t)n + 1);
	int64_t sum = 0;
	for (int64_t j = 0; j < n; j++) {
		int64_t i = c->rows[EXIT_EVAL][j];
		d[j] = (int8_t)(c->correct[(int64_t)ex[i] * s->N + i] - c->correct[(int64_t)(s->L - 1) * s->N + i]);
		o.rescued += d[j] > 0;
		o.broken += d[j] < 0;
		sum += d[j];
	}
	o.diff = (double)sum / n;
	if (B > 0 && !o.rescued && !o.broken)
		o.lo = o.hi = 0;   /* every resample is 0 */
	else if (B > 0) {
		double *means = cli_malloc(cli_mul((size_t)B, sizeof *means, "bootstrap"));
		uint64_t state = seed;
		for (int b = 0; b < B; b++) {
			int64_t t = 0;
			for (int64_t j = 0; j < n; j++)
				t += d[util_splitmix64(&state) % (uint64_t)n];
			means[b] = (double)t / n;
		}
		o.lo = study_quantile(means, B, 0.025);
		o.hi = study_quantile(means, B, 0.975);
		free(means);
	}
	free(d);
	return o;
}
