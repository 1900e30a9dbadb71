#!/usr/bin/python3
"""A synthetic study file for the study tools' tests and development
(early-exit, classify-samples, plot): what train-probe + sinkhorn would write.

    tests/synth-study.py OUT.safetensors [--n N] [--k K] [--layers L] [--seed S]
                         [--images] [--epochs E]

Each sample has a depth at which its layers start to see its labels; about
10% never do (the last layer stays wrong). prob [L,N,K] are sigmoids of
logits that grow with depth; wdist/cheb/jsd [L,N] are computed here from
a = p/sum p and b = y/sum y (total variation stands in for W: no sinkhorn
needed). --images adds `images` [N,56,56] U8: 2x2 mosaics of the
Fashion-MNIST items of each sample's labels when the Debian data set is
there, noise otherwise. --epochs E adds prob_epochs/wdist_epochs for layers
2 and L-2 at E snapshots. --checkpoints T adds what the across-training
pipeline writes for 3 layers (1, L/2, the last) at T backbone checkpoints:
prob_train [T,3,N,K], wdist_train [T,3,N] and wdist_train_adjacent [T-1,3,N]
(total variation again), metadata checkpoint_epochs (1/8, 1/4, 1/2, then 1,
2, ...); the file's `layers` stay those of prob."""
import argparse, gzip, json, os, sys
import numpy as np
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "st"))
import stwrite

LABELS = ["tshirt_top", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "ankle_boot"]

def probs(rng, y, L, depth, confused):
    N, K = y.shape
    sign = 2.0 * y - 1
    noise = rng.normal(0, 1.0, (L, N, K))
    steps = np.arange(L)[:, None, None]
    strength = np.clip(steps - depth[None, :, None] + 1, 0, None) * 1.2
    strength[:, confused] = 0.4 * np.sin(steps + 1)
    logit = -1.0 + sign * strength + noise
    logit[:, confused] += rng.normal(0, 1.5, (L, confused.sum(), K))
    return (1 / (1 + np.exp(-logit))).astype(np.float32)

def distances(p, y):
    a = p / np.maximum(p.sum(-1, keepdims=True), 1e-12)
    b = y / y.sum(-1, keepdims=True)
    tv = 0.5 * np.abs(a - b).sum(-1)
    cheb = np.abs(a - b).max(-1)
    m = 0.5 * (a + b)
    def kl(u, v):
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(u > 0, u * np.log(u / np.maximum(v, 1e-30)), 0).sum(-1)
    js = 0.5 * kl(a, m) + 0.5 * kl(b, m)
    return tv.astype(np.float32), cheb.astype(np.float32), js.astype(np.float32)

def fmnist_items(rng):
    path = "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz"
    if not os.path.exists(path):
        return None, None
    with gzip.open(path) as f:
        img = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 28, 28)
    with gzip.open(path.replace("images-idx3", "labels-idx1")) as f:
        lab = np.frombuffer(f.read(), np.uint8, offset=8)
    return img, lab

def mosaics(rng, y):
    N, K = y.shape
    img, lab = fmnist_items(rng)
    out = np.zeros((N, 56, 56), np.uint8)
    for i in range(N):
        cells = rng.permutation(4)[: max(1, y[i].sum())]
        for c, k in zip(cells, np.flatnonzero(y[i])):
            r, q = divmod(c, 2)
            if img is None or k >= 10:
                item = rng.integers(0, 255, (28, 28), np.uint8)
            else:
                item = img[rng.choice(np.flatnonzero(lab == k))]
            out[i, r * 28:(r + 1) * 28, q * 28:(q + 1) * 28] = item
    return out

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--n", type=int, default=600)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--layers", type=int, default=9)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--images", action="store_true")
    ap.add_argument("--epochs", type=int, default=0)
    ap.add_argument("--checkpoints", type=int, default=0)
    a = ap.parse_args()
    rng = np.random.default_rng(a.seed)
    N, K, L = a.n, a.k, a.layers
    y = (rng.random((N, K)) < 0.18).astype(np.uint8)
    y[y.sum(1) == 0, rng.integers(0, K)] = 1
    depth = rng.integers(0, L, N)
    confused = rng.random(N) < 0.1
    p = probs(rng, y, L, depth, confused)
    wd, cheb, js = distances(p, y)
    split = np.where(np.arange(N) % 5 == 0, 1, np.where(np.arange(N) % 5 == 1, 2, 0)).astype(np.uint8)
    split[np.arange(N) % 5 == 2] = 2
    tensors = {"prob": p, "labels": y, "split": split, "ignore": np.zeros((N, K), np.uint8),
               "index": np.arange(N, dtype=np.int64), "wdist": wd, "cheb": cheb, "jsd": js}
    names = (["stem"] + ["layer%d.%d" % (1 + b // 2, b % 2) for b in range(L - 2)] + ["fc"])[:L]
    meta = {"labels": json.dumps((LABELS + ["label%d" % k for k in range(10, K)])[:K]),
            "layers": json.dumps(names), "arch": "resnet18", "dataset": "synthetic",
            "layer_flops": json.dumps(list(np.cumsum([float(2 ** min(l, 4)) for l in range(L - 1)] + [0.5]))),
            "ids": json.dumps(["s%05d" % i for i in range(N)])}
    if a.images:
        tensors["images"] = mosaics(rng, y)
    if a.epochs:
        snap_layers = [min(2, L - 1), max(L - 2, 0)]
        pe = np.stack([probs(rng, y, L, np.clip(depth + a.epochs - e, 0, None), confused)[snap_layers]
                       for e in range(a.epochs)])
        tensors["prob_epochs"] = pe
        tensors["wdist_epochs"] = distances(pe, y[None, None])[0]
        meta["snapshot_epochs"] = json.dumps([10 * (e + 1) for e in range(a.epochs)])
        meta["snapshot_layers"] = json.dumps([names[l] for l in snap_layers])   # names, as train-probe
    if a.checkpoints:
        T = a.checkpoints
        tl = [1, L // 2, L - 1]
        pt = np.stack([probs(rng, y, L, np.clip(depth + T - t, 0, None), confused)[tl] for t in range(T)])
        tensors["prob_train"] = pt
        tensors["wdist_train"] = distances(pt, y[None, None])[0]
        an = pt / pt.sum(-1, keepdims=True)
        tensors["wdist_train_adjacent"] = (0.5 * np.abs(an[1:] - an[:-1]).sum(-1)).astype(np.float32)
        meta["checkpoint_epochs"] = json.dumps(([0.125, 0.25, 0.5] + list(range(1, T)))[:T])
    stwrite.write(a.out, tensors, meta)

main()
