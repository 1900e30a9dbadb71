#!/usr/bin/python3
"""classify-samples --shard I/N (issue 14): every row classified from the
whole input, the block's rows written. For N = 1..5, N = the rows and N
above them (empty shards), with the paper's rule, the quantile rule (the
thresholds from every row: equal in every shard), --near, --split and
--prob FILE, shards 0..N-1 joined along each tensor's rows axis (wdist [L,N]
along axis 1: metadata shard_axis; tests/st/shards.py) are the unsharded
output without category_profile, examples and layer_mean, tensor bytes and
metadata, history aside. Bad specs, --summary with --shard: one line, no
output."""
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "st"))
import shards  # noqa: E402
import stwrite as st  # noqa: E402
from tap import ASAN, BIN, done, expect_failure, is_, ok, run, scratch  # noqa: E402

TOOL = os.path.join(BIN, "classify-samples")
SUMMARIES = ("category_profile", "examples", "layer_mean")
d = scratch()
N = 23 if ASAN else 41
study = os.path.join(d, "s.st")
subprocess.run([sys.executable, os.path.join(HERE, "synth-study.py"), study, "--n", str(N), "--layers", "5"],
               check=True)


def cs(*args, **kw):
    return run([TOOL, "-q"] + [str(a) for a in args], **kw)


def check_join(name, src, nshards, args=()):
    diff = shards.run_and_join(cs, name, src, nshards, d, args, SUMMARIES)
    return ok(not diff, "%s: the join of %d shard(s) is the unsharded output without %s" % (
        name, nshards, ", ".join(SUMMARIES)), "\n".join(diff))


for n in [1, 2, 3, 4, 5, N, N + 3]:
    check_join("paper", study, n)
for n in [2, 3, 5]:
    check_join("quantile", study, n, ("--rule", "quantile"))
check_join("quantile-test", study, 4, ("--rule", "quantile", "--split", "test", "--confused-quantile", "0.8"))
check_join("near", study, 3, ("--near", "0.3", "--distance", "cheb"))

# prob from a second file: the distances file has none
T, meta = st.read(study)
dist = os.path.join(d, "dist.st")
probf = os.path.join(d, "prob.st")
st.write(dist, {k: v[1] for k, v in T.items() if k != "prob"}, meta)
st.write(probf, {"prob": T["prob"][1], "labels": T["labels"][1]}, meta)
check_join("prob-file", dist, 3, ("--prob", probf))

# what a shard holds; the thresholds of the quantile rule come from every row
full = os.path.join(d, "q.st")
p = os.path.join(d, "q1.st")
cs("--rule", "quantile", study, "-o", full)
rc, _, err = cs("--rule", "quantile", "--shard", "1/4", study, "-o", p)
t, m = st.read(p) if rc == 0 else ({}, {})
ft, fm = st.read(full)
lo, hi = N // 4, 2 * N // 4
ok(rc == 0 and t["wdist"][1].shape == (5, hi - lo) and t["category"][1].shape == (hi - lo,),
   "shard 1/4: wdist [L, rows], category [rows]", err)
ok(not any(k in t for k in SUMMARIES), "shard 1/4: no tensor over every row")
is_(m.get("category_thresholds"), fm["category_thresholds"], "shard 1/4: the thresholds of the whole input")
is_(t["category"][1].tolist(), ft["category"][1][lo:hi].tolist(), "shard 1/4: the categories of its rows")
is_((m.get("shard"), json.loads(m.get("shard_axis", "{}"))), ("1/4", {"wdist": 1}), "shard 1/4: shard, shard_axis")
ok("shard" not in fm and "shard_axis" not in fm, "an unsharded output has no shard keys")
p = os.path.join(d, "empty.st")
rc, _, err = cs("--shard", "0/%d" % (N + 3), study, "-o", p)
t, m = st.read(p) if rc == 0 else ({}, {})
ok(rc == 0 and t["wdist"][1].shape == (5, 0) and t["category"][1].shape == (0,) and json.loads(m["ids"]) == [],
   "an empty shard (N above the rows) is written with no rows", err)

# refusals: one line, no output
out = os.path.join(d, "bad.st")
for spec in ["", "2", "4/4", "-1/4", "1/0", "x/4", "1/4 ", "+1/4", "1/4/4", "0/4294967296"]:
    expect_failure(TOOL, ["--shard", spec, study, "-o", out], 2, "option --shard", out, desc="--shard %r" % spec)
md = os.path.join(d, "s.md")
expect_failure(TOOL, ["--shard", "0/2", "--summary", md, study, "-o", out], 2, ["--summary", "--shard"], out,
               desc="--summary with --shard")
ok(not os.path.exists(md), "... and no summary file")
shard0 = os.path.join(d, "shard-input.st")
st.write(shard0, {k: v[1] for k, v in T.items()}, dict(meta, shard="0/2"))
expect_failure(TOOL, [shard0, "-o", out], 1, ["metadata `shard` is '0/2'", "join the shards"], out,
               desc="a shard as input")
done()
