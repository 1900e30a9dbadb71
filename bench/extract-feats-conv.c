/* extract-feats-conv: the convolutions of ResNet-50 and VGG-16 at 224 px, timed
 * three ways on the same shapes and threads:
 *   sgemm    conv_forward (im2col + OpenBLAS sgemm, CNHW, bias+ReLU fused)
 *   dnnl     oneDNN's best direct convolution on its own blocked layout
 *            (weights pre-reordered, ReLU as a post-op): the best case of a
 *            network kept blocked end to end
 *   dnnl+io  the same plus the reorders from and to plain NCHW around it
 *            (what torch's CPU path pays per convolution)
 * and, for scale, OpenBLAS sgemm on 1024^3. Prints GFLOP/s.
 *   extract-feats-conv [BATCH] [THREADS]   every convolution, then sgemm
 *   extract-feats-conv sgemm [THREADS]     the sgemm rate alone
 * (built and run by bench/extract-feats.sh) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cblas.h>
#include <oneapi/dnnl/dnnl.h>
#include "conv.h"

#define CHECK(x) do { dnnl_status_t s_ = (x); if (s_ != dnnl_success) { \
	fprintf(stderr, "oneDNN: %s failed (%d)\n", #x, (int)s_); exit(1); } } while (0)

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

static float *randv(size_t n)
{
	float *v = malloc(n * sizeof *v);
	for (size_t i = 0; i < n; i++)
		v[i] = (float)rand() / RAND_MAX - 0.5f;
	return v;
}

typedef struct { const char *what; int cin, cout, k, stride, h; } shape;

static dnnl_engine_t eng;
static dnnl_stream_t strm;

static dnnl_memory_t mem(const dnnl_memory_desc_t *md, void *handle)
{
	dnnl_memory_t m;
	CHECK(dnnl_memory_create(&m, md, eng, handle ? handle : DNNL_MEMORY_ALLOCATE));
	return m;
}

static void reorder(dnnl_memory_t from, dnnl_memory_t to)
{
	const dnnl_memory_desc_t *a, *b;
	dnnl_primitive_desc_t pd;
	dnnl_primitive_t p;
	CHECK(dnnl_memory_get_memory_desc(from, &a));
	CHECK(dnnl_memory_get_memory_desc(to, &b));
	CHECK(dnnl_reorder_primitive_desc_create(&pd, a, eng, b, eng, NULL));
	CHECK(dnnl_primitive_create(&p, pd));
	dnnl_exec_arg_t args[2] = {{DNNL_ARG_FROM, from}, {DNNL_ARG_TO, to}};
	CHECK(dnnl_primitive_execute(p, strm, 2, args));
	CHECK(dnnl_stream_wait(strm));
	dnnl_primitive_destroy(p);
	dnnl_primitive_desc_destroy(pd);
}

/* seconds per call: best of reps, for oneDNN blocked (io=0) or with reorders (io=1) */
static void time_dnnl(const shape *s, int n, const float *x, const float *w, const float *b, int reps,
		      double *blocked, double *with_io)
{
	int oh = conv_out_size(s->h, s->k, s->stride, s->k / 2);
	dnnl_dims_t sd = {n, s->cin, s->h, s->h}, wd = {s->cout, s->cin, s->k, s->k}, bd = {s->cout},
		    dd = {n, s->cout, oh, oh}, st = {s->stride, s->stride}, pad = {s->k / 2, s->k / 2};
	dnnl_memory_desc_t src_any, w_any, b_md, dst_any, src_plain, w_plain, dst_plain;
	CHECK(dnnl_memory_desc_init_by_tag(&src_any, 4, sd, dnnl_f32, dnnl_format_tag_any));
	CHECK(dnnl_memory_desc_init_by_tag(&w_any, 4, wd, dnnl_f32, dnnl_format_tag_any));
	CHECK(dnnl_memory_desc_init_by_tag(&b_md, 1, bd, dnnl_f32, dnnl_x));
	CHECK(dnnl_memory_desc_init_by_tag(&dst_any, 4, dd, dnnl_f32, dnnl_format_tag_any));
	CHECK(dnnl_memory_desc_init_by_tag(&src_plain, 4, sd, dnnl_f32, dnnl_nchw));
	CHECK(dnnl_memory_desc_init_by_tag(&w_plain, 4, wd, dnnl_f32, dnnl_oihw));
	CHECK(dnnl_memory_desc_init_by_tag(&dst_plain, 4, dd, dnnl_f32, dnnl_nchw));
	dnnl_convolution_desc_t cd;
	CHECK(dnnl_convolution_forward_desc_init(&cd, dnnl_forward_inference, dnnl_convolution_direct,
						 &src_any, &w_any, &b_md, &dst_any, st, pad, pad));
	dnnl_post_ops_t po;
	dnnl_primitive_attr_t attr;
	CHECK(dnnl_post_ops_create(&po));
	CHECK(dnnl_post_ops_append_eltwise(po, 1.0f, dnnl_eltwise_relu, 0.0f, 0.0f));
	CHECK(dnnl_primitive_attr_create(&attr));
	CHECK(dnnl_primitive_attr_set_post_ops(attr, po));
	dnnl_primitive_desc_t pd;
	dnnl_primitive_t conv;
	CHECK(dnnl_primitive_desc_create(&pd, &cd, attr, eng, NULL));
	CHECK(dnnl_primitive_create(&conv, pd));
	dnnl_memory_t xs = mem(&src_plain, (void *)x), ws = mem(&w_plain, (void *)w), bs = mem(&b_md, (void *)b);
	dnnl_memory_t ys = mem(&dst_plain, NULL);
	dnnl_memory_t xi = mem(dnnl_primitive_desc_query_md(pd, dnnl_query_src_md, 0), NULL);
	dnnl_memory_t wi = mem(dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0), NULL);
	dnnl_memory_t yi = mem(dnnl_primitive_desc_query_md(pd, dnnl_query_dst_md, 0), NULL);
	reorder(ws, wi);
	dnnl_exec_arg_t args[4] = {{DNNL_ARG_SRC, xi}, {DNNL_ARG_WEIGHTS, wi}, {DNNL_ARG_BIAS, bs}, {DNNL_ARG_DST, yi}};
	*blocked = *with_io = 1e30;
	for (int r = 0; r < reps; r++) {
		double t0 = now();
		reorder(xs, xi);
		double t1 = now();
		CHECK(dnnl_primitive_execute(conv, strm, 4, args));
		CHECK(dnnl_stream_wait(strm));
		double t2 = now();
		reorder(yi, ys);
		double t3 = now();
		if (t2 - t1 < *blocked)
			*blocked = t2 - t1;
		if (t3 - t0 < *with_io)
			*with_io = t3 - t0;
	}
	dnnl_memory_destroy(xs), dnnl_memory_destroy(ws), dnnl_memory_destroy(bs), dnnl_memory_destroy(ys);
	dnnl_memory_destroy(xi), dnnl_memory_destroy(wi), dnnl_memory_destroy(yi);
	dnnl_primitive_destroy(conv);
	dnnl_primitive_desc_destroy(pd);
	dnnl_primitive_attr_destroy(attr);
	dnnl_post_ops_destroy(po);
}

static double sgemm_rate(int reps)
{
	int m = 1024;
	float *a = randv((size_t)m * m), *b = randv((size_t)m * m), *c = malloc((size_t)m * m * sizeof *c);
	double best = 1e30;
	for (int r = 0; r < reps; r++) {
		double t0 = now();
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, m, m, 1, a, m, b, m, 0, c, m);
		if (now() - t0 < best)
			best = now() - t0;
	}
	free(a), free(b), free(c);
	return 2.0 * m * m * m / best * 1e-9;
}

int main(int argc, char **argv)
{
	if (argc > 1 && !strcmp(argv[1], "sgemm")) {
		openblas_set_num_threads(argc > 2 ? atoi(argv[2]) : 1);
		printf("%.1f\n", sgemm_rate(5));
		return 0;
	}
	int n = argc > 1 ? atoi(argv[1]) : 8, threads = argc > 2 ? atoi(argv[2]) : 1, reps = 3;
	static const shape shapes[] = {
		{"resnet50 conv1 7x7/2 3->64 @224", 3, 64, 7, 2, 224},
		{"resnet50 layer1 3x3 64->64 @56", 64, 64, 3, 1, 56},
		{"resnet50 layer1 1x1 64->256 @56", 64, 256, 1, 1, 56},
		{"resnet50 layer2 3x3/2 128->128 @56", 128, 128, 3, 2, 56},
		{"resnet50 layer3 3x3 256->256 @14", 256, 256, 3, 1, 14},
		{"resnet50 layer3 1x1 1024->256 @14", 1024, 256, 1, 1, 14},
		{"resnet50 layer4 3x3 512->512 @7", 512, 512, 3, 1, 7},
		{"vgg16 conv1_2 3x3 64->64 @224", 64, 64, 3, 1, 224},
		{"vgg16 conv3_2 3x3 256->256 @56", 256, 256, 3, 1, 56},
	};
	openblas_set_num_threads(threads);
	CHECK(dnnl_engine_create(&eng, dnnl_cpu, 0));
	CHECK(dnnl_stream_create(&strm, eng, dnnl_stream_default_flags));
	printf("batch %d, %d thread(s) (oneDNN: OMP_NUM_THREADS); GFLOP/s, 2 per multiply-add\n", n, threads);
	printf("%-38s %8s %8s %8s\n", "convolution", "sgemm", "dnnl", "dnnl+io");
	double tot[3] = {0}, flops_all = 0;
	conv_buf scratch = {0};
	for (size_t i = 0; i < sizeof shapes / sizeof *shapes; i++) {
		const shape *s = &shapes[i];
		int oh = conv_out_size(s->h, s->k, s->stride, s->k / 2);
		double flops = 2.0 * s->cout * s->cin * s->k * s->k * oh * oh * n;
		float *x = randv((size_t)n * s->cin * s->h * s->h), *w = randv((size_t)s->cout * s->cin * s->k * s->k);
		float *b = randv(s->cout), *y = malloc((size_t)n * s->cout * oh * oh * sizeof *y);
		conv_layer c = {s->cin, s->cout, s->k, s->stride, s->k / 2, 1, w, b};
		double ours = 1e30, blocked, io;
		for (int r = 0; r < reps; r++) {
			double t0 = now();
			conv_forward(&c, x, n, s->h, s->h, NULL, y, &scratch);
			if (now() - t0 < ours)
				ours = now() - t0;
		}
		time_dnnl(s, n, x, w, b, reps, &blocked, &io);
		printf("%-38s %8.1f %8.1f %8.1f\n", s->what, flops / ours * 1e-9, flops / blocked * 1e-9, flops / io * 1e-9);
		tot[0] += ours, tot[1] += blocked, tot[2] += io, flops_all += flops;
		free(x), free(w), free(b), free(y);
	}
	printf("%-38s %8.1f %8.1f %8.1f\n", "all of the above", flops_all / tot[0] * 1e-9, flops_all / tot[1] * 1e-9,
	       flops_all / tot[2] * 1e-9);
	printf("%-38s %8.1f\n", "sgemm 1024^3 (OpenBLAS)", sgemm_rate(reps));
	free(scratch.p);
	return 0;
}
