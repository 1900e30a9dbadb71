#!/usr/bin/python3
"""extract-feats' network half against torchvision (contract section 5): random
networks of every supported arch (narrow, randomised BatchNorm) on the same
input tensor; every pooled tap and the logits within 1e-3 x max|torch|.
Also: F16/BF16 weights, the gap head, every --pool, batches that split the
data, all three convolution engines (oneDNN, sgemm, reference), and layer_flops against a count made
with torch hooks. LS_ASAN=1: fewer archs."""
import json
import os
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "st"))
sys.path.insert(0, os.path.join(HERE, "extract-feats"))
import models  # noqa: E402
import stwrite as st  # noqa: E402
from tap import ASAN, BIN, diag, done, ok, run, scratch  # noqa: E402

TOL = 1e-3
torch.set_num_threads(1)

ARCHS = ["resnet18", "resnet50", "vgg11", "vgg13_bn"] if ASAN else models.ALL


def extract(*args):
    """extract-feats -q with args; True if it ran."""
    rc, _, err = run([os.path.join(BIN, "extract-feats"), "-q"] + list(args), timeout=None)
    if rc:
        diag("exit %d: %s" % (rc, err.strip()))
    return rc == 0


def agrees(out, ref, pool="avg", what=""):
    worst = max(models.compare(out, ref, pool), key=lambda r: r[1] / max(r[2], 1e-30))
    rel = worst[1] / max(worst[2], 1e-30)
    return ok(rel <= TOL, "%s: every tap and the logits agree with torch (worst %s: %.2g x max|torch|)"
              % (what, worst[0], rel))


def torch_flops(m, size):
    """2 x multiply-adds of convolutions and linear layers, cumulative at each tap."""
    total, marks = [0], []

    def count(mod, i, o):
        if isinstance(mod, torch.nn.Conv2d):
            k = mod.kernel_size[0] * mod.kernel_size[1] * mod.in_channels // mod.groups
            total[0] += 2 * k * o.numel()
        else:
            total[0] += 2 * mod.in_features * mod.out_features * o.shape[0]
    hooks = [x.register_forward_hook(count) for x in m.modules()
             if isinstance(x, (torch.nn.Conv2d, torch.nn.Linear))]
    return total, marks, hooks


def expected_flops(arch, size):
    m, taps = models.build(arch)
    m.eval()
    total, marks, hooks = torch_flops(m, size)
    hooks += [t.register_forward_hook(lambda mod, i, o: marks.append(total[0])) for t in taps]
    with torch.no_grad():
        m(torch.zeros(1, 3, size, size))
    return marks + [total[0]]


def main():
    d = scratch("ef-torch.")
    rng = np.random.default_rng(1)
    images = rng.standard_normal((3, 3, 32, 32)).astype(np.float32)
    st.write(os.path.join(d, "images.st"), {"images": images})
    src = "tensor:" + os.path.join(d, "images.st")

    for arch in ARCHS:
        models.export(d, arch, images)
        out = os.path.join(d, arch + ".out.st")
        if ok(extract("--model", os.path.join(d, arch + ".st"), "--dataset", src, "-o", out), arch + " runs"):
            agrees(out, os.path.join(d, arch + ".ref.st"), what=arch)
        else:
            ok(False, arch + " agrees")

    r18, ref18 = os.path.join(d, "resnet18.st"), os.path.join(d, "resnet18.ref.st")
    for pool in ["max", "avgmax", "grid:2", "grid:3"]:
        out = os.path.join(d, "pool.st")
        ok(extract("--model", r18, "--dataset", src, "--pool", pool, "-o", out), "resnet18 --pool " + pool)
        agrees(out, ref18, pool, "resnet18 --pool " + pool)

    out = os.path.join(d, "b2.st")
    ok(extract("--model", os.path.join(d, "resnet50.st"), "--dataset", src, "--batch", "2", "-t", "1", "-o", out),
       "resnet50 in batches of 2")
    agrees(out, os.path.join(d, "resnet50.ref.st"), what="resnet50 --batch 2 -t 1")

    ctx = os.path.join(d, "ctx.st")   # a tensor: input with context, cut by --limit
    labels = (np.arange(15).reshape(3, 5) % 2).astype(np.uint8)
    st.write(ctx, {"images": images, "labels": labels}, {"ids": '["x","y","z"]', "labels": '["a","b","c","d","e"]'})
    out = os.path.join(d, "limit.st")
    if ok(extract("--model", r18, "--dataset", "tensor:" + ctx, "--limit", "2", "-o", out), "resnet18 --limit 2"):
        t, meta = st.read(out)
        want = models.compare(out, ref18, rows=[0, 1])
        ok(np.array_equal(t["labels"][1], labels[:2]) and json.loads(meta["ids"]) == ["x", "y"]
           and max(r[1] / max(r[2], 1e-30) for r in want) <= TOL,
           "--limit 2 keeps the first 2 rows of features, forwarded labels and ids")
    for engine in ["sgemm", "reference"]:
        out = os.path.join(d, engine + ".st")
        ok(extract("--model", r18, "--dataset", src, "--conv", engine, "-o", out), "resnet18 --conv " + engine)
        agrees(out, ref18, what="resnet18 with --conv " + engine)
    out = os.path.join(d, "sgemm50.st")
    ok(extract("--model", os.path.join(d, "resnet50.st"), "--dataset", src, "--conv", "sgemm", "-o", out),
       "resnet50 --conv sgemm")
    agrees(out, os.path.join(d, "resnet50.ref.st"), what="resnet50 with --conv sgemm")

    for arch, dtype, head in [("resnet18", "F16", "torchvision"), ("vgg11_bn", "BF16", "torchvision"),
                              ("vgg11", "F32", "gap")]:
        sub = os.path.join(d, dtype + head)
        os.mkdir(sub)
        models.export(sub, arch, images, dtype=dtype, head=head)
        out = os.path.join(sub, "out.st")
        what = "%s, %s weights, %s head" % (arch, dtype, head)
        ok(extract("--model", os.path.join(sub, arch + ".st"), "--dataset", src, "-o", out), what + " runs")
        agrees(out, os.path.join(sub, arch + ".ref.st"), what=what)

    if not ASAN:   # torchvision's own widths, once
        sub = os.path.join(d, "wide")
        os.mkdir(sub)
        models.export(sub, "resnet18", images, width=64)
        out = os.path.join(sub, "out.st")
        ok(extract("--model", os.path.join(sub, "resnet18.st"), "--dataset", src, "-o", out), "full-width resnet18")
        agrees(out, os.path.join(sub, "resnet18.ref.st"), what="full-width resnet18")

    for arch in ["resnet18", "resnet50", "vgg16_bn"]:
        if arch not in ARCHS:
            continue
        _, meta = st.read(os.path.join(d, arch + ".out.st"))
        ours, want = json.loads(meta.get("layer_flops", "[]")), expected_flops(arch, 32)
        ok(ours == want, "%s layer_flops %s... = torch count %s..." % (arch, ours[:3], want[:3]))
        layers = json.loads(meta.get("layers", "[]"))
        ok(len(layers) == len(want) - 1 and meta.get("arch") == arch,
           "%s: metadata layers (%d names), arch" % (arch, len(layers)))

    done()


main()
