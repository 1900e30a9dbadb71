#!/usr/bin/python3
"""sinkhorn --shard I/N (issue 14): for N = 1..5, N = the samples and N above
them (empty shards), shards 0..N-1 joined along each tensor's samples axis
(metadata shard_axis; tests/st/shards.py) are the unsharded output, tensor
bytes and metadata, history aside: prob with prob_epochs, the measures, ids,
ignore, index and an empty row under --skip-empty; prob_train alone;
--source/--target with a target [K]; standard input; threads. Errors name
the row of the whole input; bad specs and inputs the cut cannot serve are
refused with one line and no output."""
import json
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "st"))
import shards  # noqa: E402
import stwrite as st  # noqa: E402
from tap import ASAN, BIN, done, expect_failure, is_, ok, run, scratch  # noqa: E402

TOOL = os.path.join(BIN, "sinkhorn")
d = scratch()
rng = np.random.default_rng(33)


def sink(*args, **kw):
    return run([TOOL, "-q"] + [str(a) for a in args], **kw)


def check_join(name, src, nshards, args=(), leave_out=()):
    """ok() when both joins of the N shards are the unsharded output"""
    diff = shards.run_and_join(sink, name, src, nshards, d, args, leave_out)
    return ok(not diff, "%s: the join of %d shard(s) is the unsharded output" % (name, nshards), "\n".join(diff))


# prob [L,N,K] with prob_epochs [S,L',N,K], ignore, index, ids; sample 4 has no label
L, N, K = 3, (6 if ASAN else 7), 5
y = (rng.random((N, K)) < 0.4).astype(np.uint8)
y[:, 0] = 1
y[4] = 0
prob = rng.random((L, N, K)).astype(np.float32)
prob[2, 1] = y[1]                                     # exactly right: distance 0
epochs = rng.random((2, 2, N, K)).astype(np.float32)
ctx = {"labels": y, "ignore": (rng.random((N, K)) < 0.1).astype(np.uint8),
       "split": (np.arange(N) % 3).astype(np.uint8), "index": np.arange(10, 10 + N, dtype=np.int64)}
meta = {"ids": json.dumps(["img%02d" % i for i in range(N)]), "arch": "resnet18",
        "labels": json.dumps(["l%d" % k for k in range(K)])}
src = os.path.join(d, "prob.st")
st.write(src, dict(prob=prob, prob_epochs=epochs, **ctx), meta)
args = ("--skip-empty", "--measure", "chebyshev,js,kl,tv")

for n in [1, 2, 3, 4, 5, N, N + 2]:
    check_join("prob", src, n, args)

# what a shard holds
p = os.path.join(d, "one.st")
rc, _, err = sink(*args, "--shard", "1/3", src, "-o", p)
t, m = st.read(p)
lo, hi = N // 3, 2 * N // 3
is_(t["wdist"][1].shape, (L, hi - lo), "shard 1/3: wdist [L, rows of the block]")
is_(t["wdist_epochs"][1].shape, (2, 2, hi - lo), "shard 1/3: wdist_epochs [S,L',rows]")
is_(t["labels"][1].tolist(), y[lo:hi].tolist(), "shard 1/3: the block's labels")
is_(t["index"][1].tolist(), list(range(10 + lo, 10 + hi)), "shard 1/3: the block's index")
is_(json.loads(m["ids"]), ["img%02d" % i for i in range(lo, hi)], "shard 1/3: the block's ids")
is_(m.get("shard"), "1/3", "shard 1/3: metadata shard")
is_(json.loads(m["shard_axis"]), {"wdist": 1, "cheb": 1, "jsd": 1, "kl": 1, "tv": 1, "wdist_epochs": 2},
    "shard 1/3: shard_axis names each computed tensor's samples axis, not the context's 0")
rc, _, err = sink(*args, src, "-o", p)
ok("shard" not in st.read(p)[1] and "shard_axis" not in st.read(p)[1], "an unsharded output has no shard keys")

# an empty shard (N > samples): a valid file of no rows
p = os.path.join(d, "empty.st")
rc, _, err = sink(*args, "--shard", "0/%d" % (N + 2), src, "-o", p)
t, m = st.read(p) if rc == 0 else ({}, {})
ok(rc == 0 and t["wdist"][1].shape == (L, 0) and t["labels"][1].shape == (0, K) and json.loads(m["ids"]) == [],
   "an empty shard is written with no rows", err)

# threads and standard input do not change a shard
a, b = os.path.join(d, "t1.st"), os.path.join(d, "t2.st")
rc1, _, _ = sink(*args, "-t", "1", "--shard", "2/4", src, "-o", a)
with open(src, "rb") as fp:
    rc2, out, _ = sink(*args, "-t", "2", "--shard", "2/4", "-", stdin=fp)
ta, tb = st.read(a)[0], st.loads(out)[0]
ok(rc1 == 0 and rc2 == 0 and all(ta[k][1].tobytes() == tb[k][1].tobytes() for k in ta),
   "a shard from standard input with 2 threads is the one from a file with 1")

# prob_train [T,L,N,K] alone: wdist_train and wdist_train_adjacent
tsrc = os.path.join(d, "train.st")
st.write(tsrc, {"prob_train": rng.random((3, 2, N, K)).astype(np.float32), "labels": y, "split": ctx["split"]},
         {"checkpoint_epochs": "[1,2,3]"})
for n in [2, 3]:
    check_join("prob_train", tsrc, n, ("--skip-empty", "--max-iter", "5000"))

# --source/--target: the same target [K] for every row; p [2,M,K] cut along M
M = 5
gsrc = os.path.join(d, "pq.st")
st.write(gsrc, {"p": rng.random((2, M, K)).astype(np.float32) + 0.01,
                "q": rng.random(K).astype(np.float32) + 0.01})
for n in [2, 4]:
    check_join("pq", gsrc, n, ("--source", "p", "--target", "q", "--loss", "transport"))

# an error names the row of the whole input: sample 4 has no label
full_err = sink("--measure", "tv", src, "-o", os.path.join(d, "x.st"))[2]
exp = "tensor 'labels' row 4 sums to 0"
expect_failure(TOOL, ["-q", "--shard", "2/3", src, "-o", os.path.join(d, "e.st")], 1, exp, os.path.join(d, "e.st"),
               desc="an empty row in the shard: the row number of the whole input")
ok(exp in full_err, "... as the unsharded run names it", full_err)
rc, _, err = sink("--shard", "0/3", src, "-o", os.path.join(d, "e0.st"))
ok(rc == 0, "a shard without the empty row runs", err)
bad = prob.copy()
bad[1, 5, 2] = np.nan
bsrc = os.path.join(d, "nan.st")
st.write(bsrc, dict(prob=bad, **ctx))
flat = (1 * N + 5) * K + 2
expect_failure(TOOL, ["-q", "--skip-empty", "--shard", "5/%d" % N, bsrc, "-o", os.path.join(d, "e.st")], 1,
               "at flat index %d" % flat, os.path.join(d, "e.st"),
               desc="NaN at [1,5,2]: the flat index in the whole input")

# bad specs: one line, exit 2, no output
out = os.path.join(d, "bad.st")
for spec in ["", "1", "3/3", "4/3", "-1/3", "1/-3", "1/0", "0/0", "a/b", "1/2x", " 1/2", "1/ 2", "+1/2",
             "1//2", "1/2/3", "0x1/2", "1.0/2", "0/99999999999", "99999999999/2"]:
    expect_failure(TOOL, ["--shard", spec, src, "-o", out], 2, "option --shard", out, desc="--shard %r" % spec)

# inputs the cut cannot serve: one line, exit 1, no output
osrc = os.path.join(d, "other.st")
st.write(osrc, {"p": rng.random((2, M, K)).astype(np.float32) + 0.01, "labels": y})
expect_failure(TOOL, ["--source", "p", "--target", "labels", "--shard", "0/2", osrc, "-o", out], 1,
               "trailing dims", out, desc="a target of another sample count")
st.write(osrc, {"p": rng.random((2, M, K)).astype(np.float32) + 0.01, "q": rng.random(K).astype(np.float32),
                "labels": y})
expect_failure(TOOL, ["--source", "p", "--target", "q", "--shard", "0/2", osrc, "-o", out], 1,
               ["--shard", "'labels'", "expected the %d samples" % M], out,
               desc="context of another sample count than the source's")
st.write(osrc, {"p": rng.random(K).astype(np.float32) + 0.01, "q": rng.random(K).astype(np.float32)})
expect_failure(TOOL, ["--source", "p", "--target", "q", "--shard", "0/2", osrc, "-o", out], 1,
               ["--shard", "no samples axis"], out, desc="a source [K]: no samples axis")
st.write(osrc, dict(prob=prob, **ctx), {"ids": json.dumps(["a", "b"])})
expect_failure(TOOL, ["--skip-empty", "--shard", "0/2", osrc, "-o", out], 1, ["--shard", "`ids`"], out,
               desc="ids of another length than the samples")
st.write(osrc, {"prob_train": rng.random(K).astype(np.float32), "prob": prob, "labels": y})
expect_failure(TOOL, ["--skip-empty", "--shard", "0/2", osrc, "-o", out], 1,
               ["--shard", "'prob_train'", "no samples axis"], out, desc="prob_train [K]: no samples axis")

# a shard as input (its rows are a block of another output): refused, sharded or not
rc, _, err = sink(*args, "--shard", "0/2", src, "-o", os.path.join(d, "s0.st"))
for extra in [[], ["--shard", "0/2"]]:
    expect_failure(TOOL, ["--source", "wdist", "--target", "wdist"] + extra + [os.path.join(d, "s0.st"), "-o", out],
                   1, ["metadata `shard` is '0/2'", "join the shards"], out,
                   desc="a shard as input%s" % (" with --shard" if extra else ""))

# the study's other readers refuse a shard too (tools/lib/study.c)
expect_failure("early-exit", [os.path.join(d, "s0.st"), "-o", out], 1, ["metadata `shard` is '0/2'"], out,
               desc="early-exit: a sinkhorn shard as input")
expect_failure("plot", ["layers", os.path.join(d, "s0.st"), "-o", out + ".png"], 1,
               ["metadata `shard` is '0/2'"], out + ".png", desc="plot: a sinkhorn shard as input")

# tensors cat along shard_axis: a shard from standard input, and what it refuses
s1 = os.path.join(d, "s1.st")
rc1, _, err1 = sink(*args, "--shard", "1/2", src, "-o", s1)
viapipe = os.path.join(d, "viapipe.st")
with open(os.path.join(d, "s0.st"), "rb") as fp:
    rc2, _, err2 = run([os.path.join(BIN, "tensors"), "cat", "-", s1, "-o", viapipe], stdin=fp)
ok(rc == 0 and rc1 == 0 and rc2 == 0 and shards.differences(shards.cat_join([os.path.join(d, "s0.st"), s1],
                                                                         os.path.join(d, "s01.st")),
                                                           (st.read(viapipe)[0], {k: v for k, v in st.read(viapipe)[1].items() if k != "history"})) == [],
   "tensors cat - s1.st (shard 0 on standard input) = the join of the files", err + err1 + err2)
t0, m0 = st.read(os.path.join(d, "s0.st"))
bad = os.path.join(d, "bad-axis.st")
catout = os.path.join(d, "cat-out.st")
for axis, needle, what in [('{"wdist":"x"}', "shard_axis", "a shard_axis that is not a number"),
                           ('[1]', "shard_axis", "a shard_axis that is not an object"),
                           ('{"wdist":99}', "shard_axis", "an axis beyond the dims a tensor may have"),
                           ('{"wdist":2}', ["'wdist'", "axis 2"], "an axis beyond wdist's own")]:
    st.write(bad, {k: v[1] for k, v in t0.items()}, dict(m0, shard_axis=axis))
    st.write(s1 + ".doctored", {k: v[1] for k, v in st.read(s1)[0].items()}, dict(st.read(s1)[1], shard_axis=axis))
    expect_failure("tensors", ["cat", bad, s1 + ".doctored", "-o", catout], 1, needle, catout,
                   desc="tensors cat: " + what)
st.write(bad, {k: v[1] for k, v in t0.items()}, dict(m0, shard_axis='{"wdist":0}'))
expect_failure("tensors", ["cat", bad, s1, "-o", catout], 1, ["metadata 'shard_axis' differs"], catout,
               desc="tensors cat: shards whose shard_axis differ")
done()
