/* probe.c: linear probes trained with PyTorch's recipe (probe.h). */
#include "probe.h"
#include "probe_step.h"
#include "threads.h"
#include "util.h"

#include <cblas.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

void probe_recipe_default(probe_recipe *r)
{
	r->epochs = 100;
	r->batch = 128;
	r->lr_step = 40;
	r->patience = 0;
	r->lr = 0.01;
	r->momentum = 0.9;
	r->weight_decay = 1e-4;
	r->seed = 0;
}

double probe_lr(const probe_recipe *r, int e)
{
	double lr = r->lr;
	if (r->lr_step > 0)
		for (int i = e / r->lr_step; i > 0; i--)
			lr *= 0.1;   /* as StepLR: one multiplication per step */
	return lr;
}

/* ---- randomness ---- */


uint64_t probe_rng_seed(uint64_t seed, uint64_t purpose, uint64_t index)
{
	uint64_t s = seed;
	uint64_t a = util_splitmix64(&s);
	s = purpose << 32 ^ index;
	return a ^ util_splitmix64(&s);
}

float probe_rng_uniform(uint64_t *state)
{
	return (float)(util_splitmix64(state) >> 40) * 0x1p-24f;
}

uint64_t probe_rng_below(uint64_t *state, uint64_t n)
{
	unsigned __int128 m = (unsigned __int128)util_splitmix64(state) * n;
	uint64_t lo = (uint64_t)m;
	if (lo < n) {
		uint64_t floor = -n % n;   /* 2^64 mod n */
		while (lo < floor) {
			m = (unsigned __int128)util_splitmix64(state) * n;
			lo = (uint64_t)m;
		}
	}
	return (uint64_t)(m >> 64);
}

void probe_init(float *w, float *b, int64_t d, int64_t k, uint64_t seed, int layer)
{
	uint64_t s = probe_rng_seed(seed, PROBE_RNG_INIT, (uint64_t)layer);
	float bound = (float)(1.0 / sqrt((double)d));
	for (int64_t i = 0; i < k * d; i++)
		w[i] = (2.0f * probe_rng_uniform(&s) - 1.0f) * bound;
	for (int64_t i = 0; i < k; i++)
		b[i] = (2.0f * probe_rng_uniform(&s) - 1.0f) * bound;
}

void probe_shuffle(int64_t *order, const int64_t *train, int64_t ntrain, int epochs, uint64_t seed)
{
	for (int e = 0; e < epochs; e++) {
		int64_t *o = order + (int64_t)e * ntrain;
		uint64_t s = probe_rng_seed(seed, PROBE_RNG_SHUFFLE, (uint64_t)e);
		memcpy(o, train, (size_t)ntrain * sizeof *o);
		for (int64_t i = ntrain - 1; i > 0; i--) {
			int64_t j = (int64_t)probe_rng_below(&s, (uint64_t)i + 1);
			int64_t t = o[i];
			o[i] = o[j];
			o[j] = t;
		}
	}
}

/* ---- standardisation ---- */

int probe_standardize(float *x, int64_t n, int64_t d, const int64_t *rows, int64_t nrows,
		      float *mean, float *scale)
{
	if (nrows <= 0)
		return -1;
	double *sum = calloc((size_t)d, sizeof *sum), *sq = calloc((size_t)d, sizeof *sq);
	if (!sum || !sq) {
		free(sum);
		free(sq);
		return -1;
	}
	for (int64_t r = 0; r < nrows; r++) {
		const float *xi = x + rows[r] * d;
		for (int64_t j = 0; j < d; j++)
			sum[j] += xi[j];
	}
	for (int64_t j = 0; j < d; j++)
		sum[j] /= (double)nrows;
	/* two passes: the deviation is not lost to cancellation */
	for (int64_t r = 0; r < nrows; r++) {
		const float *xi = x + rows[r] * d;
		for (int64_t j = 0; j < d; j++) {
			double t = xi[j] - sum[j];
			sq[j] += t * t;
		}
	}
	for (int64_t j = 0; j < d; j++) {
		double sd = sqrt(sq[j] / (double)nrows);
		mean[j] = (float)sum[j];
		scale[j] = sd > 0 ? (float)sd : 1.0f;
	}
	free(sum);
	free(sq);
	probe_apply_standardize(x, n, d, mean, scale);
	return 0;
}

void probe_apply_standardize(float *x, int64_t n, int64_t d, const float *mean, const float *scale)
{
	for (int64_t i = 0; i < n; i++)
		for (int64_t j = 0; j < d; j++)
			x[i * d + j] = (x[i * d + j] - mean[j]) / scale[j];
}

/* ---- one layer, fast path ---- */

typedef struct {
	float *xb, *yb, *z;      /* [batch,d], [batch,k], [batch,k] */
	float *gw, *gb, *vw, *vb; /* gradients and momentum buffers */
	float *bestw, *bestb;     /* with patience */
} workspace;

static void ws_free(workspace *ws)
{
	free(ws->xb);
	free(ws->yb);
	free(ws->z);
	free(ws->gw);
	free(ws->gb);
	free(ws->vw);
	free(ws->vb);
	free(ws->bestw);
	free(ws->bestb);
}

static int ws_alloc(workspace *ws, int64_t batch, int64_t d, int64_t k, int patience)
{
	memset(ws, 0, sizeof *ws);
	ws->xb = malloc((size_t)(batch * d) * sizeof(float));
	ws->yb = malloc((size_t)(batch * k) * sizeof(float));
	ws->z = malloc((size_t)(batch * k) * sizeof(float));
	ws->gw = malloc((size_t)(k * d) * sizeof(float));
	ws->gb = malloc((size_t)k * sizeof(float));
	ws->vw = calloc((size_t)(k * d), sizeof(float));
	ws->vb = calloc((size_t)k, sizeof(float));
	if (patience) {
		ws->bestw = malloc((size_t)(k * d) * sizeof(float));
		ws->bestb = malloc((size_t)k * sizeof(float));
	}
	if (!ws->xb || !ws->yb || !ws->z || !ws->gw || !ws->gb || !ws->vw || !ws->vb ||
	    (patience && (!ws->bestw || !ws->bestb))) {
		ws_free(ws);
		return -1;
	}
	return 0;
}

/* SGD with momentum and weight decay, torch's order of operations */
static void sgd(float *w, float *v, const float *g, int64_t n, float lr, float m, float wd)
{
	for (int64_t i = 0; i < n; i++)
		probe_sgd1(&w[i], &v[i], g[i], lr, m, wd);
}

static void gather(workspace *ws, const probe_data *dt, const float *x, int64_t d,
		   const int64_t *rows, int64_t nb)
{
	int64_t k = dt->k;
	for (int64_t i = 0; i < nb; i++) {
		memcpy(ws->xb + i * d, x + rows[i] * d, (size_t)d * sizeof(float));
		memcpy(ws->yb + i * k, dt->y + rows[i] * k, (size_t)k * sizeof(float));
	}
}

/* z[n,k] = x W^T + b */
static void linear(const float *x, int64_t n, int64_t d, const float *w, const float *b, int64_t k,
		   float *z)
{
	if (n == 0)
		return;
	for (int64_t i = 0; i < n; i++)
		memcpy(z + i * k, b, (size_t)k * sizeof(float));
	cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)n, (int)k, (int)d,
		    1.0f, x, (int)d, w, (int)d, 1.0f, z, (int)k);
}

void probe_predict(const float *x, int64_t n, int64_t d, const float *w, const float *b,
		   int64_t k, float *p)
{
	linear(x, n, d, w, b, k, p);
	for (int64_t i = 0; i < n * k; i++)
		p[i] = probe_sigmoid(p[i]);
}

/* G = (sigmoid(z) - y) / (nb k) in place of z, gb = its column sums; returns the summed loss */
static double loss_grad(float *z, const float *y, int64_t nb, int64_t k, float *gb)
{
	double loss = 0;
	float scale = 1.0f / (float)(nb * k);
	memset(gb, 0, (size_t)k * sizeof(float));
	for (int64_t i = 0; i < nb; i++)
		for (int64_t j = 0; j < k; j++) {
			float sig;
			loss += probe_bce_sigmoid(z[i * k + j], y[i * k + j], &sig);
			float g = (sig - y[i * k + j]) * scale;
			z[i * k + j] = g;
			gb[j] += g;
		}
	return loss;
}

/* One SGD step on a batch; returns the summed (not averaged) loss. */
static double step(workspace *ws, const probe_data *dt, probe_layer *ly, const int64_t *rows,
		   int64_t nb, const probe_recipe *r, float lr)
{
	int64_t d = ly->d, k = dt->k;
	gather(ws, dt, ly->x, d, rows, nb);
	linear(ws->xb, nb, d, ly->w, ly->b, k, ws->z);
	double loss = loss_grad(ws->z, ws->yb, nb, k, ws->gb);
	/* gW = G^T Xb */
	cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)k, (int)d, (int)nb,
		    1.0f, ws->z, (int)k, ws->xb, (int)d, 0.0f, ws->gw, (int)d);
	float m = (float)r->momentum, wd = (float)r->weight_decay;
	sgd(ly->w, ws->vw, ws->gw, k * d, lr, m, wd);
	sgd(ly->b, ws->vb, ws->gb, k, lr, m, wd);
	return loss;
}

static double val_loss(workspace *ws, const probe_data *dt, probe_layer *ly, int64_t batch)
{
	int64_t d = ly->d, k = dt->k;
	double loss = 0;
	for (int64_t s = 0; s < dt->nval; s += batch) {
		int64_t nb = dt->nval - s < batch ? dt->nval - s : batch;
		gather(ws, dt, ly->x, d, dt->val + s, nb);
		linear(ws->xb, nb, d, ly->w, ly->b, k, ws->z);
		for (int64_t i = 0; i < nb * k; i++)
			loss += probe_bce(ws->z[i], ws->yb[i]);
	}
	return loss / (double)(dt->nval * k);
}

/* Returns 1 when training should stop; keeps the best weights in bestw/bestb. */
static int stop_check(probe_stopper *st, double vl, int e, const probe_recipe *r, probe_layer *ly,
		      int64_t k, float *bestw, float *bestb)
{
	int stop;
	if (probe_stop_update(st, vl, e, r->patience, &stop)) {
		ly->best_epoch = e + 1;
		memcpy(bestw, ly->w, (size_t)(k * ly->d) * sizeof(float));
		memcpy(bestb, ly->b, (size_t)k * sizeof(float));
	}
	return stop;
}

void probe_layer_finish(const probe_data *dt, const probe_recipe *r, probe_layer *ly, int stopped,
			const float *bestw, const float *bestb)
{
	if (stopped) {
		memcpy(ly->w, bestw, (size_t)(dt->k * ly->d) * sizeof(float));
		memcpy(ly->b, bestb, (size_t)dt->k * sizeof(float));
	}
	for (int e = ly->epochs_run; e < r->epochs; e++)
		ly->loss[e] = NAN;
	/* snapshots after an early stop show the kept probe */
	if (ly->snap && dt->snap_every > 0)
		for (int s = ly->epochs_run / dt->snap_every; s < r->epochs / dt->snap_every; s++)
			probe_predict(ly->x, dt->n, ly->d, ly->w, ly->b, dt->k,
				      ly->snap + s * dt->snap_stride);
}

static void snapshot(const probe_data *dt, probe_layer *ly, int e)
{
	if (ly->snap && dt->snap_every > 0 && (e + 1) % dt->snap_every == 0)
		probe_predict(ly->x, dt->n, ly->d, ly->w, ly->b, dt->k,
			      ly->snap + (int64_t)((e + 1) / dt->snap_every - 1) * dt->snap_stride);
}

int probe_train_layer(const probe_data *dt, const probe_recipe *r, probe_layer *ly)
{
	workspace ws;
	int64_t batch = r->batch < dt->ntrain ? r->batch : dt->ntrain;
	if (ws_alloc(&ws, batch, ly->d, dt->k, r->patience))
		return -1;
	probe_stopper st = {0, 0};
	int stopped = 0;
	ly->best_epoch = 0;
	ly->diverged = 0;
	for (int e = 0; e < r->epochs && !stopped; e++) {
		const int64_t *order = dt->order + (int64_t)e * dt->ntrain;
		float lr = (float)probe_lr(r, e);
		double loss = 0;
		for (int64_t s = 0; s < dt->ntrain; s += batch) {
			int64_t nb = dt->ntrain - s < batch ? dt->ntrain - s : batch;
			loss += step(&ws, dt, ly, order + s, nb, r, lr);
		}
		ly->loss[e] = (float)(loss / (double)(dt->ntrain * dt->k));
		ly->epochs_run = e + 1;
		if (!isfinite(ly->loss[e])) {
			ly->diverged = e + 1;
			break;
		}
		snapshot(dt, ly, e);
		if (r->patience && dt->nval > 0)
			stopped = stop_check(&st, val_loss(&ws, dt, ly, batch), e, r, ly, dt->k,
					     ws.bestw, ws.bestb);
		if (dt->on_epoch)
			dt->on_epoch(dt->ctx);
	}
	probe_layer_finish(dt, r, ly, stopped, ws.bestw, ws.bestb);
	ws_free(&ws);
	return 0;
}

/* ---- one layer, plain reference ---- */

static double val_loss_ref(const probe_data *dt, const probe_layer *ly)
{
	int64_t d = ly->d, k = dt->k;
	double loss = 0;
	for (int64_t r = 0; r < dt->nval; r++) {
		const float *x = ly->x + dt->val[r] * d;
		for (int64_t j = 0; j < k; j++) {
			double z = ly->b[j];
			for (int64_t c = 0; c < d; c++)
				z += (double)ly->w[j * d + c] * x[c];
			loss += probe_bce((float)z, dt->y[dt->val[r] * k + j]);
		}
	}
	return loss / (double)(dt->nval * k);
}

int probe_train_layer_ref(const probe_data *dt, const probe_recipe *r, probe_layer *ly)
{
	int64_t d = ly->d, k = dt->k;
	double *gw = malloc((size_t)(k * d) * sizeof *gw), *gb = malloc((size_t)k * sizeof *gb);
	float *g = malloc((size_t)(k * d + k) * sizeof *g), *v = calloc((size_t)(k * d + k), sizeof *v);
	float *best = r->patience ? malloc((size_t)(k * d + k) * sizeof *best) : NULL;
	if (!gw || !gb || !g || !v || (r->patience && !best)) {
		free(gw), free(gb), free(g), free(v), free(best);
		return -1;
	}
	probe_stopper st = {0, 0};
	int stopped = 0;
	ly->best_epoch = 0;
	ly->diverged = 0;
	for (int e = 0; e < r->epochs && !stopped; e++) {
		const int64_t *order = dt->order + (int64_t)e * dt->ntrain;
		float lr = (float)probe_lr(r, e);
		double loss = 0;
		for (int64_t s = 0; s < dt->ntrain; s += r->batch) {
			int64_t nb = dt->ntrain - s < r->batch ? dt->ntrain - s : r->batch;
			memset(gw, 0, (size_t)(k * d) * sizeof *gw);
			memset(gb, 0, (size_t)k * sizeof *gb);
			for (int64_t i = 0; i < nb; i++) {
				const float *x = ly->x + order[s + i] * d;
				const float *y = dt->y + order[s + i] * k;
				for (int64_t j = 0; j < k; j++) {
					double z = ly->b[j];
					for (int64_t c = 0; c < d; c++)
						z += (double)ly->w[j * d + c] * x[c];
					loss += probe_bce((float)z, y[j]);
					double gz = (1.0 / (1.0 + exp(-z)) - y[j]) / (double)(nb * k);
					for (int64_t c = 0; c < d; c++)
						gw[j * d + c] += gz * x[c];
					gb[j] += gz;
				}
			}
			for (int64_t i = 0; i < k * d; i++)
				g[i] = (float)gw[i];
			for (int64_t j = 0; j < k; j++)
				g[k * d + j] = (float)gb[j];
			sgd(ly->w, v, g, k * d, lr, (float)r->momentum, (float)r->weight_decay);
			sgd(ly->b, v + k * d, g + k * d, k, lr, (float)r->momentum, (float)r->weight_decay);
		}
		ly->loss[e] = (float)(loss / (double)(dt->ntrain * k));
		ly->epochs_run = e + 1;
		if (!isfinite(ly->loss[e])) {
			ly->diverged = e + 1;
			break;
		}
		snapshot(dt, ly, e);
		if (r->patience && dt->nval > 0)
			stopped = stop_check(&st, val_loss_ref(dt, ly), e, r, ly, k, best, best + k * d);
	}
	probe_layer_finish(dt, r, ly, stopped, best, best ? best + k * d : NULL);
	free(gw), free(gb), free(g), free(v), free(best);
	return 0;
}

/* ---- all layers ---- */

typedef struct {
	const probe_data *data;   /* with on_epoch pointing at progress_locked */
	const probe_recipe *r;
	probe_layer *layers;
	int *queue;               /* layer indices, largest d first */
	int nlayers, next, failed, single_blas;
	pthread_mutex_t lock;
	void (*progress)(void *ctx);
	void *ctx;
} pool;

static void progress_locked(void *ctx)
{
	pool *p = ctx;
	pthread_mutex_lock(&p->lock);
	p->progress(p->ctx);
	pthread_mutex_unlock(&p->lock);
}

static void *worker(void *arg)
{
	pool *p = arg;
	/* OpenBLAS's OpenMP build takes its thread count from the calling
	 * thread's OpenMP setting, which a new thread inherits as "all cores" */
	if (p->single_blas)
		threads_set_blas(1);
	for (;;) {
		pthread_mutex_lock(&p->lock);
		int i = p->next < p->nlayers ? p->queue[p->next++] : -1;
		pthread_mutex_unlock(&p->lock);
		if (i < 0)
			return NULL;
		const probe_data *dt = p->data;
		probe_layer *ly = &p->layers[i];
		int rc = dt->layer_begin ? dt->layer_begin(dt->layer_ctx, i, ly) : 0;
		if (!rc) {
			rc = probe_train_layer(dt, p->r, ly);
			if (dt->layer_end)
				dt->layer_end(dt->layer_ctx, i, ly);
		}
		if (rc) {
			pthread_mutex_lock(&p->lock);
			p->failed = 1;
			pthread_mutex_unlock(&p->lock);
		}
	}
}

int probe_train(const probe_data *data, const probe_recipe *r, probe_layer *layers, int nlayers,
		int threads, void (*progress)(void *ctx), void *ctx)
{
	pool p = {.r = r, .layers = layers, .nlayers = nlayers, .progress = progress, .ctx = ctx};
	probe_data dt = *data;
	dt.on_epoch = progress ? progress_locked : NULL;
	dt.ctx = &p;
	p.data = &dt;
	p.queue = malloc((size_t)(nlayers > 0 ? nlayers : 1) * sizeof *p.queue);
	if (!p.queue)
		return -1;
	/* longest first: a wide layer started last would leave the other threads idle */
	for (int i = 0; i < nlayers; i++) {
		int j = i;
		for (; j > 0 && layers[p.queue[j - 1]].d < layers[i].d; j--)
			p.queue[j] = p.queue[j - 1];
		p.queue[j] = i;
	}
	pthread_mutex_init(&p.lock, NULL);
	int nworkers = threads < nlayers ? threads : nlayers;
	if (nworkers <= 1) {
		threads_set_blas(threads);
		worker(&p);
	} else {
		/* OpenBLAS threads inside our threads would oversubscribe the cores */
		p.single_blas = 1;
		threads_set_blas(1);
		threads_run(nworkers, worker, &p, 0);
		threads_set_blas(threads);
	}
	pthread_mutex_destroy(&p.lock);
	free(p.queue);
	return p.failed ? -1 : 0;
}
