"""POT (python3-pot, float64) as the oracle of the sinkhorn tests.

    import oracle
    C = oracle.glove_cost("voc")                 # [20,20], max-normalised
    v = oracle.pot_losses(a, b, C, eps)          # {"transport", "entropic", "divergence"}

a, b are the histograms as the tool sees them: float32 values, normalised in
float64. The plan is POT's sinkhorn_log at stopThr 1e-12 (contract section 7):
transport = <T,C>, entropic = <T,C> + eps sum T (log T - 1) (0 log 0 = 0),
divergence = 2 OT(a,b) - OT(a,a) - OT(b,b) with the entropic values.
"""
import os
import sys
import warnings

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "st"))
import stwrite as st  # noqa: E402

EMBED = {"voc": "fixtures/voc-glove300.safetensors", "coco": "fixtures/coco-glove300.safetensors"}


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


def plan(a, b, C, eps):
    import ot
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")   # log(0) on zero bins is expected
        return ot.sinkhorn(a, b, C, eps, method="sinkhorn_log", numItermax=10000, stopThr=1e-12)


def entropic(T, C, eps):
    t = T[T > 0]
    return float((T * C).sum() + eps * (t * (np.log(t) - 1)).sum())


def pot_losses(a, b, C, eps, self_cache=None):
    """The three losses of (a, b) and the L1 marginal error of POT's plan;
    self_cache maps the bytes of a histogram to OT(x,x). transport is
    sum(T * C) of the plan, which is what ot.sinkhorn2 computes from it."""
    T = plan(a, b, C, eps)
    ent = entropic(T, C, eps)
    err = np.abs(T.sum(1) - a).sum() + np.abs(T.sum(0) - b).sum()

    def self_ot(x):
        key = x.tobytes()
        if self_cache is not None and key in self_cache:
            return self_cache[key]
        S = plan(x, x, C, eps)
        v = (entropic(S, C, eps), 2 * np.abs(S.sum(1) - x).sum())
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
