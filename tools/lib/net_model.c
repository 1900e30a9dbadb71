/* net_model.c: torchvision ResNet and VGG: loading a state_dict (shapes
 * checked, BatchNorm folded) and the forward pass with taps (see net.h). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cblas.h>
#include "conv.h"
#include "net.h"
#include "net_plan.h"
#include "threads.h"

#define BN_EPS 1e-5        /* torch.nn.BatchNorm2d's default */
#define MAX_CHANNELS 65536 /* keeps every index product inside int */
#define VGG_POOL 7         /* torchvision VGG's AdaptiveAvgPool2d((7, 7)) */
#define NBUF 5

enum { FAM_RESNET, FAM_VGG };
enum { HEAD_FC, HEAD_VGG, HEAD_GAP };

typedef struct { conv_layer c[3]; int nc, has_down; conv_layer down; } res_block;
typedef struct { int in, out, relu; float *w, *b; } linear;
/* the memory of one forward pass: activations, im2col columns, the head */
typedef struct { conv_buf buf[NBUF], scratch, head; onednn *dnnl; } workspace;

struct net_model {
	int family, head;
	conv_engine engine;
	conv_layer stem;                    /* ResNet */
	res_block *blocks;
	int nblocks;
	conv_layer *convs;                  /* VGG */
	uint8_t *pool_after;
	int nconv;
	linear fc[3];
	int nfc;
	int ntaps, K, threads;
	st_dtype wtype;                     /* F16 or BF16 when the weights came so, else F32 */
	char (*tap_name)[32];
	int *tap_c;
	workspace *ws;   /* one per thread */
	int nws;
	onednn_engine *dnnl;
};

static const struct { const char *name; int bottleneck, depth[4]; } resnets[] = {
	{"resnet18", 0, {2, 2, 2, 2}}, {"resnet34", 0, {3, 4, 6, 3}},
	{"resnet50", 1, {3, 4, 6, 3}}, {"resnet101", 1, {3, 4, 23, 3}},
	{"resnet152", 1, {3, 8, 36, 3}},
};
/* convolutions per stage, each stage ending in a 2x2 max pool (torchvision cfgs A, B, D, E) */
static const struct { const char *name; int convs[5]; } vggs[] = {
	{"vgg11", {1, 1, 2, 2, 2}}, {"vgg13", {2, 2, 2, 2, 2}},
	{"vgg16", {2, 2, 3, 3, 3}}, {"vgg19", {2, 2, 4, 4, 4}},
};

/* ---- loading ---- */

typedef struct {
	const st_file *f;
	uint8_t *used;   /* per tensor of f */
	char *err;
	st_dtype half;   /* ST_F16 or ST_BF16 once a weight came in it; else ST_F32 */
} loader;

/* The weight KEY as floats, its shape checked against want (-1: any size >= 1)
 * and its values against NaN/Inf; got receives the shape. NULL with err set. */
static float *take(loader *L, const char *key, int ndim, const int64_t *want, int64_t *got)
{
	char ws[128], gs[128];
	st_tensor *t = st_find(L->f, key);
	st_shape_str(ws, sizeof ws, ndim, want);
	if (!t) {
		err_set(L->err, "missing weight '%s' (expected shape %s)", key, ws);
		return NULL;
	}
	if (t->dtype != ST_F32 && t->dtype != ST_F16 && t->dtype != ST_BF16 && t->dtype != ST_F64) {
		err_set(L->err, "weight '%s' has dtype %s, expected F32, F16 or BF16", key,
			 st_dtype_name(t->dtype));
		return NULL;
	}
	int ok = t->ndim == ndim;
	for (int i = 0; ok && i < ndim; i++)
		ok = want[i] < 0 ? t->shape[i] >= 1 && t->shape[i] <= MAX_CHANNELS : t->shape[i] == want[i];
	if (!ok) {
		st_shape_str(gs, sizeof gs, t->ndim, t->shape);
		err_set(L->err, "weight '%s' has shape %s, expected %s", key, gs, ws);
		return NULL;
	}
	float *v = st_to_f32(t);
	if (!v) {
		err_set(L->err, "weight '%s': out of memory", key);
		return NULL;
	}
	int64_t n = st_numel(t);
	for (int64_t i = 0; i < n; i++)
		if (!isfinite(v[i])) {
			err_set(L->err, "weight '%s' holds %g at element %lld, expected a finite number",
				 key, v[i], (long long)i);
			free(v);
			return NULL;
		}
	L->used[t - L->f->t] = 1;
	if (t->dtype == ST_F16 || t->dtype == ST_BF16)
		L->half = t->dtype;
	memcpy(got, t->shape, ndim * sizeof *got);
	return v;
}

static float *take1(loader *L, const char *prefix, const char *what, int64_t n)
{
	char key[160];
	int64_t got;
	snprintf(key, sizeof key, "%s.%s", prefix, what);
	return take(L, key, 1, &n, &got);
}

/* eval-mode BatchNorm after the convolution: y = (x - mean) / sqrt(var + eps) * gamma + beta */
static int fold_bn(loader *L, const char *bn, conv_layer *c)
{
	static const char *parts[4] = {"weight", "bias", "running_mean", "running_var"};
	float *p[4] = {0};
	int rc = 0;
	for (int i = 0; i < 4 && !rc; i++)
		rc = (p[i] = take1(L, bn, parts[i], c->cout)) ? 0 : -1;
	size_t K = (size_t)c->cin * c->k * c->k;
	for (int co = 0; co < c->cout && !rc; co++) {
		if (!(p[3][co] >= 0)) {
			err_set(L->err, "weight '%s.running_var' holds %g at element %d, expected >= 0",
				 bn, p[3][co], co);
			rc = -1;
			break;
		}
		float scale = (float)(p[0][co] / sqrt((double)p[3][co] + BN_EPS));
		for (size_t i = 0; i < K; i++)
			c->w[co * K + i] *= scale;
		c->b[co] = (c->b[co] - p[2][co]) * scale + p[1][co];
	}
	for (int i = 0; i < 4; i++)
		free(p[i]);
	return rc;
}

/* CONV.weight [cout, cin, k, k] (cout < 0: any), CONV.bias when bias, then BN (NULL: none) */
static int load_conv(loader *L, const char *conv, const char *bn, int cin, int cout, int k,
		     int stride, int bias, int relu, conv_layer *c)
{
	char key[160];
	int64_t want[4] = {cout, cin, k, k}, got[4];
	snprintf(key, sizeof key, "%s.weight", conv);
	if (!(c->w = take(L, key, 4, want, got)))
		return -1;
	c->cin = cin, c->cout = (int)got[0], c->k = k, c->stride = stride, c->pad = k / 2, c->relu = relu;
	if (!(c->b = calloc(c->cout, sizeof(float)))) {
		err_set(L->err, "'%s': out of memory", conv);
		return -1;
	}
	if (bias) {
		float *b = take1(L, conv, "bias", c->cout);
		if (!b)
			return -1;
		memcpy(c->b, b, c->cout * sizeof(float));
		free(b);
	}
	return bn ? fold_bn(L, bn, c) : 0;
}

static int load_linear(loader *L, const char *name, int in, int relu, linear *fc)
{
	char key[160];
	int64_t want[2] = {-1, in}, got[2];
	snprintf(key, sizeof key, "%s.weight", name);
	if (!(fc->w = take(L, key, 2, want, got)))
		return -1;
	fc->in = in, fc->out = (int)got[0], fc->relu = relu;
	return (fc->b = take1(L, name, "bias", fc->out)) ? 0 : -1;
}

static int add_tap(net_model *net, const char *name, int channels)
{
	void *p = realloc(net->tap_name, (net->ntaps + 1) * sizeof *net->tap_name);
	if (p)
		net->tap_name = p;
	void *q = realloc(net->tap_c, (net->ntaps + 1) * sizeof *net->tap_c);
	if (q)
		net->tap_c = q;
	if (!p || !q)
		return -1;
	snprintf(net->tap_name[net->ntaps], sizeof *net->tap_name, "%s", name);
	net->tap_c[net->ntaps++] = channels;
	return 0;
}

static int load_resnet(net_model *net, loader *L, int bottleneck, const int depth[4])
{
	char p[64], a[96], b[96];
	if (load_conv(L, "conv1", "bn1", 3, -1, 7, 2, 0, 1, &net->stem) ||
	    add_tap(net, "maxpool", net->stem.cout))
		return -1;
	for (int s = 0; s < 4; s++)
		net->nblocks += depth[s];
	if (!(net->blocks = calloc(net->nblocks, sizeof *net->blocks)))
		return -1;
	int cin = net->stem.cout, bi = 0;
	for (int s = 0; s < 4; s++)
		for (int j = 0; j < depth[s]; j++, bi++) {
			res_block *blk = &net->blocks[bi];
			int stride = s > 0 && j == 0 ? 2 : 1, c = cin;
			snprintf(p, sizeof p, "layer%d.%d", s + 1, j);
			/* torchvision >= 0.5 strides in the 3x3 convolution of a bottleneck */
			int ks[3] = {bottleneck ? 1 : 3, 3, 1}, st[3] = {bottleneck ? 1 : stride, bottleneck ? stride : 1, 1};
			blk->nc = bottleneck ? 3 : 2;
			for (int i = 0; i < blk->nc; i++) {
				snprintf(a, sizeof a, "%s.conv%d", p, i + 1);
				snprintf(b, sizeof b, "%s.bn%d", p, i + 1);
				if (load_conv(L, a, b, c, -1, ks[i], st[i], 0, 1, &blk->c[i]))
					return -1;
				c = blk->c[i].cout;
			}
			snprintf(a, sizeof a, "%s.downsample.0.weight", p);
			blk->has_down = stride != 1 || c != cin || st_find(L->f, a);
			snprintf(a, sizeof a, "%s.downsample.0", p);
			snprintf(b, sizeof b, "%s.downsample.1", p);
			if (blk->has_down && load_conv(L, a, b, cin, c, 1, stride, 0, 0, &blk->down))
				return -1;
			if (add_tap(net, p, c))
				return -1;
			cin = c;
		}
	net->nfc = 1;
	return load_linear(L, "fc", cin, 0, &net->fc[0]);
}

static int load_vgg(net_model *net, loader *L, int bn, const int convs[5])
{
	char a[64], b[64];
	for (int s = 0; s < 5; s++)
		net->nconv += convs[s];
	net->convs = calloc(net->nconv, sizeof *net->convs);
	net->pool_after = calloc(net->nconv, 1);
	if (!net->convs || !net->pool_after)
		return -1;
	int idx = 0, cin = 3, ci = 0;
	for (int s = 0; s < 5; s++) {
		for (int j = 0; j < convs[s]; j++, ci++) {
			snprintf(a, sizeof a, "features.%d", idx);
			snprintf(b, sizeof b, "features.%d", idx + 1);
			if (load_conv(L, a, bn ? b : NULL, cin, -1, 3, 1, 1, 1, &net->convs[ci]))
				return -1;
			cin = net->convs[ci].cout;
			idx += bn ? 2 : 1;                     /* the ReLU */
			snprintf(a, sizeof a, "features.%d", idx++);
			if (add_tap(net, a, cin))
				return -1;
		}
		net->pool_after[ci - 1] = 1;
		idx++;
	}
	if (net->head == HEAD_GAP) {
		net->nfc = 1;
		return load_linear(L, "classifier.0", cin, 0, &net->fc[0]);
	}
	net->nfc = 3;
	return load_linear(L, "classifier.0", cin * VGG_POOL * VGG_POOL, 1, &net->fc[0]) ||
	       load_linear(L, "classifier.3", net->fc[0].out, 1, &net->fc[1]) ||
	       load_linear(L, "classifier.6", net->fc[1].out, 0, &net->fc[2]) ? -1 : 0;
}

/* A weight the arch did not use means the file is another arch (or damaged). */
static int check_leftovers(const loader *L, const char *arch)
{
	for (int i = 0; i < L->f->n; i++) {
		const char *name = L->f->t[i].name;
		size_t len = strlen(name), tail = strlen(".num_batches_tracked");
		if (L->used[i] || (len > tail && !strcmp(name + len - tail, ".num_batches_tracked")))
			continue;
		err_set(L->err, "weight '%s' is not part of %s (wrong --arch or --head?)", name, arch);
		return -1;
	}
	return 0;
}

static int parse_head(const char *head, net_model *net, char *err)
{
	if (!head || !*head || !strcmp(head, "torchvision"))
		net->head = net->family == FAM_VGG ? HEAD_VGG : HEAD_FC;
	else if (!strcmp(head, "gap"))
		net->head = net->family == FAM_VGG ? HEAD_GAP : HEAD_FC;
	else {
		err_set(err, "unknown head '%s': expected torchvision or gap", head);
		return -1;
	}
	return 0;
}

net_model *net_load(const st_file *weights, const char *arch, const char *head, char *err)
{
	net_model *net = calloc(1, sizeof *net);
	if (net)
		net->threads = 1;
	loader L = {weights, calloc(weights->n + 1, 1), err, ST_F32};
	int rc = -1, found = 0;
	if (!net || !L.used) {
		err_set(err, "out of memory");
		goto done;
	}
	*err = 0;
	for (size_t i = 0; i < sizeof resnets / sizeof *resnets && !found; i++)
		if (!strcmp(arch, resnets[i].name)) {
			found = 1;
			net->family = FAM_RESNET;
			rc = parse_head(head, net, err) ||
			     load_resnet(net, &L, resnets[i].bottleneck, resnets[i].depth) ? -1 : 0;
		}
	for (size_t i = 0; i < sizeof vggs / sizeof *vggs && !found; i++) {
		size_t len = strlen(vggs[i].name);
		if (!strncmp(arch, vggs[i].name, len) && (!arch[len] || !strcmp(arch + len, "_bn"))) {
			found = 1;
			net->family = FAM_VGG;
			rc = parse_head(head, net, err) ||
			     load_vgg(net, &L, arch[len] != 0, vggs[i].convs) ? -1 : 0;
		}
	}
	if (!found)
		err_set(err, "unknown arch '%s': expected resnet18, resnet34, resnet50, resnet101, "
			 "resnet152, vgg11, vgg13, vgg16, vgg19 or a vgg with _bn", arch);
	if (!rc)
		rc = check_leftovers(&L, arch);
	if (!rc) {
		net->K = net->fc[net->nfc - 1].out;
		net->wtype = L.half;
	}
	else if (!*err)
		err_set(err, "out of memory");
done:
	free(L.used);
	if (rc) {
		net_free(net);
		return NULL;
	}
	return net;
}

static void conv_free(conv_layer *c)
{
	free(c->w);
	free(c->b);
}

void net_free(net_model *net)
{
	if (!net)
		return;
	conv_free(&net->stem);
	for (int i = 0; i < net->nblocks; i++) {
		for (int j = 0; j < 3; j++)
			conv_free(&net->blocks[i].c[j]);
		conv_free(&net->blocks[i].down);
	}
	for (int i = 0; i < net->nconv; i++)
		conv_free(&net->convs[i]);
	for (int i = 0; i < 3; i++) {
		free(net->fc[i].w);
		free(net->fc[i].b);
	}
	for (int k = 0; k < net->nws; k++) {
		for (int i = 0; i < NBUF; i++)
			free(net->ws[k].buf[i].p);
		free(net->ws[k].scratch.p);
		free(net->ws[k].head.p);
		onednn_free(net->ws[k].dnnl);
	}
	free(net->ws);
	onednn_engine_free(net->dnnl);
	free(net->blocks);
	free(net->convs);
	free(net->pool_after);
	free(net->tap_name);
	free(net->tap_c);
	free(net);
}

void net_set_engine(net_model *net, conv_engine e) { net->engine = e; }

int conv_engine_parse(const char *s, conv_engine *e, char *err)
{
	static const char *names[] = {"dnnl", "sgemm", "reference"};
	for (int i = 0; i < 3; i++)
		if (!strcmp(s, names[i])) {
			*e = (conv_engine)i;
			return 0;
		}
	err_set(err, "bad --conv '%s': expected dnnl, sgemm or reference", s);
	return -1;
}
int net_ntaps(const net_model *net) { return net->ntaps; }
const char *net_tap_name(const net_model *net, int tap) { return net->tap_name[tap]; }
int net_tap_channels(const net_model *net, int tap) { return net->tap_c[tap]; }
int net_classes(const net_model *net) { return net->K; }

/* ---- forward ----
 * One walk serves both the real pass and the FLOP count (dry: no data). */

typedef struct {
	net_model *net;
	workspace *ws;
	int row0;                   /* this part's first image in the batch */
	int n, dry, c, h, w, cur;   /* the current activation: buf[cur], c x h x w per image */
	net_tap_fn tap;
	void *ctx;
	double flops, *tap_flops;
	net_plan *plan;             /* dry only: record the operations instead */
	char *err;
} walk;

static float *cur(walk *r) { return r->ws->buf[r->cur].p; }

/* the current activation, written out of oneDNN's copy first if still owed */
static const float *cur_synced(walk *r)
{
	return onednn_sync(r->ws->dnnl, cur(r), r->err) ? NULL : cur(r);
}

/* buf[i], to be written with per_image floats an image; mine: by us, not
 * by oneDNN (whose blocked copy of it is then stale) */
static float *buf(walk *r, int i, size_t per_image, int mine)
{
	if (r->dry)
		return NULL;
	float *old = r->ws->buf[i].p;
	float *p = conv_buf_get(&r->ws->buf[i], per_image * r->n);
	if (!p)
		err_set(r->err, "out of memory for a batch of %d", r->n);
	if (old && (p != old || mine))
		onednn_forget(r->ws->dnnl, old);
	if (p && mine)
		onednn_forget(r->ws->dnnl, p);
	return p;
}

/* appends op to the plan being recorded, if any */
static int record(walk *r, plan_op op)
{
	net_plan *p = r->plan;
	if (!p)
		return 0;
	plan_op *ops = realloc(p->op, (p->nops + 1) * sizeof *ops);
	if (!ops)
		return err_set(r->err, "out of memory");
	p->op = ops;
	p->op[p->nops++] = op;
	return 0;
}

static int too_small(walk *r, const char *what)
{
	err_set(r->err, "the input is too small for this network: nothing left after %s", what);
	return -1;
}

/* buf[dst] = conv(buf[in]) + buf[res] (res < 0: none), from in (c x h x w);
 * with oneDNN, buf[dst] may be written only when cur_synced asks for it,
 * and res is consumed */
static int conv(walk *r, const conv_layer *c, int in, int h, int w, int resi, int dst,
		int *oh, int *ow)
{
	*oh = conv_out_size(h, c->k, c->stride, c->pad), *ow = conv_out_size(w, c->k, c->stride, c->pad);
	if (*oh < 1 || *ow < 1)
		return too_small(r, "a convolution");
	r->flops += 2.0 * c->cout * c->cin * c->k * c->k * *oh * *ow;
	if (record(r, (plan_op){PLAN_CONV, in, dst, resi, c->cin, h, w, c->cout, *oh, *ow, c,
				c->k, c->stride, c->pad, -1}))
		return -1;
	float *out = buf(r, dst, (size_t)c->cout * *oh * *ow, 0);
	if (r->dry)
		return 0;
	if (!out)
		return -1;
	const float *x = r->ws->buf[in].p, *res = resi < 0 ? NULL : r->ws->buf[resi].p;
	switch (r->net->engine) {
	case CONV_REFERENCE:
		conv_reference(c, x, r->n, h, w, res, out);
		return 0;
	case CONV_SGEMM:
		if (conv_forward(c, x, r->n, h, w, res, out, &r->ws->scratch))
			return err_set(r->err, "out of memory for a batch of %d", r->n), -1;
		return 0;
	case CONV_DNNL:
		if (!r->ws->dnnl && !(r->ws->dnnl = onednn_new(r->net->dnnl, r->err)))
			return -1;
		return conv_onednn(r->ws->dnnl, c, x, r->n, h, w, res, out, 1, r->err);
	}
	return 0;
}

static int maxpool(walk *r, int k, int stride, int pad, int dst)
{
	int oh = conv_out_size(r->h, k, stride, pad), ow = conv_out_size(r->w, k, stride, pad);
	if (oh < 1 || ow < 1)
		return too_small(r, "a max pool");
	if (record(r, (plan_op){PLAN_MAXPOOL, r->cur, dst, -1, r->c, r->h, r->w, r->c, oh, ow, NULL,
				k, stride, pad, -1}))
		return -1;
	const float *in = r->dry ? NULL : cur_synced(r);
	float *out = buf(r, dst, (size_t)r->c * oh * ow, 1);
	if (!r->dry && (!out || !in))
		return -1;
	if (!r->dry)
		pool_max(in, r->c, r->n, r->h, r->w, k, stride, pad, out);
	r->cur = dst, r->h = oh, r->w = ow;
	return 0;
}

static int tap(walk *r, int t)
{
	r->tap_flops[t] = r->flops;
	if (record(r, (plan_op){PLAN_TAP, r->cur, r->cur, -1, r->c, r->h, r->w, r->c, r->h, r->w, NULL,
				0, 0, 0, t}))
		return -1;
	if (r->dry || !r->tap)
		return 0;
	const float *x = cur_synced(r);
	return x ? r->tap(r->ctx, t, x, r->c, r->n, r->h, r->w, r->row0, r->err) : -1;
}

static int next_buf(int i) { return (i + 1) % NBUF; }

static int res_block_forward(walk *r, const res_block *blk)
{
	int in = r->cur, h = r->h, w = r->w, oh, ow;
	int idn = (in + 1) % NBUF, t1 = (in + 2) % NBUF, t2 = (in + 3) % NBUF, out = (in + 4) % NBUF;
	int res = in;
	if (blk->has_down) {
		if (conv(r, &blk->down, in, h, w, -1, idn, &oh, &ow))
			return -1;
		res = idn;
	}
	int src = in, tmp[2] = {t1, t2};
	for (int i = 0; i < blk->nc; i++) {
		int last = i == blk->nc - 1, dst = last ? out : tmp[i];
		if (conv(r, &blk->c[i], src, h, w, last ? res : -1, dst, &oh, &ow))
			return -1;
		src = dst, h = oh, w = ow;
	}
	r->cur = out, r->c = blk->c[blk->nc - 1].cout, r->h = h, r->w = w;
	return 0;
}

/* The head's products run on blocks of HEAD_ROWS rows, the last padded with
 * zeros: OpenBLAS rounds a row's dot products differently with the call's
 * row count (its kernels for the edges), so a call of one shape for every
 * row keeps a row's logits the same bits whatever the thread count, the
 * batch's split across threads or the shard (issue 14: sharded outputs
 * equal one machine's). */
enum { HEAD_ROWS = 4 };

/* out[n][fc.out] = relu?(x W^T + b), n a multiple of HEAD_ROWS */
static void linear_forward(const linear *fc, const float *x, int n, int reference, float *out)
{
	if (reference) {
		for (int i = 0; i < n; i++)
			for (int o = 0; o < fc->out; o++) {
				double s = 0;
				for (int k = 0; k < fc->in; k++)
					s += (double)x[(size_t)i * fc->in + k] * fc->w[(size_t)o * fc->in + k];
				out[(size_t)i * fc->out + o] = (float)s;
			}
	} else
		for (int i = 0; i < n; i += HEAD_ROWS)
			cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, HEAD_ROWS, fc->out, fc->in, 1.0f,
				    x + (size_t)i * fc->in, fc->in, fc->w, fc->in, 0.0f, out + (size_t)i * fc->out, fc->out);
	for (int i = 0; i < n; i++)
		for (int o = 0; o < fc->out; o++) {
			float *v = &out[(size_t)i * fc->out + o];
			*v += fc->b[o];
			if (fc->relu && *v < 0)
				*v = 0;
		}
}

static int head_forward(walk *r, float *logits)
{
	net_model *net = r->net;
	int s = net->head == HEAD_VGG ? VGG_POOL : 1;
	for (int i = 0; i < net->nfc; i++)
		r->flops += 2.0 * net->fc[i].in * net->fc[i].out;
	if (r->plan) {
		net_plan *p = r->plan;
		p->head.buf = r->cur, p->head.c = r->c, p->head.h = r->h, p->head.w = r->w;
		p->head.pool = s, p->head.nfc = net->nfc;
		for (int i = 0; i < net->nfc; i++) {
			const linear *fc = &net->fc[i];
			p->head.fc[i] = (plan_linear){fc->in, fc->out, fc->relu, fc->w, fc->b};
		}
	}
	if (r->dry)
		return 0;
	size_t width = (size_t)r->c * s * s;
	for (int i = 0; i < net->nfc; i++)
		width = width > (size_t)net->fc[i].out ? width : (size_t)net->fc[i].out;
	/* pooled [c][n][s*s], then m rows (n and the padding) ping-ponging
	 * between two halves */
	size_t m = ((size_t)r->n + HEAD_ROWS - 1) / HEAD_ROWS * HEAD_ROWS, in = (size_t)r->c * s * s;
	float *p = conv_buf_get(&r->ws->head, width * (r->n + 2 * m));
	if (!p)
		return err_set(r->err, "out of memory for a batch of %d", r->n), -1;
	float *x = p + width * r->n, *y = x + width * m;
	if (!cur_synced(r))
		return -1;
	pool_adaptive(cur(r), r->c, r->n, r->h, r->w, s, s, 0, p);
	pool_cn_to_rows(p, r->c, r->n, s * s, x, (int64_t)in, 0);
	memset(x + in * r->n, 0, in * (m - r->n) * sizeof *x);
	for (int i = 0; i < net->nfc; i++) {
		linear_forward(&net->fc[i], x, (int)m, net->engine == CONV_REFERENCE, y);
		float *t = x;
		x = y, y = t;
	}
	memcpy(logits, x, (size_t)r->n * net->K * sizeof *logits);
	return 0;
}

/* NCHW images -> CNHW buf[0] */
static int input(walk *r, const float *images)
{
	size_t plane = (size_t)r->h * r->w;
	float *x = buf(r, 0, 3 * plane, 1);
	if (!r->dry && !x)
		return -1;
	for (int c = 0; !r->dry && c < 3; c++)
		for (int i = 0; i < r->n; i++)
			memcpy(x + ((size_t)c * r->n + i) * plane, images + ((size_t)i * 3 + c) * plane,
			       plane * sizeof(float));
	r->cur = 0, r->c = 3;
	return 0;
}

static int resnet_forward(walk *r)
{
	int oh, ow;
	if (conv(r, &r->net->stem, 0, r->h, r->w, -1, 1, &oh, &ow))
		return -1;
	r->cur = 1, r->c = r->net->stem.cout, r->h = oh, r->w = ow;
	if (maxpool(r, 3, 2, 1, 2) || tap(r, 0))
		return -1;
	for (int i = 0; i < r->net->nblocks; i++)
		if (res_block_forward(r, &r->net->blocks[i]) || tap(r, i + 1))
			return -1;
	return 0;
}

static int vgg_forward(walk *r)
{
	for (int i = 0; i < r->net->nconv; i++) {
		const conv_layer *c = &r->net->convs[i];
		int dst = next_buf(r->cur), oh, ow;
		if (conv(r, c, r->cur, r->h, r->w, -1, dst, &oh, &ow))
			return -1;
		r->cur = dst, r->c = c->cout, r->h = oh, r->w = ow;
		if (tap(r, i) || (r->net->pool_after[i] && maxpool(r, 2, 2, 0, next_buf(r->cur))))
			return -1;
	}
	return 0;
}

static int run(net_model *net, workspace *ws, const float *images, int n, int row0, int h, int w,
	       net_tap_fn fn, void *ctx, float *logits, double *tap_flops, net_plan *plan, char *err)
{
	walk r = {net, ws, row0, n, images == NULL, 3, h, w, 0, fn, ctx, 0, tap_flops, plan, err};
	if (n < 1 || h < 1 || w < 1) {
		err_set(err, "empty input: %d images of %dx%d", n, h, w);
		return -1;
	}
	if ((int64_t)n * h * w > INT32_MAX) {   /* BLAS and the loops index a channel's plane with int */
		err_set(err, "%d images of %dx%d: more than 2^31 pixels a channel; use a smaller --batch",
			 n, h, w);
		return -1;
	}
	if (input(&r, images) ||
	    (net->family == FAM_RESNET ? resnet_forward(&r) : vgg_forward(&r)) ||
	    head_forward(&r, logits))
		return -1;
	tap_flops[net->ntaps] = r.flops;
	return 0;
}

void net_set_threads(net_model *net, int threads) { net->threads = threads < 1 ? 1 : threads; }

/* A share of the batch, run on its own thread with its own workspace. */
typedef struct {
	net_model *net;
	workspace *ws;
	const float *images;
	int n, row0, h, w, rc;
	int omp;   /* oneDNN's threads inside this share */
	net_tap_fn tap;
	void *ctx;
	float *logits;
	double *flops;
	char err[ERR_LEN];
} part;

static void *part_main(void *arg)
{
	part *p = arg;
	p->rc = run(p->net, p->ws, p->images, p->n, p->row0, p->h, p->w, p->tap, p->ctx, p->logits,
		    p->flops, NULL, p->err);
	return NULL;
}

static void *part_thread(void *arg)
{
	threads_set_omp(((part *)arg)->omp);
	return part_main(arg);
}

static int grow_workspaces(net_model *net, int n)
{
	if (n <= net->nws)
		return 0;
	workspace *ws = realloc(net->ws, n * sizeof *ws);
	if (!ws)
		return -1;
	memset(ws + net->nws, 0, (n - net->nws) * sizeof *ws);
	net->ws = ws, net->nws = n;
	return 0;
}

/* Data-parallel: each thread runs the whole network on its share of the batch
 * with a single-threaded sgemm, so im2col, the epilogues and the pools run in
 * parallel too, with no synchronisation inside the pass. One image alone gets
 * OpenBLAS's threads instead; with fewer images than threads, each share's
 * oneDNN gets the threads left over. */
int net_forward(net_model *net, const float *images, int n, int h, int w, net_tap_fn tap,
		   void *ctx, float *logits, char *err)
{
	int parts = net->threads < n ? net->threads : n;
	if (parts < 1)
		parts = 1;
	part *p = calloc(parts, sizeof *p);
	double *flops = malloc((size_t)parts * (net->ntaps + 1) * sizeof *flops);
	int rc = !p || !flops || grow_workspaces(net, parts) ? -1 : 0;
	if (rc)
		err_set(err, "out of memory");
	else if (net->engine == CONV_DNNL && !net->dnnl && !(net->dnnl = onednn_engine_new(err)))
		rc = -1;
	size_t image = (size_t)3 * h * w;
	for (int k = 0, row = 0; !rc && k < parts; k++) {
		int share = n / parts + (k < n % parts);
		p[k] = (part){net, &net->ws[k], images + image * row, share, row, h, w, 0,
			      net->threads / parts + (k < net->threads % parts), tap, ctx,
			      logits + (size_t)row * net->K, flops + (size_t)k * (net->ntaps + 1), ""};
		row += share;
	}
	if (!rc && parts == 1) {
		threads_set_blas(net->threads);
		threads_set_omp(net->threads);
		part_main(&p[0]);
	} else if (!rc) {
		threads_set_blas(1);
		threads_run(parts, part_thread, p, sizeof *p);
	}
	for (int k = 0; !rc && k < parts; k++)
		if (p[k].rc) {
			err_set(err, "%s", p[k].err);
			rc = -1;
		}
	free(p);
	free(flops);
	return rc;
}

int net_flops(const net_model *net, int h, int w, double *flops, char *err)
{
	workspace ws = {0};
	return run((net_model *)net, &ws, NULL, 1, 0, h, w, NULL, NULL, NULL, flops, NULL, err);
}

int net_plan_make(const net_model *net, int h, int w, net_plan *plan, char *err)
{
	workspace ws = {0};
	memset(plan, 0, sizeof *plan);
	plan->nbuf = NBUF, plan->ntaps = net->ntaps, plan->K = net->K, plan->wtype = net->wtype;
	double *flops = malloc((net->ntaps + 1) * sizeof *flops);
	int rc = flops ? run((net_model *)net, &ws, NULL, 1, 0, h, w, NULL, NULL, NULL, flops, plan, err)
		       : err_set(err, "out of memory");
	free(flops);
	if (rc)
		net_plan_free(plan);
	return rc;
}

void net_plan_weights_nhwc(const conv_layer *c, int cin_pad, float *out)
{
	int kk = c->k * c->k;
	for (int co = 0; co < c->cout; co++)
		for (int r = 0; r < kk; r++)
			for (int ci = 0; ci < cin_pad; ci++)
				out[((size_t)co * kk + r) * cin_pad + ci] =
					ci < c->cin ? c->w[((size_t)co * c->cin + ci) * kk + r] : 0.0f;
}

void net_plan_free(net_plan *plan)
{
	free(plan->op);
	plan->op = NULL;
	plan->nops = 0;
}
