/* names.c: the name tables of names.h. */
#include "names.h"

#include <string.h>

const char *const split_names[SPLIT_N] = { "train", "val", "test" };
const char *const context_names[CTX_N] = { "labels", "ignore", "split", "index" };
const char *const measure_tensors[MEASURE_N] = { "wdist", "cheb", "jsd", "kl", "tv" };
const char *const measure_options[MEASURE_N] = { NULL, "chebyshev", "js", "kl", "tv" };
const char *const measure_titles[MEASURE_N] = {
	"Wasserstein distance to the target", "Chebyshev distance", "Jensen-Shannon divergence (nats)",
	"KL(target || prediction)", "total variation",
};
const char *const category_names[CAT_N] = { "regular", "easy", "hard", "confused" };

int names_find(const char *const *names, int n, const char *s)
{
	for (int i = 0; i < n; i++)
		if (names[i] && !strcmp(names[i], s))
			return i;
	return -1;
}
