#!/usr/bin/python3
# plot: every kind on a synthetic study gives a real PNG (SVG, PDF); --script
# writes data whose numbers are the per-layer statistics numpy computes, and a
# script gnuplot runs; bad inputs fail with one line and leave no file.
import os, shutil, subprocess, sys
import numpy as np
here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, "st"))
from tap import ok, done, scratch, expect_failure  # noqa: E402
import stwrite

bindir = os.environ.get("LS_BIN", "bin")
plot = os.path.join(bindir, "plot")

if not shutil.which("gnuplot"):
    print("1..0 # SKIP gnuplot is not installed (Debian package gnuplot-nox)")
    sys.exit(0)
d = scratch()
s1, s2 = os.path.join(d, "s1.st"), os.path.join(d, "s2.st")
synth = [sys.executable, os.path.join(here, "synth-study.py")]
subprocess.run(synth + [s1, "--n", "300", "--images", "--epochs", "4"], check=True)
subprocess.run(synth + [s2, "--n", "300", "--layers", "14", "--seed", "2"], check=True)
ee, cs = os.path.join(d, "ee.st"), os.path.join(d, "cs.st")
subprocess.run([os.path.join(bindir, "early-exit"), s1, "-o", ee, "-q"], check=True)
subprocess.run([os.path.join(bindir, "classify-samples"), s1, "-o", cs, "-q"], check=True)

def run(args, **kw):
    return subprocess.run([plot] + args, capture_output=True, **kw)

PNG = b"\x89PNG\r\n\x1a\n"
for kind, args in [("layers", [s1, s2, "--names", "ResNet,VGG"]), ("sample", [s1, "--sample", "3"]), ("sample", [cs, "--prob", s1, "--sample", "4"]),
                   ("epochs", [s1]), ("adjacent", [s1]), ("measures", [s1]), ("overthinking", [ee, ee]),
                   ("categories", [cs, "--prob", s1, "--images", s1]), ("frontier", [ee, ee, ee, "--names", "A,B,C"])]:
    out = os.path.join(d, kind + ".png")
    r = run([kind] + args + ["-o", out])
    data = open(out, "rb").read() if os.path.exists(out) else b""
    ok(r.returncode == 0 and data.startswith(PNG) and len(data) > 5000, f"{kind}: a PNG of {len(data)} bytes {r.stderr.decode().strip()}")
r = run(["layers", s1, "--format", "svg", "-o", os.path.join(d, "l.svg")])
ok(r.returncode == 0 and b"<svg" in open(os.path.join(d, "l.svg"), "rb").read(500), "--format svg")
r = run(["layers", s1, "--format", "pdf"])
ok(r.returncode == 0 and r.stdout.startswith(b"%PDF"), "--format pdf to standard output")

# --script: the data are numpy's statistics, the script runs
T, meta = stwrite.read(s1)
w, split = T["wdist"][1], T["split"][1]
sd = os.path.join(d, "script")
r = run(["layers", s1, "--script", sd, "-q"])
got = np.loadtxt(os.path.join(sd, "run0.tsv"), delimiter="\t")
wt = w[:, split == 2]
ref = np.stack([np.arange(w.shape[0]), wt.mean(1), np.quantile(wt, 0.25, axis=1), np.quantile(wt, 0.75, axis=1)], 1)
ok(r.returncode == 0 and np.allclose(got, ref, atol=1e-6), "layers data: mean and quartiles over the test rows")
g = subprocess.run(["gnuplot", "plot.gp"], cwd=sd, capture_output=True)
ok(g.returncode == 0 and open(os.path.join(sd, "figure.png"), "rb").read(8) == PNG, "the written script runs in gnuplot")
r = run(["sample", s1, "--sample", "7", "--layers", "0,8", "--script", sd, "-q"])
got = np.genfromtxt(os.path.join(sd, "dist.tsv"), delimiter="\t", dtype=None, encoding="utf8")
p, y = T["prob"][1][:, 7], T["labels"][1][7]
ref = np.stack([p[0] / p[0].sum(), p[8] / p[8].sum(), y / y.sum()], 1)
ok(np.allclose(np.array([list(row)[1:] for row in got], float), ref, atol=1e-5)
   and got[0][0] == "tshirt_top", "sample data: p/sum(p) at the chosen layers and the target, label names")
r = run(["adjacent", s1, "--script", sd, "-q"])
pe = T["prob_epochs"][1].astype(np.float64)
a = pe / pe.sum(-1, keepdims=True)
tv = 0.5 * np.abs(a[1:] - a[:-1]).sum(-1)          # [E-1,L',N']
got = np.loadtxt(os.path.join(sd, "layer1.tsv"), delimiter="\t")
ok(np.allclose(got[:, 1], tv[:, 1].mean(-1), atol=1e-5) and list(got[:, 0]) == [20, 30, 40],
   "adjacent data: mean total variation between consecutive snapshots, at their epochs")

# frontier data: every rule, the front on tune and on eval, the marked points
E, em = stwrite.read(ee)
r = run(["frontier", ee, "--script", sd, "-q"])
rules = np.loadtxt(os.path.join(sd, "rules0.tsv"), delimiter="\t")
front = np.loadtxt(os.path.join(sd, "front0.tsv"), delimiter="\t", ndmin=2)
pts = np.loadtxt(os.path.join(sd, "points0.tsv"), delimiter="\t")
R, F, Ft, V = E["exit_rules"][1], E["exit_frontier"][1], E["exit_frontier_test"][1], E["exit_variants"][1]
ok(r.returncode == 0 and np.allclose(rules, np.stack([R[:, 3], 100 * R[:, 4]], 1))
   and np.allclose(front, np.stack([F[:, 2], 100 * F[:, 3], Ft[:, 2], 100 * Ft[:, 3]], 1))
   and np.allclose(pts, [[V[0, 3], 100 * V[0, 4]], [V[0, 5], 100 * V[0, 6]],
                         [float(em["oracle_relative_cost"]), 100 * float(em["ideal_accuracy"])], [V[1, 5], 100 * V[1, 6]]], atol=1e-4),
   "frontier data: every rule on tune, the front on tune and test, head, oracle and chosen rule")

# bad inputs
def bad(args, status, expect, out=True):
    o = os.path.join(d, "bad.png")
    expect_failure(plot, args + (["-o", o] if out else []), status, expect, out=o, desc=" ".join(args[:1]))
bad(["pie", s1], 2, "KIND")
bad([], 2, "KIND")
bad(["layers"], 2, "FILE")
bad(["sample", s1, s2], 2, "one input")
bad(["sample", s1, "--sample", "100000"], 2, "--sample")
bad(["sample", s1, "--layers", "0,99"], 2, "--layers")
bad(["layers", s1, "--format", "gif"], 2, "gif")
bad(["layers", s1, "--tensor", "nope"], 1, "nope")
bad(["epochs", s2], 1, "wdist_epochs")
bad(["overthinking", s1], 1, "overthinking")
bad(["frontier", s1], 1, "exit_rules")
bad(["frontier"] + [ee] * 9, 2, "at most 8")
bad(["categories", s1], 1, "examples")
bad(["sample", cs], 1, "--prob")
bad(["sample", cs, "--prob", s2], 1, "wdist")   # another network: L differs from the distances'
bad(["layers", os.path.join(d, "missing.st")], 1, "missing.st")
try:
    r = subprocess.run(f"{plot} layers {s1} | head -c 10 > /dev/null; echo ${{PIPESTATUS[0]}}", shell=True,
                       executable="/bin/bash", capture_output=True, text=True, timeout=60)
    ok(r.stdout.strip() in ("0", "1"), f"a reader that closes the pipe: exit {r.stdout.strip()}, no hang")
except subprocess.TimeoutExpired:
    ok(False, "a reader that closes the pipe: hangs")
tmp = os.path.join(d, "tmp"); os.mkdir(tmp)
r = subprocess.run([plot, "layers", s1, "--tensor", "wdist", "--title", 'a "quoted" \\ title', "-o", os.path.join(d, "q.png")],
                   env=dict(os.environ, TMPDIR=tmp), capture_output=True)
ok(r.returncode == 0 and os.listdir(tmp) == [], "quotes in a title; the temporary folder is removed")
r = subprocess.run([plot, "sample", s1, "--sample", "-1", "-o", os.path.join(d, "x.png")], env=dict(os.environ, TMPDIR=tmp), capture_output=True)
ok(r.returncode == 2 and os.listdir(tmp) == [], "nothing left in TMPDIR after a failure")
# 80 labels (COCO): the distribution panels keep the target's labels and the
# most probable others (24; 12 in the categories figure), the title names six
s80 = os.path.join(d, "s80.st")
subprocess.run(synth + [s80, "--n", "60", "--k", "80", "--epochs", "3"], check=True)
T80, _ = stwrite.read(s80)
r = run(["sample", s80, "--sample", "5", "--script", sd, "-q"])
got = np.genfromtxt(os.path.join(sd, "dist.tsv"), delimiter="\t", dtype=None, encoding="utf8")
y5 = T80["labels"][1][5]
names = [row[0] for row in got]
script = open(os.path.join(sd, "plot.gp")).read()
ok(r.returncode == 0 and len(got) == 24 and sum(float(row[-1]) > 0 for row in got) == y5.sum()
   and "24 of 80" in script, "80 labels: 24 bars, every target label among them, said on the x axis")
c80 = os.path.join(d, "c80.st")
subprocess.run([os.path.join(bindir, "classify-samples"), s80, "-o", c80, "-q"], check=True)
sd80 = os.path.join(d, "script80")
r = run(["categories", c80, "--prob", s80, "--script", sd80, "-q"])
panels = [[line.split("\t") for line in open(os.path.join(sd80, f)).read().splitlines()]
          for f in os.listdir(sd80) if f.startswith("dist")]
ok(r.returncode == 0 and panels and all(len(rows) == max(12, sum(float(x[-1]) > 0 for x in rows)) for rows in panels),
   "80 labels, categories: 12 bars per panel, or the target's labels when they are more")
# samples without labels (sinkhorn --skip-empty writes NaN for them): left out of the epochs figure
w80 = dict((k, v[1]) for k, v in T80.items())
w80["wdist_epochs"] = w80["wdist_epochs"].copy()
w80["wdist_epochs"][:, :, 3] = np.nan
_, m80 = stwrite.read(s80)
nan_file = os.path.join(d, "nan.st")
stwrite.write(nan_file, w80, m80)
r = run(["epochs", nan_file, "--script", sd, "-q"])
ok(r.returncode == 0 and "samples without labels left out" in open(os.path.join(sd, "plot.gp")).read(),
   "epochs with a NaN row (a sample without labels): drawn without it, said in the title")
w80["wdist_epochs"][0, 0, 4] = np.inf
stwrite.write(nan_file, w80, m80)
r = run(["epochs", nan_file, "-o", os.path.join(d, "inf.png"), "-q"])
ok(r.returncode == 1 and b"infinite" in r.stderr and not os.path.exists(os.path.join(d, "inf.png")),
   "epochs with an infinite value: refused")
done()
