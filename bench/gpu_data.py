"""Inputs of bench/gpu.sh (issue 15's sizes), written without holding a whole
file in memory:

    gpu_data.py probe OUT N D L K
        train-probe input: L layers feat.NN [N,D] (F16; one random matrix
        under every name: the cost is the same, the making 1/L of it),
        labels [N,K] from a linear teacher, split 90% train / 10% val.
    gpu_data.py feats DIR N
        DIR/resnet50-F32.st and DIR/resnet50-F16.st (full width, 1000
        classes, randomised BatchNorm: tests/extract-feats/models.py),
        DIR/images.st (`images` [N,3,224,224] F16), DIR/list.tsv (N JPEG
        lines: python3-sklearn's two photos, for the decoding run).
"""
import json
import os
import struct
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "st"))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "extract-feats"))
import stwrite as st  # noqa: E402


def write_streamed(path, tensors, metadata=None):
    """st.write, one tensor's bytes at a time: tensors {name: ndarray}"""
    entries, offset = {}, 0
    for name, a in tensors.items():
        entries[name] = (st.dtype_of(a), a.shape, (offset, offset + a.nbytes))
        offset += a.nbytes
    header = st.pad8(json.dumps(st.header_json(entries, metadata), separators=(",", ":")).encode())
    with open(path, "wb") as fp:
        fp.write(struct.pack("<Q", len(header)) + header)
        for a in tensors.values():
            np.ascontiguousarray(a).tofile(fp)


def probe(out, n, d, layers, k):
    rng = np.random.default_rng(15)
    x = rng.standard_normal((n, d), dtype=np.float32)
    teacher = rng.standard_normal((64, k), dtype=np.float32)
    labels = (x[:, :64] @ teacher + rng.standard_normal((n, k), dtype=np.float32) > 2).astype(np.uint8)
    split = (np.arange(n) % 10 == 9).astype(np.uint8)
    x16 = x.astype(np.float16)
    del x
    tensors = {"feat.%02d" % i: x16 for i in range(layers)}
    tensors.update(labels=labels, split=split)
    write_streamed(out, tensors)


def feats(d, n):
    import torch
    import models
    for dtype in ("F32", "F16"):
        m, _ = models.build("resnet50", 64, classes=1000)
        models.randomise(m, torch.Generator().manual_seed(0))
        if dtype == "F16":
            models.round_to(m, torch.float16)
        st.write(os.path.join(d, "resnet50-%s.st" % dtype), models.state_tensors(m, dtype), {"arch": "resnet50"})
    rng = np.random.default_rng(0)
    chunk = rng.standard_normal((64, 3, 224, 224), dtype=np.float32).astype(np.float16)
    # the same 64 images over and over: what costs is the count
    write_streamed(os.path.join(d, "images.st"), {"images": np.broadcast_to(chunk[None], (n // 64 + 1, 64, 3, 224, 224))
                                                  .reshape(-1, 3, 224, 224)[:n]})
    import sklearn.datasets
    src = os.path.join(os.path.dirname(sklearn.datasets.__file__), "images")
    with open(os.path.join(d, "list.tsv"), "w") as fp:
        for i in range(n):
            fp.write("%s\tphoto\n" % os.path.join(src, ("china.jpg", "flower.jpg")[i % 2]))


if __name__ == "__main__":
    if sys.argv[1] == "probe":
        probe(sys.argv[2], *(int(v) for v in sys.argv[3:7]))
    else:
        feats(sys.argv[2], int(sys.argv[3]))
