/* figures_training.c: the figures across a backbone's training (issue 12,
 * docs/plot.md): W to the target per layer at every checkpoint (epochs,
 * fig. 6), W between consecutive checkpoints (adjacent, fig. 15), one
 * sample's distribution at a few checkpoints (sample-epochs, fig. 16), the
 * BatchNorm drift per stage (bn-drift, proposition 4), and the across-layer
 * curve of re-split trials (resplit, fig. 9). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"
#include "figures.h"

/* ---- shared: a per-checkpoint tensor [T',L,N] and its x axis ---- */

typedef struct {
	int T, L;               /* checkpoints (T' of the tensor) and layers */
	float *v;               /* [T,L,N]: distances (finite >= 0, or NaN) */
	double *x;              /* [T]: the epoch of each row, else its checkpoint number */
	int have_epochs;
	char **layers;          /* metadata `layers` when it has L names */
	int nlayers;
} per_checkpoint;

/* tensor NAME [T',L,N] of s; row t is checkpoint t + shift of `checkpoint_epochs` */
static void load_per_checkpoint(study *s, const char *name, int shift, per_checkpoint *c)
{
	st_tensor *t = cli_get(s->f, s->fname, name);
	cli_check_shape(t, s->fname, 3, (const int64_t[]){ -1, -1, s->N });
	if (t->shape[0] < 1 || t->shape[1] < 1 || t->shape[1] > 64)
		cli_die("%s: tensor '%s' has shape [%lld,%lld,%lld], expected at least 1 checkpoint and 1 to 64 layers",
			s->fname, name, (long long)t->shape[0], (long long)t->shape[1], (long long)t->shape[2]);
	c->T = (int)t->shape[0];
	c->L = (int)t->shape[1];
	c->v = cli_f32(t, s->fname, 0);
	for (int64_t i = 0; i < (int64_t)c->T * c->L * s->N; i++)
		if (!(c->v[i] >= 0) && !isnan(c->v[i]))
			cli_die("%s: tensor '%s' has %g at flat index %lld, expected a distance >= 0 (or NaN)", s->fname,
				name, c->v[i], (long long)i);
	double *ep = number_list(s, "checkpoint_epochs", c->T + shift);
	c->have_epochs = ep != NULL;
	c->x = cli_calloc((size_t)c->T, sizeof *c->x);
	for (int i = 0; i < c->T; i++)
		c->x[i] = ep ? ep[i + shift] : i + shift;
	free(ep);
	c->layers = st_meta_get_list(s->f, "layers", &c->nlayers);
	if (c->layers && c->nlayers != c->L) {
		st_list_free(c->layers, c->nlayers);
		c->layers = NULL;
	}
}

static void free_per_checkpoint(per_checkpoint *c)
{
	free(c->v);
	free(c->x);
	if (c->layers)
		st_list_free(c->layers, c->nlayers);
}

/* epochs spanning more than a factor 20 (dense first epoch, then whole ones)
 * read best on a log axis */
static void epoch_axis(FILE *gp, const double *x, int n, int have_epochs, const char *what)
{
	double lo = INFINITY, hi = -INFINITY;
	for (int i = 0; i < n; i++)
		lo = fmin(lo, x[i]), hi = fmax(hi, x[i]);
	int logx = have_epochs && lo > 0 && hi / lo > 20;
	if (logx)
		fprintf(gp, "set logscale x 2\nset xrange [%.9g:%.9g]\n", lo / 1.15, hi * 1.15);
	else
		fprintf(gp, "unset logscale x\nset autoscale x\n");
	fprintf(gp, "set xlabel ");
	char label[160];
	snprintf(label, sizeof label, "%s%s%s", have_epochs ? "epoch" : "checkpoint", what, logx ? " (log scale)" : "");
	gp_str(gp, label);
	fputc('\n', gp);
}

/* per layer, the data file layerL.tsv: mean and quartiles over the rows at
 * each checkpoint; returns the smallest lower quartile */
static double checkpoint_stats(plot_job *j, const per_checkpoint *c, int64_t N, const int64_t *rows, int64_t nrows)
{
	double *buf = cli_calloc(3 * (size_t)c->T, sizeof *buf), low = INFINITY;
	float *col = cli_malloc(cli_mul((size_t)c->T, (size_t)N + 1, "checkpoints") * sizeof *col);
	for (int l = 0; l < c->L; l++) {
		for (int t = 0; t < c->T; t++)
			memcpy(col + (int64_t)t * N, c->v + ((int64_t)t * c->L + l) * N, N * sizeof *col);
		layer_stats(col, c->T, N, rows, nrows, buf, buf + c->T, buf + 2 * c->T);
		for (int t = 0; t < c->T; t++)
			low = fmin(low, buf[c->T + t]);
		char name[32];
		snprintf(name, sizeof name, "layer%d.tsv", l);
		write_stats(j, name, c->T, c->x, buf, buf + c->T, buf + 2 * c->T);
	}
	free(col);
	free(buf);
	return low;
}

/* fig. 6 (wdist_train) or fig. 15 (wdist_train_adjacent: row t is the pair t, t+1) */
static void train_figure(plot_job *j, const plot_opts *o, study *s, int adjacent)
{
	per_checkpoint c;
	load_per_checkpoint(s, adjacent ? "wdist_train_adjacent" : "wdist_train", adjacent, &c);
	int64_t nrows, *rows = split_rows(o, s, &nrows);
	job_start(j, &o->gp, 900, 540);
	double low = checkpoint_stats(j, &c, s->N, rows, nrows);
	char title[256];
	snprintf(title, sizeof title, adjacent
		 ? "Change of each sample's label distribution between consecutive checkpoints (%s rows)"
		 : "Distance to the target during the backbone's training (%s rows)", o->split);
	gp_title(j->gp, o, title);
	epoch_axis(j->gp, c.x, c.T, c.have_epochs, adjacent ? " of the later checkpoint" : "");
	fprintf(j->gp, "set ylabel ");
	gp_str(j->gp, adjacent ? "W between checkpoints t and t+1 (mean, interquartile band)"
			       : "Wasserstein distance to the target (mean, interquartile band)");
	/* the changes shrink by orders of magnitude: a log axis when every quartile is > 0 */
	fprintf(j->gp, "\nset key top right box opaque\nset grid ytics lc rgb \"#dddddd\"\n%s",
		adjacent && low > 0 ? "set logscale y\n" : "");
	for (int l = 0; l < c.L; l++) {
		char name[32], fallback[32];
		snprintf(name, sizeof name, "layer%d.tsv", l);
		snprintf(fallback, sizeof fallback, "layer %d", l);
		plot_band(j->gp, name, c.layers ? c.layers[l] : fallback, l, l == 0);
	}
	fputc('\n', j->gp);
	free(rows);
	free_per_checkpoint(&c);
}

void fig_train_epochs(plot_job *j, const plot_opts *o, char **files, int n)
{
	study s;
	study_load(&s, files[0], 0);
	if (!st_find(s.f, "wdist_train")) {   /* train-probe's snapshots: the probe-training view */
		study_free(&s);
		fig_probe_epochs(j, o, files, n);
		return;
	}
	train_figure(j, o, &s, 0);
	study_free(&s);
}

void fig_train_adjacent(plot_job *j, const plot_opts *o, char **files, int n)
{
	study s;
	study_load(&s, files[0], 0);
	if (!st_find(s.f, "wdist_train_adjacent")) {
		study_free(&s);
		fig_probe_adjacent(j, o, files, n);
		return;
	}
	train_figure(j, o, &s, 1);
	study_free(&s);
}

/* ---- sample-epochs (fig. 16) ---- */

enum { MAX_SHOWN = 8 };   /* checkpoints drawn side by side */

/* prob_train [T,L,N,K] from FILE or --prob, as floats in [0,1] */
static float *prob_train(const plot_opts *o, const study *s, st_file **pf, const char **pname, int *T, int *L)
{
	*pf = NULL;
	*pname = s->fname;
	st_tensor *t = st_find(s->f, "prob_train");
	if (!t) {
		if (!o->prob_path)
			cli_die("%s: no tensor 'prob_train': give --prob FILE with it (tensors stack ... --as prob_train)",
				s->fname);
		*pf = cli_load(o->prob_path);
		*pname = cli_name(o->prob_path);
		t = cli_get(*pf, *pname, "prob_train");
	}
	cli_check_shape(t, *pname, 4, (const int64_t[]){ -1, -1, s->N, s->K });
	if (t->shape[0] < 1 || t->shape[1] < 1 || t->shape[1] > 100000)
		cli_die("%s: tensor 'prob_train' has %lld checkpoints and %lld layers, expected at least 1 of each",
			*pname, (long long)t->shape[0], (long long)t->shape[1]);
	*T = (int)t->shape[0];
	*L = (int)t->shape[1];
	float *p = cli_f32(t, *pname, 1);
	for (int64_t i = 0; i < (int64_t)*T * *L * s->N * s->K; i++)
		if (p[i] < 0 || p[i] > 1)
			cli_die("%s: tensor 'prob_train' has %g at flat index %lld, expected probabilities in [0,1]", *pname,
				p[i], (long long)i);
	return p;
}

/* --checkpoints, else four spread over the epochs: the first, the last and
 * those nearest to a third and two thirds of the way */
static int chosen_checkpoints(const plot_opts *o, const double *x, int T, int *out)
{
	if (o->checkpoints)
		return parse_indices("--checkpoints", o->checkpoints, T, out, MAX_SHOWN);
	int n = 0;
	for (int q = 0; q < 4; q++) {
		double want = x[0] + (x[T - 1] - x[0]) * q / 3.0;
		int best = 0;
		for (int t = 1; t < T; t++)
			if (fabs(x[t] - want) < fabs(x[best] - want))
				best = t;
		if (!n || out[n - 1] != best)
			out[n++] = best;
	}
	return n;
}

void fig_sample_epochs(plot_job *j, const plot_opts *o, char **files, int n)
{
	(void)n;
	study s;
	study_load(&s, files[0], 0);
	if (o->sample < 0 || o->sample >= s.N)
		cli_usage("--sample %d: %s has rows 0..%lld", o->sample, s.fname, (long long)s.N - 1);
	st_file *pf;
	const char *pname;
	int T, L;
	float *p = prob_train(o, &s, &pf, &pname, &T, &L);
	int layer[2] = { L - 1 };
	if (o->layers && parse_indices("--layers", o->layers, L, layer, 2) != 1)
		cli_usage("--layers %s: sample-epochs draws one layer", o->layers);
	/* epochs from whichever file has them */
	study ps = { .f = pf ? pf : s.f, .fname = pname };
	double *ep = number_list(&ps, "checkpoint_epochs", T);
	double *x = cli_calloc((size_t)T, sizeof *x);
	for (int t = 0; t < T; t++)
		x[t] = ep ? ep[t] : t;
	int shown[MAX_SHOWN], ns = chosen_checkpoints(o, x, T, shown);
	/* W to the target in the legend when FILE has wdist_train of the same shape */
	st_tensor *wt = st_find(s.f, "wdist_train");
	float *w = wt && wt->ndim == 3 && wt->shape[0] == T && wt->shape[1] == L && wt->shape[2] == s.N
		? cli_f32(wt, s.fname, 0) : NULL;
	int nl = 0;
	char **lnames = st_meta_get_list(ps.f, "layers", &nl);

	job_start(j, &o->gp, 900, 520);
	FILE *fp = job_data(j, "dist.tsv");
	double ysum = 0;
	for (int k = 0; k < s.K; k++)
		ysum += s.labels[o->sample * s.K + k];
	char buf[32];
	for (int k = 0; k < s.K; k++) {
		gp_datum(fp, label_name(&s, k, buf));
		for (int c = 0; c < ns; c++) {
			const float *q = p + (((int64_t)shown[c] * L + layer[0]) * s.N + o->sample) * s.K;
			double sum = 0;
			for (int m = 0; m < s.K; m++)
				sum += q[m];
			fprintf(fp, "\t%.6g", sum > 0 ? q[k] / sum : 0);
		}
		fprintf(fp, "\t%.6g\n", ysum > 0 ? s.labels[o->sample * s.K + k] / ysum : 0);
	}
	job_data_close(j, fp);

	char cap[512], title[700], t[128];
	sample_caption(&s, o->sample, cap, sizeof cap);
	char lbuf[32];
	snprintf(lbuf, sizeof lbuf, "layer %d", layer[0]);
	snprintf(title, sizeof title, "Label distribution during training at %s, %s",
		 lnames && nl == L ? lnames[layer[0]] : lbuf, cap);
	gp_title(j->gp, o, title);
	fprintf(j->gp, "set style data histograms\nset style histogram clustered gap 1\n"
		"set style fill solid 0.85 noborder\nset yrange [0:1.5]\nset ytics 0,0.2,1\n"
		"set key top right box opaque\nset bmargin 7\nset ylabel \"share of the label mass\"\n");
	named_tics(j->gp, &s, s.K, 1, label_name);
	for (int c = 0; c <= ns; c++) {
		fprintf(j->gp, "%s\"dist.tsv\" using %d lc rgb \"%s\" title ", c ? ", " : "plot ", c + 2,
			c < ns ? plot_colors[c % 8] : "#333333");
		if (c == ns) {
			gp_str(j->gp, "target");
			continue;
		}
		int len = snprintf(t, sizeof t, "%s %.4g", ep ? "epoch" : "checkpoint", x[shown[c]]);
		if (w)
			snprintf(t + len, sizeof t - len, " (W = %.3f)", w[((int64_t)shown[c] * L + layer[0]) * s.N + o->sample]);
		gp_str(j->gp, t);
	}
	fputc('\n', j->gp);
	if (lnames)
		st_list_free(lnames, nl);
	free(w);
	free(x);
	free(ep);
	free(p);
	if (pf)
		st_file_free(pf);
	study_free(&s);
}

/* ---- bn-drift (proposition 4) ---- */

enum { MAX_STAGES = 64 };

typedef struct {
	int T, B, S;
	double *x;              /* [T-1]: the later checkpoint's epoch, else its number */
	int have_epochs;
	int stage_of[4096];     /* layer -> stage */
	char *stages[MAX_STAGES];
} bn_layout;

/* F64 [T-1,B] tensor NAME (bn_w2, bn_w2_running): finite >= 0 or NaN */
static double *bn_values(const study *s, const char *name, int T, int B)
{
	st_tensor *t = cli_get(s->f, s->fname, name);
	cli_check_shape(t, s->fname, 2, (const int64_t[]){ T - 1, B });
	double *v = st_to_f64(t);
	if (!v)
		cli_die("%s: tensor '%s': out of memory", s->fname, name);
	for (int64_t i = 0; i < (int64_t)(T - 1) * B; i++)
		if (!(v[i] >= 0) && !isnan(v[i]))
			cli_die("%s: tensor '%s' has %g at flat index %lld, expected a distance >= 0 (or NaN)", s->fname,
				name, v[i], (long long)i);
	return v;
}

/* the stages of the layers (metadata `stages`, else one per layer) and the x axis */
static void bn_layout_of(study *s, bn_layout *lay)
{
	st_tensor *t = cli_get(s->f, s->fname, "bn_w2");
	if (t->ndim != 2 || t->shape[0] < 1 || t->shape[1] < 1 || t->shape[1] > 4096)
		cli_die("%s: tensor 'bn_w2': expected [T-1,B] with T >= 2 checkpoints and 1 to 4096 layers", s->fname);
	lay->T = (int)t->shape[0] + 1;
	lay->B = (int)t->shape[1];
	int ns = 0, nl = 0;
	char **stages = st_meta_get_list(s->f, "stages", &ns), **layers = st_meta_get_list(s->f, "layers", &nl);
	char **names = stages && ns == lay->B ? stages : layers && nl == lay->B ? layers : NULL;
	lay->S = 0;
	for (int b = 0; b < lay->B; b++) {
		char buf[32];
		snprintf(buf, sizeof buf, "layer %d", b);
		const char *name = names ? names[b] : buf;
		int k = 0;
		while (k < lay->S && strcmp(lay->stages[k], name))
			k++;
		if (k == lay->S) {
			if (lay->S == MAX_STAGES)
				cli_die("%s: more than %d stages in metadata 'stages'", s->fname, MAX_STAGES);
			lay->stages[lay->S++] = cli_strdup(name);
		}
		lay->stage_of[b] = k;
	}
	if (stages)
		st_list_free(stages, ns);
	if (layers)
		st_list_free(layers, nl);
	double *ep = number_list(s, "checkpoint_epochs", lay->T);
	lay->have_epochs = ep != NULL;
	lay->x = cli_calloc((size_t)lay->T, sizeof *lay->x);
	for (int t = 0; t + 1 < lay->T; t++)
		lay->x[t] = ep ? ep[t + 1] : t + 1;
	free(ep);
}

/* data file NAME: x, then per stage sqrt(sum over its layers of w^2), the
 * W2 between the joint laws of all its channels (NaN layers left out, NaN
 * when all are); returns 1 when every value is > 0 or NaN (a log axis works) */
static int bn_stage_file(plot_job *j, const char *name, const bn_layout *lay, const double *w)
{
	FILE *fp = job_data(j, name);
	int positive = 1;
	for (int t = 0; t + 1 < lay->T; t++) {
		double sum[MAX_STAGES] = { 0 };
		int any[MAX_STAGES] = { 0 };
		for (int b = 0; b < lay->B; b++)
			if (!isnan(w[(int64_t)t * lay->B + b])) {
				sum[lay->stage_of[b]] += w[(int64_t)t * lay->B + b] * w[(int64_t)t * lay->B + b];
				any[lay->stage_of[b]] = 1;
			}
		fprintf(fp, "%.9g", lay->x[t]);
		for (int k = 0; k < lay->S; k++) {
			fprintf(fp, any[k] ? "\t%.9g" : "\tNaN", sqrt(sum[k]));
			positive &= !any[k] || sum[k] > 0;
		}
		fputc('\n', fp);
	}
	job_data_close(j, fp);
	return positive;
}

static void bn_panel(plot_job *j, const bn_layout *lay, const char *file, const char *title, int positive)
{
	fprintf(j->gp, "set title ");
	gp_str(j->gp, title);
	fprintf(j->gp, "\n%s", positive ? "set logscale y\n" : "unset logscale y\n");
	for (int k = 0; k < lay->S; k++) {
		fprintf(j->gp, "%s\"%s\" using 1:%d with linespoints lw 2 pt 7 ps 0.7 lc rgb \"%s\" title ", k ? ", " : "plot ",
			file, k + 2, plot_colors[k % 8]);
		gp_str(j->gp, lay->stages[k]);
	}
	fputc('\n', j->gp);
}

void fig_bn_drift(plot_job *j, const plot_opts *o, char **files, int n)
{
	study s[8];
	bn_layout lay[8];
	int cols = 1;
	for (int r = 0; r < n; r++) {   /* a bn-drift output has no labels: only the file and its name */
		s[r] = (study){ .f = cli_load(files[r]), .fname = cli_name(files[r]) };
		bn_layout_of(&s[r], &lay[r]);
		if (st_find(s[r].f, "bn_w2_running"))
			cols = 2;
	}
	job_start(j, &o->gp, 560 * cols, 400 * n + 40);
	fprintf(j->gp, "set multiplot layout %d,%d title ", n, cols);
	gp_str(j->gp, o->title ? o->title : "BatchNorm drift: W2 between the Gaussian laws of consecutive checkpoints, per stage");
	fprintf(j->gp, "\nset key bottom center box opaque\nset grid ytics lc rgb \"#dddddd\"\nset ylabel \"W2 (log scale)\"\n");
	for (int r = 0; r < n; r++) {
		epoch_axis(j->gp, lay[r].x, lay[r].T - 1, lay[r].have_epochs, " of the later checkpoint");
		char *rn = run_name(o, r, &s[r], files[r]), title[256], name[32];
		for (int c = 0; c < cols; c++) {
			int running = c == 1;
			if (running && !st_find(s[r].f, "bn_w2_running")) {
				fprintf(j->gp, "set multiplot next\n");
				continue;
			}
			double *w = bn_values(&s[r], running ? "bn_w2_running" : "bn_w2", lay[r].T, lay[r].B);
			snprintf(name, sizeof name, "bn%d-%d.tsv", r, c);
			int positive = bn_stage_file(j, name, &lay[r], w);
			snprintf(title, sizeof title, "%s: %s", rn, running ? "running statistics N(mean, var)"
									: "affine parameters N(beta, gamma^2)");
			bn_panel(j, &lay[r], name, title, positive);
			free(w);
		}
		free(rn);
	}
	fprintf(j->gp, "unset multiplot\n");
	for (int r = 0; r < n; r++) {
		for (int k = 0; k < lay[r].S; k++)
			free(lay[r].stages[k]);
		free(lay[r].x);
		st_file_free(s[r].f);
	}
}

/* ---- resplit (fig. 9) ---- */

void fig_resplit(plot_job *j, const plot_opts *o, char **files, int n)
{
	study s[8];
	int L = 0;
	double *mean[8];
	for (int r = 0; r < n; r++) {
		study_load(&s[r], files[r], 0);
		int Lr;
		float *w = study_profile(&s[r], o->tensor, &Lr);
		if (r && Lr != L)
			cli_die("%s: %d layers, %s has %d: re-split trials of one backbone have the same layers", s[r].fname,
				Lr, s[0].fname, L);
		L = Lr;
		int64_t nrows, *rows = split_rows(o, &s[r], &nrows);
		mean[r] = cli_calloc(3 * (size_t)L, sizeof **mean);
		layer_stats(w, L, s[r].N, rows, nrows, mean[r], mean[r] + L, mean[r] + 2 * L);
		free(rows);
		free(w);
	}
	/* the range of the trials' means per layer: how much a re-split moves the curve */
	job_start(j, &o->gp, 900, 540);
	FILE *fp = job_data(j, "trials.tsv");
	double spread = 0;
	int at = 0;
	for (int l = 0; l < L; l++) {
		double lo = INFINITY, hi = -INFINITY;
		fprintf(fp, "%d", l);
		for (int r = 0; r < n; r++) {
			fprintf(fp, "\t%.9g", mean[r][l]);
			lo = fmin(lo, mean[r][l]), hi = fmax(hi, mean[r][l]);
		}
		fprintf(fp, "\t%.9g\t%.9g\t%.9g\t%.9g\n", lo, hi, mean[0][L + l], mean[0][2 * L + l]);
		if (hi - lo > spread)
			spread = hi - lo, at = l;
	}
	job_data_close(j, fp);
	char title[256], band[160], buf[32];
	snprintf(title, sizeof title, "Re-split trials: mean distance (%s) per layer (%s rows)", o->tensor, o->split);
	gp_title(j->gp, o, title);
	fprintf(j->gp, "set ylabel \"mean distance to the target\"\nset key top right box opaque\nset bmargin 7\n"
		"set grid ytics lc rgb \"#dddddd\"\n");
	if (s[0].layers)
		named_tics(j->gp, &s[0], L, L > 10 ? 2 : 1, study_layer_name);
	snprintf(band, sizeof band, "range over the %d trials (widest %.3f, at %s)", n, spread,
		 study_layer_name(&s[0], at, buf));
	/* for scale: how unequal the samples are, within the first trial */
	fprintf(j->gp, "plot \"trials.tsv\" using 1:%d:%d with filledcurves fs transparent solid 0.12 noborder "
		"lc rgb \"%s\" title ", n + 4, n + 5, plot_colors[0]);
	char *first = run_name(o, 0, &s[0], files[0]), iqr[160];
	snprintf(iqr, sizeof iqr, "interquartile range of the samples (%s)", first);
	free(first);
	gp_str(j->gp, iqr);
	fprintf(j->gp, ", \"trials.tsv\" using 1:%d:%d with filledcurves fs transparent solid 0.35 noborder "
		"lc rgb \"#7f7f7f\" title ", n + 2, n + 3);
	gp_str(j->gp, band);
	for (int r = 0; r < n; r++) {
		char *rn = run_name(o, r, &s[r], files[r]);
		fprintf(j->gp, ", \"trials.tsv\" using 1:%d with linespoints lw 2 pt 7 ps 0.8 lc rgb \"%s\" title ", r + 2,
			plot_colors[r % 8]);
		gp_str(j->gp, rn);
		free(rn);
	}
	fputc('\n', j->gp);
	for (int r = 0; r < n; r++) {
		free(mean[r]);
		study_free(&s[r]);
	}
}
