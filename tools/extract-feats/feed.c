/* feed.c: decoder threads filling two batch slots in turn (see feed.h).
 *
 * Workers take samples in order; sample i (the data set's row first + i)
 * belongs to batch b = i / batch, which lives in slot b % 2. A worker waits until its slot holds batch b
 * (the consumer hands a slot on to batch b + 2 when it asks for the batch
 * after b), so decoding runs at most one batch ahead of the network and
 * memory stays two batches. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include "feed.h"
#include "image.h"
#include "cli.h"

typedef struct {
	int batch;           /* the batch this slot holds or awaits */
	int done;            /* samples finished (good or bad) */
	float *images;       /* [batch][3][crop][crop] */
	uint8_t *bad;        /* [batch] */
	char (*why)[ERR_LEN];
	int *rows;
} slot;

struct feed {
	ds_dataset *d;
	img_prep prep;
	int first;           /* the data set's row of sample 0 */
	int n, batch, skip_bad, nthreads, next_sample, next_batch, skipped, stop;
	size_t image_floats;
	slot s[2];
	pthread_mutex_t mu;
	pthread_cond_t cv;
	pthread_t *threads;
};

static int batch_size(const feed *f, int b)
{
	int left = f->n - b * f->batch;
	return left < f->batch ? left : f->batch;
}

/* 0, or -1 with why filled */
static int load_one(feed *f, int i, float *out, char *why)
{
	size_t len;
	img_rgb img = {0};
	char err[ERR_LEN];
	uint8_t *buf = ds_read(f->d, i, &len, err);
	if (!buf) {
		err_set(why, "%s", err);
		return -1;
	}
	/* the PIL recipe decodes as PIL's loader does */
	int rc = f->prep.resample == IMG_TENSOR_BILINEAR ? img_decode(buf, len, &img, err)
							  : img_decode_pil(buf, len, &img, err);
	free(buf);
	if (!rc) {
		int oh, ow;
		img_out_size(&img, f->prep.resize, f->prep.crop, &oh, &ow);
		if (oh != f->prep.crop || ow != f->prep.crop)
			rc = -1, snprintf(err, sizeof err, "%dx%d after resizing to %d, smaller than the crop %d",
					  img.w, img.h, f->prep.resize, f->prep.crop);
		else
			rc = img_preprocess(&img, &f->prep, out, err);
	}
	img_free(&img);
	if (rc)
		err_set(why, "image '%s': %.400s", f->d->ids[i], err);
	return rc;
}

static void *worker(void *arg)
{
	feed *f = arg;
	for (;;) {
		pthread_mutex_lock(&f->mu);
		int i = f->next_sample++, b = i / f->batch;
		slot *s = &f->s[b % 2];
		while (!f->stop && i < f->n && s->batch != b)
			pthread_cond_wait(&f->cv, &f->mu);
		int quit = f->stop || i >= f->n;
		pthread_mutex_unlock(&f->mu);
		if (quit)
			return NULL;
		int j = i - b * f->batch;
		int bad = load_one(f, f->first + i, s->images + j * f->image_floats, s->why[j]) != 0;
		pthread_mutex_lock(&f->mu);
		s->bad[j] = (uint8_t)bad;
		if (++s->done == batch_size(f, b))
			pthread_cond_broadcast(&f->cv);
		pthread_mutex_unlock(&f->mu);
	}
}

feed *feed_start(ds_dataset *d, int first, int n, const img_prep *prep, int batch, int threads, int skip_bad)
{
	feed *f = cli_calloc(1, sizeof *f);
	f->d = d, f->first = first, f->n = n, f->prep = *prep, f->batch = batch, f->skip_bad = skip_bad;
	f->image_floats = cli_mul(3, cli_mul(prep->crop, prep->crop, "image size"), "image size");
	for (int k = 0; k < 2; k++) {
		f->s[k].batch = k;
		f->s[k].images = cli_malloc(cli_mul(cli_mul(batch, f->image_floats, "batch"), sizeof(float), "batch"));
		f->s[k].bad = cli_calloc(batch, 1);
		f->s[k].why = cli_calloc(batch, sizeof *f->s[k].why);
		f->s[k].rows = cli_calloc(batch, sizeof(int));
	}
	pthread_mutex_init(&f->mu, NULL);
	pthread_cond_init(&f->cv, NULL);
	f->nthreads = threads < 1 ? 1 : threads;
	f->threads = cli_calloc(f->nthreads, sizeof *f->threads);
	for (int t = 0; t < f->nthreads; t++)
		if (pthread_create(&f->threads[t], NULL, worker, f))
			cli_die("cannot start decoder thread %d", t + 1);
	return f;
}

/* Moves the good images of slot s to its front; dies on a bad one unless skip_bad. */
static int compact(feed *f, slot *s, int b)
{
	int nb = 0, size = batch_size(f, b);
	for (int j = 0; j < size; j++) {
		if (s->bad[j]) {
			if (!f->skip_bad)
				cli_die("%s (--skip-bad leaves such images out)", s->why[j]);
			cli_warn("skipped: %s", s->why[j]);
			f->skipped++;
			continue;
		}
		if (nb != j)
			memcpy(s->images + nb * f->image_floats, s->images + j * f->image_floats,
			       f->image_floats * sizeof(float));
		s->rows[nb++] = f->first + b * f->batch + j;
	}
	return nb;
}

int feed_next(feed *f, const float **images, const int **rows, int *nb)
{
	int b = f->next_batch;
	pthread_mutex_lock(&f->mu);
	if (b > 0) {   /* the previous batch is consumed: its slot goes to batch b + 1 */
		slot *prev = &f->s[(b - 1) % 2];
		prev->batch = b + 1, prev->done = 0;
		pthread_cond_broadcast(&f->cv);
	}
	if (b * f->batch >= f->n) {
		pthread_mutex_unlock(&f->mu);
		return 0;
	}
	slot *s = &f->s[b % 2];
	while (s->done < batch_size(f, b))
		pthread_cond_wait(&f->cv, &f->mu);
	pthread_mutex_unlock(&f->mu);
	f->next_batch++;
	*nb = compact(f, s, b);
	*images = s->images, *rows = s->rows;
	return 1;
}

int feed_skipped(const feed *f) { return f->skipped; }

void feed_stop(feed *f)
{
	pthread_mutex_lock(&f->mu);
	f->stop = 1;   /* waiting workers leave */
	pthread_cond_broadcast(&f->cv);
	pthread_mutex_unlock(&f->mu);
	for (int t = 0; t < f->nthreads; t++)
		pthread_join(f->threads[t], NULL);
	for (int k = 0; k < 2; k++) {
		free(f->s[k].images);
		free(f->s[k].bad);
		free(f->s[k].why);
		free(f->s[k].rows);
	}
	pthread_mutex_destroy(&f->mu);
	pthread_cond_destroy(&f->cv);
	free(f->threads);
	free(f);
}
