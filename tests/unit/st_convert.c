/* st_convert: the half and bfloat16 conversions of st.c, as raw bits for a peer
 * (tests/24-safetensors-convert.t compares them with NumPy and PyTorch).
 *
 * stdin: float32 values; stdout: for each, its F16 and BF16 bits (two uint16),
 * then for every 16-bit pattern h the float32 of h read as F16 and as BF16. */
#include <stdint.h>
#include <stdio.h>
#include "st.h"

int main(void)
{
	float x;
	while (fread(&x, sizeof x, 1, stdin) == 1) {
		uint16_t h[2] = {st_f32_to_half(x), st_f32_to_bf16(x)};
		if (fwrite(h, sizeof h, 1, stdout) != 1) return 1;
	}
	for (uint32_t h = 0; h < 65536; h++) {
		float f[2] = {st_half_to_f32((uint16_t)h), st_bf16_to_f32((uint16_t)h)};
		if (fwrite(f, sizeof f, 1, stdout) != 1) return 1;
	}
	return fclose(stdout) != 0;
}
