#!/usr/bin/python3
"""train-probe: bad inputs (one clear line naming the tensor, exit 1 or 2, no
output file left) and the options around training: --apply, --snapshots,
--patience, --keep, threads, layer names, pipes."""
import json
import os
import pty
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "st"))
import stwrite as st  # noqa: E402
from tap import ASAN, BIN, done, ok, peak_rss, run, scratch, skip, expect_failure  # noqa: E402

TOOL = BIN + "/train-probe"


def train_probe(args, stdin=None, text=False, timeout=None):
    """train-probe with args: (exit status, stdout, stderr text)."""
    return run([TOOL] + args, stdin=stdin, text=text, timeout=timeout)


rng = np.random.default_rng(2)
N, K = 300, 4
split = ((np.arange(N) % 5 == 4) + (np.arange(N) % 5 == 3) * 2).astype(np.uint8)
latent = rng.standard_normal((N, 6)).astype(np.float32)
labels = (latent[:, :K] > 0.2).astype(np.uint8)
feats = {"feat.%02d" % i: (latent @ rng.standard_normal((6, d)) + rng.standard_normal((N, d))).astype(np.float32)
         for i, d in enumerate((5, 20, 9))}
logits = rng.standard_normal((N, K)).astype(np.float32)
GOOD = dict(feats, labels=labels, split=split, logits=logits)

tmp = scratch()


def path(name):
    return os.path.join(tmp, name)


def bad(what, tensors, args=(), expect=("",), code=1, raw=None):
    """tensors (or raw bytes) as input: exit `code`, one line naming the cause, no output."""
    inp, out = path("bad.st"), path("bad-out.st")
    if raw is not None:
        open(inp, "wb").write(raw)
    else:
        st.write(inp, tensors)
    expect_failure(TOOL, list(args) + ["-o", out, inp], code, expect, out=out, desc=what)


with_n = dict(GOOD, labels=labels[:-1], split=split[:-1], logits=logits[:-1])
bad("labels and features with different N", with_n, expect=("feat.00", "[299,*]"))
bad("no training rows", dict(GOOD, split=np.full(N, 2, np.uint8)), expect=("split", "no training rows"))
nan = feats["feat.01"].copy()
nan[7, 3] = np.nan
bad("NaN in a feature", dict(GOOD, **{"feat.01": nan}), expect=("feat.01", "nan"))
inf = feats["feat.02"].copy()
inf[0, 0] = np.inf
bad("Inf in a feature", dict(GOOD, **{"feat.02": inf}), expect=("feat.02", "inf"))
bad("K = 0", dict(GOOD, labels=np.zeros((N, 0), np.uint8)), expect=("labels", "K = 0"))
s3 = split.copy()
s3[5] = 3
bad("split value out of range", dict(GOOD, split=s3), expect=("split", "value 3", "row 5"))
bad("missing labels", {k: v for k, v in GOOD.items() if k != "labels"}, expect=("missing tensor 'labels'",))
st.write(path("nohead.st"), {k: v for k, v in GOOD.items() if k != "logits"})
rc, _, err = train_probe(["--epochs", "2", "-o", path("nohead-out.st"), path("nohead.st")])
ok(rc == 0 and "no 'logits'" in err and st.read(path("nohead-out.st"))[0]["prob"][1].shape[0] == len(feats),
   "no logits (extract-feats dropped a head of other labels): the probe layers only, said on stderr")
bad("logits of the wrong shape", dict(GOOD, logits=logits[:, :2]), expect=("logits", "[300,2]"))
bad("labels not 0/1", dict(GOOD, labels=labels * 2), expect=("labels", "value 2"))
bad("integer features", dict(GOOD, **{"feat.01": np.zeros((N, 3), np.int32)}), expect=("feat.01", "I32"))
bad("split of the wrong dtype", dict(GOOD, split=split.astype(np.int64)), expect=("split", "I64"))
bad("no feat tensors", {"labels": labels, "split": split, "logits": logits}, expect=("no feat.NN",))
bad("a feature with 0 columns", dict(GOOD, **{"feat.00": np.zeros((N, 0), np.float32)}), expect=("feat.00",))
bad("a badly named feat tensor", dict(GOOD, **{"feat.x": feats["feat.00"]}), expect=("feat.x",))
bad("--patience without val rows", dict(GOOD, split=(split == 2).astype(np.uint8) * 2),
    args=["--patience", "2"], expect=("--patience", "split"))
whole = st.dumps(GOOD)
bad("truncated file", None, raw=whole[:len(whole) - 100])
bad("empty file", None, raw=b"")
bad("--epochs 0", GOOD, args=["--epochs", "0"], code=2, expect=("--epochs",))
bad("--snapshots naming no layer", GOOD, args=["--snapshots", "7"], code=2, expect=("--snapshots", "'7'"))
bad("--apply with training options", GOOD, args=["--apply", path("x"), "--standardize"], code=2)

# --order: a row that is not a training row
st.write(path("order.st"), {"order": np.tile(np.flatnonzero(split == 0), (2, 1)).astype(np.int64)})
o2 = np.tile(np.flatnonzero(split == 0), (2, 1)).astype(np.int64)
o2[1, 0] = np.flatnonzero(split == 2)[0]
st.write(path("order-bad.st"), {"order": o2})
bad("--order with a test row", GOOD, args=["--epochs", "2", "--order", path("order-bad.st")], expect=("order", "epoch 1"))
bad("--order with too few epochs", GOOD, args=["--epochs", "3", "--order", path("order.st")], expect=("order", "epochs"))

# a terminal as input
inp = path("good.st")
META = {"layers": '["stem","block1","block2"]', "labels": '["a","b","c","d"]', "layer_flops": "[1,2,3,10]"}
st.write(inp, GOOD, META)
master, slave = pty.openpty()
rc, _, err = train_probe(["-o", path("tty-out.st")], stdin=slave, timeout=30)
os.close(slave)
os.close(master)
ok(rc == 2 and "terminal" in err, "refuses a terminal as input: " + err.strip().splitlines()[0])

# ---- options around training ----
out = path("out.st")
rc, _, err = train_probe(["-q", "--epochs", "6", "--snapshots", "block1,0", "--snapshot-every", "3", "-o", out, inp])
ok(rc == 0 and err == "", "trains quietly: " + err)
res, meta = st.read(out)
prob = res["prob"][1]
ok(prob.shape == (4, N, K) and res["loss"][1].shape == (3, 6), "prob [4,N,K] and loss [3,6]")
ok(json.loads(meta["layers"]) == ["stem", "block1", "block2", "head"], "layer names from the input's metadata")
ok(json.loads(meta["layer_flops"]) == [1, 2, 3, 10], "layer_flops kept")
st.write(path("subset.st"), {k: v for k, v in GOOD.items() if k != "feat.01"}, META)
train_probe(["-q", "--epochs", "1", "-o", path("subset-out.st"), path("subset.st")])
meta_s = st.read(path("subset-out.st"))[1]
ok(json.loads(meta_s["layers"]) == ["stem", "block2", "head"] and json.loads(meta_s["layer_flops"]) == [1, 3, 10],
   "a subset of the taps keeps its names and FLOPs: %s %s" % (meta_s["layers"], meta_s["layer_flops"]))
ok(json.loads(meta["snapshot_epochs"]) == [3, 6] and json.loads(meta["snapshot_layers"]) == ["block1", "stem"],
   "snapshot metadata: %s %s" % (meta.get("snapshot_epochs"), meta.get("snapshot_layers")))
pe = res["prob_epochs"][1]
ok(pe.shape == (2, 2, N, K) and np.array_equal(pe[1, 0], prob[1]) and np.array_equal(pe[1, 1], prob[0]),
   "the last snapshot is the final prob")
ok(np.abs(pe[0, 0] - prob[1]).max() > 1e-4, "the first snapshot differs from the final one")
ok(all(res["loss"][1][l, -1] < res["loss"][1][l, 0] for l in range(3)), "the loss falls in every layer")
hist = json.loads(meta["history"])
ok(len(hist) == 1 and hist[0].startswith("train-probe"), "history records the command line")
ok("labels" in res and "split" in res and "feat.00" not in res, "context forwarded, features dropped")

rc, _, err = train_probe(["-q", "--epochs", "6", "--apply", out, "-o", path("applied.st"), inp])
app = st.read(path("applied.st"))[0]["prob"][1] if rc == 0 else None
ok(app is not None and np.abs(app - prob).max() < 1e-6, "--apply reproduces prob: " + err.strip())

pr = st.read(out)[0]
st.write(path("probes-missing.st"), {k: v for k, v in pr.items() if not k.startswith("probe.02")})
bad("--apply without a layer's probe", GOOD, args=["--apply", path("probes-missing.st")],
    expect=("probes-missing.st", "missing tensor 'probe.02.weight'"))
st.write(path("probes-wide.st"), dict(pr, **{"probe.01.weight": np.zeros((K, 21), np.float32)}))
bad("--apply with a probe of another width", GOOD, args=["--apply", path("probes-wide.st")],
    expect=("probe.01.weight", "[4,21]", "[4,20]"))

rc, _, _ = train_probe(["-q", "--epochs", "4", "--standardize", "-o", path("std.st"), inp])
res_s = st.read(path("std.st"))[0]
rc2, _, _ = train_probe(["-q", "--apply", path("std.st"), "-o", path("std-applied.st"), inp])
ok(rc == 0 and rc2 == 0 and "probe.01.mean" in res_s and
   np.abs(st.read(path("std-applied.st"))[0]["prob"][1] - res_s["prob"][1]).max() < 1e-6,
   "--standardize stores mean/scale and --apply uses them")

rc1, _, _ = train_probe(["-q", "--epochs", "3", "-t", "1", "-o", path("t1.st"), inp])
rc2, _, _ = train_probe(["-q", "--epochs", "3", "-t", "2", "-o", path("t2.st"), inp])
ok(rc1 == 0 and rc2 == 0 and
   np.array_equal(st.read(path("t1.st"))[0]["prob"][1], st.read(path("t2.st"))[0]["prob"][1]),
   "one thread or two: the same prob")
train_probe(["-q", "--epochs", "3", "--seed", "1", "-o", path("s1.st"), inp])
ok(not np.array_equal(st.read(path("s1.st"))[0]["prob"][1], st.read(path("t1.st"))[0]["prob"][1]),
   "another seed, other probes")

rc, _, _ = train_probe(["-q", "--epochs", "40", "--lr", "0.5", "--patience", "2", "-o", path("pat.st"), inp])
res_p, meta_p = st.read(path("pat.st"))
best = [int(b) for b in json.loads(meta_p["best_epoch"])]
loss = res_p["loss"][1]
ok(rc == 0 and len(best) == 3 and all(1 <= b <= 40 for b in best), "best_epoch metadata: %s" % best)
ok(any(np.isnan(loss[l]).any() for l in range(3)), "an early stop leaves NaN in loss")

train_probe(["-q", "--epochs", "2", "--keep", "feat.0[12]", "-o", path("keep.st"), inp])
kept = st.read(path("keep.st"))[0]
ok("feat.01" in kept and "feat.02" in kept and "feat.00" not in kept and
   np.array_equal(kept["feat.01"][1], feats["feat.01"]), "--keep forwards the matching features")

with open(inp, "rb") as fin:
    rc, piped, _ = train_probe(["-q", "--epochs", "2", "--no-head"], stdin=fin)
ok(rc == 0 and st.loads(piped)[0]["prob"][1].shape == (3, N, K), "pipe in, pipe out; --no-head")

# the input file is mapped, not read: writes (standardisation) must stay private,
# and a tensor at an offset not a multiple of 4 must still be read right
odd = {"a.odd": np.arange(3, dtype=np.uint8)}
odd.update(GOOD)
st.write(path("odd.st"), odd)
before = open(path("odd.st"), "rb").read()
rc, _, _ = train_probe(["-q", "--epochs", "2", "--standardize", "-o", path("odd-out.st"), path("odd.st")])
with open(path("odd.st"), "rb") as fin:
    rc2, piped, _ = train_probe(["-q", "--epochs", "2", "--standardize"], stdin=fin)
ok(rc == 0 and rc2 == 0 and
   np.array_equal(st.read(path("odd-out.st"))[0]["prob"][1], st.loads(piped)[0]["prob"][1]),
   "a mapped file with misaligned tensors gives what a pipe gives")
ok(open(path("odd.st"), "rb").read() == before, "the input file is left unchanged")

# one layer in memory per training thread, not the whole input (issue 14):
# 12 layers of 16 MB, -t 1, --standardize; the peak RSS of the process must stay
# under half the features (before: all of them, mapped copy-on-write and
# standardised in place). Not under ASan, whose quarantine keeps freed copies.
big = {"feat.%02d" % i: rng.random((4000, 1024), dtype=np.float32) for i in range(12)}
big.update(labels=(rng.random((4000, K)) < 0.3).astype(np.uint8), split=(np.arange(4000) % 4 == 3).astype(np.uint8) * 2)
st.write(path("big.st"), big)
fbytes = 12 * 4000 * 1024 * 4
del big
status, peak = peak_rss([TOOL, "-q", "-t", "1", "--epochs", "1", "--standardize", "-o", path("big-out.st"),
                         path("big.st")])
with open(path("big.st"), "rb") as fin:
    rc2, piped, _ = train_probe(["-q", "-t", "1", "--epochs", "1", "--standardize"], stdin=fin, timeout=600)
ok(status == 0 and rc2 == 0 and
   np.array_equal(st.read(path("big-out.st"))[0]["prob"][1], st.loads(piped)[0]["prob"][1]),
   "12 layers mapped, given back one by one: prob as from a pipe")
if ASAN:
    skip("peak memory under half the features", "ASan's quarantine keeps freed memory")
else:
    ok(peak < fbytes / 2, "peak memory under half the features: %.0f MB of %.0f MB" % (peak / 1e6, fbytes / 1e6))
for f in ("big.st", "big-out.st"):
    os.unlink(path(f))

rc, usage, _ = train_probe(["--help"], text=True)
ok(rc == 0 and "--lr-step N" in usage and "[40]" in usage and "[0.0001]" in usage,
   "--help shows the options with their defaults")
done()
