"""sinkhorn against POT's per-pair loop, one run (bench/sinkhorn.sh).

    /usr/bin/python3 bench/sinkhorn.py --k 20 --layers 10 --n 100000 --pot-rows 200 \
        --gemm "sgemm G dgemm G dgemm_block G"

Ours: bin/sinkhorn on all L*N rows (divergence, GloVe cost, eps 0.01, tol 1e-6,
max-iter 1000). POT: ot.sinkhorn (method sinkhorn_log, same eps, stopThr, numItermax)
on a random subset of rows, timed and extrapolated to rows per second:
  - the divergence, as we compute it: OT(a,b) and OT(a,a) per row, OT(b,b) once per
    distinct target (cached), values 2 OT(a,b) - OT(a,a) - OT(b,b) from the plans;
  - ot.sinkhorn2 alone per pair, against our --loss transport.
POT's stopping rule is ||T^T 1 - b||_2 <= stopThr checked every 10 iterations, ours
||T 1 - a||_1 + ||T^T 1 - b||_1 <= tol every iteration (stricter). Accuracy: our
values on the subset against POT's, where POT's plan is within 1e-6 of its marginals.
"""
import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
import warnings

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "st"))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "sinkhorn"))
import oracle  # noqa: E402
import stwrite as st  # noqa: E402


def cpu_children():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def ours(src, emb, loss, threads, out):
    c0, t0 = cpu_children(), time.perf_counter()
    p = subprocess.run(["bin/sinkhorn", "-t", str(threads), "--embeddings", emb, "--loss", loss, src, "-o", out],
                       stderr=subprocess.PIPE, check=True)
    wall, cpu = time.perf_counter() - t0, cpu_children() - c0
    return wall, cpu, p.stderr.decode()


def pot_rows(prob, y, rows, C, eps, tol, max_iter):
    import ot
    warnings.simplefilter("ignore")
    kw = dict(method="sinkhorn_log", numItermax=max_iter, stopThr=tol)
    nl, n, _ = prob.shape
    cache = {}
    div, tr, err = [], [], []
    c0, t0 = time.process_time(), time.perf_counter()
    for r in rows:
        a, b = oracle.normalise(prob[r // n, r % n]), oracle.normalise(y[r % n])
        T = ot.sinkhorn(a, b, C, eps, **kw)
        key = b.tobytes()
        if key not in cache:
            cache[key] = oracle.entropic(ot.sinkhorn(b, b, C, eps, **kw), C, eps)
        div.append(2 * oracle.entropic(T, C, eps) - oracle.entropic(ot.sinkhorn(a, a, C, eps, **kw), C, eps)
                   - cache[key])
        err.append(np.abs(T.sum(1) - a).sum() + np.abs(T.sum(0) - b).sum())
    t_div = (time.perf_counter() - t0, time.process_time() - c0)
    c0, t0 = time.process_time(), time.perf_counter()
    for r in rows:
        a, b = oracle.normalise(prob[r // n, r % n]), oracle.normalise(y[r % n])
        tr.append(float(ot.sinkhorn2(a, b, C, eps, **kw)))
    t_tr = (time.perf_counter() - t0, time.process_time() - c0)
    return np.array(div), np.array(tr), np.array(err), t_div, t_tr


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--k", type=int, default=20)
    ap.add_argument("--layers", type=int, default=10)
    ap.add_argument("--n", type=int, default=100000)
    ap.add_argument("--pot-rows", type=int, default=200)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--gemm", default="")
    a = ap.parse_args()
    emb = oracle.EMBED["voc" if a.k == 20 else "coco"]
    d = tempfile.mkdtemp(prefix="bench-sinkhorn-")
    src = os.path.join(d, "prob.st")
    subprocess.run([sys.executable, os.path.join(HERE, "sinkhorn_data.py"), str(a.k), str(a.layers), str(a.n), src],
                   check=True)
    tensors = st.read(src)[0]
    prob, y = tensors["prob"][1], tensors["labels"][1]
    C = oracle.glove_cost("voc" if a.k == 20 else "coco")   # the data's labels are in the file's order
    rows_total = a.layers * a.n
    print("K=%d: %d x %d = %d rows, eps 0.01, tol 1e-6, max-iter 1000, %d threads" %
          (a.k, a.layers, a.n, rows_total, a.threads))
    res = {}
    for loss in ("divergence", "transport"):
        out = os.path.join(d, loss + ".st")
        wall, cpu, err = ours(src, emb, loss, a.threads, out)
        res[loss] = (wall, cpu, st.read(out)[0]["wdist"][1].reshape(-1))
        print("  ours %-10s  wall %7.2f s  cpu %7.2f s  %9.0f rows/s wall  %9.0f rows/cpu-s" %
              (loss, wall, cpu, rows_total / wall, rows_total / cpu))
        for line in err.strip().splitlines():
            print("    " + line)
    rng = np.random.default_rng(0)
    rows = rng.choice(rows_total, a.pot_rows, replace=False)
    div, tr, perr, t_div, t_tr = pot_rows(prob, y, rows, C, 0.01, 1e-6, 1000)
    for loss, (tw, tc), pv in (("divergence", t_div, div), ("transport", t_tr, tr)):
        wall, cpu, got = res[loss]
        pot_rate_w, pot_rate_c = len(rows) / tw, len(rows) / tc
        good = perr <= 1e-6
        dev = np.abs(got[rows] - pv)[good]
        print("  POT  %-10s  %d rows: wall %.2f s, cpu %.2f s: %.1f rows/s wall, %.1f rows/cpu-s" %
              (loss, len(rows), tw, tc, pot_rate_w, pot_rate_c))
        print("  ratio %-10s wall %.0fx  (per CPU second %.0fx);  max |ours - POT| %.2g on %d/%d rows "
              "where POT converged" % (loss, rows_total / wall / pot_rate_w, rows_total / cpu / pot_rate_c,
                                        dev.max() if len(dev) else float("nan"), good.sum(), len(rows)))
    if a.gemm:
        g = a.gemm.split()
        print("  machine: %s GFLOP/s sgemm, %s dgemm (1024^3, %d threads); dgemm [256,K]x[K,K] one thread %s"
              % (g[1], g[3], a.threads, g[5]))


main()
