"""Random-initialised torchvision ResNet/VGG models, exported as safetensors
state_dicts, and their reference activations at every tap (the peer of
extract-feats' network half).

The networks are torchvision's own modules (blocks, _make_layer, forward), only
narrower: `width` is the first stage's channel count (torchvision: 64), so a
test runs in seconds. BatchNorm statistics and affine parameters are
randomised, so folding them is exercised.

    /usr/bin/python3 tests/extract-feats/models.py DIR ARCH[,ARCH...] [options]

writes DIR/images.st (`images` [N,3,S,S]) and, per arch, DIR/ARCH.st (the
model) and DIR/ARCH.ref.st (`tap.NN` [N,C,h,w] at every tap, `logits`).
"""
import argparse
import json
import os
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision
from torchvision.models import resnet as tvr
from torchvision.models import vgg as tvv

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "st"))
import stwrite as st  # noqa: E402

RESNETS = {"resnet18": (tvr.BasicBlock, [2, 2, 2, 2]), "resnet34": (tvr.BasicBlock, [3, 4, 6, 3]),
           "resnet50": (tvr.Bottleneck, [3, 4, 6, 3]), "resnet101": (tvr.Bottleneck, [3, 4, 23, 3]),
           "resnet152": (tvr.Bottleneck, [3, 8, 36, 3])}
VGGS = {"vgg11": "A", "vgg13": "B", "vgg16": "D", "vgg19": "E"}
ALL = list(RESNETS) + [v + bn for v in VGGS for bn in ("", "_bn")]


class NarrowResNet(tvr.ResNet):
    """torchvision's ResNet with stage widths width * (1, 2, 4, 8)."""

    def __init__(self, block, layers, width, num_classes):
        nn.Module.__init__(self)
        self._norm_layer = nn.BatchNorm2d
        self.inplanes, self.dilation, self.groups, self.base_width = width, 1, 1, 64
        self.conv1 = nn.Conv2d(3, width, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(block, width, layers[0])
        self.layer2 = self._make_layer(block, width * 2, layers[1], stride=2)
        self.layer3 = self._make_layer(block, width * 4, layers[2], stride=2)
        self.layer4 = self._make_layer(block, width * 8, layers[3], stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(width * 8 * block.expansion, num_classes)


def build(arch, width=8, classes=5, head="torchvision", hidden=32):
    """The model and its tap modules, in tap order."""
    if arch in RESNETS:
        block, layers = RESNETS[arch]
        m = NarrowResNet(block, layers, width, classes)
        taps = [m.maxpool] + [b for s in (m.layer1, m.layer2, m.layer3, m.layer4) for b in s]
        return m, taps
    name, bn = arch.replace("_bn", ""), arch.endswith("_bn")
    cfg = [v if v == "M" else v * width // 64 for v in tvv.cfgs[VGGS[name]]]
    m = tvv.VGG(tvv.make_layers(cfg, batch_norm=bn), num_classes=classes, init_weights=True)
    c = cfg[-2]
    if head == "gap":
        m.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        m.classifier = nn.Sequential(nn.Linear(c, classes))
    else:
        m.classifier = nn.Sequential(nn.Linear(c * 49, hidden), nn.ReLU(True), nn.Dropout(),
                                     nn.Linear(hidden, hidden), nn.ReLU(True), nn.Dropout(),
                                     nn.Linear(hidden, classes))
    taps = [x for x in m.features if isinstance(x, nn.ReLU)]
    return m, taps


def randomise(m, gen):
    """BatchNorm statistics and affine parameters away from the identity;
    VGG's zero biases made non-zero."""
    with torch.no_grad():
        for x in m.modules():
            if isinstance(x, nn.BatchNorm2d):
                n = x.num_features
                x.running_mean.copy_(torch.randn(n, generator=gen) * 0.2)
                x.running_var.copy_(torch.rand(n, generator=gen) * 1.5 + 0.5)
                x.weight.copy_(torch.rand(n, generator=gen) + 0.5)
                x.bias.copy_(torch.randn(n, generator=gen) * 0.2)
            elif isinstance(x, (nn.Conv2d, nn.Linear)) and x.bias is not None:
                x.bias.copy_(torch.randn(x.bias.shape, generator=gen) * 0.1)
    return m.eval()


def round_to(m, dtype):
    """Weights rounded through F16/BF16, so the reference sees what the file holds."""
    with torch.no_grad():
        for t in m.state_dict().values():
            if t.is_floating_point():
                t.copy_(t.to(dtype).float())


def state_tensors(m, dtype):
    out = {}
    for k, v in m.state_dict().items():
        a = v.detach().contiguous()
        if not a.is_floating_point():
            out[k] = a.numpy()
        elif dtype == "F16":
            out[k] = a.half().numpy()
        elif dtype == "BF16":
            out[k] = ("BF16", (a.bfloat16().view(torch.int16).numpy().view(np.uint16)))
        else:
            out[k] = a.numpy()
    return out


def reference(m, taps, images):
    acts = []
    hooks = [t.register_forward_hook(lambda mod, i, o: acts.append(o.detach().clone())) for t in taps]
    with torch.no_grad():
        logits = m(torch.from_numpy(images))
    for h in hooks:
        h.remove()
    out = {"tap.%02d" % i: a.numpy() for i, a in enumerate(acts)}
    out["logits"] = logits.numpy()
    return out


def pooled(act, pool):
    """torch's pooling of a [N,C,h,w] tap, the way extract-feats' --pool means it."""
    a = torch.from_numpy(np.array(act))
    if pool == "avg":
        return F.adaptive_avg_pool2d(a, 1).flatten(1).numpy()
    if pool == "max":
        return F.adaptive_max_pool2d(a, 1).flatten(1).numpy()
    if pool == "avgmax":
        return torch.cat([F.adaptive_avg_pool2d(a, 1).flatten(1),
                          F.adaptive_max_pool2d(a, 1).flatten(1)], 1).numpy()
    s = int(pool.split(":")[1])
    return F.adaptive_avg_pool2d(a, s).flatten(1).numpy()


def export(outdir, arch, images, width=8, dtype="F32", head="torchvision", seed=0, meta=None, classes=5):
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    m, taps = build(arch, width, head=head, classes=classes)
    randomise(m, gen)
    if dtype != "F32":
        round_to(m, torch.float16 if dtype == "F16" else torch.bfloat16)
    meta = dict({"arch": arch, "labels": json.dumps(list("abcdefghijklmnopqrstuvwxyz"[:classes]))}, **(meta or {}))
    if head != "torchvision":
        meta["head"] = head
    st.write(os.path.join(outdir, arch + ".st"), state_tensors(m, dtype), meta)
    st.write(os.path.join(outdir, arch + ".ref.st"), reference(m, taps, images))
    return m, taps


def compare(out_path, ref_path, pool="avg", rows=None):
    """[(tensor, max|ours - torch|, max|torch|)] for every tap and the logits.
    rows: the reference rows the output holds (default: all)."""
    ours, _ = st.read(out_path)
    ref, _ = st.read(ref_path)
    taps = sorted(k for k in ref if k.startswith("tap."))
    res = []
    for name in ["feat." + t[4:] for t in taps] + ["logits"]:
        want = ref["logits"][1] if name == "logits" else pooled(ref["tap." + name[5:]][1], pool)
        if rows is not None:
            want = want[rows]
        if name not in ours:
            res.append((name, float("inf"), float(np.abs(want).max())))
            continue
        got = ours[name][1].astype(np.float64)
        if got.shape != want.shape:
            res.append((name + " shape %s, torch %s" % (got.shape, want.shape), float("inf"), 0.0))
            continue
        res.append((name, float(np.abs(got - want).max()), float(np.abs(want).max())))
    extra = [k for k in ours if k.startswith("feat.") and "tap." + k[5:] not in ref]
    res += [(k + " (no such tap in torch)", float("inf"), 0.0) for k in extra]
    return res


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("outdir")
    ap.add_argument("archs", help="comma-separated, or 'all'")
    ap.add_argument("--size", type=int, default=32)
    ap.add_argument("--n", type=int, default=3)
    ap.add_argument("--width", type=int, default=8)
    ap.add_argument("--dtype", default="F32", choices=["F32", "F16", "BF16"])
    ap.add_argument("--head", default="torchvision", choices=["torchvision", "gap"])
    a = ap.parse_args()
    torch.set_num_threads(1)
    rng = np.random.default_rng(1)
    images = rng.standard_normal((a.n, 3, a.size, a.size)).astype(np.float32)
    st.write(os.path.join(a.outdir, "images.st"), {"images": images})
    for arch in (ALL if a.archs == "all" else a.archs.split(",")):
        export(a.outdir, arch, images, a.width, a.dtype, a.head)


if __name__ == "__main__":
    main()
