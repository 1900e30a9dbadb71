#!/usr/bin/python3
# bin/mosaic: the same seed gives the same bytes; the VOC layout and split
# counts; every image's labels, boxes and pixels are the Fashion-MNIST items
# its --manifest names, checked against Python's own read of the IDX files;
# items come from the documented ranges; options change what they say.
import gzip
import io
import os
import re
import struct
import sys
import tarfile
import xml.etree.ElementTree as ET

import numpy as np
from PIL import Image

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "st"))
from tap import BIN, ok, is_, done, run, scratch  # noqa: E402

MOSAIC = os.path.join(BIN, "mosaic")
FMNIST = "/usr/share/datasets/fashion-mnist"
LABELS = ["tshirt_top", "trouser", "pullover", "dress", "coat",
          "sandal", "shirt", "sneaker", "bag", "ankle_boot"]
ROOT = "VOCdevkit/VOC2007/"
d = scratch()


def mosaic(name, *args):
    path = os.path.join(d, name)
    rc, _, err = run([MOSAIC, "-q", "-o", path] + [str(a) for a in args])
    ok(rc == 0 and err == "", "mosaic %s runs" % " ".join(map(str, args)), err)
    return path


def read_idx(path):
    raw = gzip.open(path).read()
    ndim = raw[3]
    dims = struct.unpack(">" + "I" * ndim, raw[4:4 + 4 * ndim])
    return np.frombuffer(raw, np.uint8, offset=4 + 4 * ndim).reshape(dims)


def members(path):
    with tarfile.open(path) as t:
        return {m.name: (m, t.extractfile(m).read() if m.isfile() else None) for m in t.getmembers()}


# ---- determinism
a = mosaic("a.tar", "--train", 60, "--val", 20, "--test", 20, "--seed", 7, "--manifest", os.path.join(d, "a.tsv"))
b = mosaic("b.tar", "--train", 60, "--val", 20, "--test", 20, "--seed", 7)
c = mosaic("c.tar", "--train", 60, "--val", 20, "--test", 20, "--seed", 8)
ok(open(a, "rb").read() == open(b, "rb").read(), "same seed: byte-identical tar")
ok(open(a, "rb").read() != open(c, "rb").read(), "another seed: another tar")
e = mosaic("e.tar", "--train", 60, "--val", 20, "--test", 5, "--seed", 7)
ma, me = members(a), members(e)
ok(all(ma[ROOT + "JPEGImages/%06d.jpg" % i][1] == me[ROOT + "JPEGImages/%06d.jpg" % i][1] for i in range(1, 81)),
   "a smaller --test leaves the train and val images alone (one random stream per split)")

# ---- layout
m = ma
with tarfile.open(a) as t:
    ok(all(x.mtime == 946684800 and x.uid == 0 and x.gid == 0 for x in t.getmembers()),
       "fixed mtime, uid and gid in every entry")
is_(m[ROOT + "labels.txt"][1].decode().split("\n"), LABELS + [""], "labels.txt: the 10 names in order")
splits = {s: m[ROOT + "ImageSets/Main/%s.txt" % s][1].decode().split() for s in ("train", "val", "test")}
is_([len(splits[s]) for s in ("train", "val", "test")], [60, 20, 20], "split counts 60/20/20")
ids = splits["train"] + splits["val"] + splits["test"]
is_(ids, ["%06d" % i for i in range(1, 101)], "ids 000001.. run through train, val, test")
jpgs = sorted(n for n in m if n.startswith(ROOT + "JPEGImages/") and n.endswith(".jpg"))
xmls = sorted(n for n in m if n.startswith(ROOT + "Annotations/") and n.endswith(".xml"))
is_((len(jpgs), len(xmls)), (100, 100), "one JPEG and one XML per image")
is_(sorted(n for n in m if m[n][0].isfile()),
    sorted(jpgs + xmls + [ROOT + "labels.txt"] + [ROOT + "ImageSets/Main/%s.txt" % s for s in splits]),
    "nothing else in the tar")

# ---- labels, boxes and pixels against the IDX files
train_x, train_y = read_idx(FMNIST + "/train-images-idx3-ubyte.gz"), read_idx(FMNIST + "/train-labels-idx1-ubyte.gz")
test_x, test_y = read_idx(FMNIST + "/t10k-images-idx3-ubyte.gz"), read_idx(FMNIST + "/t10k-labels-idx1-ubyte.gz")
src = {"train": (train_x, train_y), "t10k": (test_x, test_y)}
rows = [line.split("\t") for line in open(os.path.join(d, "a.tsv")).read().splitlines()]
is_(rows[0], ["id", "split", "cell", "source", "item", "label"], "manifest header")
placed = {}
for r in rows[1:]:
    placed.setdefault(r[0], []).append(r)
split_of = {i: s for s in splits for i in splits[s]}
problems = []
for id_ in ids:
    items = placed.get(id_, [])
    if not items:
        problems.append("%s: no item" % id_)
        continue
    img = np.asarray(Image.open(io.BytesIO(m[ROOT + "JPEGImages/%s.jpg" % id_][1])))
    if img.shape != (56, 56):
        problems.append("%s: shape %s" % (id_, img.shape))
        continue
    root = ET.fromstring(m[ROOT + "Annotations/%s.xml" % id_][1])
    objs = [(o.findtext("name"), o.findtext("difficult"),
             tuple(int(o.find("bndbox").findtext(k)) for k in ("xmin", "ymin", "xmax", "ymax")))
            for o in root.iter("object")]
    want, filled = [], set()
    for _, split, cell, source, item, label in items:
        cell, item = int(cell), int(item)
        x, y = src[source]
        if split != split_of[id_]:
            problems.append("%s: manifest split %s" % (id_, split))
        lo, hi = {"train": ("train", 0, 50000), "val": ("train", 50000, 60000), "test": ("t10k", 0, 10000)}[split][1:]
        if source != {"train": "train", "val": "train", "test": "t10k"}[split] or not lo <= item < hi:
            problems.append("%s: item %s %d outside the %s range" % (id_, source, item, split))
        if LABELS[y[item]] != label:
            problems.append("%s: item %d has class %s, manifest says %s" % (id_, item, LABELS[y[item]], label))
        r0, c0 = (cell // 2) * 28, (cell % 2) * 28
        want.append((label, "0", (c0 + 1, r0 + 1, c0 + 28, r0 + 28)))
        diff = np.abs(img[r0:r0 + 28, c0:c0 + 28].astype(int) - x[item].astype(int)).mean()
        if diff > 4:
            problems.append("%s cell %d: mean |pixel - item %d| = %.1f" % (id_, cell, item, diff))
        filled.add(cell)
    for cell in set(range(4)) - filled:
        r0, c0 = (cell // 2) * 28, (cell % 2) * 28
        if img[r0:r0 + 28, c0:c0 + 28].mean() > 2:
            problems.append("%s: empty cell %d is not black" % (id_, cell))
    if sorted(objs) != sorted(want):
        problems.append("%s: XML objects %s, manifest %s" % (id_, objs, want))
    if root.findtext("filename") != id_ + ".jpg" or root.findtext("size/width") != "56":
        problems.append("%s: XML filename or size" % id_)
ok(not problems, "every image: XML objects, boxes, labels and pixels are the items placed", "\n".join(problems[:10]))

# ---- options
s = mosaic("s.tar", "--train", 4, "--val", 0, "--test", 0, "--size", 40, "--cell-prob", 1, "--quality", 95)
ms = members(s)
img = Image.open(io.BytesIO(ms[ROOT + "JPEGImages/000001.jpg"][1]))
is_((img.size, img.mode), ((40, 40), "L"), "--size 40: grey 40x40 images")
xml = ms[ROOT + "Annotations/000001.xml"][1].decode()
is_(len(re.findall("<object>", xml)), 4, "--cell-prob 1: four objects per image")
ok("<xmax>40</xmax>" in xml and "<xmin>21</xmin>" in xml, "--size 40: cell boxes of 20 pixels")
is_(ms[ROOT + "ImageSets/Main/val.txt"][1], b"", "--val 0: an empty val.txt")

n = 3000
p = mosaic("p.tar", "--train", n, "--val", 0, "--test", 0, "--manifest", os.path.join(d, "p.tsv"))
per_image = (len(open(os.path.join(d, "p.tsv")).read().splitlines()) - 1) / n
expect = 4 * 0.7 / (1 - 0.3 ** 4)   # items per image given at least one
ok(abs(per_image - expect) < 0.05, "--cell-prob 0.7: %.3f items per image (expected %.3f)" % (per_image, expect))
q = members(mosaic("q.tar", "--train", 50, "--val", 0, "--test", 0, "--quality", 30))
sz_lo = sum(len(q[n_][1]) for n_ in q if n_.endswith(".jpg"))
q = members(mosaic("q.tar", "--train", 50, "--val", 0, "--test", 0, "--quality", 95))
sz_hi = sum(len(q[n_][1]) for n_ in q if n_.endswith(".jpg"))
ok(sz_lo < sz_hi, "--quality 30 writes smaller JPEGs than 95 (%d < %d bytes)" % (sz_lo, sz_hi))

rc, out, err = run([MOSAIC, "--train", "3", "--val", "1", "--test", "1", "-q"])
ok(rc == 0 and out.startswith(b"VOCdevkit/") and len(out) % 512 == 0, "writes the tar to standard output", err)
rc, out, err = run([MOSAIC, "--version"])
ok(rc == 0 and out.strip() != b"", "--version", err)
rc, out, err = run([MOSAIC, "--help"])
ok(rc == 0 and all(o in out.decode() for o in ("--train", "--val", "--test", "--size", "--cell-prob",
                                               "--quality", "--seed", "--data", "--manifest", "[20000]", "[0.7]")),
   "--help lists every option with its default", err)
done()
