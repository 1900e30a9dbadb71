/* report.c: early-exit's Markdown report (--report; docs/early-exit.md):
 * over-thinking in both conventions, the scores per layer, the decision with
 * its margin and interval, the candidates, the trade-off and the budgets. */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include "cli.h"
#include "exit.h"

static double pct(int64_t a, int64_t b) { return b ? 100.0 * a / b : NAN; }

static void overthinking(FILE *fp, const study *s, const exit_result *x)
{
	const exit_overthinking *ot = &x->ot;
	double last = x->met[s->L - 1][study_split_id(x->eval)][MT_ACC];
	char buf[32];
	int64_t rescued = 0;
	fprintf(fp, "## Over-thinking (%s split, paper tables 2-3)\n\n"
		"%lld of %lld samples (%.2f%%) are wrong at the last layer (subset accuracy). Per earlier "
		"layer: of those, the share right there and the share first right there; and, as the "
		"paper's tables print it, the samples first right there as a share of all %lld.\n\n"
		"| layer | name | right here (%% of the last layer's errors) | first right here (%% of the "
		"last layer's errors) | first right here (%% of all samples, the paper's tables) |\n"
		"| ---: | --- | ---: | ---: | ---: |\n",
		x->eval, (long long)ot->wrong_last, (long long)ot->n, pct(ot->wrong_last, ot->n), (long long)ot->n);
	for (int l = 0; l < s->L - 1; l++) {
		fprintf(fp, "| %d | %s | %.2f%% | %.2f%% | %.2f%% |\n", l, study_layer_name(s, l, buf),
			pct(ot->right[l], ot->wrong_last), pct(ot->first_right[l], ot->wrong_last),
			pct(ot->first_right[l], ot->n));
		rescued += ot->first_right[l];
	}
	fprintf(fp, "| | **sum** | | %.2f%% | %.2f%% |\n\n"
		"Last-layer accuracy %.2f%%; ideal accuracy (right at some layer) %.2f%% (+%.2f points, "
		"the sum of the last column).\n\n",
		pct(rescued, ot->wrong_last), pct(rescued, ot->n), 100 * last, 100 * x->oracle_acc,
		100 * (x->oracle_acc - last));
}

static void score_row(FILE *fp, const char *name, const double *sc)
{
	fprintf(fp, "| %s |", name);
	for (int m = 0; m < MT_NSCORES; m++)
		fprintf(fp, " %.2f |", 100 * sc[m]);
	fputc('\n', fp);
}

static void scores(FILE *fp, const study *s, const exit_result *x)
{
	int eval = study_split_id(x->eval);
	char buf[32];
	fprintf(fp, "## Scores per layer (%s split, %%)\n\n| layer |", x->eval);
	for (int m = 0; m < MT_NSCORES; m++)
		fprintf(fp, " %s |", metrics_names[m]);
	fprintf(fp, "\n| --- |");
	for (int m = 0; m < MT_NSCORES; m++)
		fprintf(fp, " ---: |");
	fputc('\n', fp);
	for (int l = 0; l < s->L; l++)
		score_row(fp, study_layer_name(s, l, buf), x->met[l][eval]);
	score_row(fp, "**chosen rule**", x->met[s->L][eval]);
	fputc('\n', fp);
}

static void rule_params(FILE *fp, const study *s, const exit_rule *r)
{
	if (r->layer == s->L - 1)
		fprintf(fp, "| | ");
	else
		fprintf(fp, "| %.6g | %.6g ", r->q, r->gamma);
}

/* the sentence that says which rule wins on the tune split, and by how much */
static void decision(FILE *fp, const exit_ctx *c, const exit_result *x)
{
	const study *s = c->s;
	const exit_rule *head = &x->rules[0], *r = &x->rules[x->pick[PICK_CHOSEN]];
	const char *obj = metrics_names[c->objective];
	char name[96];
	if (x->pick[PICK_CHOSEN] == 0) {
		fprintf(fp, "**No exit: no rule beats the head alone on the %s split** (%s %.2f%%; a rule must do "
			"better, a tie goes to the head).", x->tune, obj, 100 * head->objective);
		for (int k = PICK_CASCADE; k < PICK_N; k++) {
			if (x->pick[k] < 0)
				continue;
			const exit_rule *b = &x->rules[x->pick[k]];
			fprintf(fp, " The best %s rule (%s, q = %.6g, gamma = %.6g) reaches %.2f%%, ",
				k == PICK_CASCADE ? "cascade" : "one-layer",
				exit_rule_name(s, b, name, sizeof name), b->q, b->gamma, 100 * b->objective);
			if (b->objective < head->objective - 1e-12)
				fprintf(fp, "%.2f points below the head,", 100 * (head->objective - b->objective));
			else
				fprintf(fp, "level with the head,");
			fprintf(fp, " at cost %.4f.", b->cost[EXIT_TUNE]);
		}
		fprintf(fp, " The exits and the rule's scores are the head's.\n\n");
		return;
	}
	const exit_boot *b = &x->boot[PICK_CHOSEN];
	fprintf(fp, "**Chosen on the %s split: %s, q = %.6g, gamma = %.6g**, %s %.2f%% against the head's %.2f%% "
		"(%+.2f points) at relative cost %.3f. On the %s split: %.2f%% against %.2f%%, a difference of "
		"%+.2f points", x->tune, exit_rule_name(s, r, name, sizeof name), r->q, r->gamma, obj,
		100 * r->objective, 100 * head->objective, 100 * (r->objective - head->objective), r->cost[EXIT_TUNE],
		x->eval, 100 * r->acc[EXIT_EVAL], 100 * head->acc[EXIT_EVAL], 100 * b->diff);
	if (x->bootstrap)
		fprintf(fp, ", 95%% bootstrap interval [%+.2f, %+.2f]", 100 * b->lo, 100 * b->hi);
	fprintf(fp, "; it rescues %lld samples and breaks %lld.", (long long)b->rescued, (long long)b->broken);
	const char *edge = exit_grid_edge(&x->grid, r, s->L);
	if (edge)
		fprintf(fp, " **The winner lies on the grid's edge (%s)**: the best rule may lie beyond it%s.", edge,
			!strcmp(edge, "gamma") ? "" : " (q above 0.9999 is not searched: float32 probabilities "
			"resolve it poorly)");
	fprintf(fp, "\n\n");
}

static void candidates(FILE *fp, const exit_ctx *c, const exit_result *x)
{
	const study *s = c->s;
	char name[96];
	fprintf(fp, "| candidate | rule | q | gamma | %s accuracy | %s cost | %s accuracy | %s cost | "
		"%s - head (points%s) | rescued | broken |\n"
		"| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n",
		x->tune, x->tune, x->eval, x->eval, x->eval, x->bootstrap ? ", 95% interval" : "");
	for (int k = 0; k < PICK_N; k++) {
		if (x->pick[k] < 0 || k == PICK_CHOSEN)
			continue;
		const exit_rule *r = &x->rules[x->pick[k]];
		const exit_boot *b = &x->boot[k];
		const char *edge = exit_grid_edge(&x->grid, r, s->L);
		fprintf(fp, "| %s%s | %s%s ", exit_pick_names[k], x->pick[k] == x->pick[PICK_CHOSEN] ? " (**chosen**)" : "",
			exit_rule_name(s, r, name, sizeof name), edge ? " (grid edge)" : "");
		rule_params(fp, s, r);
		fprintf(fp, "| %.2f%% | %.3f | %.2f%% | %.3f | %+.2f", 100 * r->acc[EXIT_TUNE], r->cost[EXIT_TUNE],
			100 * r->acc[EXIT_EVAL], r->cost[EXIT_EVAL], 100 * b->diff);
		if (x->bootstrap)
			fprintf(fp, " [%+.2f, %+.2f]", 100 * b->lo, 100 * b->hi);
		fprintf(fp, " | %lld | %lld |\n", (long long)b->rescued, (long long)b->broken);
	}
	fprintf(fp, "| oracle | the first right layer, else the head (cascade costs) | | | | | %.2f%% | %.3f | %+.2f | | |\n\n",
		100 * x->oracle_acc, x->oracle_cost, 100 * (x->oracle_acc - x->rules[0].acc[EXIT_EVAL]));
}

static void grid_and_costs(FILE *fp, const exit_ctx *c, const exit_result *x)
{
	const exit_grid *g = &x->grid;
	fprintf(fp, "%d rules searched on the %s split: q in {", x->nrules, x->tune);
	for (int a = 0; a < g->nq; a++)
		fprintf(fp, "%s%.6g", a ? ", " : "", g->q[a]);
	fprintf(fp, "} (strictly exceeded, compared in double), gamma in {");
	for (int b = 0; b < g->ng; b++)
		fprintf(fp, "%s%.6g", b ? ", " : "", g->gamma[b]);
	fprintf(fp, "}. Differences to the head are paired (the same %s rows)", x->eval);
	if (x->bootstrap)
		fprintf(fp, "; intervals from %d bootstrap resamples of the rows (seed %llu)", x->bootstrap,
			(unsigned long long)x->seed);
	fprintf(fp, ". ");
	if (!c->have_flops)
		fprintf(fp, "No layer_flops metadata: the cost is the mean exit depth (layer + 1) / L, probes not counted.\n\n");
	else
		fprintf(fp, "Cost: FLOPs up to the exit layer%s, over the whole network's (the head alone = 1).\n\n",
			c->have_probes ? " plus every probe evaluated on the way (K*D multiply-adds each; "
			"a cascade that reaches the head has paid for all of them)" : " (no probe weights in the input: "
			"the probes' own FLOPs are not counted)");
}

static void shares(FILE *fp, const study *s, const exit_result *x)
{
	const exit_rule *r = &x->rules[x->pick[PICK_CHOSEN]];
	char buf[32];
	fprintf(fp, "### Exits per layer (chosen rule, %s split)\n\n| layer | name | exits |\n| ---: | --- | ---: |\n",
		x->eval);
	for (int l = 0; l < s->L; l++)
		if (r->layer < 0 || l == r->layer || l == s->L - 1)
			fprintf(fp, "| %d | %s | %.2f%% |\n", l, study_layer_name(s, l, buf), 100 * x->exit_share[l]);
	fputc('\n', fp);
}

/* at most this many of the front's points in the Markdown; every one is in
 * the tensors and the --frontier TSV */
enum { FRONT_SHOWN = 16 };

static void frontier(FILE *fp, const study *s, const exit_result *x)
{
	char name[96];
	int shown = x->nfront < FRONT_SHOWN ? x->nfront : FRONT_SHOWN;
	fprintf(fp, "## Trade-off: the %s split's Pareto front, re-scored on %s\n\n"
		"The rules on the %s split that no cheaper or equally cheap rule matches in accuracy: %d of the "
		"%d rules", x->tune, x->eval, x->tune, x->nfront, x->nrules);
	if (shown < x->nfront)
		fprintf(fp, "; %d of them shown, evenly spaced along the front (all in the tensors "
			"exit_frontier and exit_frontier_test, every rule in --frontier's TSV)", shown);
	fprintf(fp, ". plot frontier draws them.\n\n"
		"| rule | q | gamma | %s cost | %s accuracy | %s cost | %s accuracy |\n"
		"| --- | ---: | ---: | ---: | ---: | ---: | ---: |\n", x->tune, x->tune, x->eval, x->eval);
	for (int k = 0; k < shown; k++) {
		/* the first and the last point of the front, evenly spaced between */
		int idx = shown > 1 ? (int)((int64_t)k * (x->nfront - 1) / (shown - 1)) : 0;
		const exit_rule *r = &x->rules[x->front[idx]];
		fprintf(fp, "| %s ", exit_rule_name(s, r, name, sizeof name));
		rule_params(fp, s, r);
		fprintf(fp, "| %.3f | %.2f%% | %.3f | %.2f%% |\n", r->cost[EXIT_TUNE], 100 * r->acc[EXIT_TUNE],
			r->cost[EXIT_EVAL], 100 * r->acc[EXIT_EVAL]);
	}
	fputc('\n', fp);
}

/* the best tune accuracy at tune cost <= budget (ties: cheaper); -1 if none */
static int within_budget(const exit_result *x, double budget, int split)
{
	int best = -1;
	for (int i = 0; i < x->nrules; i++) {
		const exit_rule *r = &x->rules[i];
		if (r->cost[split] > budget + 1e-12)
			continue;
		if (best < 0 || r->acc[split] > x->rules[best].acc[split] + 1e-12 ||
		    (fabs(r->acc[split] - x->rules[best].acc[split]) <= 1e-12 && r->cost[split] < x->rules[best].cost[split]))
			best = i;
	}
	return best;
}

/* the cheapest rule whose tune accuracy is at most `points` below the head's; -1 if none */
static int cheapest_within(const exit_result *x, double points)
{
	double floor_acc = x->rules[0].acc[EXIT_TUNE] - points / 100 - 1e-12;
	int best = -1;
	for (int i = 0; i < x->nrules; i++) {
		const exit_rule *r = &x->rules[i];
		if (r->acc[EXIT_TUNE] < floor_acc)
			continue;
		if (best < 0 || r->cost[EXIT_TUNE] < x->rules[best].cost[EXIT_TUNE] - 1e-12 ||
		    (fabs(r->cost[EXIT_TUNE] - x->rules[best].cost[EXIT_TUNE]) <= 1e-12 &&
		     r->acc[EXIT_TUNE] > x->rules[best].acc[EXIT_TUNE]))
			best = i;
	}
	return best;
}

static void budget_cell(FILE *fp, const study *s, const exit_result *x, int i)
{
	char name[96];
	if (i < 0) {
		fprintf(fp, " no rule | | | |");
		return;
	}
	const exit_rule *r = &x->rules[i];
	if (r->layer == s->L - 1)
		fprintf(fp, " %s |", exit_rule_name(s, r, name, sizeof name));
	else
		fprintf(fp, " %s, q %.6g, gamma %.6g |", exit_rule_name(s, r, name, sizeof name), r->q, r->gamma);
	fprintf(fp, " %.2f%% | %.2f%% | %.3f |", 100 * r->acc[EXIT_TUNE], 100 * r->acc[EXIT_EVAL], r->cost[EXIT_EVAL]);
}

static void budgets(FILE *fp, const study *s, const exit_result *x)
{
	static const double budget[] = { 0.25, 0.5, 0.75, 0.9 }, points[] = { 0.5, 1, 2 };
	const exit_rule *head = &x->rules[0];
	fprintf(fp, "## Budgets\n\nRules chosen on the %s split (the best %s accuracy within the budget), "
		"scored on %s; the last column is the best %s accuracy of any rule within the budget on %s, "
		"chosen in hindsight (optimistic). The head alone: %.2f%% on %s, %.2f%% on %s, cost 1.\n\n"
		"| %s cost at most | rule | %s accuracy | %s accuracy | %s cost | best on %s (hindsight) |\n"
		"| ---: | --- | ---: | ---: | ---: | ---: |\n",
		x->tune, x->tune, x->eval, x->eval, x->eval, 100 * head->acc[EXIT_TUNE], x->tune,
		100 * head->acc[EXIT_EVAL], x->eval, x->tune, x->tune, x->eval, x->eval, x->eval);
	for (int b = 0; b < 4; b++) {
		fprintf(fp, "| %.0f%% |", 100 * budget[b]);
		budget_cell(fp, s, x, within_budget(x, budget[b], EXIT_TUNE));
		int h = within_budget(x, budget[b], EXIT_EVAL);
		if (h < 0)
			fprintf(fp, " |\n");
		else
			fprintf(fp, " %.2f%% |\n", 100 * x->rules[h].acc[EXIT_EVAL]);
	}
	fprintf(fp, "\nThe cheapest rule whose %s accuracy is within a margin of the head's:\n\n"
		"| within | rule | %s accuracy | %s accuracy | %s cost | %s - head |\n"
		"| ---: | --- | ---: | ---: | ---: | ---: |\n", x->tune, x->tune, x->eval, x->eval, x->eval);
	for (int p = 0; p < 3; p++) {
		int i = cheapest_within(x, points[p]);
		fprintf(fp, "| %.1f points |", points[p]);
		budget_cell(fp, s, x, i);
		if (i < 0)
			fprintf(fp, " |\n");
		else
			fprintf(fp, " %+.2f |\n", 100 * (x->rules[i].acc[EXIT_EVAL] - head->acc[EXIT_EVAL]));
	}
	fputc('\n', fp);
}

void exit_write_report(const char *path, const exit_ctx *c, const exit_result *x)
{
	const study *s = c->s;
	cli_out *out = cli_out_open_text(path);
	FILE *fp = cli_out_fp(out);
	fprintf(fp, "# Early exit: %s\n\n", s->fname);
	overthinking(fp, s, x);
	scores(fp, s, x);
	fprintf(fp, "## Exit rule (paper appendix H)\n\n"
		"At layer l, with N labels at p > 0.5 and n of them at p > q, a sample exits when N >= 1 and "
		"n/N >= gamma. Candidates: the head alone (no exit), the cascade (exit at the first layer "
		"whose rule holds) and the paper's one selected layer (exit there when the rule holds, "
		"else at the head).\n\n");
	decision(fp, c, x);
	candidates(fp, c, x);
	grid_and_costs(fp, c, x);
	shares(fp, s, x);
	frontier(fp, s, x);
	budgets(fp, s, x);
	cli_out_close(out);
}
