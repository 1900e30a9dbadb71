/* gpu.c: choosing the device (gpu.h); the same in both build flavours. */
#include <string.h>
#include "gpu.h"

int device_parse(const char *s, device_kind *d, char *err)
{
	if (!strcmp(s, "cpu"))
		*d = DEVICE_CPU;
	else if (!strcmp(s, "cuda"))
		*d = DEVICE_CUDA;
	else
		return err_set(err, "'%s': expected cpu or cuda", err_esc(s));
	return 0;
}
