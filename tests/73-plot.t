#!/usr/bin/python3
# plot: every kind on a synthetic study gives a real PNG (SVG, PDF); --script
# writes data whose numbers are the per-layer statistics numpy computes, and a
# script gnuplot runs; bad inputs fail with one line and leave no file. The
# kinds across training (epochs/adjacent from wdist_train, sample-epochs,
# bn-drift, resplit) likewise, and epochs/adjacent still draw the probe
# snapshots of a file without wdist_train.
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
s3, s4 = os.path.join(d, "s3.st"), os.path.join(d, "s4.st")
subprocess.run(synth + [s3, "--n", "200", "--checkpoints", "7"], check=True)
subprocess.run(synth + [s4, "--n", "200", "--seed", "4"], check=True)
# two bn-drift outputs: 5 checkpoints; layers in stages (one without running statistics)
bn1, bn2 = os.path.join(d, "bn1.st"), os.path.join(d, "bn2.st")
rng = np.random.default_rng(73)
bw = rng.random((4, 5)) + 0.01
br = rng.random((4, 5)) * 10
br[:, 2] = np.nan
stwrite.write(bn1, {"bn_w2": bw, "bn_w2_running": br},
              {"layers": '["bn1","layer1.0.bn1","layer1.0.bn2","layer2.0.bn1","layer2.0.downsample.1"]',
               "stages": '["bn1","layer1","layer1","layer2","layer2"]', "checkpoint_epochs": "[0.25,0.5,1,2,3]",
               "arch": "resnet18"})
stwrite.write(bn2, {"bn_w2": bw[:, :3]}, {"stages": '["block1","block1","block2"]'})
ee, cs = os.path.join(d, "ee.st"), os.path.join(d, "cs.st")
subprocess.run([os.path.join(bindir, "early-exit"), s1, "-o", ee, "-q"], check=True)
subprocess.run([os.path.join(bindir, "classify-samples"), s1, "-o", cs, "-q"], check=True)

def run(args, **kw):
    return subprocess.run([plot] + args, capture_output=True, **kw)

PNG = b"\x89PNG\r\n\x1a\n"
for kind, args in [("layers", [s1, s2, "--names", "ResNet,VGG"]), ("sample", [s1, "--sample", "3"]), ("sample", [cs, "--prob", s1, "--sample", "4"]),
                   ("epochs", [s1]), ("adjacent", [s1]), ("measures", [s1]), ("overthinking", [ee, ee]),
                   ("categories", [cs, "--prob", s1, "--images", s1]), ("frontier", [ee, ee, ee, "--names", "A,B,C"]),
                   ("epochs", [s3]), ("adjacent", [s3]), ("probe-epochs", [s1]), ("probe-adjacent", [s1]),
                   ("sample-epochs", [s3, "--sample", "5"]), ("sample-epochs", [s4, "--prob", s3, "--checkpoints", "0,6", "--layers", "1"]),
                   ("bn-drift", [bn1, bn2, "--names", "A,B"]), ("resplit", [s1, s4, "--names", "one,two"])]:
    out = os.path.join(d, kind + ".png")
    r = run([kind] + args + ["-o", out])
    kind = " ".join([kind] + [os.path.basename(a) for a in args[:1]])
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

# across training: the data are numpy's statistics at the checkpoints' epochs
T3, m3 = stwrite.read(s3)
wt, wa, sp3 = T3["wdist_train"][1], T3["wdist_train_adjacent"][1], T3["split"][1] == 2
ep3 = [0.125, 0.25, 0.5, 1, 2, 3, 4]
r = run(["epochs", s3, "--script", sd, "-q"])
got = np.loadtxt(os.path.join(sd, "layer2.tsv"), delimiter="\t")
v = wt[:, 2][:, sp3]
ok(r.returncode == 0 and np.allclose(got, np.stack([ep3, v.mean(1), np.quantile(v, 0.25, 1), np.quantile(v, 0.75, 1)], 1), atol=1e-6)
   and "logscale x" in open(os.path.join(sd, "plot.gp")).read(),
   "epochs on wdist_train: per checkpoint mean and quartiles over the test rows at checkpoint_epochs, log x")
r = run(["adjacent", s3, "--script", sd, "-q"])
got = np.loadtxt(os.path.join(sd, "layer0.tsv"), delimiter="\t")
ok(r.returncode == 0 and np.allclose(got[:, 1], wa[:, 0][:, sp3].mean(1), atol=1e-6) and list(got[:, 0]) == ep3[1:],
   "adjacent on wdist_train_adjacent: each pair at the later checkpoint's epoch")
r = run(["probe-epochs", s3, "--script", sd, "-q"])
ok(r.returncode == 1 and b"wdist_epochs" in r.stderr, "probe-epochs on a file with only wdist_train: asks for wdist_epochs")
r = run(["sample-epochs", s3, "--sample", "5", "--checkpoints", "1,4", "--layers", "0", "--script", sd, "-q"])
got = np.genfromtxt(os.path.join(sd, "dist.tsv"), delimiter="\t", dtype=None, encoding="utf8")
pt, y3 = T3["prob_train"][1], T3["labels"][1][5]
ref = np.stack([pt[1, 0, 5] / pt[1, 0, 5].sum(), pt[4, 0, 5] / pt[4, 0, 5].sum(), y3 / y3.sum()], 1)
gp = open(os.path.join(sd, "plot.gp")).read()
ok(r.returncode == 0 and np.allclose(np.array([list(row)[1:] for row in got], float), ref, atol=1e-5)
   and "'epoch 0.25 (W = %.3f)'" % wt[1, 0, 5] in gp and "'epoch 2 (W = %.3f)'" % wt[4, 0, 5] in gp,
   "sample-epochs data: p/sum(p) at the chosen checkpoints and layer, the target; epochs and W in the legend")
r = run(["sample-epochs", s3, "--sample", "5", "--script", sd, "-q"])
gp = open(os.path.join(sd, "plot.gp")).read()
ok(r.returncode == 0 and all("'epoch %s" % e in gp for e in ("0.125", "1 ", "3 ", "4 ")) and "'epoch 2 " not in gp,
   "sample-epochs by default: the first, the last and the checkpoints nearest a third and two thirds of the epochs")
r = run(["bn-drift", bn1, "--script", sd, "-q"])
g0, g1 = (np.genfromtxt(os.path.join(sd, "bn0-%d.tsv" % c), delimiter="\t") for c in (0, 1))
stage = lambda w, cols: np.sqrt(np.nansum(w[:, cols] ** 2, 1))
ok(r.returncode == 0 and np.allclose(g0[:, 0], [0.5, 1, 2, 3]) and np.allclose(g0[:, 1], bw[:, 0])
   and np.allclose(g0[:, 2], stage(bw, [1, 2])) and np.allclose(g0[:, 3], stage(bw, [3, 4]))
   and np.allclose(g1[:, 2], br[:, 1]) and "logscale y" in open(os.path.join(sd, "plot.gp")).read(),
   "bn-drift data: per stage sqrt(sum of its layers' W2^2) (NaN layers left out), at the later epoch, log y")
r = run(["resplit", s1, s4, "--script", sd, "-q"])
got = np.loadtxt(os.path.join(sd, "trials.tsv"), delimiter="\t")
w1, w4 = stwrite.read(s1)[0]["wdist"][1], stwrite.read(s4)[0]["wdist"][1]
te = T["split"][1] == 2
m1, m4 = w1[:, te].mean(1), w4[:, stwrite.read(s4)[0]["split"][1] == 2].mean(1)
ok(r.returncode == 0 and np.allclose(got[:, 1], m1, atol=1e-6) and np.allclose(got[:, 2], m4, atol=1e-6)
   and np.allclose(got[:, 3], np.minimum(m1, m4), atol=1e-6) and np.allclose(got[:, 4], np.maximum(m1, m4), atol=1e-6)
   and np.allclose(got[:, 5], np.quantile(w1[:, te], 0.25, 1), atol=1e-6),
   "resplit data: each trial's mean per layer, their range, the first trial's quartiles")

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
bad(["sample-epochs", s1], 1, "prob_train")
bad(["sample-epochs", s4, "--prob", s1], 1, "prob_train")
bad(["sample-epochs", s3, "--checkpoints", "0,7"], 2, "--checkpoints")
bad(["sample-epochs", s3, "--layers", "0,1"], 2, "one layer")
bad(["sample-epochs", s3, "--sample", "200"], 2, "--sample")
bad(["sample-epochs", s2, "--prob", s3], 1, "prob_train")   # another sample count
bad(["bn-drift", s1], 1, "bn_w2")
bad(["resplit", s1, s2], 1, "layers")
bwn = os.path.join(d, "bwn.st")
stwrite.write(bwn, {"bn_w2": -bw})
bad(["bn-drift", bwn], 1, "bn_w2")
wn = os.path.join(d, "wn.st")
stwrite.write(wn, dict({k: v[1] for k, v in T3.items()}, wdist_train=-wt))
bad(["epochs", wn], 1, "wdist_train")
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
