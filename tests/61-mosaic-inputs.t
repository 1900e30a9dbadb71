#!/usr/bin/python3
# bin/mosaic on bad input and bad options: one line "mosaic: ...", exit 1 for
# bad data (naming the file and the Debian package), 2 for usage errors, and
# no output file left behind. Damaged IDX files are made here, small.
import gzip
import os
import struct
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "st"))
from tap import BIN, ok, done, shell, scratch, expect_failure  # noqa: E402

MOSAIC = os.path.join(BIN, "mosaic")
d = scratch()
OUT = os.path.join(d, "out.tar")


def refused(args, status, words, desc):
    expect_failure(MOSAIC, ["-q", "-o", OUT] + list(args), status, words, out=OUT, desc=desc)


def idx(ndim_dims, data, magic=None):
    dims = ndim_dims
    head = bytes([0, 0, 8, len(dims)]) if magic is None else magic
    return head + b"".join(struct.pack(">I", x) for x in dims) + data


def fake(name, train_images=None, train_labels=None, test_images=None, test_labels=None, n=100):
    """A data folder: good small parts unless replaced (raw bytes, gzipped here)."""
    folder = os.path.join(d, name)
    os.makedirs(folder)
    parts = {
        "train-images-idx3-ubyte.gz": train_images if train_images is not None else idx((n, 28, 28), bytes(n * 784)),
        "train-labels-idx1-ubyte.gz": train_labels if train_labels is not None else idx((n,), bytes(range(10)) * (n // 10)),
        "t10k-images-idx3-ubyte.gz": test_images if test_images is not None else idx((10, 28, 28), bytes(7840)),
        "t10k-labels-idx1-ubyte.gz": test_labels if test_labels is not None else idx((10,), bytes(range(10))),
    }
    for f, raw in parts.items():
        if raw is not False:
            with gzip.open(os.path.join(folder, f), "wb") as g:
                g.write(raw)
    return folder


good_images = idx((100, 28, 28), bytes(78400))
refused(["--data", os.path.join(d, "nowhere")], 1, ["train-images-idx3-ubyte.gz", "dataset-fashion-mnist"],
        "missing data folder: names the file and the Debian package")
refused(["--data", fake("no-labels", train_labels=False)], 1, ["train-labels-idx1-ubyte.gz", "dataset-fashion-mnist"],
        "missing label file")
refused(["--data", fake("short", train_images=good_images[:5000])], 1, ["train-images", "truncated"],
        "truncated image data")
refused(["--data", fake("long", train_images=good_images + b"x")], 1, ["train-images", "trailing bytes"],
        "bytes after the data")
refused(["--data", fake("magic", train_images=idx((100, 28, 28), bytes(78400), magic=b"\x01\x00\x08\x03"))], 1,
        ["not an IDX file"], "bad magic")
refused(["--data", fake("dtype", train_images=idx((100, 28, 28), bytes(78400), magic=b"\x00\x00\x0d\x03"))], 1,
        ["data type 0x0d"], "float IDX refused")
refused(["--data", fake("ndim", train_images=idx((100, 784), bytes(78400)))], 1, ["2 dimensions, expected 3"],
        "images with 2 dimensions")
refused(["--data", fake("side", train_images=idx((100, 28, 27), bytes(100 * 28 * 27)))], 1, ["28x27", "expected 28x28"],
        "images of 28x27")
refused(["--data", fake("zero", train_images=idx((0, 28, 28), b""))], 1, ["dimension 0 is 0"], "zero items")
refused(["--data", fake("huge", train_images=idx((0xFFFFFFFF, 0xFFFFFFFF, 28), b""))], 1, ["exceeds"],
        "dimensions whose product overflows 64 bits: refused before allocating")
refused(["--data", fake("count", train_labels=idx((99,), bytes(99)))], 1, ["99 labels for 100 images"],
        "label count differs from the image count")
refused(["--data", fake("class", train_labels=idx((100,), bytes(5) + b"\x0a" + bytes(94)))], 1,
        ["label 10 of item 5", "0 to 9"], "label out of range")
refused(["--data", fake("few")], 1, ["100 training items", "more than 50000"], "too few training items for the val range")
folder = fake("notgz")
with open(os.path.join(folder, "t10k-images-idx3-ubyte.gz"), "wb") as f:
    f.write(gzip.compress(idx((10, 28, 28), bytes(7840)))[:40])
refused(["--data", folder], 1, ["t10k-images"], "truncated gzip stream")

for args, word in [(["--size", 7], "--size 7"), (["--size", 0], "--size 0"), (["--size", 9000], "--size 9000"),
                   (["--cell-prob", 0], "--cell-prob 0"), (["--cell-prob", 1.5], "--cell-prob 1.5"),
                   (["--cell-prob", "nan"], "--cell-prob"), (["--quality", 0], "--quality 0"),
                   (["--quality", 101], "--quality 101"), (["--train", -1], "--train -1"),
                   (["--train", 600000, "--val", 600000], "at most 999999"),
                   (["--seed", -3], "--seed -3"), (["--train", "x"], "--train"), (["--bogus"], "bogus"),
                   (["extra.tar"], "unexpected argument")]:
    refused(args, 2, [word], "usage error: %s" % " ".join(map(str, args)))

rc, _, err = shell("%s --train 2000 --val 0 --test 0 | head -c 1000 >/dev/null" % MOSAIC)
ok(rc != 0 and "mosaic: " in err, "a closed standard output is an error (EPIPE), not silence", err)
rc, _, err = shell("script -qec '%s --train 1 --val 0 --test 0' /dev/null" % MOSAIC)
ok(rc != 0 and "terminal" in err + _.decode("utf-8", "replace"), "refuses to write a tar to a terminal", err)
done()
