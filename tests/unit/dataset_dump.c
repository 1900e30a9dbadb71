/* dataset_dump: prints what ds_open makes of a data set, for the
 * tests to compare with Python's own parse (tests/NN-dataset.t).
 *
 *   dataset_dump [-t THREADS] SPEC [SPLITS]
 *   dataset_dump --bench RESIZE CROP SPEC [SPLITS]
 *
 * Output (TSV): a line "n K unannotated", a line of label names, then per
 * sample: index, id, split, labels as 0/1, ignore as 0/1, and the image
 * bytes' length and FNV-1a hash (or "ERR message"). With -t, every sample
 * is also read from THREADS threads at once and must hash the same.
 * --bench reads, decodes and preprocesses every sample on one thread and
 * prints "N images S seconds R images/s" (bench/image-preprocess.sh). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "util.h"

#include "dataset.h"
#include "image.h"

typedef struct { char text[ERR_LEN + 64]; } cell;

typedef struct {
	ds_dataset *d;
	cell *out;
	int first, step;
} job;

static void describe(ds_dataset *d, int i, cell *c)
{
	char err[ERR_LEN];
	size_t len;
	uint8_t *p = ds_read(d, i, &len, err);
	if (!p) {
		snprintf(c->text, sizeof(c->text), "ERR %s", err);
		return;
	}
	uint64_t h = util_fnv1a(UTIL_FNV1A_INIT, p, len);
	free(p);
	snprintf(c->text, sizeof(c->text), "%zu\t%016llx", len, (unsigned long long)h);
}

static void *worker(void *arg)
{
	job *j = arg;
	for (int i = j->first; i < j->d->n; i += j->step)
		describe(j->d, i, &j->out[i]);
	return NULL;
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

static int bench(ds_dataset *d, int resize, int crop)
{
	char err[ERR_LEN];
	float *out = malloc(sizeof(float) * 3 * crop * crop);
	img_prep prep = { .resize = resize, .crop = crop, .resample = IMG_TENSOR_BILINEAR };
	memcpy(prep.mean, img_imagenet_mean, sizeof prep.mean);
	memcpy(prep.std, img_imagenet_std, sizeof prep.std);
	double t0 = now(), sum = 0;
	for (int i = 0; i < d->n; i++) {
		size_t len;
		img_rgb img;
		uint8_t *p = ds_read(d, i, &len, err);
		if (!p || img_decode(p, len, &img, err) || img_preprocess(&img, &prep, out, err)) {
			fprintf(stderr, "dataset_dump: %s\n", err);
			return 1;
		}
		sum += out[0];
		free(p);
		img_free(&img);
	}
	double dt = now() - t0;
	printf("%d images %.3f seconds %.1f images/s (checksum %g)\n", d->n, dt, d->n / dt, sum);
	free(out);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc >= 5 && argc <= 6 && !strcmp(argv[1], "--bench")) {
		char err[ERR_LEN];
		int resize = atoi(argv[2]), crop = atoi(argv[3]);
		ds_dataset *d = ds_open(argv[4], argc == 6 ? argv[5] : NULL, err);
		if (!d || crop <= 0) {
			fprintf(stderr, "dataset_dump: %s\n", d ? "--bench needs a crop" : err);
			return 1;
		}
		int rc = bench(d, resize, crop);
		ds_free(d);
		return rc;
	}
	int threads = 0, a = 1;
	if (argc > 2 && !strcmp(argv[1], "-t")) {
		threads = atoi(argv[2]);
		a = 3;
	}
	if (argc - a < 1 || argc - a > 2) {
		fprintf(stderr, "usage: dataset_dump [-t THREADS] SPEC [SPLITS]\n");
		return 2;
	}
	char err[ERR_LEN];
	ds_dataset *d = ds_open(argv[a], argc - a == 2 ? argv[a + 1] : NULL, err);
	if (!d) {
		fprintf(stderr, "dataset_dump: %s\n", err);
		return 1;
	}
	cell *seq = calloc(d->n, sizeof(cell));
	for (int i = 0; i < d->n; i++)
		describe(d, i, &seq[i]);
	int rc = 0;
	if (threads > 0) {
		cell *par = calloc(d->n, sizeof(cell));
		pthread_t *tid = calloc(threads, sizeof(pthread_t));
		job *jobs = calloc(threads, sizeof(job));
		for (int t = 0; t < threads; t++) {
			jobs[t] = (job){ d, par, t, threads };
			pthread_create(&tid[t], NULL, worker, &jobs[t]);
		}
		for (int t = 0; t < threads; t++)
			pthread_join(tid[t], NULL);
		for (int i = 0; i < d->n; i++)
			if (strcmp(seq[i].text, par[i].text)) {
				fprintf(stderr, "dataset_dump: sample %d differs between threads\n", i);
				rc = 1;
			}
		free(par);
		free(tid);
		free(jobs);
	}
	printf("%d\t%d\t%d\n", d->n, d->K, d->n_unannotated);
	for (int k = 0; k < d->K; k++)
		printf("%s%s", k ? "\t" : "", d->label_names[k]);
	printf("\n");
	for (int i = 0; i < d->n; i++) {
		printf("%lld\t%s\t%d\t", (long long)d->index[i], d->ids[i], d->split[i]);
		for (int k = 0; k < d->K; k++)
			putchar('0' + d->labels[(size_t)i * d->K + k]);
		putchar('\t');
		for (int k = 0; k < d->K; k++)
			putchar('0' + d->ignore[(size_t)i * d->K + k]);
		printf("\t%s\n", seq[i].text);
	}
	free(seq);
	ds_free(d);
	return rc;
}
