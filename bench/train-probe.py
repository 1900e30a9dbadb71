#!/usr/bin/python3
"""train-probe against PyTorch on the CPU, the same recipe and thread count,
one run: N rows (80% train), K labels, L layers of D features each, E epochs.
Prints each one's throughput (training rows x epochs per second, all layers
trained) and the ratio, in wall time and in CPU time (steadier on a shared
machine). Our time is the whole process (load, train, write); torch's is its
training loop only, so the ratio is conservative."""
import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, os.path.join(ROOT, "tests/st"))
sys.path.insert(0, os.path.join(ROOT, "tests/train-probe"))
import stwrite as st  # noqa: E402
import torchprobe  # noqa: E402


def make(n, d, k, layers, seed=0):
    rng = np.random.default_rng(seed)
    latent = rng.standard_normal((n, 16), dtype=np.float32)
    labels = (latent[:, :k % 16 + 1].repeat(k // 16 + 1, axis=1)[:, :k] > 0.5).astype(np.uint8)
    split = (rng.random(n) >= 0.8).astype(np.uint8) * 2
    feats = {}
    for i in range(layers):
        x = rng.standard_normal((n, d), dtype=np.float32)
        x[:, :16] += latent
        feats["feat.%02d" % i] = x
    return feats, labels, split


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=os.environ.get("LS_BIN", os.path.join(ROOT, "bin")))
    ap.add_argument("--n", type=int, default=20000)
    ap.add_argument("--k", type=int, default=20)
    ap.add_argument("--layers", type=int, default=10)
    ap.add_argument("--dims", default="64,512,2048")
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    print("train-probe vs torch %s: N=%d K=%d layers=%d epochs=%d threads=%d"
          % (torch.__version__, a.n, a.k, a.layers, a.epochs, a.threads))
    print("%6s %15s %15s %7s %15s %15s %7s" % ("D", "ours rows*ep/s", "torch rows*ep/s", "ratio",
                                               "ours per CPU s", "torch per CPU s", "ratio"))
    for d in (int(x) for x in a.dims.split(",")):
        feats, labels, split = make(a.n, d, a.k, a.layers)
        train_rows = np.flatnonzero(split == 0)
        work = len(train_rows) * a.epochs
        with tempfile.TemporaryDirectory() as tmp:
            inp = os.path.join(tmp, "in.st")
            st.write(inp, dict(feats, labels=labels, split=split))
            c0 = resource.getrusage(resource.RUSAGE_CHILDREN)
            t0 = time.perf_counter()
            subprocess.run([a.bin + "/train-probe", "-q", "--no-head", "-t", str(a.threads), "--epochs",
                            str(a.epochs), "-o", os.path.join(tmp, "out.st"), inp], check=True)
            ours = time.perf_counter() - t0
            c1 = resource.getrusage(resource.RUSAGE_CHILDREN)
            ours_cpu = c1.ru_utime + c1.ru_stime - c0.ru_utime - c0.ru_stime
        t0, p0 = time.perf_counter(), time.process_time()
        for x in feats.values():   # train, then prob for every row, as train-probe does
            w, b, _ = torchprobe.train(x, labels, train_rows, epochs=a.epochs)
            torchprobe.predict(x, w, b)
        peer, peer_cpu = time.perf_counter() - t0, time.process_time() - p0
        print("%6d %15.0f %15.0f %7.2f %15.0f %15.0f %7.2f" % (d, work / ours, work / peer, peer / ours,
              work / ours_cpu, work / peer_cpu, peer_cpu / ours_cpu), flush=True)


if __name__ == "__main__":
    main()
