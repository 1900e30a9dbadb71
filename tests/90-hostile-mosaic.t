#!/usr/bin/python3
# mosaic on hostile inputs (issue 17; docs/security.md): the catalogue's rule
# for each case (tests/st/hostile.py): broken Fashion-MNIST files, options out
# of range, outputs that cannot be written.
import gzip
import os
import struct
import sys

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, "st"))
from tap import done  # noqa: E402
from hostile import case  # noqa: E402


def idx(magic, dims, payload):
    return gzip.compress(struct.pack(">I", magic) + b"".join(struct.pack(">I", x) for x in dims) + payload)


good_images = idx(0x803, (2, 28, 28), b"\0" * 2 * 784)
good_labels = idx(0x801, (2,), b"\0\1")
names = ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz",
         "t10k-labels-idx1-ubyte.gz"]


def data(**change):
    files = {"f/" + n: good_images if "images" in n else good_labels for n in names}
    files.update({"f/" + k.replace("_", "-") + "-idx3-ubyte.gz" if "images" in k else
                  "f/" + k.replace("_", "-") + "-idx1-ubyte.gz": v for k, v in change.items()})
    return files


case("mosaic", ["--data", "{d}/no/such"], 1, ["no/such"], desc="--data a missing folder")
case("mosaic", ["--data", "{d}/f"], 1, ["train-images"], desc="images truncated",
     files=data(train_images=idx(0x803, (60000, 28, 28), b"\0" * 100)))
case("mosaic", ["--data", "{d}/f"], 1, ["train-images"], desc="images not gzip",
     files=data(train_images=b"not gzip at all"))
case("mosaic", ["--data", "{d}/f"], 1, ["train-labels"], desc="labels with a wrong magic number",
     files=data(train_labels=idx(0x803, (2,), b"\0\1")))
case("mosaic", ["--data", "{d}/f"], 1, ["train-images"], desc="images with a huge count",
     files=data(train_images=idx(0x803, (0xFFFFFFFF, 28, 28), b"")))
case("mosaic", ["--data", "{d}/f"], 1, ["training items"], desc="too few training items", files=data())
for opt, val in (("--size", "7"), ("--size", "0"), ("--quality", "0"), ("--cell-prob", "1.5"), ("--train", "-1")):
    case("mosaic", [opt, val], 2, [opt], desc="%s %s" % (opt, val))
case("mosaic", ["--data", "{d}/f", "-o", "{d}"], 1, ["it is a folder"], desc="-o a folder", out=False)
case("mosaic", ["--data", "{d}/f", "--manifest", "{d}/no/such/m.tsv"], 1, ["no/such"],
     desc="--manifest in a missing folder", files=data())
done()
