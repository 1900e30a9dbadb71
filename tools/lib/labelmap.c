/* labelmap.c: a model's label order against a data set's (labelmap.h).
 * Label sets are small (20 to a few thousand names): a quadratic match is
 * simpler than a map and fast enough. */
#include "labelmap.h"

#include <stdio.h>
#include <string.h>

#include "err.h"

static int find(char *const *names, int n, const char *s)
{
	for (int i = 0; i < n; i++)
		if (!strcmp(names[i], s))
			return i;
	return -1;
}

labelmap_match labelmap_compare(char *const *model, int km, char *const *data, int kd, int *perm)
{
	if (!model)
		return LABELS_UNKNOWN;
	if (km != kd)
		return LABELS_DIFFERENT;
	int same = 1;
	for (int j = 0; j < kd; j++) {
		int k = find(model, km, data[j]);
		if (k < 0 || find(model + k + 1, km - k - 1, data[j]) >= 0)
			return LABELS_DIFFERENT;
		perm[j] = k;
		same &= k == j;
	}
	return same ? LABELS_SAME : LABELS_REORDERED;
}

/* "N of A's labels are not B's ('x', 'y', ...)" appended at buf + *k */
static void missing(char *const *a, int na, char *const *b, int nb, const char *an, const char *bn,
		    char *buf, size_t n, size_t *k)
{
	int count = 0, shown = 0;
	for (int i = 0; i < na; i++)
		count += find(b, nb, a[i]) < 0;
	if (!count || *k >= n)
		return;
	*k += (size_t)snprintf(buf + *k, n - *k, "%s%d of %s labels %s not %s (", *k ? "; " : "", count, an,
			       count == 1 ? "is" : "are", bn);
	for (int i = 0; i < na && *k < n; i++) {
		if (find(b, nb, a[i]) >= 0)
			continue;
		if (shown++ == 4) {
			*k += (size_t)snprintf(buf + *k, n - *k, ", ...");
			break;
		}
		*k += (size_t)snprintf(buf + *k, n - *k, "%s'%s'", shown > 1 ? ", " : "", err_esc(a[i]));
	}
	if (*k < n)
		*k += (size_t)snprintf(buf + *k, n - *k, ")");
}

const char *labelmap_describe(char *const *model, int km, char *const *data, int kd, char *buf, size_t n)
{
	size_t k = 0;
	buf[0] = 0;
	missing(model, km, data, kd, "the model's", "the data set's", buf, n, &k);
	missing(data, kd, model, km, "the data set's", "the model's", buf, n, &k);
	if (!k)
		snprintf(buf, n, "the model names %d labels, the data set %d", km, kd);
	return buf;
}
