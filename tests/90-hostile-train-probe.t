#!/usr/bin/python3
# train-probe on hostile inputs (issue 17; docs/security.md): the catalogue's
# rule for each case (tests/st/hostile.py). A probe whose loss becomes NaN or
# infinite (features of 1e30, a huge --lr) ends the run naming the layer and
# the epoch; probabilities that are not finite are never written.
import os
import sys

import numpy as np

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, "st"))
from tap import done  # noqa: E402
from hostile import case  # noqa: E402
import malformed  # noqa: E402
import stwrite as st  # noqa: E402

rng = np.random.default_rng(0)
N, D, K = 64, 8, 3
base = {"feat.00": rng.standard_normal((N, D)).astype(np.float32),
        "feat.01": rng.standard_normal((N, D)).astype(np.float32),
        "labels": (rng.random((N, K)) < 0.4).astype(np.float32),
        "split": np.array([0] * 48 + [1] * 16, np.uint8),
        "logits": rng.standard_normal((N, K)).astype(np.float32)}


def feats(meta=None, **change):
    t = dict(base)
    for k, v in change.items():
        if v is None:
            t.pop(k.replace("__", "."))
        else:
            t[k.replace("__", ".")] = v
    return st.dumps(t, meta or {"layers": '["conv1","layer1"]'})


def run(args, status, needles, desc, data=None, **files):
    case("train-probe", ["{d}/in.st", "--epochs", "3"] + args, status, needles, desc=desc,
         files=dict({"in.st": data if data is not None else feats()}, **files))


for name, data, rule in malformed.cases():
    if name in ("empty", "length-u64-max", "truncated-header", "deep-nesting", "utf8-surrogate", "dtype-unknown",
                "shape-bytes-overflow"):
        run([], 1, ["in.st", rule], "malformed: " + name, data)
case("train-probe", ["/dev/zero"], 1, ["/dev/zero", "header"], desc="/dev/zero as input")
case("train-probe", ["{d}"], 1, [], desc="a folder as input")

# divergence: stopped with the layer and the epoch, nothing written
run([], 1, ["layer 'conv1' (feat.00)", "training diverged at epoch", "loss is"], "features of 1e30",
    feats(feat__00=(rng.standard_normal((N, D)) * 1e30).astype(np.float32)))
run(["--epochs", "60", "--lr", "1e6"], 1, ["training diverged at epoch", "(and 1 more layer)", "smaller --lr"],
    "--lr 1e6")
# stored statistics that scale the features to +-inf: x W^T is NaN
x = np.ones((N, 2), np.float32)
x[:, 1] = -1
run(["--apply", "{d}/p.st", "--no-head"], 1, ["feat.00", "probability NaN", "too large"],
    "--apply: a scale of 1e-40 makes the features infinite", feats(feat__00=x, feat__01=None),
    **{"p.st": st.dumps({"probe.00.weight": np.ones((K, 2), np.float32), "probe.00.bias": np.zeros(K, np.float32),
                         "probe.00.mean": np.zeros(2, np.float32), "probe.00.scale": np.full(2, 1e-40, np.float32)})})

# bad values and shapes
f = base["feat.01"].copy()
f[5, 2] = np.inf
run([], 1, ["feat.01", "non-finite value inf at flat index 42"], "an infinite feature", feats(feat__01=f))
y = base["labels"].copy()
y[3, 1] = 0.5
run([], 1, ["labels", "value 0.5 at row 3"], "a label of 0.5", feats(labels=y))
s = base["split"].copy()
s[7] = 9
run([], 1, ["split", "value 9 at row 7"], "a split of 9", feats(split=s))
run([], 1, ["no feat.NN"], "no features", feats(feat__00=None, feat__01=None))
run([], 1, ["metadata `shard` is '1/3'", "join the shards"], "a shard of extract-feats (a probe needs every row)",
    feats({"layers": '["conv1","layer1"]', "shard": "1/3"}))
run([], 1, ["feat.x\\n\\x1b[2J", "expected feat.NN"], "a feature name holding a newline and ESC",
    st.dumps({"feat.x\n\x1b[2J": base["feat.00"], "labels": base["labels"], "split": base["split"]}))
run([], 1, ["feat.01", "shape [63,8]"], "features of another length", feats(feat__01=base["feat.01"][:63]))
run([], 1, ["logits"], "logits of another K", feats(logits=np.zeros((N, K + 1), np.float32)))
run(["--apply", "{d}/p.st"], 1, ["p.st", "missing tensor 'probe.00.weight'"], "--apply without probes",
    **{"p.st": st.dumps({"x": np.zeros(1, np.float32)})})
run(["--apply", "{d}/p.st"], 1, ["p.st", "probe.01.weight", "shape [3,9]"], "--apply: probes of another width",
    **{"p.st": st.dumps({"probe.00.weight": np.zeros((K, D), np.float32), "probe.00.bias": np.zeros(K, np.float32),
                         "probe.01.weight": np.zeros((K, D + 1), np.float32),
                         "probe.01.bias": np.zeros(K, np.float32)})})

# options
for opt, val in (("--epochs", "0"), ("--batch", "0"), ("--momentum", "1"), ("--lr", "-1"), ("--train-split", "3"),
                 ("--snapshots", "7"), ("--snapshot-every", "9"), ("--lr", "inf")):
    run([opt, val], 2, [opt], "%s %s" % (opt, val))
run(["--patience", "2"], 1, ["--patience needs val rows"], "--patience without val rows",
    feats(split=np.zeros(N, np.uint8)))
done()
