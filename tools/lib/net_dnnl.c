/* net_dnnl.c: convolutions through oneDNN (see conv.h, conv_onednn).
 *
 * The activations stay CNHW in our buffers; oneDNN is told so with strides,
 * reorders them into the blocked layout its direct convolution wants, and
 * back. Measured (bench/extract-feats-conv.c) this beats im2col + sgemm even
 * with the two reorders, most on the stem and on 1x1 convolutions where the
 * sgemm's K is small. In lazy mode (the network's) each of the caller's
 * buffers has a blocked "shadow" copy, so that a chain of convolutions (a
 * ResNet block, the residual summed in as a post-op) runs with no reorders
 * between them; the CNHW buffer is written only when onednn_sync asks.
 * Primitives and reorders are built once per thread, convolution and batch
 * shape, and kept; the blocked weights once per network (threads share one
 * engine and read the same weights). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <oneapi/dnnl/dnnl.h>
#include "conv.h"

typedef struct {
	const conv_layer *conv;
	int n, h, w, res;
	dnnl_primitive_t prim, to_blocked, from_blocked, res_in;
	dnnl_memory_t user_src, user_dst, user_res, bias;
	dnnl_memory_t src, dst;   /* blocked; their bytes are the thread's, lent per call */
	size_t src_bytes, dst_bytes;
	dnnl_memory_t wts;        /* owned by the engine's weight store */
} entry;

/* 64-byte aligned scratch that grows on demand */
typedef struct { void *p; size_t cap; } block;

/* The blocked copy of one of the caller's CNHW buffers (lazy mode): valid when
 * blk holds its data in layout md; pend (an entry's index + 1) when the CNHW
 * buffer itself has not been written yet (that entry's from_blocked does it). */
typedef struct {
	const float *key;
	block blk;
	int valid, pend;
	dnnl_memory_desc_t md;
} shadow;

typedef struct { const conv_layer *conv; dnnl_memory_t mem; } weights;

struct onednn_engine {
	dnnl_engine_t eng;
	pthread_mutex_t mu;
	weights *w;
	int n, cap;
};

struct onednn {
	onednn_engine *shared;
	dnnl_engine_t eng;
	dnnl_stream_t strm;
	entry *e;
	int n, cap;
	block src;        /* an input reordered in, when it is not kept */
	block dst;        /* an output, when it is not kept */
	shadow *sh;       /* blocked copies of the caller's buffers */
	int nsh, capsh;
};

static void *block_get(block *b, size_t bytes)
{
	if (bytes > b->cap) {
		free(b->p);
		b->p = aligned_alloc(64, (bytes + 63) / 64 * 64);
		b->cap = b->p ? bytes : 0;
	}
	return b->p;
}

#define TRY(x) do { dnnl_status_t s_ = (x); if (s_ != dnnl_success) { \
	err_set(err, "oneDNN: %s failed (status %d)", #x, (int)s_); return -1; } } while (0)

onednn_engine *onednn_engine_new(char *err)
{
	onednn_engine *e = calloc(1, sizeof *e);
	if (!e) {
		err_set(err, "out of memory");
		return NULL;
	}
	if (dnnl_engine_create(&e->eng, dnnl_cpu, 0) != dnnl_success) {
		err_set(err, "oneDNN: no CPU engine");
		free(e);
		return NULL;
	}
	pthread_mutex_init(&e->mu, NULL);
	return e;
}

void onednn_engine_free(onednn_engine *e)
{
	if (!e)
		return;
	for (int i = 0; i < e->n; i++)
		dnnl_memory_destroy(e->w[i].mem);
	free(e->w);
	pthread_mutex_destroy(&e->mu);
	dnnl_engine_destroy(e->eng);
	free(e);
}

onednn *onednn_new(onednn_engine *shared, char *err)
{
	onednn *d = calloc(1, sizeof *d);
	if (!d) {
		err_set(err, "out of memory");
		return NULL;
	}
	d->shared = shared, d->eng = shared->eng;
	if (dnnl_stream_create(&d->strm, d->eng, dnnl_stream_default_flags) != dnnl_success) {
		err_set(err, "oneDNN: no CPU stream");
		free(d);
		return NULL;
	}
	return d;
}

static void entry_free(entry *e)
{
	dnnl_primitive_t p[4] = {e->prim, e->to_blocked, e->from_blocked, e->res_in};
	dnnl_memory_t m[6] = {e->user_src, e->user_dst, e->user_res, e->src, e->bias, e->dst};
	for (int i = 0; i < 4; i++)
		if (p[i])
			dnnl_primitive_destroy(p[i]);
	for (int i = 0; i < 6; i++)
		if (m[i])
			dnnl_memory_destroy(m[i]);
}

void onednn_free(onednn *d)
{
	if (!d)
		return;
	for (int i = 0; i < d->n; i++)
		entry_free(&d->e[i]);
	free(d->e);
	if (d->strm)
		dnnl_stream_destroy(d->strm);
	free(d->src.p);
	free(d->dst.p);
	for (int i = 0; i < d->nsh; i++)
		free(d->sh[i].blk.p);
	free(d->sh);
	free(d);
}

/* a CNHW buffer as a logical NCHW tensor */
static dnnl_status_t cnhw_md(dnnl_memory_desc_t *md, int n, int c, int h, int w)
{
	dnnl_dims_t dims = {n, c, h, w};
	dnnl_dims_t strides = {(dnnl_dim_t)h * w, (dnnl_dim_t)n * h * w, w, 1};
	return dnnl_memory_desc_init_by_strides(md, 4, dims, dnnl_f32, strides);
}

static int reorder_prim(onednn *d, dnnl_memory_t from, dnnl_memory_t to, dnnl_primitive_t *p, char *err)
{
	const dnnl_memory_desc_t *a, *b;
	dnnl_primitive_desc_t pd;
	TRY(dnnl_memory_get_memory_desc(from, &a));
	TRY(dnnl_memory_get_memory_desc(to, &b));
	TRY(dnnl_reorder_primitive_desc_create(&pd, a, d->eng, b, d->eng, NULL));
	dnnl_status_t s = dnnl_primitive_create(p, pd);
	dnnl_primitive_desc_destroy(pd);
	TRY(s);
	return 0;
}

static int run_reorder(onednn *d, dnnl_primitive_t p, dnnl_memory_t from, dnnl_memory_t to, char *err)
{
	dnnl_exec_arg_t args[2] = {{DNNL_ARG_FROM, from}, {DNNL_ARG_TO, to}};
	TRY(dnnl_primitive_execute(p, d->strm, 2, args));
	return 0;
}

/* a memory of the primitive's layout with no bytes yet; bytes: its size */
static int make_memory(onednn *d, dnnl_primitive_desc_t pd, dnnl_query_t what, dnnl_memory_t *m,
		       size_t *bytes, char *err)
{
	const dnnl_memory_desc_t *md = dnnl_primitive_desc_query_md(pd, what, 0);
	*bytes = dnnl_memory_desc_get_size(md);
	TRY(dnnl_memory_create(m, md, d->eng, DNNL_MEMORY_NONE));
	return 0;
}

/* c's weights in the layout md, from the engine's store, reordered there
 * the first time any thread asks. */
static int shared_weights(onednn *d, const conv_layer *c, const dnnl_memory_desc_t *md, dnnl_memory_t *out,
			  char *err)
{
	onednn_engine *e = d->shared;
	int rc = 0;
	pthread_mutex_lock(&e->mu);
	for (int i = 0; i < e->n && !*out; i++) {
		const dnnl_memory_desc_t *have;
		if (e->w[i].conv == c && dnnl_memory_get_memory_desc(e->w[i].mem, &have) == dnnl_success &&
		    dnnl_memory_desc_equal(have, md))
			*out = e->w[i].mem;
	}
	if (!*out) {
		dnnl_dims_t wd = {c->cout, c->cin, c->k, c->k};
		dnnl_memory_desc_t plain_md;
		dnnl_memory_t plain = NULL, blocked = NULL;
		dnnl_primitive_t r = NULL;
		if (e->n == e->cap) {
			int cap = e->cap ? 2 * e->cap : 64;
			weights *w = realloc(e->w, cap * sizeof *w);
			if (w)
				e->w = w, e->cap = cap;
			else
				rc = -1, err_set(err, "out of memory");
		}
		rc = rc || dnnl_memory_desc_init_by_tag(&plain_md, 4, wd, dnnl_f32, dnnl_oihw) != dnnl_success ||
		     dnnl_memory_create(&plain, &plain_md, d->eng, c->w) != dnnl_success ||
		     dnnl_memory_create(&blocked, md, d->eng, DNNL_MEMORY_ALLOCATE) != dnnl_success ||
		     reorder_prim(d, plain, blocked, &r, err) || run_reorder(d, r, plain, blocked, err) ||
		     dnnl_stream_wait(d->strm) != dnnl_success ? -1 : 0;
		if (r)
			dnnl_primitive_destroy(r);
		if (plain)
			dnnl_memory_destroy(plain);
		if (!rc) {
			e->w[e->n++] = (weights){c, blocked};
			*out = blocked;
		} else {
			if (blocked)
				dnnl_memory_destroy(blocked);
			if (!*err)
				err_set(err, "oneDNN: cannot reorder the weights");
		}
	}
	pthread_mutex_unlock(&e->mu);
	return rc;
}

/* The primitive of c on n x h x w inputs; with a residual, it is summed into
 * the destination (which holds it) before the ReLU. */
static int build(onednn *d, entry *e, char *err)
{
	const conv_layer *c = e->conv;
	int oh = conv_out_size(e->h, c->k, c->stride, c->pad), ow = conv_out_size(e->w, c->k, c->stride, c->pad);
	dnnl_dims_t sd = {e->n, c->cin, e->h, e->w}, wd = {c->cout, c->cin, c->k, c->k}, bd = {c->cout},
		    dd = {e->n, c->cout, oh, ow}, st = {c->stride, c->stride}, pad = {c->pad, c->pad};
	dnnl_memory_desc_t src_any, w_any, dst_any, b_md, src_user, dst_user;
	TRY(dnnl_memory_desc_init_by_tag(&src_any, 4, sd, dnnl_f32, dnnl_format_tag_any));
	TRY(dnnl_memory_desc_init_by_tag(&w_any, 4, wd, dnnl_f32, dnnl_format_tag_any));
	TRY(dnnl_memory_desc_init_by_tag(&dst_any, 4, dd, dnnl_f32, dnnl_format_tag_any));
	TRY(dnnl_memory_desc_init_by_tag(&b_md, 1, bd, dnnl_f32, dnnl_x));
	TRY(cnhw_md(&src_user, e->n, c->cin, e->h, e->w));
	TRY(cnhw_md(&dst_user, e->n, c->cout, oh, ow));
	dnnl_convolution_desc_t cd;
	TRY(dnnl_convolution_forward_desc_init(&cd, dnnl_forward_inference, dnnl_convolution_direct,
					       &src_any, &w_any, &b_md, &dst_any, st, pad, pad));
	dnnl_post_ops_t po;
	dnnl_primitive_attr_t attr;
	dnnl_primitive_desc_t pd;
	TRY(dnnl_post_ops_create(&po));
	TRY(dnnl_primitive_attr_create(&attr));
	dnnl_status_t s = e->res ? dnnl_post_ops_append_sum(po, 1.0f) : dnnl_success;
	if (s == dnnl_success && c->relu)
		s = dnnl_post_ops_append_eltwise(po, 1.0f, dnnl_eltwise_relu, 0.0f, 0.0f);
	if (s == dnnl_success)
		s = dnnl_primitive_attr_set_post_ops(attr, po);
	if (s == dnnl_success)
		s = dnnl_primitive_desc_create(&pd, &cd, attr, d->eng, NULL);
	dnnl_post_ops_destroy(po);
	dnnl_primitive_attr_destroy(attr);
	TRY(s);
	s = dnnl_primitive_create(&e->prim, pd);
	int rc = s != dnnl_success ||
		 make_memory(d, pd, dnnl_query_src_md, &e->src, &e->src_bytes, err) ||
		 make_memory(d, pd, dnnl_query_dst_md, &e->dst, &e->dst_bytes, err) ||
		 shared_weights(d, c, dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0), &e->wts, err) ? -1 : 0;
	dnnl_primitive_desc_destroy(pd);
	if (rc) {
		if (!*err)
			err_set(err, "oneDNN: no convolution primitive (status %d)", (int)s);
		return -1;
	}
	TRY(dnnl_memory_create(&e->bias, &b_md, d->eng, c->b));
	TRY(dnnl_memory_create(&e->user_src, &src_user, d->eng, DNNL_MEMORY_NONE));
	TRY(dnnl_memory_create(&e->user_dst, &dst_user, d->eng, DNNL_MEMORY_NONE));
	TRY(dnnl_memory_create(&e->user_res, &dst_user, d->eng, DNNL_MEMORY_NONE));
	return reorder_prim(d, e->user_src, e->src, &e->to_blocked, err) ||
	       reorder_prim(d, e->dst, e->user_dst, &e->from_blocked, err) ||
	       (e->res && reorder_prim(d, e->user_res, e->dst, &e->res_in, err)) ? -1 : 0;
}

static entry *find(onednn *d, const conv_layer *c, int n, int h, int w, int res, char *err)
{
	for (int i = 0; i < d->n; i++)
		if (d->e[i].conv == c && d->e[i].n == n && d->e[i].h == h && d->e[i].w == w &&
		    d->e[i].res == res)
			return &d->e[i];
	if (d->n == d->cap) {
		int cap = d->cap ? 2 * d->cap : 64;
		entry *e = realloc(d->e, cap * sizeof *e);
		if (!e) {
			err_set(err, "out of memory");
			return NULL;
		}
		d->e = e, d->cap = cap;
	}
	entry *e = &d->e[d->n];
	memset(e, 0, sizeof *e);
	e->conv = c, e->n = n, e->h = h, e->w = w, e->res = res;
	*err = 0;
	if (build(d, e, err)) {
		entry_free(e);
		return NULL;
	}
	d->n++;
	return e;
}

static shadow *sh_find(onednn *d, const float *p)
{
	for (int i = 0; i < d->nsh; i++)
		if (d->sh[i].key == p)
			return &d->sh[i];
	return NULL;
}

/* p's shadow, made (empty) if it has none; NULL when out of memory */
static shadow *sh_get(onednn *d, const float *p)
{
	shadow *s = sh_find(d, p);
	if (s)
		return s;
	if (d->nsh == d->capsh) {
		int cap = d->capsh ? 2 * d->capsh : 8;
		shadow *n = realloc(d->sh, cap * sizeof *n);
		if (!n)
			return NULL;
		d->sh = n, d->capsh = cap;
	}
	s = &d->sh[d->nsh++];
	memset(s, 0, sizeof *s);
	s->key = p;
	return s;
}

void onednn_forget(onednn *d, const float *p)
{
	shadow *s = d ? sh_find(d, p) : NULL;
	if (!s)
		return;
	free(s->blk.p);
	*s = d->sh[--d->nsh];
}

/* writes s's CNHW buffer from its blocked copy, if that is still owed */
static int sh_sync(onednn *d, shadow *s, char *err)
{
	if (!s || !s->pend)
		return 0;
	entry *e = &d->e[s->pend - 1];
	s->pend = 0;
	TRY(dnnl_memory_set_data_handle(e->dst, s->blk.p));
	TRY(dnnl_memory_set_data_handle(e->user_dst, (void *)s->key));
	if (run_reorder(d, e->from_blocked, e->dst, e->user_dst, err))
		return -1;
	TRY(dnnl_stream_wait(d->strm));
	return 0;
}

int onednn_sync(onednn *d, const float *p, char *err)
{
	return d ? sh_sync(d, sh_find(d, p), err) : 0;
}

static int md_is(const dnnl_memory_t m, const dnnl_memory_desc_t *md)
{
	const dnnl_memory_desc_t *have;
	return dnnl_memory_get_memory_desc(m, &have) == dnnl_success && dnnl_memory_desc_equal(have, md);
}

int conv_onednn(onednn *d, const conv_layer *c, const float *in, int n, int h, int w,
		 const float *residual, float *out, int lazy, char *err)
{
	entry *e = find(d, c, n, h, w, residual != NULL, err);
	if (!e)
		return -1;
	shadow *si = sh_find(d, in), *so = NULL, *sr = residual ? sh_find(d, residual) : NULL;
	void *bsrc, *bdst;
	int reordered = 0, keep = 0;
	if (si && si->valid && md_is(e->src, &si->md))
		bsrc = si->blk.p;
	else {
		if (sh_sync(d, si, err))
			return -1;
		if (lazy && (!si || !si->valid)) {   /* keep the copy: the input may be read again */
			if (!(si = sh_get(d, in)))
				return err_set(err, "out of memory"), -1;
			bsrc = block_get(&si->blk, e->src_bytes);
			keep = 1;
		} else
			si = NULL, bsrc = block_get(&d->src, e->src_bytes);
		reordered = 1;
	}
	if (lazy) {
		if (!(so = sh_get(d, out)))
			return err_set(err, "out of memory"), -1;
		si = sh_find(d, in), sr = residual ? sh_find(d, residual) : NULL;   /* sh_get may move them */
		so->valid = 0, so->pend = 0;
		if (sr && sr != si && sr->valid && md_is(e->dst, &sr->md)) {
			/* the residual's blocked copy becomes the destination: it is consumed */
			block t = so->blk;
			so->blk = sr->blk, sr->blk = t;
			sr->valid = 0, sr->pend = 0;
			residual = NULL;
		}
		bdst = block_get(&so->blk, e->dst_bytes);
	} else {
		onednn_forget(d, out);
		bdst = block_get(&d->dst, e->dst_bytes);
		si = sh_find(d, in), sr = residual ? sh_find(d, residual) : NULL;
	}
	if (!bsrc || !bdst) {
		err_set(err, "out of memory for a batch of %d", n);
		return -1;
	}
	TRY(dnnl_memory_set_data_handle(e->src, bsrc));
	TRY(dnnl_memory_set_data_handle(e->dst, bdst));
	if (reordered) {
		TRY(dnnl_memory_set_data_handle(e->user_src, (void *)in));
		if (run_reorder(d, e->to_blocked, e->user_src, e->src, err))
			return -1;
		if (keep) {
			const dnnl_memory_desc_t *md;
			TRY(dnnl_memory_get_memory_desc(e->src, &md));
			si->md = *md, si->valid = 1;
		}
	}
	if (residual) {
		if (sh_sync(d, sr, err))
			return -1;
		TRY(dnnl_memory_set_data_handle(e->user_res, (void *)residual));
		if (run_reorder(d, e->res_in, e->user_res, e->dst, err))
			return -1;
	}
	dnnl_exec_arg_t args[4] = {{DNNL_ARG_SRC, e->src}, {DNNL_ARG_WEIGHTS, e->wts},
				   {DNNL_ARG_BIAS, e->bias}, {DNNL_ARG_DST, e->dst}};
	TRY(dnnl_primitive_execute(e->prim, d->strm, 4, args));
	if (so) {
		const dnnl_memory_desc_t *md;
		TRY(dnnl_memory_get_memory_desc(e->dst, &md));
		so->md = *md, so->valid = 1, so->pend = (int)(e - d->e) + 1;
	} else {
		TRY(dnnl_memory_set_data_handle(e->user_dst, out));
		if (run_reorder(d, e->from_blocked, e->dst, e->user_dst, err))
			return -1;
	}
	TRY(dnnl_stream_wait(d->strm));
	return 0;
}
