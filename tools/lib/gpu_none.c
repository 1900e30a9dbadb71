/* gpu_none.c: the GPU entry points of gpu.h in a build without CUDA (the
 * CPU flavour; `make CUDA=1` links the tools/lib/ .cu files instead). Each one says
 * so, so that --device cuda fails with one clear line. */
#include "gpu.h"

static int no_cuda(char *err)
{
	return err_set(err, "this build has no GPU code (rebuild with `make CUDA=1` where nvcc exists)");
}

int gpu_open(char *err) { return no_cuda(err); }
const char *gpu_describe(void) { return "no GPU (built without CUDA)"; }

int gpu_probe_train(const probe_data *data, const probe_recipe *r, probe_layer *layers, int nlayers,
		    void (*progress)(void *ctx), void *ctx, char *err)
{
	(void)data, (void)r, (void)layers, (void)nlayers, (void)progress, (void)ctx;
	return no_cuda(err);
}

gpu_net *gpu_net_new(const net_model *net, const net_pool *pool, int max_batch, int h, int w,
		     gpu_net_precision prec, char *err)
{
	(void)net, (void)pool, (void)max_batch, (void)h, (void)w, (void)prec;
	no_cuda(err);
	return NULL;
}

void gpu_net_free(gpu_net *g) { (void)g; }
const char *gpu_net_precision_name(const gpu_net *g) { (void)g; return "none"; }

int gpu_net_forward(gpu_net *g, const float *images, int n, float *const *pooled, float *logits,
		    char *err)
{
	(void)g, (void)images, (void)n, (void)pooled, (void)logits;
	return no_cuda(err);
}

int gpu_sk_solve(const gpu_sk *p, int64_t n, const double *x, const double *y, double *val, double *errs,
		 int *iters, unsigned char *status, double *u, double *v, char *err)
{
	(void)p, (void)n, (void)x, (void)y, (void)val, (void)errs, (void)iters, (void)status, (void)u, (void)v;
	return no_cuda(err);
}
