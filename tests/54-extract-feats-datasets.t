#!/usr/bin/python3
"""extract-feats over the data sets the way users have them (the original
VOC2007 tars, an unpacked VOCdevkit, COCO as a zip with its instances JSON, a
TSV list; built by tests/data/make_datasets.py): labels, ignore (VOC
"difficult"), split, index, ids and label names in the output are what
Python's own parse of the same files says; the tar and the folder give the
same features; COCO's unannotated image is counted in a warning."""
import json
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "st"))
sys.path.insert(0, os.path.join(HERE, "extract-feats"))
import models  # noqa: E402
import stwrite as st  # noqa: E402
from tap import BIN as BIN_DIR, done, ok, run, scratch  # noqa: E402

BIN = os.path.join(BIN_DIR, "extract-feats")


def expected(path):
    """tests/data's expectation: (label names, rows of (index, id, split, labels, ignore))."""
    with open(path) as fp:
        lines = fp.read().splitlines()
    names = lines[1].split("\t") if len(lines) > 1 and lines[1] else []
    rows = []
    for line in lines[2:]:
        f = line.split("\t")
        rows.append((int(f[0]), f[1], int(f[2]), [int(c) for c in f[3]], [int(c) for c in f[4]]))
    return names, rows


D = scratch("ef-datasets.")
rc, _, err = run(["/usr/bin/python3", os.path.join(HERE, "data", "make_datasets.py"), D], timeout=None)
ok(rc == 0, "data sets built (%s)" % err.strip()[-200:])
models.export(D, "resnet18", np.zeros((1, 3, 32, 32), np.float32))
model = os.path.join(D, "resnet18.st")

cases = [("voc-all", "voc:%s/VOCtrainval_06-Nov-2007.tar,%s/VOCtest_06-Nov-2007.tar" % (D, D), "VOC2007 tars"),
         ("voc-all", "voc:%s/voc-folder/VOCdevkit" % D, "VOCdevkit folder"),
         ("coco", "coco:%s/coco/val2014.zip,%s/coco/annotations/instances_val2014.json" % (D, D), "COCO zip + JSON"),
         ("list", "list:%s/list.tsv" % D, "TSV list")]
feats = {}
for expect, spec, what in cases:
    out = os.path.join(D, "%s.out.st" % what.replace(" ", "_"))
    rc, _, err = run([BIN, "-t", "2", "--batch", "3", "--resize", "32", "--crop", "32", "--model", model,
                      "--dataset", spec, "-o", out], timeout=None)
    if not ok(rc == 0, "%s: runs (%s)" % (what, err.strip()[-200:])):
        continue
    t, meta = st.read(out)
    names, rows = expected(os.path.join(D, "expect", expect + ".tsv"))
    n = len(rows)
    ok(t["feat.08"][1].shape == (n, 64), "%s: %d rows of features" % (what, n))
    ok("logits" not in t and "logits are left out" in err,
       "%s: a head of labels a..e over other labels is left out, with a warning" % what, err)
    ok(json.loads(meta["labels"]) == names, "%s: label names in column order" % what)
    ok(np.array_equal(t["labels"][1], np.array([r[3] for r in rows], np.uint8).reshape(n, -1)),
       "%s: labels as Python reads the annotations" % what)
    ok(np.array_equal(t["ignore"][1], np.array([r[4] for r in rows], np.uint8).reshape(n, -1)),
       "%s: ignore (difficult objects)" % what)
    ok(list(t["split"][1]) == [r[2] for r in rows] and list(t["index"][1]) == [r[0] for r in rows],
       "%s: split and index" % what)
    ok(json.loads(meta["ids"]) == [r[1] for r in rows], "%s: ids" % what)
    if what.startswith("COCO"):
        ok("without annotations" in err, "COCO: the image without annotations is counted in a warning")
    feats[what] = t
if "VOC2007 tars" in feats and "VOCdevkit folder" in feats:
    a, b = feats["VOC2007 tars"], feats["VOCdevkit folder"]
    ok(all(np.array_equal(a[k][1], b[k][1]) for k in a), "the tars and the folder give identical outputs")
done()
