#!/usr/bin/python3
"""extract-feats straight from PyTorch checkpoints, and the head's label order.

- torch.save of all 13 architectures (narrow, as test 50), run without
  --arch (told by the tensor names): every tap and the logits within 1e-3 x
  max|torch|; F16, DataParallel, a checkpoint dict and the legacy format give
  the same features as the safetensors model.
- The PIL recipe on real JPEGs (tests/data/real): torchvision's resnet18,
  resnet50 and vgg16_bn at full width (random weights, randomised BatchNorm),
  saved with torch.save, against Image.open + Resize(256) + CenterCrop(224) +
  ToTensor + Normalize + the model with hooks: every tap within 1e-4 x
  max|ref|.
- A head whose labels are the data set's in another order is reordered (the
  logits equal the unpermuted model's); other labels: the head is left out
  with a warning, an error with --strict; no labels: a warning.
LS_ASAN=1: three archs, resnet18 only at full width."""
import json
import os
import sys

import numpy as np
import torch
import torch.nn as nn
import torchvision
import torchvision.transforms as T
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "st"))
sys.path.insert(0, os.path.join(HERE, "extract-feats"))
import models  # noqa: E402
import stwrite as st  # noqa: E402
from tap import ASAN, BIN, diag, done, ok, run, scratch  # noqa: E402

EF = os.path.join(BIN, "extract-feats")
REAL = os.path.join(HERE, "data", "real")
torch.set_num_threads(1)
d = scratch("ef-pth.")


def extract(*args):
    rc, _, err = run([EF, "-t", "2"] + [str(a) for a in args], timeout=None)
    return rc, err


def worst(out, ref):
    rows = models.compare(out, ref)
    w = max(rows, key=lambda r: r[1] / max(r[2], 1e-30))
    return w[0], w[1] / max(w[2], 1e-30)


rng = np.random.default_rng(5)
images = rng.standard_normal((3, 3, 32, 32)).astype(np.float32)
src = os.path.join(d, "images.st")
st.write(src, {"images": images})

# ---- the 13 architectures from .pth, arch told by the names ----
archs = ["resnet18", "resnet50", "vgg16_bn"] if ASAN else models.ALL
for arch in archs:
    m, _ = models.export(d, arch, images)
    pth = os.path.join(d, arch + ".pth")
    torch.save(m.state_dict(), pth)
    out = os.path.join(d, arch + ".pth.out.st")
    rc, err = extract("--model", pth, "--dataset", "tensor:" + src, "-o", out)
    if ok(rc == 0 and "arch %s" % arch in err, "%s.pth runs without --arch (told: %s)" % (arch, "arch " + arch in err),
          err):
        name, rel = worst(out, os.path.join(d, arch + ".ref.st"))
        ok(rel <= 1e-3 and st.read(out)[1]["arch"] == arch,
           "%s.pth: every tap and the logits agree with torch (worst %s: %.2g x max|torch|)" % (arch, name, rel))

base = os.path.join(d, "resnet18.pth.out.st")
want = st.read(base)[0] if os.path.exists(base) else {}
m0, _ = models.export(d, "resnet18", images)   # the same weights as resnet18.pth
variants = {
    "DataParallel": lambda p: torch.save(nn.DataParallel(m0).state_dict(), p),
    "checkpoint dict": lambda p: torch.save({"epoch": 3, "state_dict": m0.state_dict(), "best": 0.5}, p),
    "legacy format": lambda p: torch.save(m0.state_dict(), p, _use_new_zipfile_serialization=False),
}
for what, save in variants.items():
    p = os.path.join(d, "variant.pth")
    save(p)
    out = os.path.join(d, "variant.out.st")
    rc, err = extract("--model", p, "--dataset", "tensor:" + src, "-o", out)
    got = st.read(out)[0] if rc == 0 else {}
    ok(rc == 0 and all(np.array_equal(got[k][1], want[k][1]) for k in want if k.startswith(("feat", "logits"))),
       "resnet18 as %s: the same features and logits as the plain .pth" % what, err)
half = os.path.join(d, "half")
os.mkdir(half)
mh, _ = models.export(half, "resnet18", images, dtype="F16")
torch.save(mh.half().state_dict(), os.path.join(half, "r18.pth"))
rc, err = extract("--model", os.path.join(half, "r18.pth"), "--dataset", "tensor:" + src, "-o",
                  os.path.join(half, "out.st"))
if ok(rc == 0, "resnet18 with F16 weights from .pth", err):
    name, rel = worst(os.path.join(half, "out.st"), os.path.join(half, "resnet18.ref.st"))
    ok(rel <= 1e-3, "F16 .pth: every tap and the logits agree with torch (worst %s: %.2g)" % (name, rel))
torch.save({"model": m0.state_dict(), "model_ema": m0.state_dict()}, os.path.join(d, "two.pth"))
rc, err = extract("--model", os.path.join(d, "two.pth"), "--dataset", "tensor:" + src, "-o", os.path.join(d, "x.st"))
ok(rc == 1 and "--key" in err and len(err.strip().splitlines()) == 1, "two state dicts in a checkpoint: asks for --key",
   err)
rc, err = extract("--model", os.path.join(d, "two.pth"), "--key", "model_ema", "--dataset", "tensor:" + src, "-o",
                  os.path.join(d, "x.st"))
ok(rc == 0 and "entry 'model_ema'" in err, "--key model_ema picks it, said on stderr", err)

# ---- the head's label order ----
labels = ["a", "b", "c", "d", "e"]
ctx = os.path.join(d, "ctx.st")
st.write(ctx, {"images": images}, {"labels": json.dumps(labels)})
model_st = os.path.join(d, "resnet18.st")
tensors, meta = st.read(model_st)
plain = {k: v[1] for k, v in tensors.items()}
ref_out = os.path.join(d, "ref.out.st")
rc, err = extract("-q", "--model", model_st, "--dataset", "tensor:" + ctx, "-o", ref_out)
ok(rc == 0, "the model with labels a..e over a tensor with labels a..e", err)
ref_logits = st.read(ref_out)[0]["logits"][1]
perm = [3, 0, 4, 1, 2]   # head column k is label labels[perm[k]]
permuted = dict(plain, **{"fc.weight": plain["fc.weight"][perm], "fc.bias": plain["fc.bias"][perm]})
cases = [("reordered", dict(meta, labels=json.dumps([labels[i] for i in perm])), []),
         ("other labels", dict(meta, labels=json.dumps(["a", "b", "c", "d", "zebra"])), []),
         ("other labels, --strict", dict(meta, labels=json.dumps(["a", "b", "c", "d", "zebra"])), ["--strict"]),
         ("no labels", {k: v for k, v in meta.items() if k != "labels"}, [])]
for what, m_meta, extra in cases:
    p = os.path.join(d, "head.st")
    st.write(p, permuted if what == "reordered" else plain, m_meta)
    out = os.path.join(d, "head.out.st")
    rc, err = extract("--model", p, "--dataset", "tensor:" + ctx, "-o", out, *extra)
    t = st.read(out)[0] if rc == 0 else {}
    if what == "reordered":
        ok(rc == 0 and np.abs(t["logits"][1] - ref_logits).max() <= 1e-6 * np.abs(ref_logits).max()
           and "reordered" in err, "a permuted head is reordered by name: the logits of the unpermuted model, "
           "said on stderr", err)
    elif extra:
        ok(rc == 1 and "not the data set's" in err and "'zebra'" in err and len(err.strip().splitlines()) == 1,
           "other labels with --strict: one-line error naming them", err)
    elif what == "other labels":
        ok(rc == 0 and "logits" not in t and "left out" in err and "'zebra'" in err,
           "other labels: the head is left out, with a warning naming them", err)
    else:
        ok(rc == 0 and np.array_equal(t["logits"][1], ref_logits) and "order" in err,
           "no labels in the model: logits kept, a warning that the order is assumed", err)

# ---- the PIL recipe on real JPEGs, full-width torchvision models ----
photos = ["VOCdevkit/VOC2007/JPEGImages/000005.jpg", "VOCdevkit/VOC2012/JPEGImages/2007_000032.jpg",
          "VOCdevkit/VOC2012/JPEGImages/2007_000033.jpg", "VOCdevkit/VOC2012/JPEGImages/2007_000039.jpg",
          "coco/val2017/000000439180.jpg"]
lst = os.path.join(d, "photos.tsv")
with open(lst, "w") as fp:
    for p in photos:
        fp.write("%s\tthing\n" % os.path.join(REAL, p))
prep = T.Compose([T.Resize(256), T.CenterCrop(224), T.ToTensor(),
                  T.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])])
x = torch.stack([prep(Image.open(os.path.join(REAL, p)).convert("RGB")) for p in photos])
for arch in (["resnet18"] if ASAN else ["resnet18", "resnet50", "vgg16_bn"]):
    torch.manual_seed(1)
    m = getattr(torchvision.models, arch)(weights=None)
    models.randomise(m, torch.Generator().manual_seed(2))
    if arch.startswith("resnet"):
        taps = [m.maxpool] + [b for s in (m.layer1, m.layer2, m.layer3, m.layer4) for b in s]
    else:
        taps = [t for t in m.features if isinstance(t, nn.ReLU)]
    acts = []
    hooks = [t.register_forward_hook(lambda mod, i, o: acts.append(o.mean((2, 3)).numpy())) for t in taps]
    with torch.no_grad():
        m(x)
    for h in hooks:
        h.remove()
    pth = os.path.join(d, arch + "-full.pth")
    torch.save(m.state_dict(), pth)
    del m
    out = os.path.join(d, arch + "-full.out.st")
    rc, err = extract("--model", pth, "--dataset", "list:" + lst, "-o", out)
    os.remove(pth)
    if not ok(rc == 0, "%s (torchvision's widths) from .pth on 5 real JPEGs" % arch, err):
        continue
    t = st.read(out)[0]
    rels = [np.abs(t["feat.%02d" % i][1] - a).max() / np.abs(a).max() for i, a in enumerate(acts)]
    ok(len(rels) == len(taps) and max(rels) <= 1e-4,
       "%s: all %d taps within 1e-4 x max|ref| of torchvision's PIL recipe (worst %.2g at feat.%02d)"
       % (arch, len(taps), max(rels), int(np.argmax(rels))))
    diag("%s: per-tap relative error %s" % (arch, " ".join("%.1e" % r for r in rels)))
done()
