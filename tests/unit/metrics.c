/* Unit tests of tools/lib/metrics.c.
 *   metrics              hand-computed cases, TAP
 *   metrics N K P Y [I]  scores of raw files (P: N*K float32, Y and I: N*K u8),
 *                        one "name<TAB>value" line each, for the scikit-learn test */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include "metrics.h"

static int ntest;

static void ok(int cond, const char *what)
{
	printf("%sok %d - %s\n", cond ? "" : "not ", ++ntest, what);
}

static int near(double a, double b) { return fabs(a - b) < 1e-12; }

static void *slurp(const char *path, size_t n)
{
	FILE *fp = fopen(path, "rb");
	void *buf = malloc(n ? n : 1);
	if (!fp || !buf || fread(buf, 1, n, fp) != n) {
		fprintf(stderr, "metrics: cannot read %zu bytes from %s\n", n, path);
		exit(1);
	}
	fclose(fp);
	return buf;
}

static int scores_of_files(char **argv, int argc)
{
	long n = atol(argv[1]), K = atol(argv[2]);
	mt_layer m = { slurp(argv[3], n * K * sizeof(float)), slurp(argv[4], n * K), NULL, K };
	if (argc > 5)
		m.ignore = slurp(argv[5], n * K);
	double s[MT_NSCORES];
	if (metrics_compute(&m, NULL, n, METRICS_THRESHOLD, s))
		return 1;
	for (int i = 0; i < MT_NSCORES; i++)
		printf("%s\t%.17g\n", metrics_names[i], s[i]);
	free((void *)m.p);
	free((void *)m.labels);
	free((void *)m.ignore);
	return 0;
}

/* 4 samples, 3 classes; predictions (p >= 0.5) and truths:
 *   row0 pred {0,1}  true {0}     row1 pred {1}  true {1,2}
 *   row2 pred {}     true {2}     row3 pred {0,2} true {0,2}
 * class 0: tp 2 fp 0 fn 0; class 1: tp 1 fp 1 fn 0; class 2: tp 1 fp 0 fn 2 */
static void hand_case(void)
{
	float p[] = { .9f, .6f, .1f, .2f, .7f, .4f, .3f, .1f, .45f, .8f, .2f, .95f };
	uint8_t y[] = { 1, 0, 0, 0, 1, 1, 0, 0, 1, 1, 0, 1 };
	mt_layer m = { p, y, NULL, 3 };
	double s[MT_NSCORES];
	metrics_compute(&m, NULL, 4, METRICS_THRESHOLD, s);
	double cp = (1 + 0.5 + 1) / 3, cr = (1 + 1 + 1.0 / 3) / 3;
	ok(near(s[MT_ACC], 0.25), "subset accuracy: one row of four exact");
	ok(near(s[MT_CP], cp), "CP = mean of per-class tp/(tp+fp)");
	ok(near(s[MT_CR], cr), "CR = mean of per-class tp/(tp+fn)");
	ok(near(s[MT_CF1], 2 * cp * cr / (cp + cr)), "CF1 = 2 CP CR / (CP + CR), ML-GCN");
	ok(near(s[MT_MACROF1], (1 + 2.0 / 3 + 0.5) / 3), "macro-F1 = mean of per-class F1");
	ok(near(s[MT_OP], 4.0 / 5) && near(s[MT_OR], 4.0 / 6), "OP = 4/5, OR = 4/6");
	ok(near(s[MT_OF1], 2 * 0.8 * (4.0 / 6) / (0.8 + 4.0 / 6)), "OF1");
	/* every class ranks its positives first (class 2: .95 .45 .4 over .1),
	 * so each AP is 1; the thresholded counts above are what differ */
	ok(near(s[MT_MAP], 1.0), "mAP by hand: positives ranked first");
	p[0] = .15f;   /* class 0 now ranks .8(+) .3(-) .2(-) .15(+): AP = (1 + 2/4) / 2 */
	metrics_compute(&m, NULL, 4, METRICS_THRESHOLD, s);
	ok(near(s[MT_MAP], (0.75 + 1 + 1) / 3), "mAP by hand: a positive ranked last");
	p[0] = .9f;

	uint8_t ign[12] = { 0 };
	ign[1 * 3 + 2] = 1, ign[2 * 3 + 2] = 1;   /* the two misses of class 2 */
	m.ignore = ign;
	metrics_compute(&m, NULL, 4, METRICS_THRESHOLD, s);
	ok(near(s[MT_ACC], 0.75) && near(s[MT_CR], 1.0), "ignored entries leave every score");
}

static void ties_and_edges(void)
{
	/* one class, scores with ties: sklearn groups equal scores into one threshold */
	float p[] = { .5f, .5f, .5f, .2f };
	uint8_t y[] = { 1, 0, 1, 1 };
	mt_layer m = { p, y, NULL, 1 };
	int64_t idx[4];
	ok(near(metrics_ap(&m, 0, NULL, 4, idx), 2.0 / 3 * 2.0 / 3 + 1.0 / 3 * 0.75),
	   "AP groups tied scores");
	uint8_t none[] = { 0, 0, 0, 0 };
	m.labels = none;
	ok(isnan(metrics_ap(&m, 0, NULL, 4, idx)), "AP of a class without positives is NaN");
	double s[MT_NSCORES];
	metrics_compute(&m, NULL, 0, METRICS_THRESHOLD, s);
	ok(isnan(s[MT_ACC]) && isnan(s[MT_MAP]), "no rows: NaN scores");
	int64_t rows[] = { 3 };
	m.labels = y;
	metrics_compute(&m, rows, 1, METRICS_THRESHOLD, s);
	ok(near(s[MT_ACC], 0) && near(s[MT_MAP], 1), "row subset");
}

static void exit_rule_and_depth(void)
{
	float a[] = { .9f, .6f, .1f };
	ok(metrics_exit_rule(a, 3, 0.8, 0.5), "n/N = 1/2 >= 0.5 exits");
	ok(!metrics_exit_rule(a, 3, 0.8, 0.55), "n/N = 1/2 < 0.55 stays");
	ok(metrics_exit_rule(a, 3, 0.5, 1.0), "q = 0.5: n = N exits");
	float edge[] = { .5f, .75f };
	ok(!metrics_exit_rule(edge, 1, 0.5, 0.5), "strict: p = 0.5 is not a positive (N = 0)");
	ok(!metrics_exit_rule(edge + 1, 1, 0.75, 1.0), "strict: p = q does not exceed q");
	ok(metrics_exit_rule(edge + 1, 1, 0.7499, 1.0), "p = 0.75 exceeds q = 0.7499");
	float third[] = { .9f, .9f, .6f };
	ok(!metrics_exit_rule(third, 3, 0.8, 0.7) && metrics_exit_rule(third, 3, 0.8, 0.65),
	   "n/N = 2/3: below 0.7, above 0.65");
	float z[] = { .1f, .2f, .3f };
	ok(!metrics_exit_rule(z, 3, 0.5, 0.5), "no predicted label never exits");
	/* 4 layers, 1 sample, 2 classes: sets {0}, {}, {0}, {0} -> depth 2 */
	float prob[] = { .9f, .1f, .2f, .1f, .7f, .3f, .8f, .4f };
	ok(metrics_prediction_depth(prob, 4, 1, 2, 0, METRICS_THRESHOLD) == 2, "prediction depth 2");
	float same[] = { .9f, .1f, .9f, .1f };
	ok(metrics_prediction_depth(same, 2, 1, 2, 0, METRICS_THRESHOLD) == 0, "depth 0 when all agree");
}

int main(int argc, char **argv)
{
	if (argc >= 5)
		return scores_of_files(argv, argc);
	hand_case();
	ties_and_edges();
	exit_rule_and_depth();
	printf("1..%d\n", ntest);
	return 0;
}
