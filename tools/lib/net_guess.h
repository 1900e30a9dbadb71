/* net_guess.h: which torchvision ResNet or VGG a state dict holds, told from
 * its tensor names (docs/models.md), so that a checkpoint without metadata
 * runs without --arch. ResNets: the number of blocks of layer1..layer4 and
 * whether they are bottlenecks (a conv3); VGGs: the number of convolutions
 * in features.*, BatchNorm or not, and the head (classifier.6: torchvision's
 * three layers; classifier.0 alone: gap). Returns 0, or -1 with err
 * (err.h) saying what the names look like; nothing here exits. */
#ifndef LS_NET_GUESS_H
#define LS_NET_GUESS_H

#include <stddef.h>
#include "st.h"

/* arch gets e.g. "resnet50" or "vgg16_bn", *head "torchvision" or "gap" */
int net_guess(const st_file *w, char *arch, size_t n, const char **head, char *err);

#endif
