/* sinkhorn: per-layer, per-sample entropic Wasserstein distance of the
 * predicted label distribution to the target (contract section 7); the
 * numerical core is tools/lib/sinkhorn.c. */
#include "ls.h"
#include "sinkhorn.h"

#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *about =
	"For each row of SOURCE [..., K] (default prob [L,N,K]) against TARGET [..., K]\n"
	"(default labels [N,K], repeated over the leading dims it lacks): a = source row / sum,\n"
	"b = target row / sum, and the loss between them, written as `wdist` with the source's\n"
	"leading shape (float32). A row that sums to 0 is an error unless --skip-empty (NaN).\n"
	"\n"
	"OT_eps(a,b) = min over plans T with marginals a, b of <T,C> + eps sum T (log T - 1).\n"
	"  divergence  2 OT_eps(a,b) - OT_eps(a,a) - OT_eps(b,b) (Sinkhorn divergence, >= 0)\n"
	"  entropic    OT_eps(a,b)\n"
	"  transport   <T,C> at the optimal entropic plan (POT's ot.sinkhorn2)\n"
	"Cost: C_ij = ||e_i - e_j||^p from --embeddings (rows matched to the input's metadata\n"
	"`labels` by name, or by position when either has no names), divided by its largest\n"
	"entry unless --no-normalize; or C from --cost as given; default 1 - I.\n"
	"Sinkhorn iterates until ||T 1 - a||_1 + ||T^T 1 - b||_1 <= --tol or --max-iter, each\n"
	"update over-relaxed by --omega (a problem whose error rises tenfold goes back to\n"
	"plain Sinkhorn); the number of problems that did not converge and the worst marginal\n"
	"error go to stderr.\n"
	"--measure adds cheb (max |a-b|), jsd (Jensen-Shannon, nats), kl (KL(b||a), 0 log 0 = 0,\n"
	"inf where a = 0 < b) and tv (0.5 ||a-b||_1), same shape as wdist. prob_epochs\n"
	"[S,L',N,K] when present (and --source is prob) gives wdist_epochs [S,L',N].\n"
	"Context (labels, ignore, split, index, metadata) is forwarded.\n"
	"\n"
	"Examples:\n"
	"  sinkhorn --embeddings fixtures/voc-glove300.safetensors prob.st -o dist.st\n"
	"  sinkhorn --loss transport --eps 0.05 --measure chebyshev,js prob.st -o dist.st\n"
	"  sinkhorn --source p --target q --cost cost.st pq.st -o d.st";

static const char *source_name = "prob", *target_name = "labels", *embed_spec, *cost_spec;
static const char *loss_name = "divergence", *measure_list = "";
static double p_exp = 2, eps = 0.01, tol = 1e-6, omega = 1.5;
static int max_iter = 1000, no_normalize, skip_empty, strict;

static const ls_opt opts[] = {
	{"source", 0, LS_STR, &source_name, "NAME", "histograms [..., K] to measure"},
	{"target", 0, LS_STR, &target_name, "NAME", "targets [..., K], a suffix of the source's leading shape"},
	{"embeddings", 0, LS_STR, &embed_spec, "FILE[:NAME]", "label embeddings [K,D] (NAME default embeddings)"},
	{"cost", 0, LS_STR, &cost_spec, "FILE[:NAME]", "cost matrix [K,K], used as given (NAME default cost)"},
	{"p", 0, LS_DOUBLE, &p_exp, "P", "exponent of the embedding distance"},
	{"eps", 0, LS_DOUBLE, &eps, "EPS", "entropic regularisation"},
	{"tol", 0, LS_DOUBLE, &tol, "TOL", "marginal error (L1, both marginals) to stop at"},
	{"max-iter", 0, LS_INT, &max_iter, "N", "iteration cap per problem"},
	{"omega", 0, LS_DOUBLE, &omega, "W", "over-relaxation in [1,2) (1: plain Sinkhorn)"},
	{"no-normalize", 0, LS_FLAG, &no_normalize, NULL, "keep the embedding cost unscaled"},
	{"skip-empty", 0, LS_FLAG, &skip_empty, NULL, "write NaN for a row that sums to 0"},
	{"strict", 0, LS_FLAG, &strict, NULL, "a problem short of --tol after --max-iter is an error"},
	{"loss", 0, LS_STR, &loss_name, "LOSS", "divergence, entropic or transport"},
	{"measure", 0, LS_STR, &measure_list, "LIST", "also chebyshev,js,kl,tv (comma-separated)"},
	{0},
};

/* Buffers a failure exit may leave behind stay reachable from here, so that
 * the sanitized build's leak check sees none. */
static void *held[16];
static int nheld;

static void *hold(void *p)
{
	if (nheld < (int)(sizeof held / sizeof *held))
		held[nheld++] = p;
	return p;
}

/* ls_f32 without its finiteness check, which would leave its copy behind */
static float *values(const st_tensor *t, const char *fname)
{
	return hold(ls_f32(t, fname, 0));
}

static const char *const measure_opt[4] = {"chebyshev", "js", "kl", "tv"};
static const char *const measure_out[4] = {"cheb", "jsd", "kl", "tv"};

static sk_loss parse_loss(void)
{
	static const char *const names[] = {"divergence", "entropic", "transport"};
	for (int i = 0; i < 3; i++)
		if (strcmp(loss_name, names[i]) == 0)
			return (sk_loss)i;
	ls_usage("option --loss: '%s', expected divergence, entropic or transport", loss_name);
}

static int parse_measures(void)
{
	int mask = 0;
	char *list = ls_strdup(measure_list), *save = NULL;
	for (char *tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		int q = 0;
		while (q < 4 && strcmp(tok, measure_opt[q]))
			q++;
		if (q == 4)
			ls_usage("option --measure: '%s', expected chebyshev, js, kl or tv", tok);
		mask |= 1 << q;
	}
	free(list);
	return mask;
}

static void check_options(void)
{
	if (!(eps > 0) || !isfinite(eps))
		ls_usage("option --eps: %g, expected a finite number > 0", eps);
	if (!(tol >= 0) || !isfinite(tol))
		ls_usage("option --tol: %g, expected a finite number >= 0", tol);
	if (max_iter < 1)
		ls_usage("option --max-iter: %d, expected >= 1", max_iter);
	if (!(omega >= 1 && omega < 2))
		ls_usage("option --omega: %g, expected 1 <= W < 2", omega);
	if (!(p_exp > 0) || !isfinite(p_exp))
		ls_usage("option --p: %g, expected a finite number > 0", p_exp);
	if (embed_spec && cost_spec)
		ls_usage("--embeddings and --cost both given: choose one");
}

/* FILE[:NAME]: the whole spec when such a file exists, else split at the last ':' */
static st_tensor *load_named(const char *spec, const char *dflt, st_file **file, char **path)
{
	*path = hold(ls_strdup(spec));
	const char *name = dflt;
	char *colon = strrchr(*path, ':');
	if (access(*path, F_OK) != 0 && colon) {
		*colon = 0;
		name = colon + 1;
	}
	*file = hold(ls_load(*path));
	return ls_get(*file, *path, name);
}

/* The rows of the embedding file in the data's label order. */
static float *embedding_rows(const st_tensor *t, const st_file *ef, const char *path,
			     const st_file *in, int k)
{
	int64_t ke = t->shape[0], d = t->shape[1];
	float *e = values(t, path);
	for (int64_t i = 0; i < ke * d; i++)
		if (!isfinite(e[i]))
			ls_die("%s: tensor '%s' has %g at flat index %" PRId64 ", expected finite values", path,
			       t->name, e[i], i);
	int nl = 0, ne = 0;
	char **labels = hold(st_meta_get_list(in, "labels", &nl));
	char **names = hold(st_meta_get_list(ef, "labels", &ne));
	if (!labels || !names) {
		st_list_free(labels, nl);
		st_list_free(names, ne);
		if (ke != k)
			ls_die("%s: tensor '%s' has %" PRId64 " rows, expected K = %d (matched by position: "
			       "no `labels` names in %s)", path, t->name, ke, k, labels ? path : "the input");
		return e;
	}
	if (nl != k)
		ls_die("input: metadata `labels` lists %d names, expected K = %d", nl, k);
	if (ne != ke)
		ls_die("%s: metadata `labels` lists %d names for %" PRId64 " rows of '%s'", path, ne, ke, t->name);
	float *out = hold(ls_malloc(ls_mul((size_t)k, (size_t)d, "embeddings") * sizeof *out));
	size_t cap = 256, len = 0;
	char *missing = hold(ls_malloc(cap));
	missing[0] = 0;
	for (int i = 0; i < k; i++) {
		int j = 0;
		while (j < ne && strcmp(labels[i], names[j]))
			j++;
		if (j < ne) {
			memcpy(out + (size_t)i * d, e + (size_t)j * d, (size_t)d * sizeof *out);
			continue;
		}
		size_t need = len + strlen(labels[i]) + 3;
		if (need > cap)
			missing = hold(ls_realloc(missing, cap = 2 * need));
		len += (size_t)sprintf(missing + len, "%s'%s'", len ? ", " : "", labels[i]);
	}
	if (len)
		ls_die("%s: no embedding for the labels %s", path, missing);
	free(missing);
	free(e);
	st_list_free(labels, nl);
	st_list_free(names, ne);
	return out;
}

static double *make_cost(const st_file *in, int k)
{
	if (!embed_spec && !cost_spec)
		return sk_cost_uniform(k);
	st_file *f;
	char *path;
	double *c;
	if (cost_spec) {
		st_tensor *t = load_named(cost_spec, "cost", &f, &path);
		ls_check_shape(t, path, 2, (const int64_t[]){k, k});
		c = hold(st_to_f64(t));
		if (!c)
			ls_die("%s: tensor '%s' is too large", path, t->name);
		int64_t at;
		if (sk_cost_check(c, k, &at))
			ls_die("%s: tensor '%s' has %g at [%" PRId64 ",%" PRId64 "], expected finite costs >= 0",
			       path, t->name, c[at], at / k, at % k);
	} else {
		st_tensor *t = load_named(embed_spec, "embeddings", &f, &path);
		ls_check_shape(t, path, 2, (const int64_t[]){-1, -1});
		if (t->shape[1] < 1 || t->shape[1] > INT32_MAX)
			ls_die("%s: tensor '%s' has shape [%" PRId64 ",%" PRId64 "], expected [K,D] with D >= 1",
			       path, t->name, t->shape[0], t->shape[1]);
		float *e = embedding_rows(t, f, path, in, k);
		c = hold(sk_cost_embed(e, k, (int)t->shape[1], p_exp));
		free(e);
		if (!c)
			ls_die("cost: out of memory for %d x %d", k, k);
		if (!no_normalize && sk_cost_normalize(c, k))
			ls_die("%s: tensor '%s': every embedding is the same, the cost is 0", path, t->name);
		int64_t at;
		if (sk_cost_check(c, k, &at))
			ls_die("%s: tensor '%s' gives cost %g at [%" PRId64 ",%" PRId64 "], expected finite",
			       path, t->name, c[at], at / k, at % k);
	}
	st_file_free(f);
	free(path);
	return c;
}

/* Values of a histogram tensor: finite, >= 0, rows with mass unless --skip-empty. */
static float *histograms(const st_tensor *t, const char *fname, int64_t rows, int k)
{
	float *x = values(t, fname);
	int64_t bad = sk_hist_bad(x, rows, k);
	if (bad >= 0)
		ls_die("%s: tensor '%s' has %g at flat index %" PRId64 ", expected finite values >= 0",
		       fname, t->name, x[bad], bad);
	for (int64_t r = 0; r < rows && !skip_empty; r++) {
		double s = 0;
		for (int j = 0; j < k; j++)
			s += x[r * k + j];
		if (s == 0)
			ls_die("%s: tensor '%s' row %" PRId64 " sums to 0 (no label or no mass); "
			       "--skip-empty writes NaN for it", fname, t->name, r);
	}
	return x;
}

static int64_t leading(const st_tensor *t)
{
	int64_t n = 1;
	for (int d = 0; d < t->ndim - 1; d++)
		n *= t->shape[d];
	return n;
}

/* target dims must be the trailing dims of the source */
static void check_broadcast(const st_tensor *s, const st_tensor *t, const char *fname)
{
	int ok = t->ndim >= 1 && t->ndim <= s->ndim;
	for (int d = 1; ok && d <= t->ndim; d++)
		ok = t->shape[t->ndim - d] == s->shape[s->ndim - d];
	if (!ok)
		ls_die("%s: tensor '%s' (%d dims) does not match '%s' (%d dims): expected [..., K] with "
		       "the trailing dims of '%s' (K = %" PRId64 ")", fname, t->name, t->ndim, s->name,
		       s->ndim, s->name, s->shape[s->ndim - 1]);
}

static void add_f32(st_file *out, const char *name, const st_tensor *like, const double *v, int64_t n)
{
	float *x = ls_malloc(ls_mul((size_t)n, sizeof *x, name));
	for (int64_t i = 0; i < n; i++)
		x[i] = (float)v[i];
	int ndim = like->ndim > 1 ? like->ndim - 1 : 1;
	int64_t shape[ST_MAX_DIMS] = {1};
	for (int d = 0; d < like->ndim - 1; d++)
		shape[d] = like->shape[d];
	st_add(out, name, ST_F32, ndim, shape, x, 1);
}

typedef struct {
	int64_t n, nt;
	float *src, *tgt;
} pairs;

static void report(const char *what, const sk_stats *st)
{
	ls_info("%s: %" PRId64 " transport problems, %" PRId64 " did not converge within %d iterations "
		"(tol %g), worst marginal error %.3g, %" PRId64 " solved in the log domain", what,
		st->problems, st->unconverged, max_iter, tol, st->worst_err, st->fallback);
}

static void show_progress(void *ctx, int64_t done)
{
	ls_progress_update(ctx, (uint64_t)done);
}

static void distances(st_file *out, const char *name, const st_tensor *s, const pairs *pr,
		      const double *c, int k, const sk_params *p)
{
	double *v = ls_malloc(ls_mul((size_t)pr->n, sizeof *v, name));
	sk_stats st = {0};
	double t0 = ls_now();
	sk_params q = *p;
	q.progress_ctx = ls_progress_start(name, (uint64_t)pr->n, "rows");
	q.progress = q.progress_ctx ? show_progress : NULL;
	if (sk_batch(&q, c, k, pr->n, pr->src, pr->nt, pr->tgt, v, &st))
		ls_die("%s: out of memory", name);
	ls_progress_end(q.progress_ctx);
	if (strict && st.unconverged)
		ls_die("%s: %" PRId64 " of %" PRId64 " transport problems did not converge within %d iterations "
		       "(tol %g, worst marginal error %.3g)", name, st.unconverged, st.problems, max_iter, tol,
		       st.worst_err);
	report(name, &st);
	double dt = ls_now() - t0;
	ls_info("%s: %" PRId64 " rows in %.2f s, %.3g iterations per problem, %.2f GFLOP/s in the "
		"kernel products", name, pr->n, dt, st.problems ? (double)st.iterations / st.problems : 0.0,
		dt > 0 ? st.flops / dt * 1e-9 : 0.0);
	add_f32(out, name, s, v, pr->n);
	free(v);
}

int main(int argc, char **argv)
{
	ls_init(argc, argv, "sinkhorn");
	int i = ls_parse(argc, argv, opts, "sinkhorn [options] [INPUT]", about);
	if (argc - i > 1)
		ls_usage("one INPUT at most, got %d", argc - i);
	check_options();
	sk_params p;
	sk_params_default(&p);
	p.eps = eps;
	p.tol = tol;
	p.max_iter = max_iter;
	p.omega = omega;
	p.loss = parse_loss();
	p.threads = ls_opts.threads;
	int mask = parse_measures();
	const char *fname = i < argc ? argv[i] : "-";
	st_file *in = hold(ls_load(fname));
	st_tensor *s = ls_get(in, fname, source_name), *t = ls_get(in, fname, target_name);
	if (s->ndim < 1 || s->shape[s->ndim - 1] < 1 || s->shape[s->ndim - 1] > 100000)
		ls_die("%s: tensor '%s' has %d dims, expected [..., K] with 1 <= K <= 100000", fname,
		       s->name, s->ndim);
	check_broadcast(s, t, fname);
	const int k = (int)s->shape[s->ndim - 1];
	pairs pr = {.n = leading(s), .nt = leading(t)};
	double *c = hold(make_cost(in, k));
	if (!c)
		ls_die("cost: out of memory for %d x %d", k, k);
	if (pr.nt == 0 && pr.n > 0)
		ls_die("%s: tensor '%s' is empty", fname, t->name);
	pr.src = histograms(s, fname, pr.n, k);
	pr.tgt = histograms(t, fname, pr.nt, k);
	st_file *out = st_file_new();
	distances(out, "wdist", s, &pr, c, k, &p);
	if (mask) {
		double *m[4] = {0};
		for (int q = 0; q < 4; q++)
			if (mask & 1 << q)
				m[q] = ls_malloc(ls_mul((size_t)pr.n, sizeof(double), measure_out[q]));
		if (sk_measure_batch(k, pr.n, pr.src, pr.nt, pr.tgt, m))
			ls_die("measures: out of memory");
		for (int q = 0; q < 4; q++)
			if (m[q]) {
				add_f32(out, measure_out[q], s, m[q], pr.n);
				free(m[q]);
			}
	}
	st_tensor *ep = strcmp(source_name, "prob") == 0 ? st_find(in, "prob_epochs") : NULL;
	if (ep) {
		check_broadcast(ep, t, fname);
		pairs pe = {.n = leading(ep), .nt = pr.nt, .tgt = pr.tgt};
		pe.src = histograms(ep, fname, pe.n, k);
		distances(out, "wdist_epochs", ep, &pe, c, k, &p);
		free(pe.src);
	}
	ls_forward_context(out, in);
	ls_write(out, ls_opts.output);
	free(pr.src);
	free(pr.tgt);
	free(c);
	st_file_free(out);
	st_file_free(in);
	return 0;
}
