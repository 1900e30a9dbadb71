#!/usr/bin/python3
"""extract-feats end to end on real files: JPEG (colour and grey) and PNG images
of several sizes in a list data set, decoded, resized and cropped by our code,
against PIL + torchvision.transforms + the torchvision model (the issue's
1e-2 x max|torch| for decoded images, 1e-4 since --resample pil, the default,
reproduces the PIL recipe); the model's metadata resize, crop, mean
and std as defaults; labels, split, index and ids in the output; batches that
do not divide the data; --skip-bad; the progress bar."""
import json
import os
import sys

import numpy as np
import torch
from PIL import Image
from torchvision import transforms

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "st"))
sys.path.insert(0, os.path.join(HERE, "extract-feats"))
import models  # noqa: E402
import stwrite as st  # noqa: E402
from tap import BIN as BIN_DIR, done, ok, run, scratch  # noqa: E402

BIN = os.path.join(BIN_DIR, "extract-feats")
TOL = 1e-4
torch.set_num_threads(1)


def picture(rng, w, h):
    """Smooth colour fields with some texture, like a photograph more than noise."""
    y, x = np.mgrid[0:h, 0:w] / max(w, h)
    chans = [np.sin(6 * x * rng.uniform(0.5, 2) + rng.uniform(0, 6)) + np.cos(5 * y * rng.uniform(0.5, 2))
             for _ in range(3)]
    img = np.stack(chans, -1) * 60 + 128 + rng.normal(0, 8, (h, w, 3))
    return np.clip(img, 0, 255).astype(np.uint8)


D = scratch("ef-images.")
rng = np.random.default_rng(3)
files = []
for i, (w, h, kind) in enumerate([(50, 40, "jpg"), (37, 61, "jpg"), (64, 64, "grey"), (45, 45, "png"),
                                  (80, 33, "jpg"), (41, 52, "jpg")]):
    img = Image.fromarray(picture(rng, w, h))
    name = "img%d.%s" % (i, "png" if kind == "png" else "jpg")
    if kind == "grey":
        img = img.convert("L")
    img.save(os.path.join(D, name), quality=92)
    files.append(name)
labels = ["cat", "dog", "car"]
rows = [(f, ",".join(labels[j] for j in range(3) if (i >> j) & 1 or j == i % 3), ["train", "val", "test"][i % 3])
        for i, f in enumerate(files)]
with open(os.path.join(D, "list.tsv"), "w") as fp:
    fp.write("#labels " + ",".join(labels) + "\n")
    for r in rows:
        fp.write("\t".join(r) + "\n")

mean, std = [0.5, 0.45, 0.4], [0.25, 0.2, 0.3]
meta = {"resize": "40", "crop": "32", "mean": json.dumps(mean), "std": json.dumps(std), "labels": json.dumps(labels)}
x = np.zeros((1, 3, 32, 32), np.float32)
results = {}
for arch in ["resnet18", "vgg11_bn"]:
    m, taps = models.export(D, arch, x, meta=meta, classes=3)
    tf = transforms.Compose([transforms.Resize(40), transforms.CenterCrop(32), transforms.ToTensor(),
                             transforms.Normalize(mean, std)])
    batch = np.stack([tf(Image.open(os.path.join(D, f)).convert("RGB")).numpy() for f in files])
    st.write(os.path.join(D, arch + ".ref.st"), models.reference(m, taps, batch))
    out = os.path.join(D, arch + ".out.st")
    rc, _, err = run([BIN, "-q", "-t", "2", "--batch", "4", "--model", os.path.join(D, arch + ".st"),
                      "--dataset", "list:" + os.path.join(D, "list.tsv"), "-o", out], timeout=None)
    ok(rc == 0, "%s over a list of 4 JPEGs, a grey JPEG and a PNG (%s)" % (arch, err.strip()[:200]))
    if rc:
        continue
    worst = max(models.compare(out, os.path.join(D, arch + ".ref.st")), key=lambda r: r[1] / max(r[2], 1e-30))
    rel = worst[1] / max(worst[2], 1e-30)
    ok(rel <= TOL, "%s: decoded images, every tap and the logits within 1e-4 x max of PIL+torchvision "
       "(--resample pil, the default; worst %s: %.2g)" % (arch, worst[0], rel))
    results[arch] = out

if "resnet18" in results:
    t, meta_out = st.read(results["resnet18"])
    want = np.array([[labels[j] in r[1].split(",") for j in range(3)] for r in rows], np.uint8)
    ok(np.array_equal(t["labels"][1], want) and t["labels"][0] == "U8", "labels [N,K] U8 from the list")
    ok(list(t["split"][1]) == [0, 1, 2, 0, 1, 2] and list(t["index"][1]) == list(range(6)), "split and index")
    ok(t["ignore"][1].shape == (6, 3) and not t["ignore"][1].any(), "ignore [N,K], all zero for a list")
    ok(json.loads(meta_out["labels"]) == labels and len(json.loads(meta_out["ids"])) == 6,
       "metadata labels in column order, ids per row")
    ok(meta_out.get("resize") == "40" and meta_out.get("crop") == "32"
       and np.allclose(json.loads(meta_out["mean"]), mean) and np.allclose(json.loads(meta_out["std"]), std),
       "the model's metadata resize, crop, mean, std were used and recorded")

# a corrupt image: an error naming it, or skipped and counted
with open(os.path.join(D, "bad.jpg"), "wb") as fp:
    fp.write(b"\xff\xd8\xff\xe0 this is not a JPEG")
with open(os.path.join(D, "bad.tsv"), "w") as fp:
    fp.write("#labels " + ",".join(labels) + "\n")
    for r in rows[:3] + [("bad.jpg", "cat", "train")] + rows[3:]:
        fp.write("\t".join(r) + "\n")
model = os.path.join(D, "resnet18.st")
out = os.path.join(D, "skip.st")
rc, _, err = run([BIN, "--model", model, "--dataset", "list:" + os.path.join(D, "bad.tsv"), "-o", out],
                 timeout=None)
ok(rc == 1 and "bad.jpg" in err and not os.path.exists(out), "a corrupt image is an error naming it")
rc, _, err = run([BIN, "--skip-bad", "--batch", "3", "--model", model, "--dataset",
                  "list:" + os.path.join(D, "bad.tsv"), "-o", out], timeout=None)
good = rc == 0 and "1 of 7 images skipped" in err
if good:
    t, m = st.read(out)
    ref, _ = st.read(results.get("resnet18", out))
    good = (t["logits"][1].shape[0] == 6 and list(t["index"][1]) == [0, 1, 2, 4, 5, 6]
            and np.allclose(t["logits"][1], ref["logits"][1], atol=1e-5) and "bad.jpg" not in m["ids"])
ok(good, "--skip-bad leaves it out, counts it, keeps the other rows right (%s)" % err.strip()[-120:])

rc, _, err = run([BIN, "--progress", "--model", model, "--dataset", "list:" + os.path.join(D, "list.tsv"),
                  "-o", os.path.join(D, "p.st")], timeout=None)
ok(rc == 0 and "images/s" in err and "left" in err, "--progress shows images/s and the time left")
rc, _, err = run([BIN, "--model", model, "--dataset", "list:" + os.path.join(D, "list.tsv"), "--splits", "val",
                  "-o", os.path.join(D, "val.st")], timeout=None)
if rc == 0:
    t, m = st.read(os.path.join(D, "val.st"))
ok(rc == 0 and list(t["index"][1]) == [1, 4] and list(t["split"][1]) == [1, 1], "--splits val")
done()
