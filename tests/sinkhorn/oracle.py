"""POT (python3-pot, float64) as the oracle of the sinkhorn tests.

    import oracle
    C = oracle.glove_cost("voc")                 # [20,20], max-normalised
    v = oracle.pot_losses(a, b, C, eps)          # {"transport", "entropic", "divergence"}

a, b are the histograms as the tool sees them: float32 values, normalised in
float64. The plan is POT's sinkhorn_log run to convergence (contract section
7): transport = <T,C>, entropic = <T,C> + eps sum T (log T - 1) (0 log 0 =
0), divergence = 2 OT(a,b) - OT(a,a) - OT(b,b) with the entropic values.

Run cold, Sinkhorn needs up to millions of iterations on the problems the
tests hold us to (small eps, near-diagonal kernels, a close to b), so POT is
started from potentials (f, g) that a small numpy Newton solver finds: POT
solves the problem with the cost C_ij - f_i - g_j - eps log(a_i b_j), which
has the same plan (row and column constants are absorbed by the marginals),
and its zero potentials are then (f, g). POT iterates until its own criterion (column
error, L2) is below 1e-10; plan() returns the L1 error of both marginals of
POT's plan for the tests to check.
"""
import os
import sys
import warnings

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "st"))
import stwrite as st  # noqa: E402

EMBED = {"voc": "fixtures/voc-glove300.safetensors", "coco": "fixtures/coco-glove300.safetensors",
         "fmnist": "fixtures/fmnist-embeddings.safetensors"}


def embeddings(name):
    tensors, meta = st.read(EMBED[name])
    return tensors["embeddings"][1].astype(np.float32), meta


def cost_from(e, p=2.0):
    """||e_i - e_j||^p over float32 rows, in float64, divided by its largest entry."""
    e = np.asarray(e, np.float64)
    d2 = ((e[:, None, :] - e[None, :, :]) ** 2).sum(-1)
    c = d2 if p == 2 else np.sqrt(d2) ** p
    return c / c.max()


def glove_cost(name):
    return cost_from(embeddings(name)[0])


def normalise(x):
    x = np.asarray(x, np.float32).astype(np.float64)
    return x / x.sum()


def lse(x, axis):
    m = x.max(axis=axis, keepdims=True)
    return (m + np.log(np.exp(x - m).sum(axis=axis, keepdims=True))).squeeze(axis)


def newton_potentials(a, b, C, eps, tol=1e-13, max_steps=2000, g0=None, info=None):
    """(f, g) over all bins (0 off the supports) with T = a b exp((f + g - C)/eps)
    near the optimal plan: Newton on the semi-dual in g (from g0, else 0), f by
    its exact soft-min, damped by lambda (diag(b + colsum)) and accepted on a
    rise of the semi-dual or, where that no longer resolves, a fall of the
    error. info (a dict) receives the trial steps and the final error."""
    ia, ib = np.flatnonzero(a > 0), np.flatnonzero(b > 0)
    wa, wb, Cs = a[ia], b[ib], C[np.ix_(ia, ib)]
    la, lb = np.log(wa), np.log(wb)

    def at(g):
        f = -eps * lse(lb[None, :] + (g[None, :] - Cs) / eps, 1)
        T = np.exp(la[:, None] + lb[None, :] + (f[:, None] + g[None, :] - Cs) / eps)
        r = wb - T.sum(0)
        return (wa * f).sum() + (wb * g).sum(), f, T, r, np.abs(r).sum() + np.abs(T.sum(1) - wa).sum()

    g = np.zeros(len(ib)) if g0 is None else np.array(g0, float)[ib]
    S, f, T, r, err = at(g)
    lam, steps = 1e-3, 0
    with np.errstate(all="ignore"):
        while err > tol and steps < max_steps and len(ib) > 1:
            W = T.T @ (T / wa[:, None])
            np.fill_diagonal(W, 0)
            H = np.diag(W.sum(1)) - W
            H[0, :] = 0       # g_0 stays
            H[0, 0] = 1
            while steps < max_steps:
                steps += 1
                A = H + lam * np.diag(np.r_[0, (T.sum(0) + wb)[1:]])
                rhs = eps * r
                rhs[0] = 0
                d = np.linalg.solve(A, rhs)
                S1, f1, T1, r1, err1 = at(g + d)
                flat = abs(S1 - S) <= 1e-14 * (abs(S) + abs(S1))
                if np.isfinite(S1) and np.isfinite(err1) and (err1 < err if flat else S1 >= S + 1e-4 * (r * d).sum()):
                    g, S, f, T, r, err = g + d, S1, f1, T1, r1, err1
                    lam /= 4
                    break
                lam = max(lam, 1e-12) * 10
    if info is not None:
        info.update(steps=steps, err=err)
    F, G = np.zeros(len(a)), np.zeros(len(b))
    F[ia], G[ib] = f, g
    return F, G


def plan(a, b, C, eps):
    """POT's sinkhorn_log plan (stopThr 1e-10), started from Newton's potentials."""
    import ot
    f, g = newton_potentials(a, b, C, eps)
    # POT's plan is exp(-M/eps + u + v) from u = v = 0: absorb a b exp((f + g)/eps)
    f[a > 0] += eps * np.log(a[a > 0])
    g[b > 0] += eps * np.log(b[b > 0])
    M = C - f[:, None] - g[None, :]
    # POT's first column update still counts the empty rows (u = 0 there):
    # give them a cost that makes their plan entries exp(-1000)
    M[a == 0, :] = 1000 * eps
    M[:, b == 0] = 1000 * eps
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")   # log(0) on zero bins is expected
        return ot.sinkhorn(a, b, M, eps, method="sinkhorn_log", numItermax=100000, stopThr=1e-10)


def marginal_error(T, a, b):
    return np.abs(T.sum(1) - a).sum() + np.abs(T.sum(0) - b).sum()


def entropic(T, C, eps):
    t = T[T > 0]
    return float((T * C).sum() + eps * (t * (np.log(t) - 1)).sum())


def pot_losses(a, b, C, eps, self_cache=None):
    """The three losses of (a, b) and the L1 marginal error of POT's plan;
    self_cache maps the bytes of a histogram to OT(x,x). transport is
    sum(T * C) of the plan, which is what ot.sinkhorn2 computes from it."""
    T = plan(a, b, C, eps)
    ent = entropic(T, C, eps)
    err = marginal_error(T, a, b)

    def self_ot(x):
        key = x.tobytes()
        if self_cache is not None and key in self_cache:
            return self_cache[key]
        S = plan(x, x, C, eps)
        v = (entropic(S, C, eps), marginal_error(S, x, x))
        if self_cache is not None:
            self_cache[key] = v
        return v

    (ea, erra), (eb, errb) = self_ot(a), self_ot(b)
    return {"transport": float((T * C).sum()), "entropic": ent, "divergence": 2 * ent - ea - eb,
            "pot_err": max(err, erra, errb)}


def measures(a, b):
    """chebyshev, js (nats), kl(b||a), tv = 0.5 ||a-b||_1 with scipy-free numpy."""
    m = 0.5 * (a + b)
    with np.errstate(divide="ignore", invalid="ignore"):
        js = 0.5 * np.where(a > 0, a * np.log(a / m), 0).sum() + \
            0.5 * np.where(b > 0, b * np.log(b / m), 0).sum()
        kl = np.where(b > 0, b * np.log(b / a), 0).sum()
    return {"chebyshev": float(np.abs(a - b).max()), "js": float(js), "kl": float(kl),
            "tv": float(0.5 * np.abs(a - b).sum())}
