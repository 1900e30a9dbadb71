#!/usr/bin/python3
"""--device cpu|cuda on train-probe, extract-feats and sinkhorn (contract section 10).

Everywhere: a bad device name is a usage error (exit 2); --device cuda in a
build without CUDA, or in the CUDA flavour (LS_CUDA_BIN, built by `make test`
wherever nvcc exists) on a machine without a GPU, is one line saying why,
exit 1, no output left. Where a GPU is visible: the same outputs as the CPU
within the stated tolerances (probe weights, prob and losses 1e-5; every
pooled tap and the logits 1e-4 x max|cpu| for an F32 model, 1e-2 for F16;
sinkhorn's distances 1e-9 relative, but for at most 1 in 1000 problems whose
error lands within rounding of tol, within 1e-6)."""
import os
import subprocess
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "st"))
sys.path.insert(0, os.path.join(HERE, "extract-feats"))
import stwrite as st  # noqa: E402
from tap import BIN, done, expect_failure, names_error, ok, run, scratch, skip  # noqa: E402

TOOLS = ["train-probe", "extract-feats", "sinkhorn"]
CUDA_BIN = os.environ.get("LS_CUDA_BIN") or ""
tmp = scratch()


def path(name):
    return os.path.join(tmp, name)


# ---- inputs ----
rng = np.random.default_rng(5)
N, K = 400, 4
split = ((np.arange(N) % 5 == 4) + (np.arange(N) % 10 == 3) * 2).astype(np.uint8)
latent = rng.standard_normal((N, 6)).astype(np.float32)
labels = (latent[:, :K] > 0.2).astype(np.uint8)
feats = {"feat.%02d" % i: (latent @ rng.standard_normal((6, d)) + rng.standard_normal((N, d))).astype(np.float32)
         for i, d in enumerate((5, 64, 130))}
st.write(path("feats.st"), dict(feats, labels=labels, split=split,
                                logits=rng.standard_normal((N, K)).astype(np.float32)))
KS = 20   # the VOC embeddings' labels, matched by position
sk_labels = (rng.random((2000, KS)) < 0.1).astype(np.uint8)
sk_labels[np.arange(2000), rng.integers(0, KS, 2000)] = 1
sk_z = 3 * (2 * sk_labels[None].astype(np.float32) - 1) + rng.normal(-1.5, 2.0, (2, 2000, KS)).astype(np.float32)
st.write(path("prob.st"), {"prob": (1 / (1 + np.exp(-sk_z))).astype(np.float32), "labels": sk_labels})
models = subprocess.run([sys.executable, os.path.join(HERE, "extract-feats", "models.py"), tmp,
                         "resnet18", "--size", "64", "--n", "10"], stdout=subprocess.DEVNULL,
                        stderr=subprocess.PIPE, text=True)
ok(models.returncode == 0, "a random resnet18 and 10 images made", models.stderr)
ARGS = {"train-probe": ["--epochs", "6", "--batch", "32", "--patience", "3", "--snapshots", "all",
                        "--snapshot-every", "2", path("feats.st")],
        "extract-feats": ["-m", path("resnet18.st"), "--arch", "resnet18", "-d", "tensor:" + path("images.st"),
                          "-b", "4"],
        "sinkhorn": ["--embeddings", os.path.join(HERE, "..", "fixtures", "voc-glove300.safetensors"), path("prob.st")]}

# ---- the device option in the plain build ----
for tool in TOOLS:
    out = path(tool + "-bad.st")
    expect_failure(tool, ["--device", "tpu"] + ARGS[tool] + ["-o", out], 2, ("--device", "tpu", "cpu or cuda"),
                   out=out, desc="%s --device tpu" % tool)
    rc, _, err = run([os.path.join(BIN, tool), "--device", "cuda"] + ARGS[tool] + ["-o", out], timeout=None)
    if "no GPU code" in err:
        expect_failure(tool, ["--device", "cuda"] + ARGS[tool] + ["-o", out], 1,
                       ("--device cuda", "no GPU code", "make CUDA=1"), out=out,
                       desc="%s --device cuda, built without CUDA" % tool)
    else:   # bin/ is a CUDA build (make CUDA=1)
        ok(rc == 0 or (rc == 1 and names_error(err, tool, ("--device cuda", "CUDA device"))),
           "%s --device cuda in a CUDA build: ran, or one line without a GPU" % tool, err)

COMPARED = "the GPU's outputs against the CPU's (train-probe; extract-feats, F32 and F16 models; sinkhorn)"
if not CUDA_BIN or not os.path.exists(os.path.join(CUDA_BIN, "train-probe")):
    skip(COMPARED, "no CUDA build (nvcc not found)")
    done()

# ---- the CUDA flavour: a one-line refusal without a GPU, else the same outputs ----
probe = [os.path.join(CUDA_BIN, "train-probe"), "-q", "--device", "cuda"] + ARGS["train-probe"]
rc, _, err = run(probe + ["-o", path("probe-gpu.st")], timeout=None)
if rc != 0 and ("no usable CUDA device" in err or "no CUDA device" in err):
    for tool in TOOLS:
        out = path(tool + "-nogpu.st")
        expect_failure(os.path.join(CUDA_BIN, tool), ["--device", "cuda"] + ARGS[tool] + ["-o", out], 1,
                       ("--device cuda", "CUDA device"), out=out, desc="%s --device cuda without a GPU" % tool)
    skip(COMPARED, "no GPU here (%s)" % err.strip())
    done()

ok(rc == 0, "train-probe --device cuda ran", err)


def tensors_of(p):
    return {k: v[1].astype(np.float64) for k, v in st.read(p)[0].items()} if os.path.exists(p) else {}


def worst(a, b, names, scale_floor=1.0):
    """max over names of max|a-b| / max(scale_floor, max|b|); inf when one is missing"""
    w = 0.0
    for name in names:
        if name not in a or name not in b or a[name].shape != b[name].shape:
            return float("inf")
        d = np.abs(a[name] - b[name])
        if np.isnan(a[name]).any() or np.isnan(b[name]).any():
            same_nan = (np.isnan(a[name]) == np.isnan(b[name])).all()
            if not same_nan:
                return float("inf")
            d = np.where(np.isnan(d), 0, d)
        w = max(w, float(d.max()) / max(scale_floor, float(np.nanmax(np.abs(b[name])))))
    return w


rc, _, err = run([os.path.join(BIN, "train-probe"), "-q"] + ARGS["train-probe"] + ["-o", path("probe-cpu.st")],
                 timeout=None)
ok(rc == 0, "train-probe on the CPU ran", err)
g, c = tensors_of(path("probe-gpu.st")), tensors_of(path("probe-cpu.st"))
params = [k for k in c if k.startswith("probe.")]
w = worst(g, c, params)
ok(params and w <= 1e-5, "train-probe: %d probe tensors within 1e-5 of the CPU's (%.2g)" % (len(params), w))
w = worst(g, c, ["prob", "prob_epochs", "loss"])
ok(w <= 1e-5, "train-probe: prob, prob_epochs and loss within 1e-5 (%.2g)" % w)
gm, cm = st.read(path("probe-gpu.st"))[1], st.read(path("probe-cpu.st"))[1]
ok(gm.get("best_epoch") == cm.get("best_epoch"), "train-probe: the same best epochs (%s)" % cm.get("best_epoch"))

for dtype, tol in [("F32", 1e-4), ("F16", 1e-2)]:
    model = path("resnet18.st")
    if dtype == "F16":
        d = path("f16")
        os.makedirs(d)
        subprocess.run([sys.executable, os.path.join(HERE, "extract-feats", "models.py"), d, "resnet18",
                        "--size", "64", "--n", "10", "--dtype", "F16"], stdout=subprocess.DEVNULL, check=True)
        model = os.path.join(d, "resnet18.st")
    args = ["-m", model] + ARGS["extract-feats"][2:]
    outs = {}
    for dev, exe in [("cpu", os.path.join(BIN, "extract-feats")), ("cuda", os.path.join(CUDA_BIN, "extract-feats"))]:
        outs[dev] = path("feats-%s-%s.st" % (dtype, dev))
        rc, _, err = run([exe, "-q", "--device", dev] + args + ["-o", outs[dev]], timeout=None)
        ok(rc == 0, "extract-feats --device %s, %s model" % (dev, dtype), err)
    g, c = tensors_of(outs["cuda"]), tensors_of(outs["cpu"])
    names = [k for k in c if k.startswith("feat.")] + ["logits"]
    w = max(worst(g, c, [n], scale_floor=0.0) for n in names) if names else float("inf")
    ok(w <= tol, "extract-feats, %s model: %d taps and the logits within %g x max|cpu| (%.2g)"
       % (dtype, len(names) - 1, tol, w))
    same = all(np.array_equal(g.get(k, -1), c[k]) for k in ("labels", "split", "index") if k in c)
    ok(same, "extract-feats, %s model: the forwarded context is the same" % dtype)

outs = {}
for dev, exe in [("cpu", os.path.join(BIN, "sinkhorn")), ("cuda", os.path.join(CUDA_BIN, "sinkhorn"))]:
    outs[dev] = path("dist-%s.st" % dev)
    rc, _, err = run([exe, "-q", "--device", dev] + ARGS["sinkhorn"] + ["-o", outs[dev]], timeout=None)
    ok(rc == 0, "sinkhorn --device %s ran" % dev, err)
g, c = tensors_of(outs["cuda"]), tensors_of(outs["cpu"])
if "wdist" in g and "wdist" in c and g["wdist"].shape == c["wdist"].shape:
    rel = np.abs(g["wdist"] - c["wdist"]) / np.maximum(np.abs(c["wdist"]), 1e-300)
    far = int(np.sum(rel > 1e-9))
    ok(far <= c["wdist"].size // 1000 and np.abs(g["wdist"] - c["wdist"]).max() <= 1e-6,
       "sinkhorn: %d distances, %d beyond 1e-9 relative of the CPU's, worst %.2g"
       % (c["wdist"].size, far, float(np.abs(g["wdist"] - c["wdist"]).max())))
else:
    ok(False, "sinkhorn: wdist on both devices, the same shape")
done()
