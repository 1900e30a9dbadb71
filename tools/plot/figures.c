/* figures.c: each kind's data files and gnuplot script, and the table of
 * kinds that plot.c looks up (plot.h); the helpers shared with
 * figures_training.c are declared in figures.h. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "dataset.h"
#include "image.h"
#include "cli.h"
#include "names.h"
#include "figures.h"
#include "plot.h"
#include "study.h"

/* ---- shared pieces ---- */

/* per-layer mean and quartiles of w [L,N] over rows (NaN skipped) */
void layer_stats(const float *w, int L, int64_t N, const int64_t *rows, int64_t nrows,
		 double *mean, double *q1, double *q3)
{
	double *v = cli_malloc(cli_mul((size_t)nrows + 1, sizeof *v, "layer statistics"));
	for (int l = 0; l < L; l++) {
		int64_t n = 0;
		double sum = 0;
		for (int64_t j = 0; j < nrows; j++) {
			double x = w[(int64_t)l * N + (rows ? rows[j] : j)];
			if (!isnan(x))
				v[n++] = x, sum += x;
		}
		mean[l] = n ? sum / n : NAN;
		q1[l] = study_quantile(v, n, 0.25);
		q3[l] = study_quantile(v, n, 0.75);
	}
	free(v);
}

static const char *base_name(const char *path)
{
	const char *s = strrchr(path, '/');
	return s ? s + 1 : path;
}

/* the i-th of --names, else metadata arch, else the file name; caller frees */
char *run_name(const plot_opts *o, int i, const study *s, const char *path)
{
	if (o->names) {
		const char *p = o->names;
		for (int k = 0; k < i && p; k++)
			p = strchr(p, ',') ? strchr(p, ',') + 1 : NULL;
		if (p && *p) {
			size_t len = strcspn(p, ",");
			char *r = cli_malloc(len + 1);
			memcpy(r, p, len);
			r[len] = 0;
			return r;
		}
	}
	const char *arch = st_meta_get(s->f, "arch");
	return cli_strdup(arch ? arch : base_name(path));
}

void gp_title(FILE *gp, const plot_opts *o, const char *fallback)
{
	fprintf(gp, "set title ");
	gp_str(gp, o->title ? o->title : fallback);
	fputc('\n', gp);
}

static const char *distance_label(const char *tensor)
{
	int m = names_find(measure_tensors, MEASURE_N, tensor);
	return m < 0 ? tensor : measure_titles[m];
}

/* xtics at 0..n-1 named by name(s, i), rotated, every step-th: the names
 * go into the script as literals (gp_str), never read from data files */
void named_tics(FILE *gp, const study *s, int n, int step,
		       const char *(*name)(const study *s, int i, char buf[32]))
{
	char buf[32];
	fprintf(gp, "set xtics rotate by -40 left (");
	for (int i = 0; i < n; i += step) {
		gp_str(gp, name(s, i, buf));
		fprintf(gp, " %d%s", i, i + step < n ? ", " : "");
	}
	fprintf(gp, ")\n");
}

/* xtics with the layer names; every other name past 10 layers */
static void layer_tics(FILE *gp, const study *s, int n)
{
	named_tics(gp, s, n, n > 10 ? 2 : 1, study_layer_name);
}

/* band + mean line of data file NAME (columns x, mean, q1, q3) */
void plot_band(FILE *gp, const char *name, const char *title, int color, int first)
{
	fprintf(gp, "%s\"%s\" using 1:3:4 with filledcurves fs transparent solid 0.18 noborder "
		"lc rgb \"%s\" notitle, \"%s\" using 1:2 with linespoints lw 2 pt 7 ps 0.8 lc rgb \"%s\" title ",
		first ? "plot " : ", ", name, plot_colors[color % 8], name, plot_colors[color % 8]);
	gp_str(gp, title);
}

void write_stats(plot_job *j, const char *name, int L, const double *x, const double *mean,
			const double *q1, const double *q3)
{
	FILE *fp = job_data(j, name);
	for (int l = 0; l < L; l++)
		fprintf(fp, "%.9g\t%.9g\t%.9g\t%.9g\n", x[l], mean[l], q1[l], q3[l]);
	job_data_close(j, fp);
}

int64_t *split_rows(const plot_opts *o, const study *s, int64_t *n)
{
	int64_t *rows = study_rows(s, study_split_id(o->split), n);
	if (!*n)
		cli_die("%s: no rows with split = %s", s->fname, o->split);
	return rows;
}

/* ---- layers (fig. 3) ---- */

static void fig_layers(plot_job *j, const plot_opts *o, char **files, int n)
{
	study s[8];
	int L[8], same = 1;
	float *w[8];
	for (int r = 0; r < n; r++) {
		study_load(&s[r], files[r], 0);
		w[r] = study_profile(&s[r], o->tensor, &L[r]);
		same &= L[r] == L[0];
	}
	job_start(j, &o->gp, 900, 540);
	FILE *gp = j->gp;
	char title[256];
	snprintf(title, sizeof title, "%s per layer: mean and interquartile band (%s rows)",
		 distance_label(o->tensor), o->split);
	gp_title(gp, o, title);
	fprintf(gp, "set ylabel ");
	gp_str(gp, distance_label(o->tensor));
	fprintf(gp, "\nset key top right box opaque width 1\nset bmargin 7\n");
	if (same && s[0].layers)
		layer_tics(gp, &s[0], L[0]);
	else
		fprintf(gp, "set xlabel \"%s\"\n", same ? "layer" : "relative depth (layer / last layer)");
	for (int r = 0; r < n; r++) {
		double *buf = cli_calloc(4 * (size_t)L[r], sizeof *buf), *x = buf + 3 * L[r];
		int64_t nrows, *rows = split_rows(o, &s[r], &nrows);
		layer_stats(w[r], L[r], s[r].N, rows, nrows, buf, buf + L[r], buf + 2 * L[r]);
		for (int l = 0; l < L[r]; l++)
			x[l] = same ? l : (L[r] > 1 ? (double)l / (L[r] - 1) : 0);
		char name[32];
		snprintf(name, sizeof name, "run%d.tsv", r);
		write_stats(j, name, L[r], x, buf, buf + L[r], buf + 2 * L[r]);
		char *rn = run_name(o, r, &s[r], files[r]);
		plot_band(gp, name, rn, r, r == 0);
		free(rn);
		free(rows);
		free(buf);
		free(w[r]);
		study_free(&s[r]);
	}
	fputc('\n', gp);
}

/* ---- sample (fig. 4) ---- */

/* OPTION's comma-separated indices 0..n-1 (at most max) into out; returns the count */
int parse_indices(const char *option, const char *spec, int n, int *out, int max)
{
	int k = 0;
	for (const char *p = spec; *p && k < max;) {
		char *end;
		long v = strtol(p, &end, 10);
		if (end == p || v < 0 || v >= n || (*end && *end != ','))
			cli_usage("%s %s: expected numbers 0..%d, comma-separated", option, spec, n - 1);
		out[k++] = (int)v;
		p = *end ? end + 1 : end;
	}
	if (!k)
		cli_usage("%s: none given", option);
	return k;
}

/* --layers as indices, or first, middle and last; returns the count */
static int chosen_layers(const plot_opts *o, int L, int *out, int max)
{
	int n = 0;
	if (!o->layers) {
		int d[3] = { 0, L / 2, L - 1 };
		for (int i = 0; i < 3; i++)
			if (!n || out[n - 1] != d[i])
				out[n++] = d[i];
		return n;
	}
	return parse_indices("--layers", o->layers, L, out, max);
}

const char *label_name(const study *s, int k, char buf[32])
{
	if (s->label_names)
		return s->label_names[k];
	snprintf(buf, 32, "label %d", k);
	return buf;
}

/* Bars of more labels than this crowd the axis (COCO has 80): the panel
 * keeps the target's labels and the most probable others; the categories
 * figure's panels are a third as wide. A title names at most six labels. */
enum { MAX_BARS = 24, MAX_BARS_PANEL = 12, MAX_NAMED = 6 };

/* Which labels a sample's distribution panel shows, in label order: all of
 * them, or the target's and those of the highest mean share over the chosen
 * layers up to max. Returns how many; show[K] gets 1 for each. */
static int shown_labels(const study *s, int64_t i, const int *layers, int nl, int max, uint8_t *show)
{
	if (s->K <= max) {
		memset(show, 1, (size_t)s->K);
		return s->K;
	}
	double *share = cli_calloc((size_t)s->K, sizeof *share);
	for (int c = 0; c < nl; c++) {
		const float *p = s->prob + ((int64_t)layers[c] * s->N + i) * s->K;
		double sum = 0;
		for (int k = 0; k < s->K; k++)
			sum += p[k];
		for (int k = 0; k < s->K && sum > 0; k++)
			share[k] += p[k] / sum;
	}
	int n = 0;
	for (int k = 0; k < s->K; k++)
		n += show[k] = s->labels[i * s->K + k] != 0;
	while (n < max) {   /* max passes over K: cheap */
		int best = -1;
		for (int k = 0; k < s->K; k++)
			if (!show[k] && (best < 0 || share[k] > share[best]))
				best = k;
		show[best] = 1;
		n++;
	}
	free(share);
	return n;
}

/* one row per shown label (show[K] filled, see shown_labels): name,
 * p/sum(p) at each chosen layer, then y/sum(y); the shares are of all K
 * labels. Returns the labels shown. */
static int write_distributions(plot_job *j, const char *name, const study *s, int64_t i,
			       const int *layers, int nl, int max, uint8_t *show)
{
	FILE *fp = job_data(j, name);
	double ysum = 0;
	for (int k = 0; k < s->K; k++)
		ysum += s->labels[i * s->K + k];
	char buf[32];
	int shown = shown_labels(s, i, layers, nl, max, show);
	for (int k = 0; k < s->K; k++) {
		if (!show[k])
			continue;
		gp_datum(fp, label_name(s, k, buf));
		for (int c = 0; c < nl; c++) {
			const float *p = s->prob + ((int64_t)layers[c] * s->N + i) * s->K;
			double sum = 0;
			for (int m = 0; m < s->K; m++)
				sum += p[m];
			fprintf(fp, "\t%.6g", sum > 0 ? p[k] / sum : 0);
		}
		fprintf(fp, "\t%.6g\n", ysum > 0 ? s->labels[i * s->K + k] / ysum : 0);
	}
	job_data_close(j, fp);
	return shown;
}

/* The x axis label when not all labels are shown, else nothing. */
static void shown_note(FILE *gp, int shown, int K)
{
	if (shown < K)
		fprintf(gp, "set xlabel \"the target's labels and the most probable: %d of %d\"\n", shown, K);
	else
		fprintf(gp, "unset xlabel\n");
}

/* the clustered bars of write_distributions' file, its labels show[K] */
static void plot_distributions(FILE *gp, const char *name, const study *s, const float *w,
			       int64_t i, const int *layers, int nl, const uint8_t *show)
{
	char buf[32];
	fprintf(gp, "set style data histograms\nset style histogram clustered gap 1\n"
		"set style fill solid 0.85 noborder\nset yrange [0:1.5]\nset ytics 0,0.2,1\n"
		"set key top right box opaque\nset ylabel \"share of the label mass\"\nset xtics rotate by -40 left (");
	for (int k = 0, x = 0; k < s->K; k++)   /* as named_tics, for the shown labels */
		if (show[k]) {
			fprintf(gp, "%s", x ? ", " : "");
			gp_str(gp, label_name(s, k, buf));
			fprintf(gp, " %d", x++);
		}
	fprintf(gp, ")\n");
	for (int c = 0; c <= nl; c++) {
		fprintf(gp, "%s\"%s\" using %d lc rgb \"%s\" title ", c ? ", " : "plot ", name, c + 2,
			c < nl ? plot_colors[c % 8] : "#333333");
		if (c == nl) {
			gp_str(gp, "target");
			continue;
		}
		char t[96];
		const char *ln = study_layer_name(s, layers[c], buf);
		if (w)
			snprintf(t, sizeof t, "%s (W = %.3f)", ln, w[(int64_t)layers[c] * s->N + i]);
		else
			snprintf(t, sizeof t, "%s", ln);
		gp_str(gp, t);
	}
	fputc('\n', gp);
}

void sample_caption(const study *s, int64_t i, char *out, size_t n)
{
	int nids = 0;
	char **ids = st_meta_get_list(s->f, "ids", &nids);
	int len = snprintf(out, n, "sample %lld%s%s, labels:", (long long)i, ids && nids == s->N ? " " : "",
			   ids && nids == s->N ? ids[i] : "");
	char buf[32];
	int named = 0, total = 0;
	for (int k = 0; k < s->K; k++)
		total += s->labels[i * s->K + k] != 0;
	for (int k = 0; k < s->K && len > 0 && (size_t)len < n; k++)
		if (s->labels[i * s->K + k] && named++ < MAX_NAMED)   /* a title fits about six */
			len += snprintf(out + len, n - len, " %s", label_name(s, k, buf));
	if (total > MAX_NAMED && len > 0 && (size_t)len < n)
		snprintf(out + len, n - len, " and %d more", total - MAX_NAMED);
	if (ids)
		st_list_free(ids, nids);
}

static void fig_sample(plot_job *j, const plot_opts *o, char **files, int n)
{
	(void)n;
	study s;
	study_load_with_prob(&s, files[0], o->prob_path);
	if (o->sample < 0 || o->sample >= s.N)
		cli_usage("--sample %d: %s has rows 0..%lld", o->sample, s.fname, (long long)s.N - 1);
	int layers[16], nl = chosen_layers(o, s.L, layers, 16);
	float *w = NULL;
	if (st_find(s.f, o->tensor)) {   /* the distances in the legend when FILE has them */
		int L;
		w = study_profile(&s, o->tensor, &L);
	}
	job_start(j, &o->gp, 900, 520);
	char cap[512], title[600];
	sample_caption(&s, o->sample, cap, sizeof cap);
	snprintf(title, sizeof title, "Label distribution by layer, %s", cap);
	gp_title(j->gp, o, title);
	uint8_t *show = cli_malloc((size_t)s.K);
	shown_note(j->gp, write_distributions(j, "dist.tsv", &s, o->sample, layers, nl, MAX_BARS, show), s.K);
	fprintf(j->gp, "set key top right box opaque\nset bmargin 7\n");
	plot_distributions(j->gp, "dist.tsv", &s, w, o->sample, layers, nl, show);
	free(show);
	free(w);
	study_free(&s);
}

/* ---- epochs (fig. 6) and adjacent (fig. 15) ---- */

/* metadata KEY as want numbers, else NULL */
double *number_list(const study *s, const char *key, int want)
{
	int n;
	double *v = st_meta_get_numbers(s->f, key, &n);
	if (v && n == want)
		return v;
	free(v);
	return NULL;
}

/* mean and quartiles over samples of each (epoch, layer) of the per-sample values v [E,L',N'] */
static void epoch_curves(plot_job *j, const float *v, int E, int Ls, int64_t Ns,
			 const double *epochs, char **layers, int shift)
{
	double *buf = cli_calloc(4 * (size_t)E + 4, sizeof *buf);
	float *col = cli_malloc(cli_mul((size_t)E, (size_t)Ns + 1, "epochs") * sizeof *col);
	char name[32], t[32];
	for (int l = 0; l < Ls; l++) {
		for (int e = 0; e < E; e++)
			memcpy(col + (int64_t)e * Ns, v + ((int64_t)e * Ls + l) * Ns, Ns * sizeof *col);
		layer_stats(col, E, Ns, NULL, Ns, buf, buf + E, buf + 2 * E);
		for (int e = 0; e < E; e++)
			buf[3 * E + e] = epochs ? epochs[e + shift] : e + 1 + shift;
		snprintf(name, sizeof name, "layer%d.tsv", l);
		write_stats(j, name, E, buf + 3 * E, buf, buf + E, buf + 2 * E);
		snprintf(t, sizeof t, "snapshot layer %d", l);
		plot_band(j->gp, name, layers ? layers[l] : t, l, l == 0);
	}
	fputc('\n', j->gp);
	free(col);
	free(buf);
}

/* total variation of consecutive snapshots' normalised distributions, [E-1,L',N'] */
static float *adjacent_tv(const float *pe, int E, int Ls, int64_t Ns, int K)
{
	float *tv = cli_malloc(cli_mul((size_t)(E - 1) * Ls, (size_t)Ns + 1, "adjacent") * sizeof *tv);
	for (int e = 0; e + 1 < E; e++)
		for (int64_t r = 0; r < (int64_t)Ls * Ns; r++) {
			const float *a = pe + ((int64_t)e * Ls * Ns + r) * K, *b = a + (int64_t)Ls * Ns * K;
			double sa = 0, sb = 0, d = 0;
			for (int k = 0; k < K; k++)
				sa += a[k], sb += b[k];
			for (int k = 0; k < K; k++)
				d += fabs((sa > 0 ? a[k] / sa : 0) - (sb > 0 ? b[k] / sb : 0));
			tv[(int64_t)e * Ls * Ns + r] = (float)(0.5 * d);
		}
	return tv;
}

static void epochs_or_adjacent(plot_job *j, const plot_opts *o, char **files, int adjacent)
{
	study s;
	study_load(&s, files[0], 0);
	const char *name = adjacent ? "prob_epochs" : "wdist_epochs";
	st_tensor *t = cli_get(s.f, s.fname, name);
	int64_t dims[4] = { -1, -1, -1, -1 };
	cli_check_shape(t, s.fname, adjacent ? 4 : 3, dims);
	int E = (int)t->shape[0], Ls = (int)t->shape[1];
	int64_t Ns = t->shape[2];
	if (E < 1 + adjacent || Ls < 1 || Ls > 64 || Ns < 1 || (adjacent && t->shape[3] != s.K))
		cli_die("%s: tensor '%s': shape [%lld,%lld,%lld%s], expected %s epochs, 1 to 64 layers, %s",
		       s.fname, name, (long long)E, (long long)Ls, (long long)Ns, adjacent ? ",K" : "",
		       adjacent ? ">= 2" : ">= 1", adjacent ? "K as labels" : ">= 1 sample");
	/* NaN: a sample without labels (sinkhorn --skip-empty), left out of the statistics */
	float *v = cli_f32(t, s.fname, 0);
	int64_t unlabelled = 0;
	for (int64_t r = 0; r < Ns; r++) {
		int all_nan = 1;
		for (int64_t e = 0; e < (int64_t)E * Ls; e++) {
			float x = v[e * Ns + r];
			if (isinf(x))
				cli_die("%s: tensor '%s' has an infinite value", s.fname, name);
			all_nan &= isnan(x);
		}
		unlabelled += all_nan;
	}
	double *epochs = number_list(&s, "snapshot_epochs", E);
	int nl = 0;
	char **layers = st_meta_get_list(s.f, "snapshot_layers", &nl);   /* train-probe: layer names */
	if (layers && nl != Ls) {
		st_list_free(layers, nl);
		layers = NULL;
	}
	job_start(j, &o->gp, 900, 540);
	char title[160];
	snprintf(title, sizeof title, "%s%s", adjacent ? "Probe convergence: change of the label distribution between adjacent snapshots"
						 : "Probe convergence: distance to the target during the probes' training",
		 unlabelled ? " (samples without labels left out)" : "");
	gp_title(j->gp, o, title);
	fprintf(j->gp, "set xlabel \"%s\"\nset ylabel \"%s\"\nset key top right box opaque\n",
		epochs ? "epoch" : "snapshot",
		adjacent ? "total variation = W under the 0-1 cost (mean, IQR)"
			 : "Wasserstein distance to the target (mean, IQR)");
	if (adjacent) {
		float *tv = adjacent_tv(v, E, Ls, Ns, s.K);
		epoch_curves(j, tv, E - 1, Ls, Ns, epochs, layers, 1);
		free(tv);
	} else
		epoch_curves(j, v, E, Ls, Ns, epochs, layers, 0);
	free(v);
	free(epochs);
	if (layers)
		st_list_free(layers, nl);
	study_free(&s);
}

void fig_probe_epochs(plot_job *j, const plot_opts *o, char **files, int n)
{
	(void)n;
	epochs_or_adjacent(j, o, files, 0);
}

void fig_probe_adjacent(plot_job *j, const plot_opts *o, char **files, int n)
{
	(void)n;
	epochs_or_adjacent(j, o, files, 1);
}

/* ---- measures (figs. 11-12) ---- */

static void fig_measures(plot_job *j, const plot_opts *o, char **files, int n)
{
	(void)n;
	study s;
	study_load(&s, files[0], 0);
	const char *have[MEASURE_N];
	int m = 0;
	for (int i = 0; i < MEASURE_N; i++)
		if (st_find(s.f, measure_tensors[i]))
			have[m++] = measure_tensors[i];
	if (!m)
		cli_die("%s: none of the tensors wdist, cheb, jsd, kl, tv", s.fname);
	job_start(j, &o->gp, 420 * m, 460);
	fprintf(j->gp, "set multiplot layout 1,%d title ", m);
	gp_str(j->gp, o->title ? o->title : "Distance measures per layer (mean, interquartile band)");
	fprintf(j->gp, "\nset key top right\nset bmargin 7\n");
	int64_t nrows, *rows = split_rows(o, &s, &nrows);
	for (int i = 0; i < m; i++) {
		int L;
		float *w = study_profile(&s, have[i], &L);
		double *buf = cli_calloc(4 * (size_t)L, sizeof *buf);
		layer_stats(w, L, s.N, rows, nrows, buf, buf + L, buf + 2 * L);
		for (int l = 0; l < L; l++)
			buf[3 * L + l] = l;
		char name[32];
		snprintf(name, sizeof name, "%s.tsv", have[i]);
		write_stats(j, name, L, buf + 3 * L, buf, buf + L, buf + 2 * L);
		if (s.layers && s.L == L)
			layer_tics(j->gp, &s, L);
		fprintf(j->gp, "set title ");
		gp_str(j->gp, distance_label(have[i]));
		fprintf(j->gp, "\nset ylabel ");
		gp_str(j->gp, have[i]);
		fputc('\n', j->gp);
		plot_band(j->gp, name, have[i], i, 1);
		fputc('\n', j->gp);
		free(buf);
		free(w);
	}
	fprintf(j->gp, "unset multiplot\n");
	free(rows);
	study_free(&s);
}

/* ---- overthinking (tables 2-3) ---- */

static const double *vector_of(const study *s, const char *name, int64_t len)
{
	st_tensor *t = cli_get(s->f, s->fname, name);
	int64_t dims[1] = { len };
	cli_check_shape(t, s->fname, 1, dims);
	if (t->dtype != ST_F64)
		cli_die("%s: tensor '%s' has dtype %s, expected F64 (an early-exit output)", s->fname, name,
		       st_dtype_name(t->dtype));
	return t->data;
}

/* The figure's layout: a panel per run under a shared title; bars leave
 * headroom above the tallest for the legend. */
enum { OT_WIDTH = 900, OT_PANEL_HEIGHT = 380, OT_TITLE_HEIGHT = 40 };
static const double ot_headroom = 1.25;

/* the last layer's subset accuracy on the test split from early-exit's
 * metrics [L+1,3,MT_NSCORES], NaN when the tensor is not that */
static double last_layer_accuracy(const study *s, int L)
{
	st_tensor *met = st_find(s->f, "metrics");
	if (!met || met->dtype != ST_F64 || met->ndim != 3 || met->shape[0] != L + 1 ||
	    met->shape[1] != SPLIT_N || met->shape[2] != MT_NSCORES)
		return NAN;
	return ((const double *)met->data)[((int64_t)(L - 1) * SPLIT_N + SPLIT_TEST) * MT_NSCORES + MT_ACC];
}

/* one run's bars: the data file NAME (layer name, right %, first right %) and its panel */
static void overthinking_panel(plot_job *j, const plot_opts *o, const char *path, int r)
{
	study s;
	study_load(&s, path, 0);
	st_tensor *ot = cli_get(s.f, s.fname, "overthinking");
	if (ot->ndim != 1 || ot->shape[0] < 1 || ot->shape[0] > 100000)
		cli_die("%s: tensor 'overthinking': expected [L]", s.fname);
	int L = (int)ot->shape[0];
	const double *first = vector_of(&s, "overthinking", L), *right = vector_of(&s, "overthinking_right", L);
	char name[32];
	snprintf(name, sizeof name, "ot%d.tsv", r);
	FILE *fp = job_data(j, name);
	int nl = 0;
	char **lnames = st_meta_get_list(s.f, "layers", &nl);
	double top = 1;
	fprintf(j->gp, "set xtics rotate by -40 left (");
	for (int l = 0; l + 1 < L; l++) {
		char buf[32];
		snprintf(buf, sizeof buf, "layer %02d", l);
		const char *ln = lnames && nl == L ? lnames[l] : buf;
		top = fmax(top, 100 * fmax(right[l], first[l]));
		gp_datum(fp, ln);
		fprintf(fp, "\t%.6g\t%.6g\n", 100 * right[l], 100 * first[l]);
		gp_str(j->gp, ln);
		fprintf(j->gp, " %d%s", l, l + 2 < L ? ", " : "");
	}
	fprintf(j->gp, ")\n");
	if (lnames)
		st_list_free(lnames, nl);
	job_data_close(j, fp);
	char *rn = run_name(o, r, &s, path), t[256];
	const char *ideal = st_meta_get(s.f, "ideal_accuracy");
	double last = last_layer_accuracy(&s, L);
	if (ideal && !isnan(last))
		snprintf(t, sizeof t, "%s: subset accuracy %.2f%% at the last layer, %.2f%% if every sample "
			 "right at some layer counted (test)", rn, 100 * last, 100 * atof(ideal));
	else
		snprintf(t, sizeof t, "%s", rn);
	fprintf(j->gp, "set title ");
	gp_str(j->gp, t);
	fprintf(j->gp, "\nset yrange [0:%.3g]\nplot \"%s\" using 2 lc rgb \"%s\" title \"right at this layer\", "
		"\"%s\" using 3 lc rgb \"%s\" title \"first right at this layer\"\n",
		top * ot_headroom, name, plot_colors[0], name, plot_colors[3]);
	free(rn);
	study_free(&s);
}

static void fig_overthinking(plot_job *j, const plot_opts *o, char **files, int n)
{
	job_start(j, &o->gp, OT_WIDTH, OT_PANEL_HEIGHT * n + OT_TITLE_HEIGHT);
	fprintf(j->gp, "set multiplot layout %d,1 title ", n);
	gp_str(j->gp, o->title ? o->title : "Over-thinking: the last layer's errors that an earlier layer gets right");
	fprintf(j->gp, "\nset style data histograms\nset style histogram clustered gap 1\n"
		"set style fill solid 0.85 noborder\nset ylabel \"share of the last layer's errors (%%)\"\n"
		"set key top left box opaque width 1\nset bmargin 7\nset xtics rotate by -40 left\n");
	for (int r = 0; r < n; r++)
		overthinking_panel(j, o, files[r], r);
	fprintf(j->gp, "unset multiplot\n");
}

/* ---- frontier (early exit's trade-off) ---- */

/* an early-exit output's F64 tensor NAME [rows, cols] (rows >= 1) */
static const double *table_of(const study *s, const char *name, int cols, int64_t *rows)
{
	st_tensor *t = cli_get(s->f, s->fname, name);
	int64_t dims[2] = { -1, cols };
	cli_check_shape(t, s->fname, 2, dims);
	if (t->dtype != ST_F64 || t->shape[0] < 1)
		cli_die("%s: tensor '%s': expected F64 [R>=1,%d] (an early-exit output)", s->fname, name, cols);
	*rows = t->shape[0];
	return t->data;
}

static double meta_number(const study *s, const char *key)
{
	const char *v = st_meta_get(s->f, key);
	return v ? atof(v) : NAN;
}

/* one run's panel: every rule on the tune split, its Pareto front there and
 * on the eval split, the head, the oracle and the chosen rule */
static void frontier_panel(plot_job *j, const plot_opts *o, const char *path, int r)
{
	study s;
	study_load(&s, path, 0);
	int64_t nr, nf, nft, nv;
	const double *rules = table_of(&s, "exit_rules", 7, &nr), *front = table_of(&s, "exit_frontier", 4, &nf),
		     *test = table_of(&s, "exit_frontier_test", 4, &nft), *var = table_of(&s, "exit_variants", 12, &nv);
	if (nft != nf || nv < 2)
		cli_die("%s: tensors exit_frontier and exit_frontier_test differ in length, or exit_variants is short", s.fname);
	char name[3][32];
	snprintf(name[0], 32, "rules%d.tsv", r);
	snprintf(name[1], 32, "front%d.tsv", r);
	snprintf(name[2], 32, "points%d.tsv", r);
	FILE *fp = job_data(j, name[0]);
	for (int64_t i = 0; i < nr; i++)
		fprintf(fp, "%.9g\t%.9g\n", rules[7 * i + 3], 100 * rules[7 * i + 4]);
	job_data_close(j, fp);
	fp = job_data(j, name[1]);
	for (int64_t i = 0; i < nf; i++)
		fprintf(fp, "%.9g\t%.9g\t%.9g\t%.9g\n", front[4 * i + 2], 100 * front[4 * i + 3], test[4 * i + 2],
			100 * test[4 * i + 3]);
	job_data_close(j, fp);
	/* head (tune, eval), oracle (eval), chosen (eval): x, y per line */
	fp = job_data(j, name[2]);
	fprintf(fp, "%.9g\t%.9g\n%.9g\t%.9g\n%.9g\t%.9g\n%.9g\t%.9g\n", var[3], 100 * var[4], var[5], 100 * var[6],
		meta_number(&s, "oracle_relative_cost"), 100 * meta_number(&s, "ideal_accuracy"), var[12 + 5],
		100 * var[12 + 6]);
	job_data_close(j, fp);
	const char *tune = st_meta_get(s.f, "exit_tune_split"), *eval = st_meta_get(s.f, "exit_eval_split");
	tune = tune ? tune : "tune", eval = eval ? eval : "eval";
	char *rn = run_name(o, r, &s, path), t[320], lt[5][96];
	const char *mode = st_meta_get(s.f, "exit_mode");
	snprintf(t, sizeof t, "%s: %s, %s accuracy %.2f%% against the head's %.2f%%", rn,
		 mode && !strcmp(mode, "none") ? "no exit (no rule beats the head)" : "chosen rule", eval,
		 100 * var[12 + 6], 100 * var[6]);
	snprintf(lt[0], 96, "every rule (%s)", tune);
	snprintf(lt[1], 96, "Pareto front (%s)", tune);
	snprintf(lt[2], 96, "the same rules (%s)", eval);
	snprintf(lt[3], 96, "head alone (%s, %s)", tune, eval);
	snprintf(lt[4], 96, "oracle (%s): first right layer", eval);
	fprintf(j->gp, "set title ");
	gp_str(j->gp, t);
	fprintf(j->gp, "\nplot \"%s\" using 1:2 with points pt 7 ps 0.35 lc rgb \"#c8c8c8\" title ", name[0]);
	gp_str(j->gp, lt[0]);
	fprintf(j->gp, ", \"%s\" using 1:2 with linespoints lw 2 pt 7 ps 0.6 lc rgb \"%s\" title ", name[1], plot_colors[0]);
	gp_str(j->gp, lt[1]);
	fprintf(j->gp, ", \"%s\" using 3:4 with linespoints lw 2 pt 5 ps 0.5 lc rgb \"%s\" title ", name[1], plot_colors[1]);
	gp_str(j->gp, lt[2]);
	fprintf(j->gp, ", \"%s\" every ::0::1 using 1:2 with points pt 3 ps 2.5 lw 2 lc rgb \"black\" title ", name[2]);
	gp_str(j->gp, lt[3]);
	fprintf(j->gp, ", \"%s\" every ::2::2 using 1:2 with points pt 13 ps 2.2 lc rgb \"%s\" title ", name[2], plot_colors[2]);
	gp_str(j->gp, lt[4]);
	snprintf(lt[0], 96, "chosen rule (%s)%s", eval, mode && !strcmp(mode, "none") ? ": the head" : "");
	fprintf(j->gp, ", \"%s\" every ::3::3 using 1:2 with points pt 6 ps 3 lw 2 lc rgb \"%s\" title ", name[2],
		plot_colors[3]);
	gp_str(j->gp, lt[0]);
	fputc('\n', j->gp);
	free(rn);
	study_free(&s);
}

static void fig_frontier(plot_job *j, const plot_opts *o, char **files, int n)
{
	job_start(j, &o->gp, 760 * (n < 2 ? 1 : 2), 560 * ((n + 1) / 2) + 40);
	fprintf(j->gp, "set multiplot layout %d,%d title ", (n + 1) / 2, n < 2 ? 1 : 2);
	gp_str(j->gp, o->title ? o->title : "Early exit: subset accuracy against relative cost, every rule searched");
	fprintf(j->gp, "\nset xlabel \"relative cost (FLOPs with the probes; the whole network = 1)\"\n"
		"set ylabel \"subset accuracy (%%)\"\nset key bottom right box opaque font \",9\"\nset yrange [0:*]\n"
		"set offsets 0, 0, graph 0.08, 0\n");
	for (int r = 0; r < n; r++)
		frontier_panel(j, o, files[r], r);
	fprintf(j->gp, "unset multiplot\n");
}

/* ---- categories (figs. 5 and 17) ---- */

typedef struct { int w, h, c; uint8_t *px; } picture;   /* c = 1 grey, 3 RGB */

static void picture_from_tensor(st_file *f, const char *fname, int64_t i, int64_t N, picture *p)
{
	st_tensor *t = cli_get(f, fname, "images");
	if ((t->ndim != 3 && !(t->ndim == 4 && t->shape[3] == 3)) || t->shape[0] != N || t->dtype != ST_U8 ||
	    t->shape[1] < 1 || t->shape[2] < 1 || t->shape[1] > 4096 || t->shape[2] > 4096)
		cli_die("%s: tensor 'images': expected U8 [%lld,H,W] or [%lld,H,W,3], H and W up to 4096",
		       fname, (long long)N, (long long)N);
	p->h = (int)t->shape[1], p->w = (int)t->shape[2], p->c = t->ndim == 4 ? 3 : 1;
	size_t sz = (size_t)p->h * p->w * p->c;
	p->px = cli_malloc(sz);
	memcpy(p->px, (uint8_t *)t->data + (size_t)i * sz, sz);
}

static void picture_from_dataset(const plot_opts *o, const study *s, int64_t i, ds_dataset *d, picture *p)
{
	int nids = 0;
	char **ids = st_meta_get_list(s->f, "ids", &nids);
	if (!ids || nids != s->N)
		cli_die("%s: --dataset needs metadata ids with %lld names", s->fname, (long long)s->N);
	int found = -1;
	for (int k = 0; k < d->n && found < 0; k++)
		if (!strcmp(d->ids[k], ids[i]))
			found = k;
	if (found < 0)
		cli_die("%s: sample '%s' is not in the data set", o->dataset, ids[i]);
	st_list_free(ids, nids);
	char err[ERR_LEN];
	size_t len;
	uint8_t *buf = ds_read(d, found, &len, err);
	img_rgb im;
	if (!buf || img_decode(buf, len, &im, err))
		cli_die("%s: %s", o->dataset, err);
	free(buf);
	/* nearest-neighbour reduction to at most 160 px: the panel is small */
	int step = (im.w > im.h ? im.w : im.h) / 160 + 1;
	p->w = im.w / step, p->h = im.h / step, p->c = 3;
	p->px = cli_malloc((size_t)p->w * p->h * 3);
	for (int y = 0; y < p->h; y++)
		for (int x = 0; x < p->w; x++)
			memcpy(p->px + ((size_t)y * p->w + x) * 3, im.px + ((size_t)y * step * im.w + x * step) * 3, 3);
	img_free(&im);
}

static void plot_picture(plot_job *j, const char *name, const picture *p, const char *title)
{
	FILE *fp = job_data(j, name);
	for (int y = 0; y < p->h; y++)
		for (int x = 0; x < p->w; x++) {
			const uint8_t *v = p->px + ((size_t)y * p->w + x) * p->c;
			fprintf(fp, "%d\t%d\t%d\t%d\t%d\n", x, p->h - 1 - y, v[0], v[p->c > 1], v[p->c > 1 ? 2 : 0]);
		}
	job_data_close(j, fp);
	fprintf(j->gp, "set title ");
	gp_str(j->gp, title);
	fprintf(j->gp, "\nunset key\nunset border\nunset tics\nunset xlabel\nunset ylabel\nset size ratio -1\n"
		"set xrange [-0.5:%d.5]\nset yrange [-0.5:%d.5]\nplot \"%s\" using 1:2:3:4:5 with rgbimage\n"
		"set size noratio\nset border\nset tics\nset autoscale xy\nset key\n", p->w - 1, p->h - 1, name);
}

static const char *const category_colors[CAT_N] = { "#7f7f7f", "#2ca02c", "#ff7f0e", "#d62728" };

static void plot_profile(plot_job *j, const study *s, const float *w, int L, int64_t i,
			 const double *mean, int cat, const char *catname)
{
	char name[32];
	snprintf(name, sizeof name, "profile%d.tsv", cat);
	FILE *fp = job_data(j, name);
	for (int l = 0; l < L; l++)
		fprintf(fp, "%d\t%.6g\t%.6g\n", l, w[(int64_t)l * s->N + i], mean ? mean[cat * L + l] : NAN);
	job_data_close(j, fp);
	if (s->layers)
		layer_tics(j->gp, s, L);
	fprintf(j->gp, "set title \"distance profile\"\nset ylabel \"Wasserstein distance\"\n"
		"set yrange [0:*]\nset offsets 0,0,graph 0.45,0\nset ytics autofreq\nset key top right box opaque\n"
		"plot \"%s\" using 1:2 with linespoints lw 2 pt 7 lc rgb \"%s\" title \"this sample\"",
		name, category_colors[cat]);
	if (mean) {
		fprintf(j->gp, ", \"%s\" using 1:3 with lines dt 2 lw 2 lc rgb \"#555555\" title ", name);
		char t[64];
		snprintf(t, sizeof t, "mean of the %s samples", catname);
		gp_str(j->gp, t);
	}
	fprintf(j->gp, "\nset xtics norotate autofreq\nset offsets 0,0,0,0\n");
}

static void fig_categories(plot_job *j, const plot_opts *o, char **files, int n)
{
	(void)n;
	study s;
	study_load_with_prob(&s, files[0], o->prob_path);
	int L;
	float *w = study_profile(&s, o->tensor, &L);
	st_tensor *ex = cli_get(s.f, s.fname, "examples");
	int64_t edims[2] = { CAT_N, -1 };
	cli_check_shape(ex, s.fname, 2, edims);
	if (ex->dtype != ST_I64)
		cli_die("%s: tensor 'examples' has dtype %s, expected I64", s.fname, st_dtype_name(ex->dtype));
	if (o->example < 0 || o->example >= ex->shape[1])
		cli_usage("--example %d: the file has %lld examples per category", o->example, (long long)ex->shape[1]);
	const int64_t *exv = ex->data;
	st_tensor *cp = st_find(s.f, "category_profile");
	const double *mean = cp && cp->dtype == ST_F64 && cp->ndim == 2 && cp->shape[0] == CAT_N && cp->shape[1] == L
		? cp->data : NULL;
	st_file *img = NULL;
	ds_dataset *d = NULL;
	if (o->dataset) {
		char err[ERR_LEN];
		if (!(d = ds_open(o->dataset, NULL, err)))
			cli_die("%s: %s", o->dataset, err);
	} else if (o->images_path)
		img = cli_load(o->images_path);
	st_file *imgsrc = img ? img : (st_find(s.f, "images") ? s.f : NULL);
	const char *imgname = img ? o->images_path : s.fname;
	int layers[16], nl = chosen_layers(o, s.L, layers, 16);

	job_start(j, &o->gp, 1350, 1000);
	fprintf(j->gp, "set multiplot layout 3,3 title ");
	gp_str(j->gp, o->title ? o->title : "Easy, hard and confused samples: image, label distributions, distance profile");
	fprintf(j->gp, "\nset bmargin 6\n");
	for (int cat = CAT_EASY; cat <= CAT_CONFUSED; cat++) {
		int64_t i = exv[cat * ex->shape[1] + o->example];
		char cap[512], t[600], name[32];
		if (i < 0 || i >= s.N) {
			fprintf(j->gp, "set multiplot next\nset multiplot next\nset multiplot next\n");
			continue;
		}
		sample_caption(&s, i, cap, sizeof cap);
		snprintf(t, sizeof t, "%s: %s", category_names[cat], cap);
		picture pic = { 0 };
		if (d)
			picture_from_dataset(o, &s, i, d, &pic);
		else if (imgsrc)
			picture_from_tensor(imgsrc, imgname, i, s.N, &pic);
		if (pic.px) {
			snprintf(name, sizeof name, "image%d.tsv", cat);
			plot_picture(j, name, &pic, t);
			free(pic.px);
		} else {
			fprintf(j->gp, "set title ");
			gp_str(j->gp, t);
			fprintf(j->gp, "\nunset border\nunset tics\nset label 1 \"(no image: --images or --dataset)\" at graph 0.5,0.5 center\n"
				"plot 2 notitle lc rgb \"white\"\nunset label 1\nset border\nset tics\n");
		}
		snprintf(name, sizeof name, "dist%d.tsv", cat);
		uint8_t *show = cli_malloc((size_t)s.K);
		shown_note(j->gp, write_distributions(j, name, &s, i, layers, nl, MAX_BARS_PANEL, show), s.K);
		fprintf(j->gp, "set title \"label distributions\"\nset key top right font \",8\"\n");
		plot_distributions(j->gp, name, &s, w, i, layers, nl, show);
		free(show);
		fprintf(j->gp, "unset style data\nset style data points\nset autoscale y\nset xtics norotate autofreq\nset key font \",9\"\n"
			"unset xlabel\n");
		plot_profile(j, &s, w, L, i, mean, cat, category_names[cat]);
	}
	fprintf(j->gp, "unset multiplot\n");
	if (d)
		ds_free(d);
	st_file_free(img);
	free(w);
	study_free(&s);
}

const figure figures[] = {
	{ "layers", fig_layers, 8 },
	{ "sample", fig_sample, 1 },
	{ "epochs", fig_train_epochs, 1 },
	{ "adjacent", fig_train_adjacent, 1 },
	{ "probe-epochs", fig_probe_epochs, 1 },
	{ "probe-adjacent", fig_probe_adjacent, 1 },
	{ "sample-epochs", fig_sample_epochs, 1 },
	{ "bn-drift", fig_bn_drift, 8 },
	{ "resplit", fig_resplit, 8 },
	{ "measures", fig_measures, 1 },
	{ "overthinking", fig_overthinking, 8 },
	{ "categories", fig_categories, 1 },
	{ "frontier", fig_frontier, 8 },
};
const int nfigures = sizeof figures / sizeof *figures;
