#!/usr/bin/python3
# The metrics core (tools/lib/metrics.c) against scikit-learn on the same
# predictions, to 1e-9: subset accuracy, CP/CR (macro precision/recall),
# CF1, macro-F1, OP/OR/OF1 (micro), mAP (average_precision_score per class
# with >= 1 positive); `ignore` entries left out. Plus the hand-computed cases.
import os, subprocess, sys, tempfile
import numpy as np
here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, "st"))
from tap import ok, done  # noqa: E402
from sklearn.metrics import accuracy_score, f1_score, precision_score, recall_score, average_precision_score

unit = os.path.join(os.environ.get("LS_UNIT", "build/unit"), "metrics")

hand = subprocess.run([unit], capture_output=True, text=True)
fails = [l for l in hand.stdout.splitlines() if l.startswith("not ok")]
ok(hand.returncode == 0 and not fails and "ok 20" in hand.stdout, "hand-computed cases: " + (";".join(fails) or "all pass"))

def ours(p, y, ign):
    with tempfile.TemporaryDirectory() as d:
        paths = [os.path.join(d, x) for x in ("p", "y", "i")]
        p.astype(np.float32).tofile(paths[0]); y.astype(np.uint8).tofile(paths[1])
        args = [unit, str(p.shape[0]), str(p.shape[1]), paths[0], paths[1]]
        if ign is not None:
            ign.astype(np.uint8).tofile(paths[2]); args.append(paths[2])
        out = subprocess.run(args, capture_output=True, text=True, check=True).stdout
    return {k: float(v) for k, v in (l.split("\t") for l in out.splitlines())}

def sklearn_scores(p, y, ign):
    p = p.astype(np.float32)
    pred = (p >= np.float32(0.5)).astype(int)
    keep = np.ones_like(y, bool) if ign is None else ign == 0
    K = y.shape[1]
    acc = accuracy_score(y, np.where(keep, pred, y))   # ignored entries count as agreeing
    cp = np.mean([precision_score(y[keep[:, k], k], pred[keep[:, k], k], zero_division=0) for k in range(K)])
    cr = np.mean([recall_score(y[keep[:, k], k], pred[keep[:, k], k], zero_division=0) for k in range(K)])
    mf1 = np.mean([f1_score(y[keep[:, k], k], pred[keep[:, k], k], zero_division=0) for k in range(K)])
    if ign is None:
        assert abs(mf1 - f1_score(y, pred, average="macro", zero_division=0)) < 1e-12
    op = precision_score(y[keep], pred[keep], zero_division=0)
    orr = recall_score(y[keep], pred[keep], zero_division=0)
    of1 = f1_score(y[keep], pred[keep], zero_division=0)
    if ign is None:
        assert abs(of1 - f1_score(y, pred, average="micro", zero_division=0)) < 1e-12
    aps = [average_precision_score(y[keep[:, k], k], p[keep[:, k], k])
           for k in range(K) if y[keep[:, k], k].sum() > 0]
    return dict(accuracy=acc, CP=cp, CR=cr, CF1=2 * cp * cr / (cp + cr) if cp + cr else 0,
                macroF1=mf1, OP=op, OR=orr, OF1=of1, mAP=np.mean(aps))

rng = np.random.default_rng(7)
cases = []
for N, K, rounding, with_ign in [(200, 5, None, False), (500, 20, 2, False), (300, 10, 1, True),
                                 (50, 80, None, True), (1000, 3, 3, False)]:
    y = (rng.random((N, K)) < 0.25).astype(np.uint8)
    y[:, -1] = 0                                   # a class with no positive: out of mAP
    p = np.clip(y * 0.35 + rng.random((N, K)) * 0.65, 0, 1)
    p[:, 0] = 0.1                                  # a class never predicted: CP counts 0
    if rounding: p = np.round(p, rounding)         # ties, grouped as sklearn does
    ign = (rng.random((N, K)) < 0.05).astype(np.uint8) if with_ign else None
    cases.append((f"N={N} K={K} ties={rounding} ignore={with_ign}", p, y, ign))

for name, p, y, ign in cases:
    a, b = ours(p, y, ign), sklearn_scores(p, y, ign)
    worst = max(abs(a[k] - b[k]) for k in b)
    ok(worst < 1e-9, f"{name}: every score within 1e-9 of scikit-learn (worst {worst:.2e})")
done()
