"""sinkhorn before/after and against POT's per-pair loop, one run (bench/sinkhorn.sh).

    /usr/bin/python3 bench/sinkhorn.py --k 20 --layers 10 --n 100000 --pot-rows 200 \
        --before BEFORE_BIN --iters ITERS_BIN [--eps 0.01] [--before-max-iter 1000] \
        [--gemm "sgemm G dgemm G dgemm_block G"]

Ours: bin/sinkhorn on all L*N rows (GloVe cost, tol 1e-6, default --max-iter), and
the solver before issue 16 (BEFORE_BIN, max-iter --before-max-iter) on the same
file in the same run, both losses (divergence, transport), each twice in the
order before, after, after, before: the lower wall and CPU time of the two, the
stderr summary, the speed-up. ITERS_BIN (bench/sinkhorn_iters.c) solves the
same problems through the library to print the distribution of iterations per
problem (median, p99, max), with Newton (after) and without (before: the
library with newton_after 0 is the solver of BEFORE_BIN).
POT: ot.sinkhorn (method sinkhorn_log, same eps, stopThr, numItermax 1000) on a
random subset of rows, timed and extrapolated to rows per second:
  - the divergence, as we compute it: OT(a,b) and OT(a,a) per row, OT(b,b) once per
    distinct target (cached), values 2 OT(a,b) - OT(a,a) - OT(b,b) from the plans;
  - ot.sinkhorn2 alone per pair, against our --loss transport.
POT's stopping rule is ||T^T 1 - b||_2 <= stopThr checked every 10 iterations, ours
||T 1 - a||_1 + ||T^T 1 - b||_1 <= tol every iteration (stricter). Accuracy: our
values on the subset against POT's, where POT's plan is within 1e-6 of its marginals.
--pot-rows 0 skips POT (the eps 0.002 case).
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

LOSSES = ("divergence", "transport")


def cpu_children():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def tool(binary, src, emb, loss, eps, threads, out, max_iter=None):
    args = [binary, "-t", str(threads), "--embeddings", emb, "--loss", loss, "--eps", repr(eps)]
    if max_iter:
        args += ["--max-iter", str(max_iter)]
    c0, t0 = cpu_children(), time.perf_counter()
    p = subprocess.run(args + [src, "-o", out], stderr=subprocess.PIPE, check=True)
    return time.perf_counter() - t0, cpu_children() - c0, p.stderr.decode()


def iterations(iters, k, n, nt, loss, eps, max_iter, newton_after, threads, files):
    out = subprocess.run([iters, str(k), str(n), str(nt), loss, repr(eps), str(max_iter), str(newton_after),
                          str(threads)] + files, stdout=subprocess.PIPE, check=True).stdout.decode().split()
    return dict(zip(out[::2], out[1::2]))


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
    return {"divergence": (np.array(div), t_div), "transport": (np.array(tr), t_tr)}, np.array(err)


def summary(err):
    keep = [line.replace("sinkhorn: wdist: ", "") for line in err.strip().splitlines()]
    return "; ".join(keep)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--k", type=int, default=20)
    ap.add_argument("--layers", type=int, default=10)
    ap.add_argument("--n", type=int, default=100000)
    ap.add_argument("--pot-rows", type=int, default=200)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--eps", type=float, default=0.01)
    ap.add_argument("--before", required=True)
    ap.add_argument("--before-max-iter", type=int, default=1000)
    ap.add_argument("--iters", required=True)
    ap.add_argument("--gemm", default="")
    a = ap.parse_args()
    name = "voc" if a.k == 20 else "coco"
    emb = oracle.EMBED[name]
    d = tempfile.mkdtemp(prefix="bench-sinkhorn-")
    src = os.path.join(d, "prob.st")
    subprocess.run([sys.executable, os.path.join(HERE, "sinkhorn_data.py"), str(a.k), str(a.layers), str(a.n), src],
                   check=True)
    tensors = st.read(src)[0]
    prob, y = tensors["prob"][1], tensors["labels"][1]
    C = oracle.glove_cost(name)   # the data's labels are in the file's order
    files = [os.path.join(d, f) for f in ("cost.bin", "src.bin", "tgt.bin")]
    C.tofile(files[0])
    prob.astype(np.float32).tofile(files[1])
    y.astype(np.float32).tofile(files[2])
    rows_total = a.layers * a.n
    print("K=%d eps %g: %d x %d = %d rows, tol 1e-6, %d threads; before: --max-iter %d, after: default (1000)"
          % (a.k, a.eps, a.layers, a.n, rows_total, a.threads, a.before_max_iter))
    res = {}
    solvers = {"before": (a.before, a.before_max_iter), "after": ("bin/sinkhorn", None)}
    for loss in LOSSES:
        runs = {}
        # before, after, after, before: both see the same load; the faster of two runs counts
        for who in ("before", "after", "after", "before"):
            out = os.path.join(d, "%s-%s.st" % (who, loss))
            wall, cpu, err = tool(solvers[who][0], src, emb, loss, a.eps, a.threads, out, solvers[who][1])
            if who in runs:
                runs[who] = (min(wall, runs[who][0]), min(cpu, runs[who][1]), runs[who][2], runs[who][3])
            else:
                runs[who] = (wall, cpu, st.read(out)[0]["wdist"][1].reshape(-1), err)
        for who in ("before", "after"):
            wall, cpu, _, err = runs[who]
            it = iterations(a.iters, a.k, rows_total, a.n, loss, a.eps,
                            a.before_max_iter if who == "before" else 1000, 0 if who == "before" else 32,
                            a.threads, files)
            print("  %-6s %-10s wall %7.2f s  cpu %7.2f s  %9.0f rows/s wall  %9.0f rows/cpu-s (best of 2)" %
                  (who, loss, wall, cpu, rows_total / wall, rows_total / cpu))
            print("         %s" % summary(err))
            print("         iterations per problem (%s problems): median %s, p99 %s, max %s, mean %s; "
                  "%s unconverged; %s finished by Newton (%s trial steps)"
                  % (it["problems"], it["median"], it["p99"], it["max"], it["mean"], it["unconverged"],
                     it["newton_problems"], it["newton_steps"]))
        (wb, cb, vb, _), (wa, ca, va, _) = runs["before"], runs["after"]
        print("  after/before %-10s throughput x%.2f wall, x%.2f per CPU-s; max |after - before| %.2g"
              % (loss, wb / wa, cb / ca, np.abs(va - vb).max()))
        res[loss] = runs["after"][:3]
    if a.pot_rows:
        rng = np.random.default_rng(0)
        rows = rng.choice(rows_total, a.pot_rows, replace=False)
        pot, perr = pot_rows(prob, y, rows, C, a.eps, 1e-6, 1000)
        for loss in LOSSES:
            pv, (tw, tc) = pot[loss]
            wall, cpu, got = res[loss]
            pot_rate_w, pot_rate_c = len(rows) / tw, len(rows) / tc
            good = perr <= 1e-6
            dev = np.abs(got[rows] - pv)[good]
            print("  POT  %-10s  %d rows: wall %.2f s, cpu %.2f s: %.1f rows/s wall, %.1f rows/cpu-s" %
                  (loss, len(rows), tw, tc, pot_rate_w, pot_rate_c))
            print("  ratio after/POT %-10s wall %.0fx  (per CPU second %.0fx);  max |ours - POT| %.2g on %d/%d rows "
                  "where POT converged" % (loss, rows_total / wall / pot_rate_w, rows_total / cpu / pot_rate_c,
                                            dev.max() if len(dev) else float("nan"), good.sum(), len(rows)))
    if a.gemm:
        g = a.gemm.split()
        print("  machine: %s GFLOP/s sgemm, %s dgemm (1024^3, %d threads); dgemm [256,K]x[K,K] one thread %s"
              % (g[1], g[3], a.threads, g[5]))


main()
