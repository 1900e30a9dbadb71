#!/usr/bin/python3
"""extract-feats --shard I/N and tensors cat's check of a set of shards.

On every kind of input extract-feats reads (the VOC2007 tars, COCO as a zip
with its JSON, a TSV list, tensor:FILE; built by tests/data/make_datasets.py):
for N = 1..5, N = the number of batches and N above it (some shards empty:
valid files of 0 rows), shard I holds the rows of batches floor(I*B/N) to
floor((I+1)*B/N)-1 of the B batches (its ids, index and metadata 'shard' =
I/N), and tensors cat of shards 0..N-1 is the unsharded file byte for byte: the
same header but for 'history', the same data section. --limit and --skip-bad shard what they keep; the progress
bar counts the shard's rows; a bad --shard is refused in one line with no
output; tensors cat refuses a missing, repeated, misplaced shard, shards of two
splits and a whole file among shards, and joins a partial set under
--meta shard=...; a run of the fixture's ResNet-18 gives the same bytes, logits
included, at 1, 2 and 3 threads and in shards at 1 thread."""
import json
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "st"))
sys.path.insert(0, os.path.join(HERE, "extract-feats"))
import models  # noqa: E402
from shards import header_and_data  # noqa: E402
import stwrite as st  # noqa: E402
from tap import BIN as BIN_DIR, done, ok, run, scratch, expect_failure, tensors  # noqa: E402

BIN = os.path.join(BIN_DIR, "extract-feats")
D = scratch("ef-shard.")
rc, _, err = run(["/usr/bin/python3", os.path.join(HERE, "data", "make_datasets.py"), D], timeout=None)
ok(rc == 0, "data sets built (%s)" % err.strip()[-200:])
rng = np.random.default_rng(5)
x = rng.standard_normal((7, 3, 32, 32)).astype(np.float32)
models.export(D, "resnet18", x[:1], width=4)
model = os.path.join(D, "resnet18.st")
tensor_in = os.path.join(D, "images.st")
st.write(tensor_in, {"images": x, "labels": (rng.random((7, 5)) < 0.4).astype(np.uint8),
                     "index": np.arange(10, 17, dtype=np.int64)},
         {"labels": json.dumps(list("abcde")), "ids": json.dumps(["t%d" % i for i in range(7)])})


BATCH = 2


def block(i, n, rows):
    """shard i of n of rows samples, in whole batches: (first row, end row)"""
    groups = (rows + BATCH - 1) // BATCH
    return min(i * groups // n * BATCH, rows), min((i + 1) * groups // n * BATCH, rows)


def extract(spec, out, *more):
    return run([BIN, "-q", "-t", "2", "--batch", str(BATCH), "--resize", "32", "--crop", "32", "--model", model,
                "--dataset", spec, "-o", out] + list(more), timeout=None)


def check_kind(what, spec, ns, *more, exact=True):
    """Unsharded run, then every N of ns(rows): shards and their join; exact:
    each shard's rows are checked too (not under --skip-bad, which leaves
    some out)."""
    ref = os.path.join(D, "ref.st")
    rc, _, err = extract(spec, ref, *more)
    if not ok(rc == 0, "%s: the unsharded run (%s)" % (what, err.strip()[-200:])):
        return
    rt, rmeta = st.read(ref)
    rows = len(json.loads(rmeta["ids"]))
    with_logits.append("logits" in rt)
    want_header, want_data = header_and_data(ref)
    for n in ns(rows):
        shards, sizes, bad = [], [], []
        for i in range(n):
            out = os.path.join(D, "shard-%d-of-%d.st" % (i, n))
            # one thread where the unsharded run has two: the bits must not depend on it
            rc, _, err = extract(spec, out, "--shard", "%d/%d" % (i, n), "-t", "1", *more)
            if rc:
                bad.append("%d/%d: %s" % (i, n, err.strip()))
                continue
            t, meta = st.read(out)
            a, b = block(i, n, rows)
            ids = json.loads(meta["ids"])
            if meta.get("shard") != "%d/%d" % (i, n) or exact and (
                    ids != json.loads(rmeta["ids"])[a:b] or not np.array_equal(t["index"][1], rt["index"][1][a:b])
                    or any(t[k][1].shape[0] != b - a for k in t)):
                bad.append("%d/%d: rows %s, metadata shard %s" % (i, n, t["index"][1], meta.get("shard")))
            shards.append(out)
            sizes.append(len(ids))
        ok(not bad, "%s, N = %d: every shard runs%s (sizes %s)" % (
            what, n, " and holds its batches of %d rows" % rows if exact else ", 'shard' = I/N", sizes), "\n".join(bad))
        joined = os.path.join(D, "joined.st")
        rc, _, err = tensors("cat", *shards, "-o", joined)
        if ok(rc == 0, "%s, N = %d: tensors cat of the shards (%s)" % (what, n, err.strip())):
            header, data = header_and_data(joined)
            ok(header == want_header and data == want_data,
               "%s, N = %d: the join is the unsharded file byte for byte (header but history, data)" % (what, n),
               "header %s\nwant %s" % (header.get("__metadata__"), want_header.get("__metadata__")))
        for p in shards + [joined]:
            os.remove(p)


with_logits = []


def every_n(rows):
    batches = (rows + BATCH - 1) // BATCH
    return sorted({1, 2, 3, 4, 5, batches, batches + 2})


check_kind("VOC2007 tars", "voc:%s/VOCtrainval_06-Nov-2007.tar,%s/VOCtest_06-Nov-2007.tar" % (D, D), every_n)
check_kind("COCO zip + JSON", "coco:%s/coco/val2014.zip,%s/coco/annotations/instances_val2014.json" % (D, D), every_n)
check_kind("TSV list", "list:%s/list.tsv" % D, every_n)
check_kind("tensor:FILE", "tensor:" + tensor_in, every_n)
check_kind("tensor:FILE --limit 5", "tensor:" + tensor_in, lambda rows: [2, 3], "--limit", "5")
check_kind("VOC --splits test --limit 4", "voc:%s/VOCtest_06-Nov-2007.tar" % D, lambda rows: [3], "--limit", "4")
# The head's logits at another thread count: the fixture's ResNet-18 (its labels
# kept, so logits are written) over 40 images in batches of 13, where each thread's
# share of a batch gives OpenBLAS's product another row count
fix_in = os.path.join(D, "fixture-images.st")
fix_labels = json.loads(st.read(os.path.join(HERE, "..", "fixtures", "fmnist-resnet18.safetensors"))[1]["labels"])
st.write(fix_in, {"images": rng.random((40, 3, 56, 56)).astype(np.float32)}, {"labels": json.dumps(fix_labels)})


def fixture_run(out, *more):
    return run([BIN, "-q", "--batch", "13", "--model", os.path.join(HERE, "..", "fixtures", "fmnist-resnet18.safetensors"),
                "--dataset", "tensor:" + fix_in, "-o", out] + list(more), timeout=None)


runs = {t: os.path.join(D, "fixture-t%d.st" % t) for t in (1, 2, 3)}
rcs = [fixture_run(runs[t], "-t", str(t))[0] for t in runs]
for i in range(3):
    rcs.append(fixture_run(os.path.join(D, "fixture-%d.st" % i), "-t", "1", "--shard", "%d/3" % i)[0])
rcs.append(tensors("cat", *[os.path.join(D, "fixture-%d.st" % i) for i in range(3)], "-o", os.path.join(D, "fixture-join.st"))[0])
if ok(not any(rcs), "the fixture's ResNet-18 at 1, 2 and 3 threads and in 3 shards at 1 thread, joined (%s)" % rcs):
    want = header_and_data(runs[2])
    ok("logits" in st.read(runs[2])[0], "its outputs hold logits")
    for t in (1, 3):
        ok(header_and_data(runs[t]) == want, "--threads %d: the same bytes as --threads 2 (logits included)" % t)
    ok(header_and_data(os.path.join(D, "fixture-join.st")) == want,
       "3 shards at 1 thread, joined: the same bytes as one run at 2 threads (logits included)")

ok(any(with_logits), "the joins above include logits (%d of %d kinds): the head at 1 thread in shards = 2 threads"
   % (sum(with_logits), len(with_logits)))

# --skip-bad: a shard drops its own bad images; one whose every image is bad is 0 rows
bad_list = os.path.join(D, "bad-list.tsv")
for k in (1, 2):
    open(os.path.join(D, "broken%d.jpg" % k), "wb").write(b"\xff\xd8 not a jpeg")
with open(bad_list, "w") as fp:
    fp.write("broken1.jpg\tdog\nbroken2.jpg\tcat\nimgs/a.jpg\tdog,cat\ttrain\nimgs/sub/b.jpg\tcat\tval\n"
             "imgs/c.jpg\tbird\n")
check_kind("TSV list with 2 bad images of 5, --skip-bad", "list:" + bad_list, lambda rows: [2, 3, 5], "--skip-bad",
           exact=False)
# only the shard's images are read: shard 1/2 of that list runs without --skip-bad, shard 0/2 stops on its own
out = os.path.join(D, "good-half.st")
rc, _, err = extract("list:" + bad_list, out, "--shard", "1/2")
ok(rc == 0 and st.read(out)[0]["index"][1].tolist() == [2, 3, 4] and "broken" not in err,
   "shard 1/2 of a list whose bad images are in shard 0 decodes none of them", err)
out = os.path.join(D, "bad-half.st")
rc, _, err = extract("list:" + bad_list, out, "--shard", "0/2")
ok(rc == 1 and err.rstrip("\n").split("\n")[-1].startswith("extract-feats: image 'broken1.jpg'")
   and not os.path.exists(out), "shard 0/2 of it stops on its first bad image, no output", err)
out = os.path.join(D, "allbad.st")
rc, _, err = extract("list:" + bad_list, out, "--skip-bad", "--shard", "0/2")
t, meta = st.read(out) if rc == 0 else ({}, {})
ok(rc == 0 and t and all(v[1].shape[0] == 0 for v in t.values()) and json.loads(meta["ids"]) == []
   and "2 of 2 images skipped" in err, "--skip-bad: a shard of bad images only is a file of 0 rows, with the count")
os.remove(out) if os.path.exists(out) else None

# the progress bar counts the shard's rows; the log names them
voc = "voc:%s/VOCtrainval_06-Nov-2007.tar,%s/VOCtest_06-Nov-2007.tar" % (D, D)
rc, _, err = run([BIN, "--progress", "-t", "1", "--batch", "4", "--resize", "32", "--crop", "32", "--model", model, "--dataset", voc,
                  "--shard", "1/3", "-o", out], timeout=None)
ok(rc == 0 and " 4/4 images" in err and "/12 images" not in err and "shard 1/3: samples 4 to 7 of 12" in err,
   "the progress bar counts shard 1/3's 4 images of 12 (batches of 4); the log says which", err)
rc, _, err = run([BIN, "-t", "1", "--resize", "32", "--crop", "32", "--model", model, "--dataset", voc,
                  "--shard", "0/14", "-o", out], timeout=None)
ok(rc == 0 and "leave this shard none" in err and st.read(out)[0]["feat.00"][1].shape[0] == 0,
   "an empty shard is said so, and written", err)

# bad specs: one line, exit 2, no output
out = os.path.join(D, "bad.st")
for spec, needle in [("", "expected I/N"), ("1", "expected I/N"), ("1/", "expected I/N"), ("/3", "expected I/N"),
                     ("3/3", "less than N"), ("4/3", "less than N"), ("0/0", "1 or more"), ("-1/3", "expected I/N"),
                     ("1/-3", "expected I/N"), ("+1/3", "expected I/N"), ("1/3x", "expected I/N"),
                     (" 1/3", "expected I/N"), ("1 /3", "expected I/N"), ("1/ 3", "expected I/N"),
                     ("1.0/3", "expected I/N"), ("01/3", "expected I/N"), ("1/03", "expected I/N"),
                     ("1/3/5", "expected I/N"), ("0x1/3", "expected I/N"), ("1/1000000001", "expected I/N"),
                     ("1/99999999999999999999", "expected I/N"), ("a/b", "expected I/N"), ("1\n/3", "expected I/N")]:
    expect_failure(BIN, ["--model", model, "--dataset", voc, "--shard", spec], 2, ("--shard", needle), out=out,
                   desc="--shard %r" % spec)

# tensors cat's check of the set
parts = {}
for n in (3, 4):
    for i in range(n):
        parts[i, n] = os.path.join(D, "p%d-%d.st" % (i, n))
        rc, _, err = extract("tensor:" + tensor_in, parts[i, n], "--shard", "%d/%d" % (i, n))
        ok(rc == 0, "shard %d/%d of the tensor input" % (i, n), err)
whole = os.path.join(D, "whole.st")
extract("tensor:" + tensor_in, whole)
cat_out = os.path.join(D, "cat.st")
for args, needles, what in [
        ([parts[0, 3], parts[2, 3]], ("shard 1/3 is missing", "is shard 2/3"), "a missing shard in the middle"),
        ([parts[1, 3], parts[2, 3]], ("shard 0/3 is missing",), "shard 0 missing"),
        ([parts[0, 3], parts[1, 3]], ("shard 2/3 is missing", "2 of 3"), "the last shard missing"),
        ([parts[0, 4], parts[1, 4]], ("shards 2/4 to 3/4 are missing",), "the last two shards missing"),
        ([parts[0, 3], parts[1, 3], parts[1, 3], parts[2, 3]], ("shard 1/3 again or out of order",), "a repeated shard"),
        ([parts[0, 3], parts[2, 3], parts[1, 3]], ("shard 1/3 is missing",), "shards out of order"),
        ([parts[0, 3], parts[1, 3], parts[2, 4], parts[3, 4]], ("one of 4", "one of 3"), "shards of two splits"),
        ([parts[0, 3], parts[1, 3], parts[2, 3], whole], ("no metadata 'shard'", "a whole file"), "a whole file after shards"),
        ([whole, parts[0, 3]], ("no metadata 'shard'",), "a whole file before shards")]:
    expect_failure("tensors", ["cat"] + args + ["-o", cat_out], 1, needles, out=cat_out, desc="tensors cat: " + what)
doctored = os.path.join(D, "doctored.st")
rc, _, err = tensors("meta", parts[0, 3], "--set", "shard=0/3 ", "-o", doctored)
expect_failure("tensors", ["cat", doctored, parts[1, 3], parts[2, 3], "-o", cat_out], 1,
               ("metadata 'shard'", "expected I/N"), out=cat_out, desc="tensors cat: a malformed 'shard'")
rc, _, err = tensors("cat", parts[0, 3], parts[1, 3], "--meta", "shard=0-1/3", "-o", cat_out)
t, meta = st.read(cat_out) if rc == 0 else ({}, {})
ok(rc == 0 and meta.get("shard") == "0-1/3" and t["index"][1].tolist() == [10, 11, 12, 13],
   "tensors cat --meta shard=...: a partial join, on purpose, carries the given value", err)
rc, _, err = tensors("cat", parts[0, 3], parts[1, 3], parts[2, 3], "-o", cat_out)
ok(rc == 0 and "shard" not in st.read(cat_out)[1] and header_and_data(cat_out) == header_and_data(whole),
   "tensors cat of shards 0..2 of 3: no 'shard' key, the whole file", err)
one = os.path.join(D, "one.st")
rc, _, err = extract("tensor:" + tensor_in, one, "--shard", "0/1")
rc2, _, err2 = tensors("cat", one, "-o", cat_out)
ok(rc == 0 and st.read(one)[1].get("shard") == "0/1" and rc2 == 0 and header_and_data(cat_out) == header_and_data(whole),
   "--shard 0/1 is the whole file with 'shard' 0/1; its cat alone drops the key", err + err2)
done()
