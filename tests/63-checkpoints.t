#!/usr/bin/python3
# The shipped backbone checkpoints (fixtures/checkpoints/, issue 12). Per default
# backbone a list STEM.list of `EPOCH<TAB>PATH` lines (paths relative to the list's
# folder), in training order: points inside epoch 1, then every epoch, the last line
# the fixture itself. Every checkpoint comes from the fixture's own run (same recipe
# and command), has its keys and shapes with F16 floats, its `epoch` as the list says,
# and the val subset accuracy and mAP in its metadata come back from extract-feats'
# logits on the val split of `mosaic --seed 1`; two per backbone also against PyTorch
# (under LS_ASAN only those two, on 300 val images). No file in the folder is unlisted;
# fixtures/ stays within 40 MiB.
import importlib.util
import json
import os
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
CKPT = os.path.join(FIX, "checkpoints")
MODELS = ["fmnist-resnet18.safetensors", "fmnist-vgg16_bn.safetensors"]
EXTRACT = os.path.join(BIN, "extract-feats")
N_VAL = 300 if ASAN else 4000   # the mosaic val split has 4000 images
N_TORCH = 64
SAME_META = ("arch", "head", "widths", "labels", "resize", "crop", "mean", "std", "dataset", "recipe", "seed",
             "parameters", "history")
torch.set_num_threads(1)
d = scratch()

total = sum(os.path.getsize(os.path.join(r, f)) for r, _, fs in os.walk(FIX) for f in fs)
ok(total <= 40 << 20, "fixtures/: %.1f MiB in all, at most 40" % (total / 2**20))

# the val split alone: one random stream per split, so these are `mosaic --seed 1`'s val images
tar = os.path.join(d, "val.tar")
rc, _, err = run([os.path.join(BIN, "mosaic"), "-q", "--seed", "1", "--train", "0", "--val", str(N_VAL),
                  "--test", "0", "-o", tar])
ok(rc == 0, "mosaic writes the val split", err)
val = tb.read_tar(tar)["val"]

listed = set()
for name in MODELS:
    stem = name[:-len(".safetensors")]
    lst = os.path.join(CKPT, stem + ".list")
    listed.add(os.path.realpath(lst))
    rows = [line.rstrip("\n").split("\t") for line in open(lst)]
    if not ok(rows and all(len(r) == 2 for r in rows), "%s: every line EPOCH<TAB>PATH" % lst, rows):
        continue
    epochs = [float(r[0]) for r in rows]
    paths = [os.path.realpath(os.path.join(CKPT, r[1])) for r in rows]
    listed.update(paths)
    ok(all(a < b for a, b in zip(epochs, epochs[1:])), "%s: epochs increase" % stem, epochs)
    last = int(epochs[-1])
    is_([e for e in epochs if e >= 1], [float(e) for e in range(1, last + 1)], "%s: every epoch 1-%d" % (stem, last))
    ok(sum(e < 1 for e in epochs) >= 3, "%s: %d points inside epoch 1" % (stem, sum(e < 1 for e in epochs)))
    is_(paths[-1], os.path.realpath(os.path.join(FIX, name)), "%s: the last checkpoint is the fixture" % stem)

    ref_t, ref_meta = tb.load_safetensors(os.path.join(FIX, name))
    is_(ref_meta.get("epoch"), rows[-1][0], "%s: the fixture's metadata epoch is the list's last" % stem)
    model, _, _ = tb.make_model(ref_meta["arch"], json.loads(ref_meta["widths"])[0])
    side, mean, std = int(ref_meta["resize"]), json.loads(ref_meta["mean"])[0], json.loads(ref_meta["std"])[0]
    torch_rows = {0, len(rows) - 2}   # the first checkpoint and the last F16 one
    for i, ((ep, rel), path) in enumerate(zip(rows[:-1], paths[:-1])):
        tag = "%s %s" % (stem, rel)
        t, meta = tb.load_safetensors(path)
        same = sorted(k for k in SAME_META if meta.get(k) != ref_meta.get(k))
        ok(not same, "%s: the fixture's run and preprocessing" % tag, "differs: %s" % same)
        is_(meta.get("epoch"), ep, "%s: metadata epoch as listed" % tag)
        ok(t.keys() == ref_t.keys() and all(t[k].shape == ref_t[k].shape for k in t),
           "%s: the fixture's keys and shapes" % tag)
        ok(all(v.dtype == (np.float16 if ref_t[k].dtype.kind == "f" else ref_t[k].dtype) for k, v in t.items()),
           "%s: F16 floats, integers as the fixture's" % tag)
        if ASAN and i not in torch_rows:
            continue
        out = os.path.join(d, "feats.st")
        rc, _, err = run([EXTRACT, "-q", "--model", path, "--dataset", "voc:" + tar, "-o", out], timeout=1200)
        if not ok(rc == 0, "%s: extract-feats runs on the val mosaics" % tag, err):
            continue
        ft, _ = tb.load_safetensors(out)
        if i in torch_rows:
            model.load_state_dict({k: torch.from_numpy(v.astype(np.float32) if v.dtype.kind == "f" else v.copy())
                                   for k, v in t.items()})
            ref = tb.predict(model, val[0][:N_TORCH], side, mean, std)
            err_max = float(np.abs(ft["logits"][:N_TORCH] - ref).max())
            tol = 1e-3 * float(np.abs(ref).max())
            ok(err_max <= tol, "%s: logits within 1e-3 x max|PyTorch| (%.2g <= %.2g)" % (tag, err_max, tol))
        if not ASAN:
            acc, mAP = tb.scores(ft["logits"], ft["labels"])
            ok(abs(mAP - float(meta["val_mAP"])) <= 5e-4 and abs(acc - float(meta["val_subset_accuracy"])) <= 2e-3,
               "%s: val mAP %.4f, subset accuracy %.4f from extract-feats; claimed %s, %s"
               % (tag, mAP, acc, meta["val_mAP"], meta["val_subset_accuracy"]))

unlisted = sorted(f for f in os.listdir(CKPT) if os.path.realpath(os.path.join(CKPT, f)) not in listed)
ok(not unlisted, "fixtures/checkpoints/: every file listed", unlisted)
done()
