/* probe.h: linear probes (FC + sigmoid per label) trained with PyTorch's
 * recipe, no file I/O (contract section 6; docs/train-probe.md).
 *
 * One probe per layer: z = x W^T + b, p = sigmoid(z); loss = BCEWithLogits,
 * mean over batch rows and labels; torch.optim.SGD with momentum and weight
 * decay on weight and bias (v = m v + g + wd w; w -= lr v; v starts at 0 so
 * the first step is v = g + wd w, as torch's clone); StepLR: lr is divided by
 * 10 after every lr_step epochs; batches of `batch` rows in a per-epoch order,
 * the last one short (drop_last = False).
 *
 * Two implementations of one layer's training: probe_train_layer (gathered
 * batches and OpenBLAS sgemm) and probe_train_layer_ref (plain loops, double
 * accumulators), which the unit tests hold against each other. Nothing here
 * exits or prints; allocation failures return -1.
 *
 * Error rule: returns -1 (out of memory); never exits or prints. */
#ifndef LS_PROBE_H
#define LS_PROBE_H

#include <stdint.h>

typedef struct {
	int epochs;             /* 100 */
	int batch;              /* 128 */
	int lr_step;            /* 40: lr /= 10 after every lr_step epochs; 0 never */
	int patience;           /* 0 off; else stop after this many epochs without a better val loss */
	double lr;              /* 0.01 */
	double momentum;        /* 0.9 */
	double weight_decay;    /* 1e-4 */
	uint64_t seed;          /* 0 */
} probe_recipe;

void probe_recipe_default(probe_recipe *r);
/* learning rate of epoch e (0-based) */
double probe_lr(const probe_recipe *r, int e);

typedef struct probe_layer probe_layer;

/* What every layer shares: targets, the rows of each split, batch orders. */
typedef struct {
	int64_t n, k;
	const float *y;         /* [n,k] targets in {0,1} */
	int64_t ntrain;
	const int64_t *order;   /* [epochs, ntrain]: rows of each epoch, batches cut in this order */
	int64_t nval;
	const int64_t *val;     /* rows of the val split (early stopping); may be NULL when nval = 0 */
	int snap_every;         /* 0: no snapshots; else after epochs snap_every, 2*snap_every, ... */
	int64_t snap_stride;    /* floats between consecutive snapshots of one layer */
	void (*on_epoch)(void *ctx); /* NULL, or called after every epoch (probe_train sets it) */
	void *ctx;
	/* probe_train: NULL, or called in the thread that trains layer l right
	 * before its training (layer_begin sets ly->x; non-zero fails the run)
	 * and right after it (layer_end), so that a layer's features need to be
	 * in memory only meanwhile */
	int (*layer_begin)(void *ctx, int l, probe_layer *ly);
	void (*layer_end)(void *ctx, int l, probe_layer *ly);
	void *layer_ctx;
} probe_data;

/* One layer: features in, probe (initial values in, trained values out). */
struct probe_layer {
	int64_t d;
	const float *x;         /* [n,d] */
	float *w, *b;           /* [k,d], [k] */
	float *loss;            /* [epochs]: mean train loss of each epoch; NaN after an early stop */
	float *snap;            /* NULL, or the first snapshot's [n,k]; the next ones at +snap_stride */
	int epochs_run;         /* out: epochs trained (< epochs after an early stop) */
	int diverged;           /* out: 0, or the epoch (1-based) whose mean loss was NaN or
	                         * infinite: training stopped there, w and b are not usable */
	int best_epoch;         /* out: with patience, the epoch (1-based) whose weights are kept */
};

/* ---- randomness (documented in docs/train-probe.md) ----
 * SplitMix64; each use has its own stream: probe_rng_seed(seed, PURPOSE, i). */
enum { PROBE_RNG_INIT = 1, PROBE_RNG_SHUFFLE = 2 };
uint64_t probe_rng_seed(uint64_t seed, uint64_t purpose, uint64_t index);
/* uniform in [0,1) with 24 bits, exactly representable as float */
float probe_rng_uniform(uint64_t *state);
/* uniform integer in [0, n) without bias (Lemire's method) */
uint64_t probe_rng_below(uint64_t *state, uint64_t n);

/* torch.nn.Linear's initialisation: weight and bias ~ U(-1/sqrt(d), 1/sqrt(d))
 * (kaiming_uniform with a = sqrt(5)), from stream (seed, INIT, layer):
 * the k*d weights in row-major order, then the k biases. */
void probe_init(float *w, float *b, int64_t d, int64_t k, uint64_t seed, int layer);

/* The batch orders of all epochs: epoch e is a Fisher-Yates shuffle of the
 * training rows `train` (as given) from stream (seed, SHUFFLE, e).
 * order is [epochs, ntrain]. */
void probe_shuffle(int64_t *order, const int64_t *train, int64_t ntrain, int epochs, uint64_t seed);

/* Z-scores x[n,d] in place with the mean and population standard deviation
 * of the rows `rows` (scikit-learn's StandardScaler: a zero deviation counts
 * as 1); mean and scale [d] receive the statistics. -1 when nrows == 0. */
int probe_standardize(float *x, int64_t n, int64_t d, const int64_t *rows, int64_t nrows,
		      float *mean, float *scale);
/* Applies stored statistics: x = (x - mean) / scale. */
void probe_apply_standardize(float *x, int64_t n, int64_t d, const float *mean, const float *scale);

/* p[n,k] = sigmoid(x W^T + b) for all n rows. */
void probe_predict(const float *x, int64_t n, int64_t d, const float *w, const float *b,
		   int64_t k, float *p);

/* The end of a layer's training, on either device: with stopped, the probe
 * becomes bestw/bestb (the best epoch's); the losses after epochs_run are
 * NaN, and the snapshots of the epochs not run show the kept probe. */
void probe_layer_finish(const probe_data *data, const probe_recipe *r, probe_layer *layer,
			int stopped, const float *bestw, const float *bestb);

/* Trains one layer; 0, or -1 when memory runs out. A layer whose loss
 * becomes NaN or infinite stops at that epoch with diverged set. */
int probe_train_layer(const probe_data *data, const probe_recipe *r, probe_layer *layer);
int probe_train_layer_ref(const probe_data *data, const probe_recipe *r, probe_layer *layer);

/* Trains all layers with `threads` threads: layers run in parallel threads,
 * each with single-threaded BLAS, when there are several layers and threads;
 * else one layer after the other with BLAS using the threads.
 * progress (may be NULL) is called after every epoch of every layer from
 * the worker threads, serialised. 0, or -1 when memory runs out. */
int probe_train(const probe_data *data, const probe_recipe *r, probe_layer *layers, int nlayers,
		int threads, void (*progress)(void *ctx), void *ctx);

#endif
