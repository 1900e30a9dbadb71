#!/usr/bin/python3
"""sinkhorn, the tool: VOC-labelled data with the GloVe label embeddings of
fixtures/ against POT (labels matched by name, in another order than the
embedding file's), the losses, the measures, --cost, --source/--target,
wdist_epochs, wdist_train(_adjacent), --skip-empty, threads, pipes and the forwarded context."""
import json
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "st"))
sys.path.insert(0, os.path.join(HERE, "sinkhorn"))
import oracle  # noqa: E402
import stwrite as st  # noqa: E402
from tap import ASAN, BIN, done, is_, names_error, ok, peak_rss, run, scratch, shell, skip  # noqa: E402

TOOL = os.path.join(BIN, "sinkhorn")
VOC = oracle.EMBED["voc"]
d = scratch()
rng = np.random.default_rng(31)


def sink(*args, **kw):
    return run([TOOL] + [str(a) for a in args], **kw)


def load(path):
    tensors, meta = st.read(path)
    return {k: v[1] for k, v in tensors.items()}, meta


# VOC-labelled data: label columns in reverse alphabetical order
emb, emeta = oracle.embeddings("voc")
names = json.loads(emeta["labels"])
order = list(range(len(names)))[::-1]
labels_meta = [names[i] for i in order]
C = oracle.cost_from(emb[order])
L, N, K = 2, (4 if ASAN else 6), 20
y = np.zeros((N, K), np.uint8)
for n in range(N):
    y[n, rng.choice(K, 1 + n % 3, replace=False)] = 1
prob = (1 / (1 + np.exp(-rng.normal(-2, 2.5, (L, N, K))))).astype(np.float32)
prob[1, 0] = y[0]                      # a layer that is exactly right
split = (np.arange(N) % 3).astype(np.uint8)
meta = {"labels": json.dumps(labels_meta), "arch": "resnet18"}
src = os.path.join(d, "prob.st")
st.write(src, {"prob": prob, "labels": y, "split": split}, meta)

out = os.path.join(d, "dist.st")
rc, _, err = sink("--embeddings", VOC, "--measure", "chebyshev,js,kl,tv", src, "-o", out)
ok(rc == 0, "runs on VOC-labelled data with the GloVe embeddings", err)
ok("did not converge" in err and "worst marginal error" in err, "reports convergence on stderr", err)
t, m = load(out)
is_(sorted(t), sorted(["wdist", "cheb", "jsd", "kl", "tv", "labels", "split"]), "tensors written and forwarded")
is_(t["wdist"].shape, (L, N), "wdist has the shape [L,N]")
is_(t["wdist"].dtype, np.float32, "wdist is float32")
ok(m.get("labels") == meta["labels"] and m.get("arch") == "resnet18", "metadata forwarded")
ok(json.loads(m["history"])[-1].startswith("sinkhorn "), "history appended")
ok(np.array_equal(t["labels"], y) and np.array_equal(t["split"], split), "labels and split forwarded unchanged")
want = np.zeros((L, N))
meas = {q: np.zeros((L, N)) for q in ("chebyshev", "js", "kl", "tv")}
cache = {}
for l in range(L):
    for n in range(N):
        a, b = oracle.normalise(prob[l, n]), oracle.normalise(y[n])
        want[l, n] = oracle.pot_losses(a, b, C, 0.01, cache)["divergence"]
        for q, v in oracle.measures(a, b).items():
            meas[q][l, n] = v
dev = np.abs(t["wdist"] - want).max()
ok(dev <= 1e-5, "wdist within 1e-5 of POT's divergence, cost from names (max %.2g)" % dev,
   "got %s\nwant %s" % (t["wdist"], want))
is_(float(t["wdist"][1, 0]), 0.0, "divergence 0 where the layer equals the target")
for q, name in (("chebyshev", "cheb"), ("js", "jsd"), ("kl", "kl"), ("tv", "tv")):
    ok(np.allclose(t[name], meas[q], rtol=1e-6, atol=1e-7), "%s agrees with numpy" % name)

# by position: the same embeddings in the data's order, without names, give the same numbers
st.write(os.path.join(d, "emb-pos.st"), {"vec": emb[order]})
st.write(os.path.join(d, "prob-nonames.st"), {"prob": prob, "labels": y})
rc, _, err = sink("-q", "--embeddings", os.path.join(d, "emb-pos.st") + ":vec",
                  os.path.join(d, "prob-nonames.st"), "-o", os.path.join(d, "pos.st"))
ok(rc == 0 and err == "", "-q: embeddings by position, FILE:NAME", err)
ok(rc == 0 and np.array_equal(load(os.path.join(d, "pos.st"))[0]["wdist"], t["wdist"]),
   "by position = by name")

# plain Sinkhorn (no over-relaxation) reaches the same values
rc, _, err = sink("-q", "--omega", 1, "--embeddings", VOC, src, "-o", os.path.join(d, "plain.st"))
ok(rc == 0 and np.abs(load(os.path.join(d, "plain.st"))[0]["wdist"] - t["wdist"]).max() <= 1e-5,
   "--omega 1 (plain Sinkhorn) within 1e-5 of the relaxed default", err)

# threads and pipes
rc, piped, err = shell("%s -q -t 1 --embeddings %s < %s" % (TOOL, VOC, src))
ok(rc == 0 and np.array_equal(st.loads(piped)[0]["wdist"][1], t["wdist"]),
   "standard input to standard output, one thread: the same numbers", err)

# the other losses with a --cost file, against POT
Cr = rng.random((K, K))
Cr = (Cr + Cr.T) / 2
np.fill_diagonal(Cr, 0)
st.write(os.path.join(d, "cost.st"), {"cost": Cr})
for loss in ("entropic", "transport"):
    o = os.path.join(d, loss + ".st")
    rc, _, err = sink("-q", "--cost", os.path.join(d, "cost.st"), "--loss", loss, "--eps", "0.05", src, "-o", o)
    got = load(o)[0]["wdist"] if rc == 0 else None
    w = np.array([[oracle.pot_losses(oracle.normalise(prob[l, n]), oracle.normalise(y[n]), Cr, 0.05)[loss]
                   for n in range(N)] for l in range(L)])
    ok(rc == 0 and np.abs(got - w).max() <= 1e-5, "--loss %s with --cost: within 1e-5 of POT" % loss, err)

# a cost that is not symmetric: OT(a,a) and OT(b,b) by the general iteration
Ca = rng.random((K, K))
np.fill_diagonal(Ca, 0)
st.write(os.path.join(d, "cost-asym.st"), {"C": Ca.astype(np.float32)})
o = os.path.join(d, "asym.st")
rc, _, err = sink("-q", "--cost", os.path.join(d, "cost-asym.st") + ":C", "--eps", "0.05", src, "-o", o)
Ca32 = Ca.astype(np.float32).astype(np.float64)
w = np.array([[oracle.pot_losses(oracle.normalise(prob[l, n]), oracle.normalise(y[n]), Ca32, 0.05)["divergence"]
               for n in range(N)] for l in range(L)])
ok(rc == 0 and np.abs(load(o)[0]["wdist"] - w).max() <= 1e-5,
   "a non-symmetric F32 --cost FILE:NAME: divergence within 1e-5 of POT", err)

# --source/--target of the same shape, 1-I cost by default; at eps 0.01 a
# mass that must cross the cost 1 takes Sinkhorn alone thousands of
# iterations (more when q is close to p), Newton a few: the default cap holds
p = rng.random((4, 5)).astype(np.float32)
q = rng.random((4, 5)).astype(np.float32)
q[3] = p[3] * np.exp(0.01 * rng.normal(size=5)).astype(np.float32)
st.write(os.path.join(d, "pq.st"), {"p": p, "q": q})
rc, _, err = sink("--source", "p", "--target", "q", os.path.join(d, "pq.st"), "-o", os.path.join(d, "pq.out"))
w = np.array([oracle.pot_losses(oracle.normalise(p[i]), oracle.normalise(q[i]), 1 - np.eye(5), 0.01)["divergence"]
              for i in range(4)])
ok(rc == 0 and np.abs(load(os.path.join(d, "pq.out"))[0]["wdist"] - w).max() <= 1e-6,
   "--source/--target, default cost 1 - I, default --max-iter: within 1e-6 of POT", err)
ok(" 0 did not converge within 1000 iterations" in err, "every problem converged within the default cap", err)

# --strict: a problem short of --tol is an error (one line, exit 1, no
# output); without it the stderr line reports it and the output is written
out = os.path.join(d, "strict.st")
rc, _, err = sink("--strict", "--max-iter", 3, "--embeddings", VOC, src, "-o", out)
ok(rc == 1 and names_error(err, "sinkhorn", ("wdist", "did not converge within 3 iterations")) and not os.path.exists(out),
   "--strict with a cap too low: one line, exit 1, no output", err)
rc, _, err = sink("--max-iter", 3, "--embeddings", VOC, src, "-o", out)
ok(rc == 0 and os.path.exists(out) and "did not converge within 3 iterations" in err and
   " 0 did not converge" not in err, "without --strict: written, and stderr says how many did not converge", err)
rc, _, err = sink("--strict", "--embeddings", VOC, "--eps", "0.001", src, "-o", out)
ok(rc == 0 and os.path.exists(out), "--strict at eps 0.001: every problem converges", err)

# wdist_epochs from prob_epochs [S,L',N,K]
pe = np.stack([prob, prob[::-1]])
st.write(os.path.join(d, "ep.st"), {"prob": prob, "labels": y, "prob_epochs": pe}, meta)
rc, _, err = sink("-q", "--embeddings", VOC, os.path.join(d, "ep.st"), "-o", os.path.join(d, "ep.out"))
te = load(os.path.join(d, "ep.out"))[0] if rc == 0 else {}
ok(rc == 0 and te["wdist_epochs"].shape == (2, L, N) and np.array_equal(te["wdist_epochs"][0], te["wdist"])
   and np.array_equal(te["wdist_epochs"][1], te["wdist"][::-1]), "wdist_epochs [S,L',N] from prob_epochs", err)

# prob_train [T,L,N,K] (stacked checkpoints) alone: wdist_train [T,L,N] against the
# labels and wdist_train_adjacent [T-1,L,N] between consecutive checkpoints, vs POT
T = 3
ptr = np.stack([prob, (1 / (1 + np.exp(-rng.normal(-1, 2, (L, N, K))))).astype(np.float32), prob[::-1]])
st.write(os.path.join(d, "tr.st"), {"prob_train": ptr, "labels": y, "split": split}, meta)
# two smooth histograms need more than the default 1000 iterations at eps 0.01 (as in the pipeline)
rc, _, err = sink("--max-iter", 20000, "--embeddings", VOC, os.path.join(d, "tr.st"), "-o", os.path.join(d, "tr.out"))
tt = load(os.path.join(d, "tr.out"))[0] if rc == 0 else {}
ok(rc == 0 and sorted(tt) == ["labels", "split", "wdist_train", "wdist_train_adjacent"] and ", 0 did not converge" in err,
   "prob_train without prob: wdist_train and wdist_train_adjacent (every problem converged), context forwarded", err)
want_tr = np.array([[[oracle.pot_losses(oracle.normalise(ptr[t, l, n]), oracle.normalise(y[n]), C, 0.01, cache)["divergence"]
                      for n in range(N)] for l in range(L)] for t in range(T)])
ok(rc == 0 and tt["wdist_train"].shape == (T, L, N) and np.abs(tt["wdist_train"] - want_tr).max() <= 1e-5,
   "wdist_train [T,L,N] within 1e-5 of POT's divergence to the labels", err)
adj = [[[oracle.pot_losses(oracle.normalise(ptr[t, l, n]), oracle.normalise(ptr[t + 1, l, n]), C, 0.01, cache)
         for n in range(N)] for l in range(L)] for t in range(T - 1)]
want_adj = np.array([[[v["divergence"] for v in r] for r in p] for p in adj])
# the oracle itself: POT's plan of two smooth histograms can stop short of 10,000 iterations
pot_done = np.array([[[v["pot_err"] <= 1e-8 for v in r] for r in p] for p in adj])
dev = np.abs(tt["wdist_train_adjacent"] - want_adj)[pot_done].max() if rc == 0 else None
ok(rc == 0 and tt["wdist_train_adjacent"].shape == (T - 1, L, N) and pot_done.mean() >= 0.8 and dev <= 1e-5,
   "wdist_train_adjacent [T-1,L,N] within 1e-5 of POT's divergence between checkpoints t and t+1 "
   "(%d of %d problems where POT converged)" % (pot_done.sum(), pot_done.size), dev)
ok(rc == 0 and np.array_equal(tt["wdist_train"][0], t["wdist"]), "wdist_train[0] = wdist of the same prob")
st.write(os.path.join(d, "tr1.st"), {"prob": prob, "prob_train": ptr[:1], "labels": y}, meta)
rc, _, err = sink("-q", "--embeddings", VOC, os.path.join(d, "tr1.st"), "-o", os.path.join(d, "tr1.out"))
tt = load(os.path.join(d, "tr1.out"))[0] if rc == 0 else {}
ok(rc == 0 and sorted(tt) == ["labels", "wdist", "wdist_train"], "one checkpoint beside prob: wdist and wdist_train, no adjacent", err)
st.write(os.path.join(d, "trbad.st"), {"prob_train": ptr[:, :, :, :5], "labels": y}, meta)
rc, _, err = sink("-q", "--embeddings", VOC, os.path.join(d, "trbad.st"), "-o", os.path.join(d, "trbad.out"))
ok(rc == 1 and "prob_train" in err and not os.path.exists(os.path.join(d, "trbad.out")),
   "prob_train whose K is not the labels': exit 1 naming it, no output", err)
st.write(os.path.join(d, "none.st"), {"labels": y}, meta)
rc, _, err = sink("-q", os.path.join(d, "none.st"), "-o", os.path.join(d, "none.out"))
ok(rc == 1 and "missing tensor 'prob'" in err, "neither prob nor prob_train: exit 1, missing prob", err)

# --skip-empty
y2 = y.copy()
y2[2] = 0
st.write(os.path.join(d, "empty.st"), {"prob": prob, "labels": y2}, meta)
rc, _, err = sink("-q", "--skip-empty", "--measure", "tv", "--embeddings", VOC, os.path.join(d, "empty.st"),
                  "-o", os.path.join(d, "empty.out"))
te = load(os.path.join(d, "empty.out"))[0] if rc == 0 else {}
ok(rc == 0 and np.isnan(te["wdist"][:, 2]).all() and np.isnan(te["tv"][:, 2]).all()
   and np.isfinite(np.delete(te["wdist"], 2, axis=1)).all(), "--skip-empty: NaN for a row without labels", err)
ok(rc == 0 and np.array_equal(np.delete(te["wdist"], 2, axis=1), np.delete(t["wdist"], 2, axis=1)),
   "--skip-empty: the other rows unchanged")

# a progress bar with --progress (stderr is not a terminal here)
rc, _, err = sink("--progress", "--embeddings", VOC, src, "-o", os.path.join(d, "progress.st"))
ok(rc == 0 and "wdist [" in err and "100.0%" in err, "--progress draws a bar on stderr", err)

# version and help
rc, o, _ = sink("--version")
ok(rc == 0 and o.strip(), "--version")
rc, o, _ = sink("--help")
ok(rc == 0 and b"[0.01]" in o and b"[1000]" in o and b"divergence" in o, "--help shows the defaults")

# memory (issue 14): prob and prob_epochs, nearly all of a study's prob.st, are
# solved from the input's own F32 data, not from a float copy beside it, so the
# peak stays near the input's size (2x it before). Not under ASan (its shadow
# memory; and a million problems).
if ASAN:
    skip("peak RSS near the input's size, not twice it", "ASan's shadow memory")
else:
    Nm, Em = 500, 1000
    ym = (rng.random((Nm, K)) < 0.2).astype(np.uint8)
    ym[:, 0] = 1
    big = os.path.join(d, "big.st")
    st.write(big, {"prob": rng.random((L, Nm, K)).astype(np.float32) + 0.01,
                   "prob_epochs": rng.random((Em, L, Nm, K)).astype(np.float32) + 0.01, "labels": ym},
             {"labels": meta["labels"]})
    size = os.path.getsize(big)
    status, peak = peak_rss([TOOL, "-q", "--embeddings", VOC, big, "-o", os.path.join(d, "big-out.st")])
    bt, _ = load(os.path.join(d, "big-out.st")) if status == 0 else ({}, None)
    ok(status == 0 and bt["wdist_epochs"].shape == (Em, L, Nm) and np.isfinite(bt["wdist_epochs"]).all()
       and peak < 1.5 * size, "%.0f MB of prob and prob_epochs: peak RSS %.0f MB, under 1.5x the input"
       % (size / 1e6, peak / 1e6))
done()
