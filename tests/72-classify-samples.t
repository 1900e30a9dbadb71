#!/usr/bin/python3
# classify-samples on a synthetic study: categories, thresholds, prediction
# depth, destructive over-thinking, per-category profiles and examples
# recomputed in numpy; prob from a second file; NaN rows; bad inputs.
import json, os, subprocess, sys
import numpy as np
here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, "st"))
from tap import ok, done, scratch, expect_failure  # noqa: E402
import stwrite

tool = os.path.join(os.environ.get("LS_BIN", "bin"), "classify-samples")

d = scratch()
study = os.path.join(d, "s.st")
subprocess.run([sys.executable, os.path.join(here, "synth-study.py"), study, "--n", "500"], check=True)
T, meta = stwrite.read(study)
p, y, w, split = T["prob"][1], T["labels"][1], T["wdist"][1], T["split"][1]
L, N, K = p.shape

def run(args):
    return subprocess.run([tool] + args, capture_output=True, text=True)

def reference(w, rows, qe=0.25, qh=0.75, qc=0.9):
    A, F = w.mean(0), w[-1]
    tc = np.quantile(F[rows], qc)
    conf = F >= tc
    nc = rows & ~conf
    te, th = np.quantile(A[nc], qe), np.quantile(A[nc], qh)
    cat = np.zeros(N, np.uint8)
    cat[A <= te] = 1
    cat[(A >= th) & (A > te)] = 2
    cat[conf] = 3
    return cat, (te, th, tc)

out, md = os.path.join(d, "o.st"), os.path.join(d, "s.md")
r = run([study, "-o", out, "--summary", md, "-q"])
O, om = stwrite.read(out)
cat, th = reference(w, np.ones(N, bool))
got = json.loads(om["category_thresholds"])
ok(r.returncode == 0 and np.allclose([got["easy"], got["hard"], got["confused"]], th, rtol=1e-6),
   "data-driven thresholds = numpy quantiles %s" % np.round(th, 4))
ok(np.array_equal(O["category"][1], cat), "category = the documented rule: counts %s" % np.bincount(cat, minlength=4))

pred = p >= np.float32(0.5)
same = np.all(pred == pred[-1][None], axis=2)                  # [L,N]
depth = np.array([next(l for l in range(L) if same[l:, i].all()) for i in range(N)])
ok(np.array_equal(O["depth"][1], depth), "prediction depth")
correct = np.all(pred == (y[None] == 1), axis=2)
destr = ~correct[-1] & correct[:-1].any(0)
ok(np.array_equal(O["destructive"][1].astype(bool), destr), f"destructive over-thinking ({destr.sum()} samples)")
prof = np.stack([w[:, cat == k].mean(1) for k in range(4)])
ok(np.allclose(O["category_profile"][1], prof, atol=1e-6), "mean distance per layer per category")
ex = O["examples"][1]
ok(ex.shape == (4, 8) and all(cat[i] == k for k in range(4) for i in ex[k] if i >= 0), "examples belong to their category")
A = w.mean(0)
ok(ex[1][0] == np.flatnonzero(cat == 1)[np.argmin(A[cat == 1])], "the first easy example has the smallest mean distance")
txt = open(md).read()
ok("| easy | %d |" % (cat == 1).sum() in txt and "| 8 | fc |" in txt and "s00" in txt, "Markdown summary with counts, layers and ids")
ok(all(n in O for n in ("labels", "split", "wdist")) and "classify-samples" in om["history"], "context, wdist and history forwarded")

# thresholds on one split; absolute thresholds
r = run([study, "-o", out, "--split", "test", "-q"])
O, om = stwrite.read(out)
ok(np.array_equal(O["category"][1], reference(w, split == 2)[0]), "--split test: quantiles over the test rows")
r = run([study, "-o", out, "--easy", "0.2", "--hard", "0.7", "--confused", "0.5", "-q"])
O, om = stwrite.read(out)
F = w[-1]
ref = np.where(F >= 0.5, 3, np.where(A <= 0.2, 1, np.where(A >= 0.7, 2, 0)))
ok(np.array_equal(O["category"][1], ref), "absolute thresholds")

# prob in a second file; another distance tensor
dist = os.path.join(d, "dist.st")
stwrite.write(dist, {"wdist": w, "cheb": T["cheb"][1], "labels": y, "split": split}, {"layers": meta["layers"]})
r = run([dist, "--prob", study, "-o", out, "-q"])
O, om = stwrite.read(out)
ok(r.returncode == 0 and np.array_equal(O["category"][1], cat) and np.array_equal(O["depth"][1], depth), "--prob FILE")
r = run([dist, "--prob", study, "--distance", "cheb", "-o", out, "-q"])
O, om = stwrite.read(out)
ok(r.returncode == 0 and np.array_equal(O["category"][1], reference(T["cheb"][1], np.ones(N, bool))[0]), "--distance cheb")

# NaN rows (sinkhorn --skip-empty) stay regular and out of the thresholds
wn = w.copy(); wn[:, :7] = np.nan
nanf = os.path.join(d, "nan.st")
stwrite.write(nanf, {"wdist": wn, "prob": p, "labels": y, "split": split})
r = run([nanf, "-o", out])
O, om = stwrite.read(out)
keep = np.ones(N, bool); keep[:7] = False
refn = reference(np.where(np.isnan(wn), 0, wn), keep)[0]; refn[:7] = 0
ok(r.returncode == 0 and "NaN" in r.stderr and np.array_equal(O["category"][1][7:], refn[7:]) and not O["category"][1][:7].any(),
   "NaN distance rows: regular, warned, out of the thresholds")

def bad(name, tensors, args=(), status=1, expect=""):
    path = os.path.join(d, name + ".st")
    if isinstance(tensors, bytes):
        open(path, "wb").write(tensors)
    else:
        stwrite.write(path, tensors)
    o = os.path.join(d, name + ".out")
    expect_failure(tool, [path, "-o", o] + list(args), status, expect, out=o, desc=name)
base = {"wdist": w, "prob": p, "labels": y, "split": split}
winf = w.copy(); winf[3, 3] = np.inf
bad("missing-wdist", {"prob": p, "labels": y}, expect="wdist")
bad("no-prob", {"wdist": w, "labels": y}, expect="--prob")
bad("wdist-layers", dict(base, wdist=w[:-1]), expect="wdist")
bad("wdist-inf", dict(base, wdist=winf), expect="inf")
short = os.path.join(d, "short.st")
stwrite.write(short, {"prob": p[:, :-1], "labels": y[:-1]})
bad("prob-other-N", {"wdist": w, "labels": y}, ["--prob", short], expect="prob")
bad("quantile", base, ["--easy-quantile", "1.5"], 2)
bad("easy-above-hard", base, ["--easy", "0.8", "--hard", "0.2"], 2)
bad("split-name", base, ["--split", "dev"], 2)
bad("truncated", open(study, "rb").read()[:4000])
# a category without samples: its cells say "-", never nan
one = os.path.join(d, "one.st")
stwrite.write(one, {"wdist": w[:, :1], "prob": p[:, :1], "labels": y[:1], "split": np.array([2], np.uint8)})
r = run([one, "-o", out, "--summary", md, "-q"])
txt = open(md).read() if r.returncode == 0 else ""
ok(r.returncode == 0 and "nan" not in txt.lower() and "| - |" in txt, "one sample: empty categories show '-', no nan")
done()
