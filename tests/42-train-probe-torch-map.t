#!/usr/bin/python3
"""train-probe against a full PyTorch run of the same recipe (defaults: 100
epochs, lr 0.01 /10 every 40, momentum 0.9, weight decay 1e-4, batch 128),
each with its own initialisation and shuffles: on a multi-label problem with
layers of rising quality, the per-layer test mAP (scikit-learn) must agree
within 0.5 points. With --standardize, the same against torch on z-scored
features."""
import os
import sys

import numpy as np
from sklearn.metrics import average_precision_score

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "st"))
sys.path.insert(0, os.path.join(HERE, "train-probe"))
import stwrite as st  # noqa: E402
import torchprobe  # noqa: E402
from tap import BIN, done, ok, run, scratch  # noqa: E402


def mean_ap(y, p):
    cols = [k for k in range(y.shape[1]) if y[:, k].any()]
    return 100 * np.mean([average_precision_score(y[:, k], p[:, k]) for k in cols])


rng = np.random.default_rng(11)
N, K, LATENT = 4300, 8, 12
split = np.repeat(np.array([0, 1, 2], np.uint8), [3000, 300, 1000])
rng.shuffle(split)
train_rows, test_rows = np.flatnonzero(split == 0), np.flatnonzero(split == 2)
latent = rng.standard_normal((N, LATENT)).astype(np.float32)
y = (latent[:, :K] @ rng.standard_normal((K, K)) * 0.5 + latent[:, :K] > 0.8).astype(np.uint8)
feats = {}
# ReLU-like features, noisier in the early layers; the problem is chosen so that
# 100 epochs converge well: on a flat optimum two random runs of either
# implementation alone differ by a few tenths of a point
for i, (d, noise) in enumerate(((24, 0.9), (64, 0.5), (128, 0.25))):
    mix = rng.standard_normal((LATENT, d)) / np.sqrt(LATENT)
    feats["feat.%02d" % i] = (np.maximum(latent @ mix, 0) + noise * rng.standard_normal((N, d))).astype(np.float32)
logits = rng.standard_normal((N, K)).astype(np.float32)

tmp = scratch()
inp = os.path.join(tmp, "in.st")
st.write(inp, dict(feats, labels=y, split=split, logits=logits))
for standardize in (False, True):
    out = os.path.join(tmp, "out.st")
    cmd = [BIN + "/train-probe", "-q", "--seed", "3", "-o", out, inp] + (["--standardize"] * standardize)
    rc, _, err = run(cmd, timeout=None)
    ok(rc == 0, "train-probe%s runs: %s" % (" --standardize" * standardize, err.strip()))
    res, _ = st.read(out) if rc == 0 else ({"prob": (None, np.zeros((4, N, K)))}, {})
    prob = res["prob"][1]
    maps = []
    for li, (name, x) in enumerate(feats.items()):
        if standardize:
            x = (x - x[train_rows].mean(0)) / x[train_rows].std(0)
        w, b, _ = torchprobe.train(x, y, train_rows, seed=li)
        ref = mean_ap(y[test_rows], torchprobe.predict(x[test_rows], w, b))
        ours = mean_ap(y[test_rows], prob[li][test_rows])
        maps.append(ours)
        ok(abs(ours - ref) <= 0.5, "%s%s: test mAP %.2f, torch %.2f" %
           (name, " standardized" * standardize, ours, ref))
    ok(maps[0] < maps[1] < maps[2], "mAP rises with the layers' quality")
done()
