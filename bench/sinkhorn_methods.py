"""How many iterations the candidate solvers of issue 16 need, in numpy (float64,
log domain), on the problem classes that Sinkhorn alone was slow on: the
measurement behind the method of tools/lib/sinkhorn.c (docs/sinkhorn.md).

    /usr/bin/python3 bench/sinkhorn_methods.py [--n 200] [--prob out/fmnist/resnet18/prob.st]

Classes: rows of the default study's prob.st (fmnist cost, close to 1 - I) at
eps 0.01 (synthetic probe rows when the file is absent); probe-like rows
against multi-hot labels on a random squared-Euclidean 20-label cost at eps
0.002 and on the VOC GloVe cost at eps 0.01 (the benchmark's case); a close
to b on the VOC cost at eps 0.001. Solvers, each to tol 1e-6 (L1 error of
both marginals), at most 20,000 iterations:
  plain          Sinkhorn
  OR 1.5         over-relaxed (omega 1.5, back to 1 when the error rises
                 tenfold): the solver before issue 16
  OR adaptive    omega from the plain rate measured over iterations 10-20
                 (Lehmann et al. 2021: 2 / (1 + sqrt(1 - rate)))
  eps-scaling    OR 1.5 at eps 1, 1/2, 1/4, ... (each to 1e-3), warm started
  Anderson       type-II Anderson acceleration (memory 5) of plain Sinkhorn,
                 safeguarded; on the first 60 problems (slow in numpy)
  Newton         damped Newton on the semi-dual from 0 (tests/sinkhorn/oracle.py)
  OR + Newton    OR 1.5, then Newton from its potentials for the problems whose
                 rate, measured every 8 iterations from the 16th, predicts more
                 than 32 more (the rule of sk_batch)
For the Newton rows the count is Newton trial steps (+ the Sinkhorn iterations
before them): a trial step costs a K x K (at most) Laplacian solve plus two
soft-min passes over the supports, about 10-40 Sinkhorn iterations at K = 20
for a dense target, one or two for a one-hot one; bench/sinkhorn.sh measures the
C solver's time.
"""
import argparse
import os
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "st"))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "sinkhorn"))
import oracle  # noqa: E402
import stwrite as st  # noqa: E402

TOL, CAP = 1e-6, 20000


def logs(x):
    with np.errstate(divide="ignore"):
        return np.log(x)


def lse(x, axis):
    m = np.max(x, axis=axis, keepdims=True)
    m = np.where(np.isfinite(m), m, 0.0)
    with np.errstate(divide="ignore"):
        return (m + np.log(np.exp(x - m).sum(axis=axis, keepdims=True))).squeeze(axis)


def finite(x):
    return np.where(np.isfinite(x), x, 0.0)


class Problems:
    """P problems a, b [P,K] sharing C, log domain, batched."""

    def __init__(self, a, b, C, eps):
        self.a, self.b, self.C, self.eps = a, b, C, eps
        self.la, self.lb = logs(a), logs(b)

    def g_of(self, f, idx):
        return finite(-self.eps * lse(self.la[idx][:, :, None] + (f[:, :, None] - self.C[None]) / self.eps, 1))

    def f_of(self, g, idx):
        return finite(-self.eps * lse(self.lb[idx][:, None, :] + (g[:, None, :] - self.C[None]) / self.eps, 2))

    def err(self, f, g, idx):
        T = np.exp(self.la[idx][:, :, None] + self.lb[idx][:, None, :]
                   + (f[:, :, None] + g[:, None, :] - self.C[None]) / self.eps)
        return np.abs(T.sum(2) - self.a[idx]).sum(1) + np.abs(T.sum(1) - self.b[idx]).sum(1)


def sinkhorn(pb, omega=1.0, adaptive=False, f=None, g=None, tol=TOL, cap=CAP, newton_after=0):
    """(Over-relaxed) Sinkhorn with per-problem stopping; newton_after > 0 stops a
    problem (flag `handed`) by the rate rule of sk_batch."""
    P, K = pb.a.shape
    f = np.zeros((P, K)) if f is None else f.copy()
    g = pb.g_of(f, np.arange(P)) if g is None else g.copy()
    it, err, om = np.zeros(P, int), np.full(P, np.inf), np.full(P, 1.0 if adaptive else omega)
    prev, check, at10 = np.full(P, np.inf), np.full(P, np.inf), np.full(P, np.inf)
    handed = np.zeros(P, bool)
    active = np.arange(P)
    while len(active):
        w = np.where(it[active] > 0, om[active], 1.0)[:, None]
        fa = (1 - w) * f[active] + w * pb.f_of(g[active], active)
        ga = (1 - w) * g[active] + w * pb.g_of(fa, active)
        f[active], g[active] = fa, ga
        it[active] += 1
        e = pb.err(fa, ga, active)
        err[active] = e
        om[active] = np.where(e > 10 * prev[active], 1.0, om[active])
        prev[active] = e
        if adaptive:
            at10[active] = np.where(it[active] == 10, e, at10[active])
            rate = np.clip((e / at10[active]) ** 0.1, 0, 1 - 1e-12)
            om[active] = np.where(it[active] == 20, np.minimum(1.95, 2 / (1 + np.sqrt(1 - rate))), om[active])
        done = (e <= tol) | (it[active] >= cap)
        if newton_after:
            at8 = (it[active] % 8 == 0) & ~done
            with np.errstate(divide="ignore", invalid="ignore"):
                more = 8 * np.log(tol / e) / np.log(e / check[active])
            slow = at8 & (it[active] >= 16) & ((it[active] >= 8 * newton_after) | ~(e < check[active])
                                               | (more > newton_after))
            handed[active[slow]] = True
            check[active] = np.where(at8, e, check[active])
            done |= slow
        active = active[~done]
    return f, g, it, err, handed


def eps_scaling(a, b, C, eps):
    total = np.zeros(len(a), int)
    e, f, g = max(1.0, eps), None, None
    while True:
        last = e <= eps
        f, g, it, err, _ = sinkhorn(Problems(a, b, C, e), 1.5, f=f, g=g, tol=TOL if last else 1e-3)
        total += it
        if last:
            return total, err
        e = max(e / 2, eps)


def anderson(a, b, C, eps, m=5):
    """one problem; iterations, final error"""
    pb = Problems(a[None], b[None], C, eps)
    idx = np.arange(1)
    g = pb.g_of(np.zeros((1, len(a))), idx)
    G, R = [], []
    for it in range(1, CAP + 1):
        f = pb.f_of(g, idx)
        gn = pb.g_of(f, idx)
        e = pb.err(f, g, idx)[0]
        if e <= TOL:
            return it, e
        res = (gn - g)[0]
        res -= res.mean()          # the constant shift is free
        G.append(gn[0])
        R.append(res)
        if len(R) > m:
            G.pop(0)
            R.pop(0)
        if len(R) > 1:
            dR = np.diff(np.array(R), axis=0).T
            dG = np.diff(np.array(G), axis=0).T
            A = dR.T @ dR
            A += (1e-10 * np.trace(A) + 1e-300) * np.eye(len(A))
            mix = (gn[0] - dG @ np.linalg.solve(A, dR.T @ res))[None]
            if np.all(np.isfinite(mix)) and pb.err(pb.f_of(mix, idx), mix, idx)[0] < pb.err(pb.f_of(gn, idx), gn, idx)[0]:
                g = mix
                continue
            G, R = [G[-1]], [R[-1]]
        g = gn
    return CAP, pb.err(pb.f_of(g, idx), g, idx)[0]


def newton(a, b, C, eps, g0=None):
    info = {}
    oracle.newton_potentials(a, b, C, eps, tol=TOL, g0=g0, info=info)
    return info["steps"], info["err"]


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def probe_rows(k, n, rng):
    y = (rng.random((n, k)) < 1.5 / k).astype(float)
    y[np.arange(n), rng.integers(0, k, n)] = 1
    z = (1 + 5 * rng.random((n, 1))) * (2 * y - 1) + rng.normal(-1.5, 2.0, (n, k))
    return np.array([oracle.normalise(r) for r in sigmoid(z)]), np.array([oracle.normalise(r) for r in y])


def near_rows(k, n, rng):
    b = rng.dirichlet(np.ones(k), n)
    return np.array([oracle.normalise(r) for r in b * np.exp(0.05 * rng.normal(size=(n, k)))]), \
        np.array([oracle.normalise(r) for r in b])


def study_rows(path, n, rng):
    t = st.read(path)[0]
    p, y = t["prob"][1], t["labels"][1]
    nl, nn, _ = p.shape
    idx = rng.choice(nl * nn, n, replace=False)
    return (np.array([oracle.normalise(p[i // nn, i % nn]) for i in idx]),
            np.array([oracle.normalise(y[i % nn]) for i in idx]))


def stats(it, err):
    it = np.asarray(it, float)
    return "%7.0f %7.0f %7.0f %7.0f %6.1f %5d" % (np.median(it), np.percentile(it, 90), np.percentile(it, 99),
                                                 it.max(), it.mean(), (np.asarray(err) > TOL).sum())


def compare(name, a, b, C, eps, n_aa):
    print("\n%s: K = %d, eps %g, %d problems" % (name, len(C), eps, len(a)))
    print("  %-14s %7s %7s %7s %7s %6s %5s  %s" % ("solver", "median", "p90", "p99", "max", "mean", "short", "time"))
    pb = Problems(a, b, C, eps)
    rows = []
    t0 = time.time()
    rows.append(("plain", sinkhorn(pb, 1.0)[2:4]))
    rows.append(("OR 1.5", sinkhorn(pb, 1.5)[2:4]))
    rows.append(("OR adaptive", sinkhorn(pb, adaptive=True)[2:4]))
    rows.append(("eps-scaling", eps_scaling(a, b, C, eps)))
    aa = [anderson(a[i], b[i], C, eps) for i in range(min(n_aa, len(a)))]
    rows.append(("Anderson", ([x[0] for x in aa], [x[1] for x in aa])))
    nt = [newton(a[i], b[i], C, eps) for i in range(len(a))]
    rows.append(("Newton", ([x[0] for x in nt], [x[1] for x in nt])))
    f, g, it, err, handed = sinkhorn(pb, 1.5, newton_after=32)
    its, errs = it.astype(float).copy(), err.copy()
    for i in np.flatnonzero(handed):
        s, e = newton(a[i], b[i], C, eps, g[i])
        its[i] += s
        errs[i] = e
    rows.append(("OR + Newton", (its, errs)))
    for label, (it, err) in rows:
        print("  %-14s %s" % (label, stats(it, err)))
    print("  (%d of %d went on with Newton; %.0f s)" % (handed.sum(), len(a), time.time() - t0))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--anderson", type=int, default=60)
    ap.add_argument("--prob", default="out/fmnist/resnet18/prob.st")
    a = ap.parse_args()
    rng = np.random.default_rng(16)
    fm = oracle.cost_from(oracle.embeddings("fmnist")[0])
    if os.path.exists(a.prob):
        x, y = study_rows(a.prob, a.n, rng)
        compare("default study rows (%s), fmnist cost" % a.prob, x, y, fm, 0.01, a.anderson)
    else:
        x, y = probe_rows(10, a.n, rng)
        compare("probe rows, fmnist cost (no %s)" % a.prob, x, y, fm, 0.01, a.anderson)
    x, y = probe_rows(20, a.n, rng)
    compare("probe rows, random squared-Euclidean cost", x, y,
            oracle.cost_from(rng.normal(size=(20, 4)).astype(np.float32)), 0.002, a.anderson)
    voc = oracle.glove_cost("voc")
    x, y = probe_rows(20, a.n, rng)
    compare("probe rows, VOC GloVe cost (the benchmark's)", x, y, voc, 0.01, a.anderson)
    x, y = near_rows(20, a.n, rng)
    compare("a close to b, VOC GloVe cost", x, y, voc, 0.001, a.anderson)


with np.errstate(over="ignore"):
    main()
