/* study.c: loading and checking the study's inputs (see study.h). */
#include <fnmatch.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"
#include "shard.h"
#include "study.h"

static int is_01(float v) { return v == 0 || v == 1; }
static int is_probability(float v) { return v >= 0 && v <= 1; }
static int is_split(float v) { return v == 0 || v == 1 || v == 2; }
static int is_distance(float v) { return !isinf(v); }

/* float copy of t whose every value passes ok(), else one line naming the first
 * that does not */
static float *checked_f32(const st_tensor *t, const char *fname, int (*ok)(float), const char *expect)
{
	float *v = cli_f32(t, fname, 0);
	int64_t n = st_numel(t);
	for (int64_t i = 0; i < n; i++)
		if (!ok(v[i]))
			cli_die("%s: tensor '%s': value %g at %lld, expected %s", fname, t->name, v[i],
				(long long)i, expect);
	return v;
}

uint8_t *study_u8(const st_tensor *t, const char *fname)
{
	float *v = checked_f32(t, fname, is_01, "0 or 1");
	int64_t n = st_numel(t);
	uint8_t *out = cli_malloc(n > 0 ? (size_t)n : 1);
	for (int64_t i = 0; i < n; i++)
		out[i] = v[i] != 0;
	free(v);
	return out;
}

static void load_prob(study *s)
{
	st_tensor *t = cli_get(s->f, s->fname, "prob");
	int64_t any3[3] = { -1, -1, -1 };
	cli_check_shape(t, s->fname, 3, any3);
	if (t->shape[0] < 1 || t->shape[1] < 1 || t->shape[2] < 1 || t->shape[0] > 100000 ||
	    t->shape[2] > 1000000)
		cli_die("%s: tensor 'prob': shape [%lld,%lld,%lld], expected [L>=1,N>=1,K>=1]", s->fname,
		       (long long)t->shape[0], (long long)t->shape[1], (long long)t->shape[2]);
	s->L = (int)t->shape[0];
	s->N = t->shape[1];
	s->K = (int)t->shape[2];
	s->prob = checked_f32(t, s->fname, is_probability, "a probability in [0,1]");
}

static void load_context(study *s)
{
	st_tensor *y = cli_get(s->f, s->fname, "labels");
	if (!s->prob) {
		int64_t any2[2] = { -1, -1 };
		cli_check_shape(y, s->fname, 2, any2);
		s->N = y->shape[0];
		s->K = (int)y->shape[1];
	}
	int64_t nk[2] = { s->N, s->K }, n1[1] = { s->N };
	cli_check_shape(y, s->fname, 2, nk);
	s->labels = study_u8(y, s->fname);
	st_tensor *ig = st_find(s->f, "ignore");
	if (ig) {
		cli_check_shape(ig, s->fname, 2, nk);
		s->ignore = study_u8(ig, s->fname);
	}
	st_tensor *sp = st_find(s->f, "split");
	if (sp) {
		cli_check_shape(sp, s->fname, 1, n1);
		float *v = checked_f32(sp, s->fname, is_split, "0 (train), 1 (val) or 2 (test)");
		s->split = cli_malloc(s->N > 0 ? (size_t)s->N : 1);
		for (int64_t i = 0; i < s->N; i++)
			s->split[i] = (uint8_t)v[i];
		free(v);
	}
}

static char **names_of_length(const st_file *f, const char *key, int64_t want)
{
	int n = 0;
	char **v = st_meta_get_list(f, key, &n);
	if (v && n != want) {
		st_list_free(v, n);
		return NULL;
	}
	return v;
}

/* not the snapshots nor the features: see study_load_lean */
static int lean(const char *name, void *ctx)
{
	(void)ctx;
	return strcmp(name, "prob_epochs") != 0 && fnmatch("feat.*", name, 0) != 0;
}

static void load(study *s, const char *path, int need_prob, int (*keep)(const char *, void *))
{
	memset(s, 0, sizeof *s);
	s->fname = cli_name(path);
	s->f = cli_load_some(path ? path : "-", keep, NULL);
	char err[ERR_LEN];
	if (shard_check_input(s->f, err))   /* every row or none: figures, tables, thresholds */
		cli_die("%s: %s", s->fname, err);
	if (need_prob || st_find(s->f, "prob"))
		load_prob(s);
	load_context(s);
	if (s->prob)
		s->layers = names_of_length(s->f, "layers", s->L);
	s->label_names = names_of_length(s->f, "labels", s->K);
}

void study_load(study *s, const char *path, int need_prob)
{
	load(s, path, need_prob, NULL);
}

void study_load_lean(study *s, const char *path, int need_prob)
{
	load(s, path, need_prob, lean);
}

void study_load_with_prob(study *s, const char *path, const char *prob_path)
{
	study_load(s, path, 0);
	if (s->prob)
		return;
	if (!prob_path)
		cli_die("%s: no tensor 'prob': give it with --prob FILE", s->fname);
	study p;
	study_load_lean(&p, prob_path, 1);
	if (p.N != s->N || p.K != s->K)
		cli_die("%s: tensor 'prob' has shape [%d,%lld,%d], expected [L,%lld,%d] as %s's labels",
			p.fname, p.L, (long long)p.N, p.K, (long long)s->N, s->K, s->fname);
	s->prob = p.prob, s->L = p.L, p.prob = NULL;
	if (!s->layers)
		s->layers = p.layers, p.layers = NULL;
	study_free(&p);
}

void study_free(study *s)
{
	if (s->layers)
		st_list_free(s->layers, s->L);
	if (s->label_names)
		st_list_free(s->label_names, s->K);
	free(s->prob);
	free(s->labels);
	free(s->ignore);
	free(s->split);
	st_file_free(s->f);
}

int study_split_id(const char *name)
{
	int i = names_find(split_names, SPLIT_N, name);
	if (i >= 0)
		return i;
	if (!strcmp(name, "all"))
		return -1;
	cli_usage("bad split '%s': expected train, val, test or all", name);
}

int64_t *study_rows(const study *s, int split, int64_t *n)
{
	int64_t *rows = cli_malloc(cli_mul((size_t)s->N + 1, sizeof *rows, "rows"));
	*n = 0;
	for (int64_t i = 0; i < s->N; i++)
		if (split < 0 || !s->split || s->split[i] == split)
			rows[(*n)++] = i;
	return rows;
}

mt_layer study_layer(const study *s, int l)
{
	mt_layer m = { s->prob + (int64_t)l * s->N * s->K, s->labels, s->ignore, s->K };
	return m;
}

const char *study_layer_name(const study *s, int l, char buf[32])
{
	if (s->layers)
		return s->layers[l];
	snprintf(buf, 32, "layer %02d", l);
	return buf;
}

float *study_profile(study *s, const char *name, int *L)
{
	st_tensor *t = cli_get(s->f, s->fname, name);
	int64_t dims[2] = { s->prob ? s->L : -1, s->N };
	cli_check_shape(t, s->fname, 2, dims);
	if (t->shape[0] < 1 || t->shape[0] > 100000)
		cli_die("%s: tensor '%s': %lld layers, expected 1 to 100000", s->fname, name,
		       (long long)t->shape[0]);
	*L = (int)t->shape[0];
	if (!s->prob && !s->layers) {   /* a distances file: its layers are the profile's */
		s->L = *L;
		s->layers = names_of_length(s->f, "layers", s->L);
	}
	return checked_f32(t, s->fname, is_distance, "a finite distance or NaN");
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

double study_quantile(double *v, int64_t n, double q)
{
	if (n == 0)
		return NAN;
	qsort(v, n, sizeof *v, cmp_double);
	double pos = q * (n - 1);
	int64_t lo = (int64_t)floor(pos), hi = lo + 1 < n ? lo + 1 : lo;
	return v[lo] + (pos - lo) * (v[hi] - v[lo]);
}
