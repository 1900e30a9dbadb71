#!/usr/bin/python3
# classify-samples on a synthetic study: the paper's rule (default) and the
# quantile rule, prediction depth, destructive over-thinking, rises, layer
# means, per-category profiles and examples recomputed in numpy; constructed
# samples whose category is known (right early and wrong late is confused,
# ...); prob from a second file; NaN rows; bad inputs.
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

pred = p >= np.float32(0.5)
correct = np.all(pred == (y[None] == 1), axis=2)              # [L,N]


def paper(close, early=round((L - 1) / 3), late=round(3 * (L - 1) / 4)):
    """the paper's rule on close [L,N] (docs/classify-samples.md)"""
    first = np.where(close.any(0), close.argmax(0), L)
    stay = np.full(N, L)
    for i in range(N):
        if close[-1, i]:
            s = L - 1
            while s > 0 and close[s - 1, i]:
                s -= 1
            stay[i] = s
    conf = ~close[-1] & close[:-1].any(0)
    hard = ~conf & (first >= late)
    easy = ~conf & ~hard & (stay <= early)
    return np.select([conf, hard, easy], [3, 2, 1], 0).astype(np.uint8), first


out, md = os.path.join(d, "o.st"), os.path.join(d, "s.md")
r = run([study, "-o", out, "--summary", md, "-q"])
O, om = stwrite.read(out)
cat_p, first_p = paper(correct)
got = json.loads(om["category_thresholds"])
ok(r.returncode == 0 and got["rule"] == "paper" and got["early"] == round((L - 1) / 3) and got["late"] == round(3 * (L - 1) / 4),
   f"default: the paper's rule, early layers to {got.get('early')}, late from {got.get('late')}")
ok(np.array_equal(O["category"][1], cat_p), "category = the paper's rule by numpy: counts %s" % np.bincount(cat_p, minlength=4))
ok(np.array_equal(O["first_right"][1], first_p), "first_right: the first layer right (L when never)")
destr = ~correct[-1] & correct[:-1].any(0)
ok(np.array_equal(O["category"][1] == 3, destr), "confused = right at an earlier layer, wrong at the last")
tol = 0.01
rises = (np.diff(w, axis=0) > tol).sum(0)
ok(np.array_equal(O["rises"][1], rises), f"rises: layers where W grows by more than {tol} ({(rises > 0).mean():.1%} of rows)")
lm = np.stack([w[:, split == s_].mean(1) for s_ in range(3)])
ok(np.allclose(O["layer_mean"][1], lm, atol=1e-6), "layer_mean [3,L]: mean W per split and layer")
txt = open(md).read()
ok("## Layer quality" in txt and "## Paths" in txt and "destructive over-thinking" in txt and "| 8 | fc |" in txt,
   "summary: rule, depth and destructive, layer quality, paths")

# the quantile rule, as before
r = run([study, "-o", out, "--rule", "quantile", "--summary", md, "-q"])
O, om = stwrite.read(out)
cat, th = reference(w, np.ones(N, bool))
got = json.loads(om["category_thresholds"])
ok(r.returncode == 0 and got["rule"] == "quantile" and np.allclose([got["easy"], got["hard"], got["confused"]], th, rtol=1e-6),
   "--rule quantile: data-driven thresholds = numpy quantiles %s" % np.round(th, 4))
ok(np.array_equal(O["category"][1], cat), "--rule quantile: category = the documented rule: counts %s" % np.bincount(cat, minlength=4))

same = np.all(pred == pred[-1][None], axis=2)                  # [L,N]
depth = np.array([next(l for l in range(L) if same[l:, i].all()) for i in range(N)])
ok(np.array_equal(O["depth"][1], depth), "prediction depth")
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

# constructed samples whose category is known: 5 layers, 2 labels, label 0 present
Lc = 5
def row(pattern):
    """p [Lc,2] of a sample right (r) or wrong (w) at each layer"""
    return np.array([[0.9, 0.1] if c == "r" else [0.2, 0.8] for c in pattern], np.float32)
cases = {"rrrrw": 3, "wrwww": 3, "rwrrw": 3,        # right earlier, wrong at the last: confused
         "wwwrr": 2, "wwwwr": 2, "wwwww": 2,        # resolved late (from layer 3) or never: hard
         "rrrrr": 1, "wrrrr": 1, "wwrrr": 0,        # right from layer <= 1: easy; from 2: regular
         "rwrrr": 0}                               # right early, lost, back in the middle: regular
pc = np.stack([row(k) for k in cases], 1)           # [Lc,n,2]
yc = np.tile(np.array([[1, 0]], np.uint8), (len(cases), 1))
wc = np.where(np.all((pc >= 0.5) == (yc[None] == 1), 2), 0.1, 0.9).astype(np.float32)
cfile = os.path.join(d, "cases.st")
stwrite.write(cfile, {"prob": pc, "labels": yc, "wdist": wc})
r = run([cfile, "-o", out, "-q"])
O, om = stwrite.read(out)
want = np.array(list(cases.values()), np.uint8)
got = O["category"][1] if r.returncode == 0 else None
ok(r.returncode == 0 and np.array_equal(got, want),
   "constructed profiles: right early and wrong late is confused; late or never is hard; early on is easy",
   f"{dict(zip(cases, got if got is not None else []))} {r.stderr}")
# by distance instead of correctness: --near, with the layers given
wd = np.array([[0.05 if c == "r" else 0.5 for c in k] for k in cases], np.float32).T
stwrite.write(cfile, {"prob": pc, "labels": yc, "wdist": wd})
r = run([cfile, "-o", out, "--near", "0.1", "--early-layer", "2", "--late-layer", "4", "-q"])
O, om = stwrite.read(out)
want_near = np.array([3, 3, 3, 0, 2, 2, 1, 1, 1, 1], np.uint8)
ok(r.returncode == 0 and np.array_equal(O["category"][1], want_near) and json.loads(om["category_thresholds"])["near"] == 0.1,
   "--near 0.1 --early-layer 2 --late-layer 4: close by distance, the layers moved")

# thresholds on one split; absolute thresholds
r = run([study, "-o", out, "--rule", "quantile", "--split", "test", "-q"])
O, om = stwrite.read(out)
ok(np.array_equal(O["category"][1], reference(w, split == 2)[0]), "--split test: quantiles over the test rows")
r = run([study, "-o", out, "--rule", "quantile", "--easy", "0.2", "--hard", "0.7", "--confused", "0.5", "-q"])
O, om = stwrite.read(out)
F = w[-1]
ref = np.where(F >= 0.5, 3, np.where(A <= 0.2, 1, np.where(A >= 0.7, 2, 0)))
ok(np.array_equal(O["category"][1], ref), "absolute thresholds")

# prob in a second file; another distance tensor
dist = os.path.join(d, "dist.st")
stwrite.write(dist, {"wdist": w, "cheb": T["cheb"][1], "labels": y, "split": split}, {"layers": meta["layers"]})
r = run([dist, "--prob", study, "-o", out, "-q"])
O, om = stwrite.read(out)
ok(r.returncode == 0 and np.array_equal(O["category"][1], cat_p) and np.array_equal(O["depth"][1], depth), "--prob FILE")
r = run([dist, "--prob", study, "--rule", "quantile", "--distance", "cheb", "-o", out, "-q"])
O, om = stwrite.read(out)
ok(r.returncode == 0 and np.array_equal(O["category"][1], reference(T["cheb"][1], np.ones(N, bool))[0]), "--distance cheb")

# NaN rows (sinkhorn --skip-empty) stay regular and out of the thresholds
wn = w.copy(); wn[:, :7] = np.nan
nanf = os.path.join(d, "nan.st")
stwrite.write(nanf, {"wdist": wn, "prob": p, "labels": y, "split": split})
r = run([nanf, "-o", out, "--rule", "quantile"])
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
bad("rule-name", base, ["--rule", "magic"], 2, "--rule")
bad("late-layer", base, ["--late-layer", str(L)], 2, "--late-layer")
bad("rise-tol", base, ["--rise-tol", "-1"], 2, "--rise-tol")
bad("near-nan", base, ["--near", "nan"], 2, "--near")
bad("truncated", open(study, "rb").read()[:4000])
# a category without samples: its cells say "-", never nan
one = os.path.join(d, "one.st")
stwrite.write(one, {"wdist": w[:, :1], "prob": p[:, :1], "labels": y[:1], "split": np.array([2], np.uint8)})
r = run([one, "-o", out, "--summary", md, "-q"])
txt = open(md).read() if r.returncode == 0 else ""
ok(r.returncode == 0 and "nan" not in txt.lower() and "| - |" in txt, "one sample: empty categories show '-', no nan")
done()
