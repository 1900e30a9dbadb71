#!/usr/bin/python3
"""Synthetic extract-feats output of COCO's shape for bench/scale.sh.

    scale_gen.py N OUT.st [--seed S]

Writes what `extract-feats --model resnet50 --dataset coco:...` writes (contract
section 4): feat.00..feat.16 [N,D] F32 with ResNet-50's tap widths (64, 256 x3,
512 x4, 1024 x6, 2048 x3), logits [N,80] F32, labels and ignore [N,80] U8, split [N]
U8 (COCO-2014's 82,783 : 40,504 train : test proportion), index [N] I64, and the
metadata extract-feats sets (labels: COCO's 80 names in alphabetical order, layers,
layer_flops, arch, ids, splits, dataset). The file is streamed: features are made
and written in blocks of rows, so the generator holds one block of one layer (and
the N x 80 labels), not the file.

Values: labels independent Bernoulli with skewed rates (about 2.9 labels a row, as
COCO); features uniform in [0,1) plus a label signal that grows with depth, so that
probes learn something and the later stages see peaked, not flat, probabilities.
"""
import argparse
import json
import struct

import numpy as np

WIDTHS = [64] + [256] * 3 + [512] * 4 + [1024] * 6 + [2048] * 3
NAMES = ["maxpool"] + [f"layer{s + 1}.{b}" for s, n in enumerate((3, 4, 6, 3)) for b in range(n)]
# torchvision resnet50 at 224 px: multiply-adds up to each tap, then the whole network
# (only their ratios matter to early-exit; these are this generator's, not measured)
FLOPS = np.cumsum([118e6] + [230e6] * 3 + [260e6] * 4 + [230e6] * 6 + [270e6] * 3 + [4.1e6]).tolist()
COCO = ["airplane", "apple", "backpack", "banana", "baseball bat", "baseball glove", "bear", "bed",
        "bench", "bicycle", "bird", "boat", "book", "bottle", "bowl", "broccoli", "bus", "cake", "car",
        "carrot", "cat", "cell phone", "chair", "clock", "couch", "cow", "cup", "dining table", "dog",
        "donut", "elephant", "fire hydrant", "fork", "frisbee", "giraffe", "hair drier", "handbag",
        "horse", "hot dog", "keyboard", "kite", "knife", "laptop", "microwave", "motorcycle", "mouse",
        "orange", "oven", "parking meter", "person", "pizza", "potted plant", "refrigerator", "remote",
        "sandwich", "scissors", "sheep", "sink", "skateboard", "skis", "snowboard", "spoon",
        "sports ball", "stop sign", "suitcase", "surfboard", "teddy bear", "tennis racket", "tie",
        "toaster", "toilet", "toothbrush", "traffic light", "train", "truck", "tv", "umbrella", "vase",
        "wine glass", "zebra"]
K = len(COCO)
BLOCK = 4096


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("n", type=int)
    ap.add_argument("out")
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    n = a.n
    rng = np.random.default_rng(a.seed)
    rate = 0.45 / np.arange(1, K + 1) ** 0.75
    rate *= 2.9 / rate.sum()
    y = (rng.random((n, K)) < rng.permutation(rate)).astype(np.uint8)
    ntrain = round(n * 82783 / 123287)
    split = np.where(np.arange(n) < ntrain, 0, 2).astype(np.uint8)

    tensors = [(f"feat.{t:02d}", "F32", [n, d], 4) for t, d in enumerate(WIDTHS)]
    tensors += [("logits", "F32", [n, K], 4), ("labels", "U8", [n, K], 1), ("ignore", "U8", [n, K], 1),
                ("split", "U8", [n], 1), ("index", "I64", [n], 8)]
    head, off = {}, 0
    for name, dt, shape, size in tensors:
        end = off + size * int(np.prod(shape))
        head[name] = {"dtype": dt, "shape": shape, "data_offsets": [off, end]}
        off = end
    head["__metadata__"] = {
        "labels": json.dumps(COCO), "layers": json.dumps(NAMES), "arch": "resnet50",
        "layer_flops": json.dumps(FLOPS), "splits": json.dumps(["train", "val", "test"]),
        "ids": json.dumps([f"COCO_synthetic_{i:012d}.jpg" for i in range(n)]),
        "dataset": "synthetic:bench/scale_gen.py", "pool": "avg",
        "history": json.dumps([f"bench/scale_gen.py {n} --seed {a.seed}"]),
    }
    hb = json.dumps(head, separators=(",", ":")).encode()
    hb += b" " * (-len(hb) % 8)
    with open(a.out, "wb") as f:
        f.write(struct.pack("<Q", len(hb)))
        f.write(hb)
        for t, d in enumerate(WIDTHS):
            # each label lifts its own random dims, more at depth
            lift = (rng.random((K, d)) < 8 / K).astype(np.float32) * (0.2 + 1.8 * t / (len(WIDTHS) - 1))
            for r in range(0, n, BLOCK):
                yb = y[r:r + BLOCK].astype(np.float32)
                x = rng.random((len(yb), d), dtype=np.float32)
                x += yb @ lift
                f.write(x.tobytes())
        for r in range(0, n, BLOCK):
            yb = y[r:r + BLOCK].astype(np.float32)
            f.write((yb * 6 - 3 + rng.standard_normal(yb.shape, dtype=np.float32) * 2).tobytes())
        f.write(y.tobytes())
        f.write(np.zeros((n, K), np.uint8).tobytes())
        f.write(split.tobytes())
        f.write(np.arange(n, dtype="<i8").tobytes())


if __name__ == "__main__":
    main()
