#!/usr/bin/python3
"""extract-feats against torchvision's forward pass on the CPU: the same random
full-width network, the same 224 px input tensor, the same threads and batch.

For each arch: torch's images/s (eval, no_grad, one warm-up batch not timed),
then ours twice: end to end (the whole process: loading the model, every batch,
pooling every tap, writing the output) and steady (the same minus a run of one
batch, i.e. without the start-up); the ratios ours/torch; our GFLOP/s from
layer_flops beside OpenBLAS's sgemm rate on this machine and thread count.

    bench/extract-feats.py [--archs resnet18,resnet50,vgg16_bn] [--threads T]
                           [--batch B] [--images N] [--sgemm GFLOPS]
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, os.path.join(ROOT, "tests", "extract-feats"))
import models  # noqa: E402
import stwrite as st  # noqa: E402


def ours(binary, model, images, threads, batch, limit, out):
    t0 = time.time()
    subprocess.run([binary, "-q", "-t", str(threads), "--batch", str(batch), "--limit", str(limit),
                    "--model", model, "--dataset", "tensor:" + images, "-o", out], check=True)
    return time.time() - t0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--archs", default="resnet18,resnet50,vgg16_bn")
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--images", type=int, default=48)
    ap.add_argument("--sgemm", type=float, default=0, help="the machine's sgemm GFLOP/s, for the table")
    ap.add_argument("--bin", default=os.path.join(ROOT, "bin", "extract-feats"))
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    d = tempfile.mkdtemp(prefix="bench-ef.")
    x = np.random.default_rng(0).standard_normal((a.images, 3, 224, 224)).astype(np.float32)
    images = os.path.join(d, "images.st")
    st.write(images, {"images": x})
    print("threads %d, batch %d, %d images of 224x224; sgemm %.1f GFLOP/s" % (a.threads, a.batch, a.images, a.sgemm))
    print("%-10s %10s %10s %10s %8s %8s %10s" % ("arch", "torch im/s", "ours e2e", "ours steady", "e2e x", "steady x",
                                                  "GFLOP/s"))
    for arch in a.archs.split(","):
        m, _ = models.build(arch, 64, classes=1000, hidden=4096)
        models.randomise(m, torch.Generator().manual_seed(0))
        model = os.path.join(d, arch + ".st")
        st.write(model, models.state_tensors(m, "F32"), {"arch": arch})
        xt = torch.from_numpy(x)
        with torch.no_grad():
            m(xt[:a.batch])
            t0 = time.time()
            for i in range(0, a.images, a.batch):
                m(xt[i:i + a.batch])
            t_torch = time.time() - t0
        del m
        out = os.path.join(d, "out.st")
        t_one = ours(a.bin, model, images, a.threads, a.batch, a.batch, out)
        t_all = ours(a.bin, model, images, a.threads, a.batch, a.images, out)
        _, meta = st.read(out)
        flops = json.loads(meta["layer_flops"])[-1]
        rate_torch, rate_e2e = a.images / t_torch, a.images / t_all
        rate_steady = (a.images - a.batch) / max(t_all - t_one, 1e-9)
        print("%-10s %10.2f %10.2f %10.2f %8.2f %8.2f %10.1f" % (
            arch, rate_torch, rate_e2e, rate_steady, rate_e2e / rate_torch, rate_steady / rate_torch,
            rate_steady * flops * 1e-9), flush=True)
        os.unlink(model)


main()
