/* sinkhorn: per-layer, per-sample entropic Wasserstein distance of the
 * predicted label distribution to the target (contract section 7); the
 * numerical core is tools/lib/sinkhorn.c. */
#include "cli.h"
#include "names.h"
#include "shard.h"
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
	"plain Sinkhorn); a problem whose rate predicts a slow finish (a near-diagonal kernel,\n"
	"small eps) is finished by Newton's method on the semi-dual, whose steps count toward\n"
	"--max-iter too. The number of problems that did not converge and the worst marginal\n"
	"error go to stderr; --strict makes any such problem an error. --device cuda iterates\n"
	"on the GPU (K <= 128; the same rules per problem, values within 1e-9 of the CPU's;\n"
	"a `make CUDA=1` build); what goes to Newton still finishes on the CPU.\n"
	"--measure adds cheb (max |a-b|), jsd (Jensen-Shannon, nats), kl (KL(b||a), 0 log 0 = 0,\n"
	"inf where a = 0 < b) and tv (0.5 ||a-b||_1), same shape as wdist. prob_epochs\n"
	"[S,L',N,K] when present (and --source is prob) gives wdist_epochs [S,L',N].\n"
	"prob_train [T,L,N,K] (the probes of T backbone checkpoints, `tensors stack`) gives\n"
	"wdist_train [T,L,N] against the targets and wdist_train_adjacent [T-1,L,N], the\n"
	"loss between the distributions of checkpoints t and t+1 (same cost, eps, loss);\n"
	"an input may hold prob_train without prob.\n"
	"Context (labels, ignore, split, index, metadata) is forwarded.\n"
	"--shard I/N: only the samples of block I of N (rows floor(I*S/N) to floor((I+1)*S/N)-1\n"
	"of the S samples: the axis before K of every histogram tensor, axis 0 of the context),\n"
	"read from the whole input and solved alone: wdist [L,rows], metadata shard \"I/N\" and\n"
	"shard_axis; shards 0..N-1 joined along the samples axis are the unsharded output\n"
	"(docs/sinkhorn.md). A block of no rows (N > S) is written too.\n"
	"\n"
	"Examples:\n"
	"  sinkhorn --embeddings fixtures/voc-glove300.safetensors prob.st -o dist.st\n"
	"  sinkhorn --loss transport --eps 0.05 --measure chebyshev,js prob.st -o dist.st\n"
	"  sinkhorn --source p --target q --cost cost.st pq.st -o d.st\n"
	"  sinkhorn --shard 2/8 prob.st -o dist.shard-2-of-8.st";

typedef struct {
	const char *source, *target;     /* "prob", "labels" */
	const char *embeddings, *cost;   /* FILE[:NAME] specs; NULL: none */
	const char *loss;                /* "divergence" */
	const char *measures;            /* "": none */
	double p, eps, tol, omega;       /* 2, 0.01, 1e-6, 1.5 */
	int max_iter;                    /* 1000 */
	int no_normalize, skip_empty;
	int strict;                      /* non-convergence is an error */
	const char *device;              /* "cpu" */
	const char *shard;               /* "I/N"; NULL: every sample */
	shard_spec block;                /* from shard; 0/1 without */
	int64_t shard_lo, samples;       /* the block's first row, the samples of the whole input */
} options;

static void options_default(options *o)
{
	*o = (options){ .source = "prob", .target = "labels", .loss = "divergence", .measures = "",
			.p = 2, .eps = 0.01, .tol = 1e-6, .omega = 1.5, .max_iter = 1000, .device = "cpu",
			.block = { 0, 1 } };
}

static options o;

static const cli_opt opts[] = {
	{"source", 0, CLI_STR, &o.source, "NAME", "histograms [..., K] to measure"},
	{"target", 0, CLI_STR, &o.target, "NAME", "targets [..., K], a suffix of the source's leading shape"},
	{"embeddings", 0, CLI_STR, &o.embeddings, "FILE[:NAME]", "label embeddings [K,D] (NAME default embeddings)"},
	{"cost", 0, CLI_STR, &o.cost, "FILE[:NAME]", "cost matrix [K,K], used as given (NAME default cost)"},
	{"p", 0, CLI_DOUBLE, &o.p, "P", "exponent of the embedding distance"},
	{"eps", 0, CLI_DOUBLE, &o.eps, "EPS", "entropic regularisation"},
	{"tol", 0, CLI_DOUBLE, &o.tol, "TOL", "marginal error (L1, both marginals) to stop at"},
	{"max-iter", 0, CLI_INT, &o.max_iter, "N", "iteration cap per problem"},
	{"omega", 0, CLI_DOUBLE, &o.omega, "W", "over-relaxation in [1,2) (1: plain Sinkhorn)"},
	{"no-normalize", 0, CLI_FLAG, &o.no_normalize, NULL, "keep the embedding cost unscaled"},
	{"skip-empty", 0, CLI_FLAG, &o.skip_empty, NULL, "write NaN for a row that sums to 0"},
	{"strict", 0, CLI_FLAG, &o.strict, NULL, "a problem short of --tol after --max-iter is an error"},
	{"loss", 0, CLI_STR, &o.loss, "LOSS", "divergence, entropic or transport"},
	{"measure", 0, CLI_STR, &o.measures, "LIST", "also chebyshev,js,kl,tv (comma-separated)"},
	{"device", 0, CLI_STR, &o.device, "DEV", "iterate on cpu or cuda (the GPU, K <= 128)"},
	{"shard", 0, CLI_STR, &o.shard, "I/N", "only the samples of block I of N (0 <= I < N)"},
	{0},
};

/* every value of t as float; the callers check them */
static float *values(const st_tensor *t, const char *fname)
{
	return cli_f32(t, fname, 0);
}

static sk_loss parse_loss(void)
{
	static const char *const names[] = {"divergence", "entropic", "transport"};
	for (int i = 0; i < 3; i++)
		if (strcmp(o.loss, names[i]) == 0)
			return (sk_loss)i;
	cli_usage("option --loss: '%s', expected divergence, entropic or transport", o.loss);
}

/* --measure's words as a mask of 1 << measure_id */
static int parse_measures(void)
{
	int mask = 0;
	char *list = cli_strdup(o.measures), *save = NULL;
	for (char *tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		int q = names_find(measure_options, MEASURE_N, tok);
		if (q < 0)
			cli_usage("option --measure: '%s', expected chebyshev, js, kl or tv", tok);
		mask |= 1 << q;
	}
	free(list);
	return mask;
}

static void check_options(void)
{
	if (!(o.eps > 0) || !isfinite(o.eps))
		cli_usage("option --eps: %g, expected a finite number > 0", o.eps);
	if (!(o.tol >= 0) || !isfinite(o.tol))
		cli_usage("option --tol: %g, expected a finite number >= 0", o.tol);
	if (o.max_iter < 1)
		cli_usage("option --max-iter: %d, expected >= 1", o.max_iter);
	if (!(o.omega >= 1 && o.omega < 2))
		cli_usage("option --omega: %g, expected 1 <= W < 2", o.omega);
	if (!(o.p > 0) || !isfinite(o.p))
		cli_usage("option --p: %g, expected a finite number > 0", o.p);
	if (o.embeddings && o.cost)
		cli_usage("--embeddings and --cost both given: choose one");
	char err[ERR_LEN];
	if (o.shard && shard_parse(o.shard, &o.block, err))
		cli_usage("option --shard: %s", err);
}

/* FILE[:NAME]: the whole spec when such a file exists, else split at the last ':' */
static st_tensor *load_named(const char *spec, const char *dflt, st_file **file, char **path)
{
	*path = cli_strdup(spec);
	const char *name = dflt;
	char *colon = strrchr(*path, ':');
	if (access(*path, F_OK) != 0 && colon) {
		*colon = 0;
		name = colon + 1;
	}
	*file = cli_load(*path);
	return cli_get(*file, *path, name);
}

/* The rows of the embedding file in the data's label order. */
static float *embedding_rows(const st_tensor *t, const st_file *ef, const char *path,
			     const st_file *in, int k)
{
	int64_t ke = t->shape[0], d = t->shape[1];
	float *e = values(t, path);
	for (int64_t i = 0; i < ke * d; i++)
		if (!isfinite(e[i]))
			cli_die("%s: tensor '%s' has %g at flat index %" PRId64 ", expected finite values", path,
			       t->name, e[i], i);
	int nl = 0, ne = 0;
	char **labels = st_meta_get_list(in, "labels", &nl);
	char **names = st_meta_get_list(ef, "labels", &ne);
	if (!labels || !names) {
		st_list_free(labels, nl);
		st_list_free(names, ne);
		if (ke != k)
			cli_die("%s: tensor '%s' has %" PRId64 " rows, expected K = %d (matched by position: "
			       "no `labels` names in %s)", path, t->name, ke, k, labels ? path : "the input");
		return e;
	}
	if (nl != k)
		cli_die("input: metadata `labels` lists %d names, expected K = %d", nl, k);
	if (ne != ke)
		cli_die("%s: metadata `labels` lists %d names for %" PRId64 " rows of '%s'", path, ne, ke, t->name);
	float *out = cli_malloc(cli_mul((size_t)k, (size_t)d, "embeddings") * sizeof *out);
	size_t cap = 256, len = 0;
	char *missing = cli_malloc(cap);
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
			missing = cli_realloc(missing, cap = 2 * need);
		len += (size_t)sprintf(missing + len, "%s'%s'", len ? ", " : "", labels[i]);
	}
	if (len)
		cli_die("%s: no embedding for the labels %s", path, missing);
	free(missing);
	free(e);
	st_list_free(labels, nl);
	st_list_free(names, ne);
	return out;
}

static double *make_cost(const st_file *in, int k)
{
	if (!o.embeddings && !o.cost)
		return sk_cost_uniform(k);
	st_file *f;
	char *path;
	double *c;
	if (o.cost) {
		st_tensor *t = load_named(o.cost, "cost", &f, &path);
		cli_check_shape(t, path, 2, (const int64_t[]){k, k});
		c = st_to_f64(t);
		if (!c)
			cli_die("%s: tensor '%s' is too large", path, t->name);
		int64_t at;
		if (sk_cost_check(c, k, &at))
			cli_die("%s: tensor '%s' has %g at [%" PRId64 ",%" PRId64 "], expected finite costs >= 0",
			       path, t->name, c[at], at / k, at % k);
	} else {
		st_tensor *t = load_named(o.embeddings, "embeddings", &f, &path);
		cli_check_shape(t, path, 2, (const int64_t[]){-1, -1});
		if (t->shape[1] < 1 || t->shape[1] > INT32_MAX)
			cli_die("%s: tensor '%s' has shape [%" PRId64 ",%" PRId64 "], expected [K,D] with D >= 1",
			       path, t->name, t->shape[0], t->shape[1]);
		float *e = embedding_rows(t, f, path, in, k);
		c = sk_cost_embed(e, k, (int)t->shape[1], o.p);
		free(e);
		if (!c)
			cli_die("cost: out of memory for %d x %d", k, k);
		if (!o.no_normalize && sk_cost_normalize(c, k))
			cli_die("%s: tensor '%s': every embedding is the same, the cost is 0", path, t->name);
		int64_t at;
		if (sk_cost_check(c, k, &at))
			cli_die("%s: tensor '%s' gives cost %g at [%" PRId64 ",%" PRId64 "], expected finite",
			       path, t->name, c[at], at / k, at % k);
	}
	st_file_free(f);
	free(path);
	return c;
}

/* Row r (flat over the leading dims) of t, a histogram tensor [..., rows, K]
 * cut to the shard, as its row in the whole input: messages name that one. */
static int64_t input_row(const st_tensor *t, int64_t r)
{
	if (!o.shard || t->ndim < 2)
		return r;
	int64_t n = t->shape[t->ndim - 2];
	return r / n * o.samples + o.shard_lo + r % n;
}

/* t's F32 data itself, taken from the input (t->data becomes NULL): prob and
 * prob_epochs are nearly all of the input, and a float copy of them doubled
 * the peak memory (docs/scale.md). Only for a tensor that is neither
 * forwarded (the context) nor read again (take = 0). */
static float *values_taken(st_tensor *t, const char *fname, int take)
{
	int forwarded = names_find(context_names, CTX_N, t->name) >= 0;
	if (!take || forwarded || t->dtype != ST_F32 || !t->data)
		return values(t, fname);
	float *x = t->data;
	t->data = NULL;
	return x;
}

/* Values of a histogram tensor: finite, >= 0, rows with mass unless
 * --skip-empty. take: the tensor is not read again (values_taken). */
static float *histograms(st_tensor *t, const char *fname, int64_t rows, int k, int take)
{
	float *x = values_taken(t, fname, take);
	int64_t bad = sk_hist_bad(x, rows, k);
	if (bad >= 0)
		cli_die("%s: tensor '%s' has %g at flat index %" PRId64 ", expected finite values >= 0",
		       fname, t->name, x[bad], input_row(t, bad / k) * k + bad % k);
	for (int64_t r = 0; r < rows && !o.skip_empty; r++) {
		double s = 0;
		for (int j = 0; j < k; j++)
			s += x[r * k + j];
		if (s == 0)
			cli_die("%s: tensor '%s' row %" PRId64 " sums to 0 (no label or no mass); "
			       "--skip-empty writes NaN for it", fname, t->name, input_row(t, r));
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
		cli_die("%s: tensor '%s' (%d dims) does not match '%s' (%d dims): expected [..., K] with "
		       "the trailing dims of '%s' (K = %" PRId64 ")", fname, t->name, t->ndim, s->name,
		       s->ndim, s->name, s->shape[s->ndim - 1]);
}

static void add_f32(st_file *out, const char *name, const st_tensor *like, const double *v, int64_t n)
{
	float *x = cli_malloc(cli_mul((size_t)n, sizeof *x, name));
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
	cli_info("%s: %" PRId64 " transport problems, %" PRId64 " did not converge within %d iterations "
		"(tol %g), worst marginal error %.3g, %" PRId64 " solved in the log domain", what,
		st->problems, st->unconverged, o.max_iter, o.tol, st->worst_err, st->fallback);
}

static void show_progress(void *ctx, int64_t done)
{
	cli_progress_update(ctx, (uint64_t)done);
}

/* 1 when row i of the pairs has no mass on either side: --skip-empty's NaN */
static int empty_pair(const pairs *pr, int k, int64_t i)
{
	double a = 0, b = 0;
	for (int j = 0; j < k; j++) {
		a += pr->src[i * k + j];
		b += pr->tgt[(i % pr->nt) * k + j];
	}
	return a == 0 || b == 0;
}

/* A loss that is NaN, infinite or beyond float32 (histogram values near the
 * float limit, an --eps far outside the cost's scale) is refused rather than
 * written. */
static void check_finite_loss(const char *name, const st_tensor *s, const pairs *pr, int k, const double *v)
{
	for (int64_t i = 0; i < pr->n; i++) {
		if (isfinite((float)v[i]) || (o.skip_empty && empty_pair(pr, k, i)))
			continue;
		int64_t idx[ST_MAX_DIMS], r = i;   /* the row's index in the source */
		for (int d = s->ndim - 2; d >= 0; d--) {
			idx[d] = r % s->shape[d] + (d == s->ndim - 2 ? o.shard_lo : 0);
			r /= s->shape[d];
		}
		char at[ST_MAX_DIMS * 24] = "";
		for (int d = 0, len = 0; d < s->ndim - 1; d++)
			len += snprintf(at + len, sizeof at - (size_t)len, "%s%" PRId64, d ? "," : "", idx[d]);
		char val[48];
		snprintf(val, sizeof val, isnan(v[i]) ? "NaN" : isinf(v[i]) ? "infinite" : "%g, beyond float32", v[i]);
		cli_die("%s: row %" PRId64 " ([%s] of '%s') is %s: the histograms' values or --eps %g are out of the "
			"range the solver can represent", name, input_row(s, i), at, s->name, val, o.eps);
	}
}

static void distances(st_file *out, const char *name, const st_tensor *s, const pairs *pr,
		      const double *c, int k, const sk_params *p)
{
	double *v = cli_malloc(cli_mul((size_t)pr->n, sizeof *v, name));
	sk_stats st = {0};
	double t0 = cli_now();
	sk_params q = *p;
	char err[ERR_LEN];
	q.err = err;
	q.progress_ctx = cli_progress_start(name, (uint64_t)pr->n, "rows");
	q.progress = q.progress_ctx ? show_progress : NULL;
	if (sk_batch(&q, c, k, pr->n, pr->src, pr->nt, pr->tgt, v, &st))
		cli_die("%s: %s", name, err);
	cli_progress_end(q.progress_ctx);
	if (o.strict && st.unconverged)
		cli_die("%s: %" PRId64 " of %" PRId64 " transport problems did not converge within %d iterations "
			"(tol %g, worst marginal error %.3g)", name, st.unconverged, st.problems, o.max_iter, o.tol,
			st.worst_err);
	report(name, &st);
	double dt = cli_now() - t0;
	cli_info("%s: %" PRId64 " rows in %.2f s, %.3g iterations per problem, %.2f GFLOP/s in the "
		"kernel products", name, pr->n, dt, st.problems ? (double)st.iterations / st.problems : 0.0,
		dt > 0 ? st.flops / dt * 1e-9 : 0.0);
	check_finite_loss(name, s, pr, k, v);
	add_f32(out, name, s, v, pr->n);
	free(v);
}

static sk_params solver_params(void)
{
	sk_params p;
	sk_params_default(&p);
	p.eps = o.eps;
	p.tol = o.tol;
	p.max_iter = o.max_iter;
	p.omega = o.omega;
	p.loss = parse_loss();
	p.threads = cli_opts.threads;
	p.gpu = cli_device(o.device) == DEVICE_CUDA;
	return p;
}

/* the --measure tensors, shaped like wdist */
static void add_measures(st_file *out, const st_tensor *s, const pairs *pr, int k, int mask)
{
	double *m[4] = {0};   /* sk_measure_batch's order: MEASURE_CHEB .. MEASURE_TV */
	for (int q = MEASURE_CHEB; q < MEASURE_N; q++)
		if (mask & 1 << q)
			m[q - MEASURE_CHEB] = cli_malloc(cli_mul((size_t)pr->n, sizeof(double), measure_tensors[q]));
	if (sk_measure_batch(k, pr->n, pr->src, pr->nt, pr->tgt, m))
		cli_die("measures: out of memory");
	for (int q = MEASURE_CHEB; q < MEASURE_N; q++)
		if (m[q - MEASURE_CHEB]) {
			add_f32(out, measure_tensors[q], s, m[q - MEASURE_CHEB], pr->n);
			free(m[q - MEASURE_CHEB]);
		}
}

/* wdist_epochs from train-probe's snapshots, against the same targets */
static void add_epochs(st_file *out, const st_file *in, const char *fname, const st_tensor *t,
		       const pairs *pr, const double *c, int k, const sk_params *p)
{
	st_tensor *ep = strcmp(o.source, "prob") == 0 ? st_find(in, "prob_epochs") : NULL;
	if (!ep)
		return;
	check_broadcast(ep, t, fname);
	pairs pe = {.n = leading(ep), .nt = pr->nt, .tgt = pr->tgt};
	pe.src = histograms(ep, fname, pe.n, k, 1);
	distances(out, "wdist_epochs", ep, &pe, c, k, p);
	free(pe.src);
}

/* A tensor header shaped [lead, like's dims 1..] for add_f32's output shape. */
static st_tensor reshaped(const st_tensor *like, int64_t lead)
{
	st_tensor r = *like;
	r.shape[0] = lead;
	return r;
}

/* From prob_train [T,L,N,K]: wdist_train [T,L,N] against the targets, and
 * wdist_train_adjacent [T-1,L,N]: checkpoint t's rows against t+1's. */
static void add_train(st_file *out, st_tensor *tr, const char *fname, const st_tensor *t,
		      int64_t nt, const float *tgt, const double *c, int k, const sk_params *p)
{
	check_broadcast(tr, t, fname);
	if (tr->ndim < 2 || tr->shape[0] < 1)
		cli_die("%s: tensor '%s' has %d dims, expected [T,...,K] with T >= 1 checkpoints", fname,
			tr->name, tr->ndim);
	pairs pt = {.n = leading(tr), .nt = nt, .tgt = (float *)tgt};
	pt.src = histograms(tr, fname, pt.n, k, tr != t);
	distances(out, "wdist_train", tr, &pt, c, k, p);
	int64_t T = tr->shape[0], per = pt.n / T;
	if (T >= 2) {
		st_tensor like = reshaped(tr, T - 1);
		pairs pa = {.n = per * (T - 1), .nt = per * (T - 1), .src = pt.src, .tgt = pt.src + per * k};
		distances(out, "wdist_train_adjacent", &like, &pa, c, k, p);
	}
	free(pt.src);
}

/* The solver holds K x K matrices: the cost and the kernel with its product
 * by the cost (3 x 8 K^2 bytes), a float64 copy of a --cost (8 K^2 more),
 * and per thread a block of 256 problems of about 56 K bytes each. K is
 * bounded by what this machine's memory allows -- half of it, so that the
 * rest of the system keeps room -- and checked before anything is allocated. */
static void check_memory(int64_t k, const char *fname, const char *tensor)
{
	double need = 8.0 * (double)k * (double)k * (o.cost ? 4 : 3) + 256.0 * 56.0 * (double)k * cli_opts.threads;
	long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
	double have = pages > 0 && page > 0 ? (double)pages * (double)page : 0;
	if (k <= INT32_MAX && (have == 0 || need <= have / 2))
		return;
	cli_die("%s: tensor '%s' has K = %" PRId64 " labels: the solver's K x K matrices need about %.3g GB, more than "
		"half of this machine's %.3g GB of memory", fname, tensor, k, need / 1e9, have / 1e9);
}

/* Adds t to the tensors to cut, once (the target may be the context's labels,
 * or the source). */
static int add_once(st_tensor **list, int n, st_tensor *t)
{
	for (int j = 0; j < n; j++)
		if (list[j] == t)
			return n;
	list[n] = t;
	return n + 1;
}

/* --shard: the input cut to the block's samples before any work, so that
 * the shard solves its rows only. The samples are the axis before K of the
 * histograms ([..., S, K]: prob [L,S,K], prob_epochs, prob_train, a target
 * [S,K]; a target [K] is the same for every row) and axis 0 of the context
 * and of metadata `ids`. */
static void cut_to_shard(st_file *in, const char *fname, st_tensor *h, st_tensor *t, st_tensor *ep, st_tensor *tr)
{
	st_tensor *cut[4 + CTX_N];
	int axes[4 + CTX_N], n = 0;
	st_tensor *const mine[4] = {h, t->ndim >= 2 ? t : NULL, ep, tr};
	for (int j = 0; j < 4 + CTX_N; j++) {
		st_tensor *x = j < 4 ? mine[j] : st_find(in, context_names[j - 4]);
		if (!x || add_once(cut, n, x) == n)
			continue;
		axes[n++] = j < 4 ? x->ndim - 2 : 0;
		if (axes[n - 1] < 0 || x->ndim < 1)
			cli_die("--shard: %s: tensor '%s' has %d dim%s, expected [..., S, K]: no samples axis to cut",
				fname, x->name, x->ndim, x->ndim == 1 ? "" : "s");
	}
	o.samples = h->shape[h->ndim - 2];
	int64_t count;
	shard_rows(o.block, o.samples, 1, &o.shard_lo, &count);
	int64_t hi = o.shard_lo + count;
	char err[ERR_LEN];
	for (int j = 0; j < n; j++) {
		if (cut[j]->shape[axes[j]] != o.samples)
			cli_die("--shard: %s: tensor '%s' has %" PRId64 " rows along axis %d, expected the %" PRId64
				" samples of '%s'", fname, cut[j]->name, cut[j]->shape[axes[j]], axes[j], o.samples, h->name);
		if (shard_cut(cut[j], axes[j], o.shard_lo, hi, err))
			cli_die("--shard: %s: %s", fname, err);
	}
	if (shard_cut_ids(in, o.samples, o.shard_lo, hi, err))
		cli_die("--shard: %s: %s", fname, err);
	cli_info("shard %" PRId64 " of %" PRId64 ": samples %" PRId64 " to %" PRId64 " of %" PRId64, o.block.i, o.block.n, o.shard_lo,
		 hi - 1, o.samples);
}

/* shard and shard_axis on a shard's output: the context's samples are along
 * axis 0, every computed tensor's ([..., S]) along its last. */
static void mark_shard(st_file *out)
{
	const char **names = cli_malloc(cli_mul((size_t)out->n, sizeof *names, "shard"));
	int *axes = cli_malloc(cli_mul((size_t)out->n, sizeof *axes, "shard"));
	for (int j = 0; j < out->n; j++) {
		names[j] = out->t[j].name;
		axes[j] = names_find(context_names, CTX_N, names[j]) >= 0 ? 0 : out->t[j].ndim - 1;
	}
	shard_mark(out, o.block, names, axes, out->n);
	free(names);
	free(axes);
}

int main(int argc, char **argv)
{
	options_default(&o);
	cli_init(argc, argv, "sinkhorn");
	int i = cli_parse(argc, argv, opts, "sinkhorn [options] [INPUT]", about);
	if (argc - i > 1)
		cli_usage("one INPUT at most, got %d", argc - i);
	check_options();
	sk_params p = solver_params();
	int mask = parse_measures();
	const char *path = i < argc ? argv[i] : "-", *fname = cli_name(path);
	st_file *in = cli_load(path);
	char err[ERR_LEN];
	if (shard_check_input(in, err))
		cli_die("%s: %s", fname, err);
	/* prob_train alone (the across-training pipeline) needs no prob */
	st_tensor *tr = strcmp(o.source, "prob") == 0 ? st_find(in, "prob_train") : NULL;
	st_tensor *s = tr && !st_find(in, o.source) ? NULL : cli_get(in, fname, o.source);
	st_tensor *t = cli_get(in, fname, o.target), *h = s ? s : tr;
	if (h->ndim < 1 || h->shape[h->ndim - 1] < 1)
		cli_die("%s: tensor '%s' has %d dims, expected [..., K] with K >= 1", fname, h->name, h->ndim);
	check_broadcast(h, t, fname);
	if (o.shard)
		cut_to_shard(in, fname, h, t, s && strcmp(o.source, "prob") == 0 ? st_find(in, "prob_epochs") : NULL, tr);
	check_memory(h->shape[h->ndim - 1], fname, h->name);
	const int k = (int)h->shape[h->ndim - 1];
	if (p.gpu && k > 128)
		cli_die("--device cuda: K = %d labels, the GPU path takes at most 128 (use --device cpu)", k);
	pairs pr = {.n = s ? leading(s) : 0, .nt = leading(t)};
	double *c = make_cost(in, k);
	if (!c)
		cli_die("cost: out of memory for %d x %d", k, k);
	if (pr.nt == 0 && leading(h) > 0)
		cli_die("%s: tensor '%s' is empty", fname, t->name);
	pr.tgt = histograms(t, fname, pr.nt, k, 0);

	st_file *out = st_file_new();
	if (s) {
		pr.src = histograms(s, fname, pr.n, k, s != t);
		distances(out, measure_tensors[MEASURE_WDIST], s, &pr, c, k, &p);
		if (mask)
			add_measures(out, s, &pr, k, mask);
		add_epochs(out, in, fname, t, &pr, c, k, &p);
	}
	if (tr)
		add_train(out, tr, fname, t, pr.nt, pr.tgt, c, k, &p);
	cli_forward_context(out, in);
	if (o.shard)
		mark_shard(out);
	cli_write(out, cli_opts.output);
	free(pr.src);
	free(pr.tgt);
	free(c);
	st_file_free(out);
	st_file_free(in);
	return 0;
}
