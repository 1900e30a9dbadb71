/* net_guess.c: torchvision arch names from state dict names (net_guess.h). */
#include "net_guess.h"

#include <stdio.h>
#include <string.h>

static int has(const st_file *w, const char *fmt, int a, int b)
{
	char name[96];
	snprintf(name, sizeof name, fmt, a, b);
	return st_find(w, name) != NULL;
}

static int guess_resnet(const st_file *w, char *arch, size_t n, char *err)
{
	static const struct { const char *name; int bottleneck, depth[4]; } known[] = {
		{"resnet18", 0, {2, 2, 2, 2}}, {"resnet34", 0, {3, 4, 6, 3}}, {"resnet50", 1, {3, 4, 6, 3}},
		{"resnet101", 1, {3, 4, 23, 3}}, {"resnet152", 1, {3, 8, 36, 3}},
	};
	int depth[4], bottleneck = has(w, "layer1.0.conv3.weight", 0, 0);
	for (int s = 0; s < 4; s++)
		for (depth[s] = 0; depth[s] < 1000 && has(w, "layer%d.%d.conv1.weight", s + 1, depth[s]);)
			depth[s]++;
	for (size_t i = 0; i < sizeof known / sizeof *known; i++)
		if (known[i].bottleneck == bottleneck && !memcmp(known[i].depth, depth, sizeof depth)) {
			snprintf(arch, n, "%s", known[i].name);
			return 0;
		}
	return err_set(err, "a ResNet of %s blocks [%d,%d,%d,%d]: not resnet18, 34, 50, 101 or 152 (give --arch)",
		       bottleneck ? "bottleneck" : "basic", depth[0], depth[1], depth[2], depth[3]);
}

static int guess_vgg(const st_file *w, char *arch, size_t n, const char **head, char *err)
{
	static const struct { const char *name; int convs; } known[] = {
		{"vgg11", 8}, {"vgg13", 10}, {"vgg16", 13}, {"vgg19", 16},
	};
	int convs = 0, bn = has(w, "features.1.running_var", 0, 0);
	for (int i = 0; i < w->n; i++) {
		int idx, len = 0;
		const st_tensor *t = &w->t[i];
		if (sscanf(t->name, "features.%d.weight%n", &idx, &len) == 1 && !t->name[len] && t->ndim == 4)
			convs++;
	}
	*head = has(w, "classifier.6.weight", 0, 0) ? "torchvision" : "gap";
	for (size_t i = 0; i < sizeof known / sizeof *known; i++)
		if (known[i].convs == convs) {
			snprintf(arch, n, "%s%s", known[i].name, bn ? "_bn" : "");
			return 0;
		}
	return err_set(err, "a VGG of %d convolutions: not vgg11, 13, 16 or 19 (8, 10, 13, 16; give --arch)", convs);
}

int net_guess(const st_file *w, char *arch, size_t n, const char **head, char *err)
{
	*head = "torchvision";
	if (st_find(w, "conv1.weight") && has(w, "layer1.0.conv1.weight", 0, 0))
		return guess_resnet(w, arch, n, err);
	if (st_find(w, "features.0.weight"))
		return guess_vgg(w, arch, n, head, err);
	return err_set(err, "no conv1.weight and layer1.0.conv1.weight (ResNet) nor features.0.weight (VGG), "
		       "the first tensor is '%s': not a torchvision ResNet or VGG (give --arch, or see "
		       "tools/torch-taps.py for other models)", w->n ? err_esc(w->t[0].name) : "none");
}
