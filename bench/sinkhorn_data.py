"""Benchmark input for bench/sinkhorn.sh: prob [L,N,K] (sigmoid of a noisy
logit that leans towards the labels, sharper in later layers, as probes are)
and multi-hot labels [N,K] with the VOC (K = 20) or COCO (K = 80) names.

    /usr/bin/python3 bench/sinkhorn_data.py K L N OUT
"""
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "st"))
import stwrite as st  # noqa: E402


def main():
    k, nl, n, out = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    emb = "fixtures/voc-glove300.safetensors" if k == 20 else "fixtures/coco-glove300.safetensors"
    names = st.read(emb)[1]["labels"]
    rng = np.random.default_rng(k)
    y = (rng.random((n, k)) < 1.5 / k).astype(np.uint8)
    y[np.arange(n), rng.integers(0, k, n)] = 1
    prob = np.empty((nl, n, k), np.float32)
    for l in range(nl):
        sharp = 1 + 5 * l / max(1, nl - 1)
        z = sharp * (2 * y - 1) + rng.normal(-1.5, 2.0, (n, k))
        prob[l] = 1 / (1 + np.exp(-z))
    st.write(out, {"prob": prob, "labels": y}, {"labels": names})


main()
