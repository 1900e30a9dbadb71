/* bn.c: BatchNorm layers and their Gaussian W2 (bn.h). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bn.h"

/* "P.SUFFIX" -> the module P when name ends in ".SUFFIX" (allocated), else NULL */
static char *module_of(const char *name, const char *suffix, char *err, int *oom)
{
	size_t n = strlen(name), s = strlen(suffix);
	if (n <= s + 1 || name[n - s - 1] != '.' || strcmp(name + n - s, suffix))
		return NULL;
	char *p = strndup(name, n - s - 1);
	if (!p)
		*oom = err_set(err, "out of memory");
	return p;
}

static const st_tensor *param(const st_file *f, const char *module, const char *suffix)
{
	size_t n = strlen(module) + strlen(suffix) + 2;
	char *name = malloc(n);
	if (!name)
		return NULL;
	snprintf(name, n, "%s.%s", module, suffix);
	const st_tensor *t = st_find(f, name);
	free(name);
	return t;
}

/* t as C finite doubles (>= 0 when nonneg); NULL with err */
static double *values(const st_tensor *t, int64_t c, int nonneg, const char *fname, char *err)
{
	if (t->ndim != 1 || t->shape[0] != c) {
		char sh[64];
		err_set(err, "%s: tensor '%s' has shape %s, expected [%lld] like the layer's other parameters",
			fname, err_esc(t->name), st_shape_str(sh, sizeof sh, t->ndim, t->shape), (long long)c);
		return NULL;
	}
	if (t->dtype != ST_F64 && t->dtype != ST_F32 && t->dtype != ST_F16 && t->dtype != ST_BF16) {
		err_set(err, "%s: tensor '%s' is %s, expected a floating-point dtype", fname, err_esc(t->name),
			st_dtype_name(t->dtype));
		return NULL;
	}
	double *v = st_to_f64(t);
	if (!v) {
		err_set(err, "%s: tensor '%s': out of memory", fname, err_esc(t->name));
		return NULL;
	}
	for (int64_t i = 0; i < c; i++)
		if (!isfinite(v[i]) || (nonneg && v[i] < 0)) {
			err_set(err, "%s: tensor '%s' has %g at channel %lld, expected a finite value%s", fname,
				err_esc(t->name), v[i], (long long)i, nonneg ? " >= 0" : "");
			free(v);
			return NULL;
		}
	return v;
}

static double *filled(int64_t c, double x)
{
	double *v = malloc(sizeof *v * (size_t)(c ? c : 1));
	for (int64_t i = 0; v && i < c; i++)
		v[i] = x;
	return v;
}

/* The stage of module name: its first component, except torchvision's VGG
 * `features.N`, whose stages are the runs of conv-BN-ReLU between max pools:
 * the index steps by 3 within a block and by 4 (the pool) into the next. */
static char *stage_of(const char *name, const char *prev_name, const char *prev_stage)
{
	char *end;
	if (!strncmp(name, "features.", 9)) {
		long i = strtol(name + 9, &end, 10);
		if (end != name + 9 && !*end) {
			long j = -1;
			int block = 1;
			if (prev_name && prev_stage && !strncmp(prev_name, "features.", 9) && !strncmp(prev_stage, "block", 5)) {
				j = strtol(prev_name + 9, &end, 10);
				block = atoi(prev_stage + 5) + (i - j > 3);
			}
			char buf[32];
			snprintf(buf, sizeof buf, "block%d", block);
			return strdup(buf);
		}
	}
	return strndup(name, strcspn(name, "."));
}

/* fills layer l for module P; 0 or -1 with err */
static int take_layer(const st_file *f, const char *fname, const char *module, bn_layer *l, const bn_layer *prev,
		      char *err)
{
	const st_tensor *w = param(f, module, "weight"), *b = param(f, module, "bias");
	const st_tensor *rm = param(f, module, "running_mean"), *rv = param(f, module, "running_var");
	if (!w != !b)
		return err_set(err, "%s: BatchNorm layer '%s' has a %s but no %s", fname, err_esc(module),
			       w ? "weight" : "bias", w ? "bias" : "weight");
	if (!rm != !rv)
		return err_set(err, "%s: BatchNorm layer '%s' has a %s but no %s", fname, err_esc(module),
			       rm ? "running_mean" : "running_var", rm ? "running_var" : "running_mean");
	const st_tensor *first = w ? w : rm;
	if (first->ndim != 1 || first->shape[0] < 1) {
		char sh[64];
		return err_set(err, "%s: tensor '%s' has shape %s, expected [C] with C >= 1", fname,
			       err_esc(first->name), st_shape_str(sh, sizeof sh, first->ndim, first->shape));
	}
	l->channels = first->shape[0];
	l->name = strdup(module);
	l->stage = stage_of(module, prev ? prev->name : NULL, prev ? prev->stage : NULL);
	if (!l->name || !l->stage)
		return err_set(err, "out of memory");
	l->scale = w ? values(w, l->channels, 0, fname, err) : filled(l->channels, 1);
	if (!l->scale)
		return w ? -1 : err_set(err, "out of memory");
	l->beta = b ? values(b, l->channels, 0, fname, err) : filled(l->channels, 0);
	if (!l->beta)
		return b ? -1 : err_set(err, "out of memory");
	for (int64_t c = 0; c < l->channels; c++)
		l->scale[c] = fabs(l->scale[c]);   /* N(beta, gamma^2): the sign does not matter */
	if (rm) {
		if (!(l->mean = values(rm, l->channels, 0, fname, err)) || !(l->var = values(rv, l->channels, 1, fname, err)))
			return -1;
	}
	return 0;
}

/* A module is BatchNorm when it has a 1-D weight, or running statistics. */
static char *bn_module(const st_tensor *t, char *err, int *oom)
{
	if (t->ndim == 1) {
		char *m = module_of(t->name, "weight", err, oom);
		if (m || *oom)
			return m;
	}
	return module_of(t->name, "running_mean", err, oom);
}

/* significand bits: what "coarser" compares */
static int precision_bits(st_dtype d)
{
	return d == ST_F64 ? 53 : d == ST_F32 ? 24 : d == ST_F16 ? 11 : d == ST_BF16 ? 8 : 64;
}

st_dtype bn_coarser(st_dtype a, st_dtype b)
{
	return precision_bits(b) < precision_bits(a) ? b : a;
}

static double round_to(double x, st_dtype d)
{
	float f = (float)x;
	return d == ST_F64 ? x : d == ST_F16 ? st_half_to_f32(st_f32_to_half(f))
		: d == ST_BF16 ? st_bf16_to_f32(st_f32_to_bf16(f)) : f;
}

static void round_all(double *v, int64_t c, st_dtype d)
{
	for (int64_t i = 0; v && i < c; i++)
		v[i] = round_to(v[i], d);
}

void bn_round(bn_model *m, st_dtype dtype)
{
	for (int i = 0; i < m->n; i++) {
		bn_layer *l = &m->l[i];
		round_all(l->beta, l->channels, dtype);
		round_all(l->scale, l->channels, dtype);
		round_all(l->mean, l->channels, dtype);
		round_all(l->var, l->channels, dtype);
	}
	m->dtype = bn_coarser(m->dtype, dtype);
}

/* the coarsest dtype of module P's tensors into m */
static void note_dtypes(const st_file *f, const char *module, bn_model *m)
{
	static const char *const suffixes[] = { "weight", "bias", "running_mean", "running_var" };
	for (int s = 0; s < 4; s++) {
		const st_tensor *t = param(f, module, suffixes[s]);
		if (t)
			m->dtype = bn_coarser(m->dtype, t->dtype);
	}
}

int bn_find(const st_file *f, const char *fname, bn_model *m, char *err)
{
	*m = (bn_model){ .dtype = ST_F64 };
	for (int i = 0; i < f->n; i++) {
		int oom = 0;
		char *module = bn_module(&f->t[i], err, &oom);
		if (oom)
			return bn_free(m), -1;
		if (!module)
			continue;
		int seen = 0;
		for (int j = 0; j < m->n && !seen; j++)
			seen = !strcmp(m->l[j].name, module);
		if (seen) {
			free(module);
			continue;
		}
		bn_layer *l = realloc(m->l, sizeof *l * (size_t)(m->n + 1));
		if (!l) {
			free(module);
			bn_free(m);
			return err_set(err, "out of memory");
		}
		m->l = l;
		memset(&m->l[m->n], 0, sizeof *m->l);
		int rc = take_layer(f, fname, module, &m->l[m->n], m->n ? &m->l[m->n - 1] : NULL, err);
		m->n++;
		note_dtypes(f, module, m);
		free(module);
		if (rc)
			return bn_free(m), -1;
	}
	return 0;
}

void bn_free(bn_model *m)
{
	for (int i = 0; i < m->n; i++) {
		bn_layer *l = &m->l[i];
		free(l->name);
		free(l->stage);
		free(l->beta);
		free(l->scale);
		free(l->mean);
		free(l->var);
	}
	free(m->l);
	*m = (bn_model){0};
}

int bn_match(const bn_model *a, const char *aname, const bn_model *b, const char *bname, char *err)
{
	for (int i = 0; i < a->n || i < b->n; i++) {
		if (i >= a->n || i >= b->n)
			return err_set(err, "%s: %d BatchNorm layers, %s has %d (%s '%s' has no counterpart)", bname, b->n,
				       aname, a->n, i >= a->n ? bname : aname, err_esc(i >= a->n ? b->l[i].name : a->l[i].name));
		const bn_layer *x = &a->l[i], *y = &b->l[i];
		if (strcmp(x->name, y->name))
			return err_set(err, "%s: BatchNorm layer %d is '%s', '%s' in %s", bname, i + 1, err_esc(y->name),
				       err_esc(x->name), aname);
		if (x->channels != y->channels)
			return err_set(err, "%s: BatchNorm layer '%s' has %lld channels, %lld in %s", bname,
				       err_esc(y->name), (long long)y->channels, (long long)x->channels, aname);
		if (!x->mean != !y->mean)
			return err_set(err, "%s: BatchNorm layer '%s' %s running statistics, %s in %s", bname,
				       err_esc(y->name), y->mean ? "has" : "lacks", x->mean ? "present" : "absent", aname);
	}
	return 0;
}

double bn_w2_diag(const double *m1, const double *s1, const double *m2, const double *s2, int64_t c)
{
	double sum = 0;
	for (int64_t i = 0; i < c; i++) {
		double dm = m1[i] - m2[i], ds = s1[i] - s2[i];
		sum += dm * dm + ds * ds;
	}
	return sqrt(sum);
}

double bn_w2_affine(const bn_layer *a, const bn_layer *b)
{
	return bn_w2_diag(a->beta, a->scale, b->beta, b->scale, a->channels);
}

double bn_w2_running(const bn_layer *a, const bn_layer *b)
{
	if (!a->mean || !b->mean)
		return NAN;
	double sum = 0;
	for (int64_t i = 0; i < a->channels; i++) {
		double dm = a->mean[i] - b->mean[i], ds = sqrt(a->var[i]) - sqrt(b->var[i]);
		sum += dm * dm + ds * ds;
	}
	return sqrt(sum);
}
