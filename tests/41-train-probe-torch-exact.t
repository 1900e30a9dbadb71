#!/usr/bin/python3
"""train-probe against PyTorch, step for step: the same initial probes and the
same batch order (--init, --order) for 3 epochs must give every weight within
1e-4 relative. Layers in F32, F16 and BF16, a short last batch, a StepLR step."""
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "st"))
sys.path.insert(0, os.path.join(HERE, "train-probe"))
import stwrite as st  # noqa: E402
import torchprobe  # noqa: E402
from tap import BIN, done, ok, run, scratch  # noqa: E402

EPOCHS, LR, LR_STEP, BATCH = 3, 0.05, 2, 64

rng = np.random.default_rng(4)
N, K = 500, 6
split = np.repeat(np.array([0, 1, 2], np.uint8), [330, 90, 80])
rng.shuffle(split)
train_rows = np.flatnonzero(split == 0)
latent = rng.standard_normal((N, 8)).astype(np.float32)
y = (latent[:, :K] + 0.7 * rng.standard_normal((N, K)) > 0.3).astype(np.uint8)
dims = {"00": 16, "01": 100, "02": 37}
dtypes = {"00": "F32", "01": "F16", "02": "BF16"}
feats, stored, init = {}, {}, {}
for i, (name, d) in enumerate(dims.items()):
    x = (latent @ rng.standard_normal((8, d)) + rng.standard_normal((N, d)) * (i + 1)).astype(np.float32)
    if dtypes[name] == "F16":
        stored[name] = x.astype(np.float16)
        x = stored[name].astype(np.float32)
    elif dtypes[name] == "BF16":
        stored[name] = ("BF16", st.f32_to_bf16(x))
        x = st.bf16_to_f32(stored[name][1])
    feats[name] = x
    bound = 1 / np.sqrt(d)
    init[name] = (rng.uniform(-bound, bound, (K, d)).astype(np.float32),
                  rng.uniform(-bound, bound, K).astype(np.float32))
orders = np.stack([rng.permutation(train_rows) for _ in range(EPOCHS)]).astype(np.int64)
logits = rng.standard_normal((N, K)).astype(np.float32)

tmp = scratch()
inp, ini, ordf, out = (os.path.join(tmp, f) for f in ("in.st", "init.st", "order.st", "out.st"))
tensors = {"feat." + k: v for k, v in stored.items()}
tensors["feat.00"] = feats["00"]
tensors.update(labels=y, split=split, logits=logits)
st.write(inp, tensors, {"labels": '["a","b","c","d","e","f"]'})
st.write(ini, {"probe.%s.%s" % (k, p): v[j] for k, v in init.items() for j, p in enumerate(("weight", "bias"))})
st.write(ordf, {"order": orders})
cmd = [BIN + "/train-probe", "-q", "--epochs", str(EPOCHS), "--lr", str(LR), "--lr-step", str(LR_STEP),
       "--batch", str(BATCH), "--init", ini, "--order", ordf, "-o", out, inp]
rc, _, err = run(cmd, timeout=None)
ok(rc == 0, "train-probe runs: " + err.strip())
res, meta = st.read(out) if rc == 0 else ({}, {})

worst_w = worst_p = worst_l = 0.0
for li, (name, x) in enumerate(feats.items()):
    w, b, losses = torchprobe.train(x, y, train_rows, EPOCHS, LR, LR_STEP, BATCH, init=init[name], orders=orders)
    for part, ref in (("weight", w), ("bias", b)):
        got = res.get("probe.%s.%s" % (name, part), (None, np.zeros_like(ref)))[1]
        # relative per element, with a floor of 1e-2 of the tensor's scale for weights near 0
        rel = np.abs(got - ref) / np.maximum(np.abs(ref), 1e-2 * np.abs(ref).max())
        worst_w = max(worst_w, float(rel.max()))
        moved = np.abs(ref - init[name][part == "bias"]).max() / np.abs(ref).max()
        ok(moved > 0.05, "layer %s %s moved from its initial value (%.2f of its scale)" % (name, part, moved))
    p = res.get("prob", (None, np.zeros((4, N, K))))[1]
    worst_p = max(worst_p, float(np.abs(p[li] - torchprobe.predict(x, w, b)).max()))
    loss = res.get("loss", (None, np.zeros((3, EPOCHS))))[1][li]
    worst_l = max(worst_l, float(np.abs(loss - losses).max() / max(losses)))
ok(worst_w <= 1e-4, "every weight and bias within 1e-4 relative of torch: worst %.2g" % worst_w)
ok(worst_p <= 1e-5, "prob of the probe layers within 1e-5 of torch's sigmoid: worst %.2g" % worst_p)
ok(worst_l <= 1e-5, "per-epoch train loss within 1e-5 relative of torch's: worst %.2g" % worst_l)
p = res.get("prob", (None, np.zeros((4, N, K))))[1]
ok(p.shape == (4, N, K) and np.abs(p[3] - 1 / (1 + np.exp(-logits))).max() < 1e-6,
   "the head's sigmoid(logits) is the last layer")
ok(meta.get("layers") == '["feat.00","feat.01","feat.02","head"]', "layers metadata: %s" % meta.get("layers"))
ok(meta.get("labels") == '["a","b","c","d","e","f"]' and "labels" in res and "split" in res,
   "context forwarded")
ok(not any(k.startswith("feat.") or k == "logits" for k in res), "features and logits not forwarded")
done()
