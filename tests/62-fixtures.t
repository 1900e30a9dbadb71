#!/usr/bin/python3
# The shipped fixtures: the two trained backbones and the label embeddings.
# Each model: at most 8 MB, the metadata extract-feats and the report need,
# loads in extract-feats, whose logits on test mosaics agree with PyTorch's
# (the model rebuilt by tools/train-backbone.py) within the contract's 1e-3 x
# max|reference|, and the test mAP and subset accuracy claimed in its metadata
# (and fixtures/README.md) come back from extract-feats' logits on the whole
# test split of `mosaic --seed 1` (a sample under LS_ASAN). The embeddings are
# re-derived from the models' heads.
import importlib.util
import json
import os
import re
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "st"))
from tap import BIN, ASAN, ok, is_, done, run, scratch  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
spec = importlib.util.spec_from_file_location("train_backbone", os.path.join(REPO, "tools", "train-backbone.py"))
tb = importlib.util.module_from_spec(spec)
spec.loader.exec_module(tb)

FIX = os.path.join(REPO, "fixtures")
MODELS = ["fmnist-resnet18.safetensors", "fmnist-vgg16_bn.safetensors"]
EXTRACT = os.path.join(BIN, "extract-feats")
N_TEST = 300 if ASAN else 5000   # the mosaic test split has 5000 images
N_TORCH = 64                     # images compared with PyTorch
torch.set_num_threads(1)
d = scratch()

# the test split alone: one random stream per split, so these are the images of
# `mosaic --seed 1`'s test split (ids renumbered from 000001)
tar = os.path.join(d, "test.tar")
rc, _, err = run([os.path.join(BIN, "mosaic"), "-q", "--seed", "1", "--train", "0", "--val", "0",
                  "--test", str(N_TEST), "-o", tar])
ok(rc == 0, "mosaic writes the test split", err)
data = tb.read_tar(tar)["test"]
ok(len(data[0]) == N_TEST, "%d test images read back" % N_TEST)

for name in MODELS:
    path = os.path.join(FIX, name)
    ok(os.path.getsize(path) <= 8 << 20, "%s: %d bytes, at most 8 MB" % (name, os.path.getsize(path)))
    t, meta = tb.load_safetensors(path)
    missing = [k for k in ("arch", "head", "widths", "labels", "resize", "crop", "mean", "std", "recipe", "seed",
                           "test_mAP", "test_subset_accuracy") if k not in meta]
    ok(not missing, "%s: metadata complete" % name, "missing: %s" % missing)
    is_(json.loads(meta["labels"]), tb.LABELS, "%s: labels in the mosaic's order" % name)
    model, _, _ = tb.make_model(meta["arch"], json.loads(meta["widths"])[0])
    model.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in t.items()})
    side, mean, std = int(meta["resize"]), json.loads(meta["mean"])[0], json.loads(meta["std"])[0]

    out = os.path.join(d, name + ".feats")
    rc, _, err = run([EXTRACT, "-q", "--model", path, "--dataset", "voc:" + tar, "-o", out], timeout=1200)
    if not ok(rc == 0, "%s: extract-feats runs on the test mosaics with the model's own preprocessing" % name, err):
        continue
    ft, fmeta = tb.load_safetensors(out)
    logits, labels = ft["logits"], ft["labels"]
    is_(labels.tolist(), data[1].tolist(), "%s: extract-feats' labels are the mosaic's" % name)

    ref = tb.predict(model, data[0][:N_TORCH], side, mean, std)
    err_max = float(np.abs(logits[:N_TORCH] - ref).max())
    tol = 1e-3 * float(np.abs(ref).max())
    ok(err_max <= tol, "%s: logits of %d images within 1e-3 x max|PyTorch| (%.2g <= %.2g)" % (name, N_TORCH, err_max, tol))

    acc, mAP = tb.scores(logits, labels)
    if N_TEST == 5000:
        ok(abs(mAP - float(meta["test_mAP"])) <= 5e-4, "%s: test mAP %.4f from extract-feats, claimed %s"
           % (name, mAP, meta["test_mAP"]))
        ok(abs(acc - float(meta["test_subset_accuracy"])) <= 2e-3,
           "%s: test subset accuracy %.4f from extract-feats, claimed %s" % (name, acc, meta["test_subset_accuracy"]))
        readme = open(os.path.join(FIX, "README.md")).read()
        ok(re.search(r"%s.*%s" % (re.escape(name), re.escape(meta["test_mAP"])), readme),
           "%s: fixtures/README.md states test mAP %s" % (name, meta["test_mAP"]))
    else:
        ok(mAP > 0.9, "%s: mAP %.4f on %d test images (sample under ASan)" % (name, mAP, N_TEST))

# ---- the label embeddings
t, meta = tb.load_safetensors(os.path.join(FIX, "fmnist-embeddings.safetensors"))
is_(json.loads(meta["labels"]), tb.LABELS, "embeddings: labels metadata")
parts = []
for name in MODELS:
    w, m = tb.load_safetensors(os.path.join(FIX, name))
    w = w["fc.weight"] if m["arch"].startswith("resnet") else w["classifier.0.weight"]
    parts.append(w / np.linalg.norm(w, axis=1, keepdims=True))
want = np.concatenate(parts, 1) / np.sqrt(len(parts))
e = t["embeddings"]
ok(e.shape == want.shape and np.abs(e - want).max() < 1e-6,
   "embeddings [10,%d]: the models' normalised head rows, as documented" % want.shape[1])
done()
