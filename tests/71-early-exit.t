#!/usr/bin/python3
# early-exit on a synthetic study (tests/synth-study.py): per-layer scores
# against scikit-learn, the over-thinking table, the exit rule and its grid
# search recomputed in numpy, the relative cost, the TSV and the report; then
# bad inputs: one-line error, exit status, no output file left behind.
import json, os, pty, subprocess, sys
import numpy as np
from sklearn.metrics import accuracy_score, f1_score, average_precision_score
here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, "st"))
from tap import ok, done, scratch, expect_failure  # noqa: E402
import stwrite

tool = os.path.join(os.environ.get("LS_BIN", "bin"), "early-exit")
asan = os.environ.get("LS_ASAN") == "1"

d = scratch()
study = os.path.join(d, "s.st")
subprocess.run([sys.executable, os.path.join(here, "synth-study.py"), study, "--n", "300" if asan else "900"], check=True)
T, meta = stwrite.read(study)
p, y, split = T["prob"][1], T["labels"][1], T["split"][1]
L, N, K = p.shape

def run(args, stdin=None):
    return subprocess.run([tool] + args, capture_output=True, text=True, stdin=stdin)

out, tsv, md = (os.path.join(d, x) for x in ("out.st", "m.tsv", "r.md"))
r = run([study, "-o", out, "--metrics", tsv, "--report", md, "-q"])
ok(r.returncode == 0 and r.stderr == "", "cascade run succeeds quietly: " + r.stderr.strip())
O, ometa = stwrite.read(out)

# per-layer scores against scikit-learn, on the test split
met = O["metrics"][1]
ok(met.shape == (L + 1, 3, 9), "metrics tensor [L+1,3,9]")
test = split == 2
worst = 0
for l in range(L):
    pl, yl = p[l][test], y[test]
    pred = (pl >= np.float32(0.5)).astype(int)
    ref = [accuracy_score(yl, pred), f1_score(yl, pred, average="macro", zero_division=0),
           f1_score(yl, pred, average="micro", zero_division=0),
           np.mean([average_precision_score(yl[:, k], pl[:, k]) for k in range(K) if yl[:, k].any()])]
    got = [met[l, 2, 0], met[l, 2, 4], met[l, 2, 7], met[l, 2, 8]]
    worst = max(worst, max(abs(a - b) for a, b in zip(got, ref)))
ok(worst < 1e-9, f"per-layer accuracy, macro-F1, OF1, mAP = scikit-learn (worst {worst:.1e})")

lines = open(tsv).read().splitlines()
ok(lines[0] == "layer\tsplit\taccuracy\tCP\tCR\tCF1\tmacroF1\tOP\tOR\tOF1\tmAP", "TSV header of the contract")
rows = {(c[0], c[1]): [float(v) for v in c[2:]] for c in (l.split("\t") for l in lines[1:])}
ok(len(rows) == 3 * (L + 1) and all(0 <= v <= 1 for r_ in rows.values() for v in r_), "one TSV row per layer and split, fractions")
ok(all(abs(rows[(str(l), "test")][j] - met[l, 2, j]) <= 5e-7 for l in range(L) for j in range(9))
   and abs(rows[("exit", "test")][0] - met[L, 2, 0]) <= 5e-7, "TSV = tensor")

# the over-thinking table
correct = np.all((p >= np.float32(0.5)) == (y[None] == 1), axis=2)       # [L,N]
wrong = test & ~correct[-1]
first = np.full(N, -1)
for i in np.flatnonzero(wrong):
    hit = np.flatnonzero(correct[:-1, i])
    first[i] = hit[0] if hit.size else -1
ref_ot = np.array([(first == l).sum() / wrong.sum() for l in range(L - 1)] + [0])
ok(np.allclose(O["overthinking"][1], ref_ot, atol=1e-12), "over-thinking: share first right at each layer")
ideal = correct[-1][test].mean() + (first >= 0).sum() / test.sum()
ok(abs(float(ometa["ideal_accuracy"]) - ideal) < 1e-5, f"ideal accuracy {ideal:.4f}")

# the rule and the grid search, recomputed
def exits(q, g, layer=None):
    npos = (p >= np.float32(0.5)).sum(2)
    nq = (p >= q).sum(2)
    rule = (npos >= 1) & (nq >= g * npos - 1e-12)
    rule[-1] = True
    if layer is not None:
        rule[:layer] = False; rule[layer + 1:-1] = False
    return rule.argmax(0)
q, g = float(ometa["exit_q"]), float(ometa["exit_gamma"])
ex = exits(q, g)
ok(np.array_equal(O["exit_layer"][1], ex), f"exit_layer = the rule at q={q} gamma={g}")
val = split == 1
grid = np.round(0.5 + 0.05 * np.arange(11), 10)
best = max(correct[exits(a, b), np.arange(N)][val].mean() for a in grid for b in grid)
ok(abs(correct[ex, np.arange(N)][val].mean() - best) < 1e-12, f"chosen rule has the best val accuracy {best:.4f}")
ok(abs(met[L, 2, 0] - correct[ex, np.arange(N)][test].mean()) < 1e-12, "exit accuracy on test")
share = np.bincount(ex[test], minlength=L) / test.sum()
ok(np.allclose(O["exit_share"][1], share), "exit share per layer")
flops = np.array(json.loads(meta["layer_flops"]))
cost = (flops / flops[-1])[ex[test]].mean()
ok(abs(float(ometa["exit_relative_cost"]) - cost) < 1e-5, f"relative cost {cost:.4f} from layer_flops")
txt = open(md).read()
ok("| fc |" in txt and "ideal accuracy" in txt and "q = %.3f" % q in txt, "Markdown report with layer names")
ok(json.loads(ometa["history"])[-1].startswith("early-exit") and "labels" in O and "split" in O, "history and context forwarded")

# one layer
r = run([study, "-o", out, "--layer", "3", "-q"])
O, ometa = stwrite.read(out)
ex3 = exits(float(ometa["exit_q"]), float(ometa["exit_gamma"]), 3)
ok(r.returncode == 0 and np.array_equal(O["exit_layer"][1], ex3) and set(np.unique(ex3)) <= {3, L - 1},
   "--layer 3: exit at 3 or at the last layer")
r = run([study, "-o", out, "--q", "0.9", "--gamma", "1", "-q"])
O, ometa = stwrite.read(out)
ex = exits(0.9, 1.0)
cost = (flops / flops[-1])[ex[test]].mean()
ok(np.array_equal(O["exit_layer"][1], ex) and abs(float(ometa["exit_relative_cost"]) - cost) < 1e-5,
   f"fixed --q 0.9 --gamma 1: exits and relative cost {cost:.4f}")

# bad inputs
def bad(name, tensors, args=(), status=1, expect="", flops=None):
    path = os.path.join(d, name + ".st")
    if isinstance(tensors, bytes):
        open(path, "wb").write(tensors)
    else:
        stwrite.write(path, tensors, dict({"layers": meta["layers"]}, **({"layer_flops": flops} if flops else {})))
    o = os.path.join(d, name + ".out")
    expect_failure(tool, [path, "-o", o] + list(args), status, expect, out=o, desc=name)
base = {"prob": p, "labels": y, "split": split}
nanp = p.copy(); nanp[2, 5, 1] = np.nan
bigp = p.copy(); bigp[0, 0, 0] = 1.5
badsplit = split.copy(); badsplit[7] = 3
bad("missing-prob", {"labels": y, "split": split}, expect="prob")
bad("nan-prob", dict(base, prob=nanp), expect="prob")
bad("prob-above-1", dict(base, prob=bigp), expect="1.5")
bad("labels-shape", dict(base, labels=y[:, :-1]), expect="labels")
bad("labels-not-01", dict(base, labels=y * 2), expect="labels")
bad("split-value", dict(base, split=badsplit), expect="split")
bad("no-val-rows", dict(base, split=np.where(split == 1, 0, split).astype(np.uint8)), expect="val")
bad("prob-2d", dict(base, prob=p[0]), expect="prob")
bad("flops-not-cumulative", base, flops=json.dumps([3.0] * (L - 2) + [1.0, 4.0]), expect="layer_flops")
bad("flops-text", base, flops='["a"]' if L == 2 else json.dumps(["x"] * L), expect="layer_flops")
bad("empty-file", b"")
bad("truncated", open(study, "rb").read()[:1000])
bad("layer-range", base, ["--layer", str(L)], 2)
bad("both-modes", base, ["--layer", "1", "--cascade"], 2)
bad("objective", base, ["--objective", "speed"], 2)
bad("grid-step", base, ["--grid-step", "0"], 2)
m, s = pty.openpty()
r = run(["-o", os.path.join(d, "tty.out")], stdin=s)
os.close(m); os.close(s)
ok(r.returncode != 0 and "terminal" in r.stderr, "a terminal as input is refused: " + r.stderr.strip().splitlines()[0])
r = run([study, "-o", out, "--metrics", "/nonexistent/dir/m.tsv"])
ok(r.returncode == 1 and r.stderr.count("\n") <= 2, "unwritable --metrics fails")
done()
