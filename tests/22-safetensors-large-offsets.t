#!/usr/bin/python3
# 64-bit sizes and the header limit: a sparse file whose first tensor is 5 GiB + 3 bytes (past 2^31 and
# 2^32), then two small ones. The small ones must read right from the file (seek)
# and, for a 2 GiB + 5 byte first tensor, from a pipe (read and discard).
import json
import os
import struct
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "st"))
import stwrite as st  # noqa: E402
from tap import TENSORS, ok, is_, done, tensors, shell, scratch  # noqa: E402

d = scratch()
small = np.array([1.5, -2.25, 3e38, 7], np.float32)
tail = np.array([-2**62, 2**40 + 1], np.int64)


def sparse(path, big):
    """big zero bytes (a hole on disk), then small and tail; returns the data offset of small."""
    entries = {"big": ("U8", [big], (0, big)),
               "small": ("F32", list(small.shape), (big, big + small.nbytes)),
               "tail": ("I64", list(tail.shape), (big + small.nbytes, big + small.nbytes + tail.nbytes))}
    head = st.raw_file(st.pad8(json.dumps(st.header_json(entries, {"k": "v"})).encode()))
    with open(path, "wb") as fp:
        fp.write(head)
        fp.seek(len(head) + big)
        fp.write(small.tobytes() + tail.tobytes())
    return big


def rows(values):
    return "".join("%s\n" % v for v in values).encode()


path = os.path.join(d, "five-gib.st")
big = sparse(path, 5 * 2**30 + 3)
ok(os.path.getsize(path) > 5 * 2**30, "the sparse file is %d bytes" % os.path.getsize(path))
rc, out, err = tensors("info", path)
text = out.decode()
ok(rc == 0, "info of a 5 GiB file", err)
row = [l.split() for l in text.splitlines() if l.startswith("small ")]
is_(row[:1], [["small", "F32", "[4]", "16", "[%d," % big, "%d)" % (big + 16)]], "info shows the 64-bit offsets")
row = [l.split() for l in text.splitlines() if l.startswith("big ")]
is_(row[:1], [["big", "U8", "[%d]" % big, str(big), "[0,", "%d)" % big]], "info shows the 5 GiB size")
rc, out, err = tensors("dump", "small", path)
is_((rc, out), (0, rows(["%.9g" % v for v in small])), "dump of the tensor after 5 GiB")
rc, out, err = tensors("dump", "tail", path)
is_((rc, out), (0, rows([-2**62, 2**40 + 1])), "dump of the I64 tensor after it")
rc, out, err = tensors("pick", "tail", "small", "-i", path)
got, meta = st.loads(out) if rc == 0 else ({}, {})
ok(rc == 0 and got["small"][1].tobytes() == small.tobytes() and got["tail"][1].tobytes() == tail.tobytes()
   and meta.get("k") == "v", "pick past 5 GiB: the numpy peer reads the same bytes", err)

# from a pipe nothing can seek: 2 GiB + 5 bytes are read and dropped
path = os.path.join(d, "two-gib.st")
big = sparse(path, 2**31 + 5)
rc, out, err = shell("cat '%s' | '%s' pick small tail | '%s' dump tail" % (path, TENSORS, TENSORS), timeout=300)
is_((rc, out), (0, rows([-2**62, 2**40 + 1])), "pick | dump from a pipe after 2 GiB + 5 bytes")
# a pipe that ends inside the big tensor
rc, out, err = shell("head -c 1048576 '%s' | '%s' pick small" % (path, TENSORS))
ok(rc == 1 and "truncated data" in err and "big" in err, "a pipe cut inside the big tensor: truncated data, naming it",
   err)

# the header limit is inclusive: exactly 100,000,000 bytes (spaces after the object) are read
path = os.path.join(d, "max-header.st")
with open(path, "wb") as fp:
    head = b'{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}'
    fp.write(st.raw_file(head + b" " * (100_000_000 - len(head)), b"\x2a"))
rc, out, err = tensors("dump", "a", path)
is_((rc, out), (0, b"42\n"), "a header of exactly 100000000 bytes is accepted")
with open(path, "r+b") as fp:
    fp.write(struct.pack("<Q", 100_000_001))
rc, out, err = tensors("dump", "a", path)
ok(rc == 1 and "header length 100000001 exceeds the limit of 100000000 bytes" in err, "one byte more is refused", err)

done()
