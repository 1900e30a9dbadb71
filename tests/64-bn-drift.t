#!/usr/bin/python3
# bn-drift (issue 12, point 3): for every BatchNorm layer and consecutive pair of
# checkpoints, the 2-Wasserstein distance between the layer's Gaussian laws
# N(beta, gamma^2) (and N(running_mean, running_var)), channels independent.
# The oracle is the GENERAL Gaussian W2 (Gelbrich), with scipy.linalg.sqrtm on the
# full covariance matrices, not the diagonal shortcut the tool uses:
#   W2^2 = |m1 - m2|^2 + tr(S1 + S2 - 2 (S2^1/2 S1 S2^1/2)^1/2)
# on random diagonal cases (F64, F32, mixed dtypes, negative gammas, a layer
# without running statistics) and on the shipped checkpoints of both backbones,
# to 1e-9. Then the list file, epochs, stages, precision, and every bad input.
import json
import os
import sys

import numpy as np
import scipy.linalg

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "st"))
import stwrite as st  # noqa: E402
from tap import BIN, ok, is_, done, run, scratch, expect_failure  # noqa: E402

TOOL = os.path.join(BIN, "bn-drift")
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CKPT = os.path.join(REPO, "fixtures", "checkpoints")
d = scratch()
rng = np.random.default_rng(64)


def gelbrich(m1, s1, m2, s2):
    """General Gaussian W2 between N(m1, S1) and N(m2, S2), S given as full matrices."""
    r2 = scipy.linalg.sqrtm(s2)
    cross = scipy.linalg.sqrtm(r2 @ s1 @ r2)
    w2 = np.sum((m1 - m2) ** 2) + np.trace(s1 + s2 - 2 * np.real(cross))
    return float(np.sqrt(max(w2, 0.0)))


def oracle(models, layers, running):
    """[T-1,B] from models: list of {name: float64 array}; affine or running laws."""
    out = np.zeros((len(models) - 1, len(layers)))
    for t in range(len(models) - 1):
        for b, name in enumerate(layers):
            a, c = models[t], models[t + 1]
            if running:
                m1, v1, m2, v2 = a[name + ".running_mean"], a[name + ".running_var"], c[name + ".running_mean"], c[name + ".running_var"]
            else:
                m1, v1, m2, v2 = a[name + ".bias"], a[name + ".weight"] ** 2, c[name + ".bias"], c[name + ".weight"] ** 2
            out[t, b] = gelbrich(m1, np.diag(v1), m2, np.diag(v2))
    return out


def drift(*args):
    out = os.path.join(d, "out.st")
    if os.path.exists(out):
        os.remove(out)
    rc, _, err = run([TOOL] + [str(a) for a in args] + ["-o", out])
    if rc:
        return rc, err, None, None
    t, meta = st.read(out)
    return rc, err, {k: v[1] for k, v in t.items()}, meta


# ---- random diagonal cases ----
LAYERS = [("bn1", 5, True), ("layer1.0.bn1", 8, True), ("layer1.0.downsample.1", 8, True),
          ("layer2.0.bn1", 16, False), ("features.1", 3, True), ("features.4", 3, True), ("features.8", 6, True)]
STAGES = ["bn1", "layer1", "layer1", "layer2", "block1", "block1", "block2"]


def random_model(dtype, t):
    tensors, values = {"conv1.weight": rng.normal(size=(5, 3, 3, 3)).astype(np.float32),
                       "fc.weight": rng.normal(size=(4, 16)).astype(np.float32),
                       "fc.bias": rng.normal(size=4).astype(np.float32)}, {}
    for name, c, running in LAYERS:
        p = {"weight": rng.normal(1, 0.5, c), "bias": rng.normal(0, 0.3, c)}   # some gammas negative
        if running:
            p.update(running_mean=rng.normal(0, 2, c), running_var=rng.gamma(2.0, 1.0, c))
            tensors[name + ".num_batches_tracked"] = np.array([100 * t], np.int64)
        for k, v in p.items():
            tensors[name + "." + k] = v.astype(dtype)
            values[name + "." + k] = v.astype(dtype).astype(np.float64)
    return tensors, values


for case, dtypes in (("F64", [np.float64] * 4), ("F32", [np.float32] * 4)):
    paths, models = [], []
    for t, dt in enumerate(dtypes):
        tensors, values = random_model(dt, t)
        paths.append(os.path.join(d, "%s-%d.safetensors" % (case, t)))
        st.write(paths[-1], tensors, {"epoch": str(t + 1), "arch": "resnet18"})
        models.append(values)
    rc, err, t, meta = drift(*paths)
    if not ok(rc == 0, "%s: runs on 4 random checkpoints" % case, err):
        continue
    names = [n for n, _, _ in LAYERS]
    want = oracle(models, names, False)
    is_((t["bn_w2"].dtype, t["bn_w2"].shape), (np.dtype("float64"), (3, len(LAYERS))), "%s: bn_w2 [T-1,B] F64" % case)
    ok(np.abs(t["bn_w2"] - want).max() <= 1e-9, "%s: bn_w2 = general Gaussian W2 (sqrtm) within 1e-9" % case,
       np.abs(t["bn_w2"] - want).max())
    run_names = [n for n, _, r in LAYERS if r]
    got_r = t["bn_w2_running"][:, [names.index(n) for n in run_names]]
    want_r = oracle(models, run_names, True)
    ok(np.abs(got_r - want_r).max() <= 1e-9, "%s: bn_w2_running = sqrtm W2 of N(mean, var) within 1e-9" % case,
       np.abs(got_r - want_r).max())
    ok(np.isnan(t["bn_w2_running"][:, names.index("layer2.0.bn1")]).all(),
       "%s: a layer without running statistics is NaN in bn_w2_running" % case)
    is_((json.loads(meta["layers"]), json.loads(meta["stages"]), json.loads(meta["channels"])),
        (names, STAGES, [c for _, c, _ in LAYERS]), "%s: metadata layers, stages (ResNet, VGG blocks), channels" % case)
    is_((json.loads(meta["checkpoint_epochs"]), meta["arch"], json.loads(meta["checkpoints"])),
        ([1, 2, 3, 4], "resnet18", paths), "%s: checkpoint_epochs from each file's `epoch`, arch, checkpoints" % case)

# a sign flip of gamma does not move N(beta, gamma^2); a shift of beta by v moves it by |v|
base, _ = random_model(np.float64, 0)
flip = dict(base)
flip["bn1.weight"] = -base["bn1.weight"]
shift = dict(base)
shift["layer1.0.bn1.bias"] = base["layer1.0.bn1.bias"] + np.array([3.0, 4.0] + [0.0] * 6)
for i, m in enumerate((base, flip, shift)):
    st.write(os.path.join(d, "s%d.safetensors" % i), m)
rc, err, t, meta = drift(*[os.path.join(d, "s%d.safetensors" % i) for i in range(3)])
ok(rc == 0 and t["bn_w2"][0].max() == 0 and abs(t["bn_w2"][1, 1] - 5.0) < 1e-12 and t["bn_w2"][1, 0] == 0
   and "checkpoint_epochs" not in meta, "a gamma sign flip is distance 0, a beta shift (3,4) is 5; no epochs without metadata",
   (err, t and t["bn_w2"][:2, :2], meta and meta.keys()))

# mixed precision: F16 copies of F32 states are compared at F16 (rounding is no drift)
m32, _ = random_model(np.float32, 0)
m16 = {k: (v.astype(np.float16) if v.dtype == np.float32 else v) for k, v in m32.items()}
st.write(os.path.join(d, "m32.safetensors"), m32)
st.write(os.path.join(d, "m16.safetensors"), m16)
rc, err, t, meta = drift(os.path.join(d, "m16.safetensors"), os.path.join(d, "m32.safetensors"))
ok(rc == 0 and t["bn_w2"].max() == 0 and np.nanmax(t["bn_w2_running"]) == 0 and meta["precision"] == "F16"
   and "F16 precision" in err, "F16 copy vs its F32 original: 0 at the coarsest precision (F16), said on stderr", (err, meta))
rc, err, t, meta = drift("--no-round", os.path.join(d, "m16.safetensors"), os.path.join(d, "m32.safetensors"))
want = oracle([{k: v.astype(np.float64) for k, v in m.items()} for m in (m16, m32)], [n for n, _, _ in LAYERS], False)
ok(rc == 0 and t["bn_w2"].min() > 0 and np.abs(t["bn_w2"] - want).max() <= 1e-9 and meta["precision"] == "F32",
   "--no-round: the values as stored (= sqrtm W2 within 1e-9)", (err, meta))

# ---- the shipped checkpoints ----
for stem in ("fmnist-resnet18", "fmnist-vgg16_bn"):
    lst = os.path.join(CKPT, stem + ".list")
    rows = [line.rstrip("\n").split("\t") for line in open(lst)]
    models = []
    for _, p in rows:
        tensors, _ = st.read(os.path.join(CKPT, p))
        # the F32 fixture (last) compared at the checkpoints' F16, as the tool does
        models.append({k: v[1].astype(np.float16).astype(np.float64) for k, v in tensors.items() if v[0] in ("F16", "F32")})
    names = [k[:-len(".running_mean")] for k in st.read(os.path.join(CKPT, rows[0][1]))[0] if k.endswith(".running_mean")]
    rc, err, t, meta = drift("--list", lst)
    if not ok(rc == 0, "%s: runs on the list" % stem, err):
        continue
    ok(json.loads(meta["layers"]) == names and len(names) == (20 if "resnet" in stem else 13),
       "%s: every BatchNorm layer, in order (%d)" % (stem, len(names)), meta["layers"])
    is_(json.loads(meta["checkpoint_epochs"]), [float(e) for e, _ in rows], "%s: checkpoint_epochs from the list" % stem)
    for tensor, running in (("bn_w2", False), ("bn_w2_running", True)):
        want = oracle(models, names, running)
        err_max = np.abs(t[tensor] - want).max()
        ok(t[tensor].shape == (len(rows) - 1, len(names)) and err_max <= 1e-9,
           "%s: %s [%d,%d] = general Gaussian W2 (scipy sqrtm) within 1e-9" % (stem, tensor, len(rows) - 1, len(names)),
           err_max)
    # the same checkpoints as files, in order: the same numbers; epochs from each file's metadata
    rc2, _, t2, meta2 = drift(*[os.path.join(CKPT, p) for _, p in rows])
    ok(rc2 == 0 and np.array_equal(t2["bn_w2"], t["bn_w2"]) and json.loads(meta2["checkpoint_epochs"]) == [float(e) for e, _ in rows],
       "%s: the files given in order = the list" % stem)

# ---- bad input ----
out = os.path.join(d, "bad.st")
good = [os.path.join(d, "F32-%d.safetensors" % i) for i in range(4)]


def bad_model(name, change):
    m = {k: v[1] for k, v in st.read(good[1])[0].items()}
    change(m)
    p = os.path.join(d, name)
    st.write(p, m)
    return p


def remove(key):
    return lambda m: m.pop(key)


def setv(key, value):
    return lambda m: m.__setitem__(key, value)


expect_failure(TOOL, [good[0], "-o", out], 2, "need at least 2", out=out, desc="one checkpoint")
expect_failure(TOOL, ["-o", out], 2, "0 checkpoints", out=out, desc="no checkpoint")
expect_failure(TOOL, [good[0], good[1], "--list", lst, "-o", out], 2, "not both", out=out, desc="files and --list")
expect_failure(TOOL, [good[0], os.path.join(d, "missing.st"), "-o", out], 1, "missing.st", out=out, desc="a missing file")
notst = os.path.join(d, "text.st")
open(notst, "w").write("epoch\tpath\n")
expect_failure(TOOL, [good[0], notst, "-o", out], 1, "text.st", out=out, desc="not a safetensors file")
nobn = os.path.join(d, "nobn.st")
st.write(nobn, {"fc.weight": np.ones((2, 3), np.float32)})
expect_failure(TOOL, [nobn, good[0], "-o", out], 1, ("nobn.st", "no BatchNorm layer"), out=out, desc="a model without BatchNorm")
cases = [
    ("lost.st", remove("layer1.0.bn1.weight"), ("lost.st", "layer1.0.bn1", "bias but no weight")),
    ("nolayer.st", lambda m: [m.pop("layer2.0.bn1." + k) for k in ("weight", "bias")], ("nolayer.st", "BatchNorm layer 4 is 'features.1', 'layer2.0.bn1' in")),
    ("chan.st", lambda m: m.update({"bn1." + k: np.ones(6, np.float32) for k in ("weight", "bias", "running_mean", "running_var")}),
     ("chan.st", "bn1", "6 channels", "5")),
    ("short.st", setv("bn1.bias", np.ones(4, np.float32)), ("short.st", "bn1.bias", "[4]", "[5]")),
    ("nan.st", setv("layer1.0.bn1.weight", np.array([1, np.nan, 1, 1, 1, 1, 1, 1], np.float32)),
     ("nan.st", "layer1.0.bn1.weight", "nan", "channel 1", "finite")),
    ("negvar.st", setv("bn1.running_var", np.array([1, 1, -0.5, 1, 1], np.float32)),
     ("negvar.st", "bn1.running_var", "-0.5", "channel 2", ">= 0")),
    ("halfstats.st", remove("bn1.running_var"), ("halfstats.st", "bn1", "running_mean but no running_var")),
    ("nostats.st", lambda m: [m.pop("bn1.running_" + k) for k in ("mean", "var")], ("nostats.st", "bn1", "running statistics")),
    ("intw.st", setv("bn1.weight", np.ones(5, np.int64)), ("intw.st", "bn1.weight", "I64", "floating-point")),
    ("scalar.st", lambda m: m.update({"bn1.running_mean": np.zeros((5, 1), np.float32)}), ("scalar.st", "bn1.running_mean", "[5,1]")),
    ("ctrl.st", setv("bn\x1bx.weight", np.ones(8, np.float32)), ("ctrl.st", "bn\\x1bx", "weight but no bias")),
]
for name, change, needles in cases:
    p = bad_model(name, change)
    expect_failure(TOOL, [good[0], p, "-o", out], 1, needles, out=out, desc="bad checkpoint " + name)

ckpts = os.path.relpath(good[0], d)


def bad_list(name, text, needles, status=1):
    p = os.path.join(d, name)
    open(p, "w").write(text)
    expect_failure(TOOL, ["--list", p, "-o", out], status, needles, out=out, desc="list " + name)


bad_list("empty.list", "# nothing\n\n", ("empty.list", "no checkpoint listed"))
bad_list("one.list", "1\t%s\n" % ckpts, "need at least 2", status=2)
bad_list("notab.list", "1 %s\n2\t%s\n" % (ckpts, ckpts), ("notab.list line 1", "EPOCH<TAB>PATH"))
bad_list("epoch.list", "1\t%s\nten\t%s\n" % (ckpts, ckpts), ("epoch.list line 2", "'ten'", "not a finite number"))
bad_list("inf.list", "1\t%s\ninf\t%s\n" % (ckpts, ckpts), ("inf.list line 2", "not a finite number"))
bad_list("order.list", "2\t%s\n1\t%s\n" % (ckpts, os.path.relpath(good[1], d)), ("order.list", "epoch 1", "follows epoch 2", "training order"))
bad_list("same.list", "1\t%s\n1\t%s\n" % (ckpts, os.path.relpath(good[1], d)), ("same.list", "follows epoch 1"))
bad_list("three.list", "1\t%s\textra\n" % ckpts, ("three.list line 1", "more than 2"))
bad_list("nopath.list", "1\t \n", ("nopath.list line 1", "empty checkpoint path"))
bad_list("ctrl.list", "1\t%s\n2\tx\x1by.st\n" % ckpts, ("ctrl.list line 2", "control character"))
bad_list("gone.list", "1\t%s\n2\tgone.safetensors\n" % ckpts, "gone.safetensors")
expect_failure(TOOL, ["--list", os.path.join(d, "nolist.list"), "-o", out], 1, "nolist.list", out=out, desc="a missing list")
# files out of training order by their metadata `epoch`
expect_failure(TOOL, [good[2], good[1], "-o", out], 1, ("metadata `epoch`", "epoch 2", "follows epoch 3"), out=out,
               desc="files out of order by their epochs")
okl = os.path.join(d, "ok.list")
open(okl, "w").write("# epochs and paths\n0.5\t%s\n\n1.5\t%s\n" % (ckpts, os.path.relpath(good[1], d)))
rc, err, t, meta = drift("--list", okl)
ok(rc == 0 and json.loads(meta["checkpoint_epochs"]) == [0.5, 1.5], "a list with comments and blank lines; its epochs win", err)
done()
