#!/usr/bin/python3
"""extract-feats on bad models, bad input tensors and bad options: one line
'extract-feats: ...' naming what is wrong (the weight, both shapes, the value),
exit 1 (2 for usage), and no output file left behind."""
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "st"))
sys.path.insert(0, os.path.join(HERE, "extract-feats"))
import models  # noqa: E402
import stwrite as st  # noqa: E402
from tap import BIN as BIN_DIR, done, ok, run, scratch, expect_failure  # noqa: E402

BIN = os.path.join(BIN_DIR, "extract-feats")


def fails(what, args, status, *needles):
    """Runs the tool expecting exit status and every needle in one stderr line."""
    out = os.path.join(D, "out.st")
    expect_failure(BIN, args + ["-o", out], status, needles, out=out, desc=what)


def variant(name, change, src="resnet18"):
    """A copy of model src with change(tensors) applied; returns its path."""
    tensors, meta = st.read(os.path.join(D, src + ".st"))
    t = {k: (dt, np.array(a)) for k, (dt, a) in tensors.items()}
    change(t)
    path = os.path.join(D, name + ".st")
    st.write(path, t, meta)
    return path


def images(name, array):
    path = os.path.join(D, name + ".st")
    st.write(path, {"images": array})
    return "tensor:" + path


D = scratch("ef-errors.")
rng = np.random.default_rng(2)
x = rng.standard_normal((2, 3, 32, 32)).astype(np.float32)
for arch in ["resnet18", "resnet34", "vgg11"]:
    models.export(D, arch, x)
good = images("good", x)
r18 = os.path.join(D, "resnet18.st")


def drop(key):
    return lambda t: t.pop(key)


def put(key, dtype, array):
    def f(t):
        t[key] = (dtype, array)
    return f


fails("missing weight", ["--model", variant("m1", drop("layer2.0.conv1.weight")), "--dataset", good], 1,
      "missing weight 'layer2.0.conv1.weight'", "[*,8,3,3]")
fails("missing downsample", ["--model", variant("m2", drop("layer2.0.downsample.0.weight")), "--dataset", good], 1,
      "missing weight 'layer2.0.downsample.0.weight'", "[16,8,1,1]")
fails("misshapen kernel", ["--model", variant("m3", put("layer1.0.conv2.weight", "F32", np.zeros((8, 8, 3, 1), np.float32))),
                           "--dataset", good], 1, "'layer1.0.conv2.weight' has shape [8,8,3,1], expected [*,8,3,3]")
fails("misshapen BatchNorm", ["--model", variant("m4", put("layer1.0.bn1.running_var", "F32", np.ones(7, np.float32))),
                              "--dataset", good], 1, "'layer1.0.bn1.running_var' has shape [7], expected [8]")
fails("integer weight", ["--model", variant("m5", put("fc.bias", "I32", np.zeros(5, np.int32))), "--dataset", good], 1,
      "'fc.bias' has dtype I32")
nan = np.zeros((8, 3, 7, 7), np.float32)
nan[0, 1, 2, 3] = np.nan
fails("NaN weight", ["--model", variant("m6", put("conv1.weight", "F32", nan)), "--dataset", good], 1,
      "'conv1.weight' holds nan")
fails("negative variance", ["--model", variant("m7", put("bn1.running_var", "F32", -np.ones(8, np.float32))),
                            "--dataset", good], 1, "'bn1.running_var' holds -1", ">= 0")
fails("resnet34 weights read as resnet18", ["--model", os.path.join(D, "resnet34.st"), "--arch", "resnet18",
                                            "--dataset", good], 1, "'layer1.2.", "not part of resnet18")
fails("resnet18 weights read as resnet34", ["--model", r18, "--arch", "resnet34", "--dataset", good], 1,
      "missing weight 'layer1.2.conv1.weight'")
fails("vgg11 weights read as vgg11_bn", ["--model", os.path.join(D, "vgg11.st"), "--arch", "vgg11_bn",
                                         "--dataset", good], 1, "missing weight 'features.1.weight'")
fails("unknown arch", ["--model", r18, "--arch", "resnet19", "--dataset", good], 1, "unknown arch 'resnet19'")
fails("unknown head", ["--model", os.path.join(D, "vgg11.st"), "--head", "mlp", "--dataset", good], 1,
      "unknown head 'mlp'")
tensors, _ = st.read(r18)
nometa = os.path.join(D, "nometa.st")
st.write(nometa, {"body." + k: v for k, v in tensors.items()})
fails("no arch and names of no torchvision arch", ["--model", nometa, "--dataset", good], 2, "no metadata 'arch'",
      "not a torchvision ResNet or VGG", "--arch")
with open(r18, "rb") as fp:
    data = fp.read()
trunc = os.path.join(D, "trunc.st")
with open(trunc, "wb") as fp:
    fp.write(data[:len(data) // 2])
fails("truncated model", ["--model", trunc, "--dataset", good], 1, trunc)
fails("missing model file", ["--model", os.path.join(D, "nope.st"), "--dataset", good], 1, "nope.st")

fails("no images tensor", ["--model", r18, "--dataset", "tensor:" + r18], 1, "missing tensor 'images'")
fails("one-channel images", ["--model", r18, "--dataset", images("grey", x[:, :1])], 1, "images", "[2,1,32,32]")
bad = x.copy()
bad[1, 2, 3, 4] = np.nan
fails("NaN in images", ["--model", r18, "--dataset", images("nan", bad)], 1, "images")
fails("no image at all", ["--model", r18, "--dataset", images("empty", x[:0])], 1, "holds no image")
fails("not square", ["--model", r18, "--dataset", images("rect", x[:, :, :, :16])], 1, "32x16")
fails("too small for the network", ["--model", os.path.join(D, "vgg11.st"), "--dataset", images("tiny", x[:, :, :16, :16])],
      1, "too small")

ctx = os.path.join(D, "ctx.st")
st.write(ctx, {"images": x, "labels": np.zeros((3, 5), np.uint8)})
fails("forwarded labels of another length", ["--model", r18, "--dataset", "tensor:" + ctx], 1,
      "'labels' has 3 rows, expected one per image (2)")
fails("bad --pool", ["--model", r18, "--dataset", good, "--pool", "median"], 2, "--pool 'median'")
fails("--batch 0", ["--model", r18, "--dataset", good, "--batch", "0"], 2, "--batch 0")
fails("--mean with two numbers", ["--model", r18, "--dataset", "list:/dev/null", "--mean", "0.5,0.5"], 2, "--mean")
fails("--std with a zero", ["--model", r18, "--dataset", "list:/dev/null", "--std", "1,0,1"], 2, "--std")
fails("no --model", ["--dataset", good], 2, "--model")
fails("no --dataset", ["--model", r18], 2, "--dataset")
fails("a stray argument", ["--model", r18, "--dataset", good, "extra"], 2, "unexpected argument 'extra'")

rc, usage, _ = run([BIN, "--help"], text=True, timeout=None)
ok(rc == 0 and all(s in usage for s in ["--model", "--dataset", "--pool", "[avg]", "--batch", "[16]",
                                                      "--resize", "--crop", "--mean", "--std", "--skip-bad",
                                                      "tensor:FILE", "--threads"]),
   "--help lists every option with its default")
rc, version, _ = run([BIN, "--version"], text=True, timeout=None)
ok(rc == 0 and "extract-feats" in version, "--version")
rc, info, _ = run(["/bin/sh", "-c", "%s -q --model %s --dataset %s | %s/tensors info -"
                   % (BIN, r18, good, os.path.dirname(BIN))], text=True, timeout=None)
ok(rc == 0 and "feat.08" in info and "logits" in info, "writes to a pipe by default")
done()
