#!/usr/bin/python3
# tensors on hostile inputs (issue 17; docs/security.md): the catalogue's rule
# for each case (tests/st/hostile.py: exit status, one stderr line, no output,
# no stray file, nothing written outside the case's folder), and `cat` streams:
# joining two files does not hold them in memory.
import io
import os
import subprocess
import sys
import time

import numpy as np

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, "st"))
from tap import ASAN, BIN, ok, done, scratch  # noqa: E402
from hostile import case  # noqa: E402
import malformed  # noqa: E402
import stwrite as st  # noqa: E402

good = st.dumps({"a": np.arange(6, dtype=np.float32).reshape(3, 2)}, {"ids": '["x","y","z"]'})
buf = io.BytesIO()
np.save(buf, np.zeros(2, np.float32))
npy = buf.getvalue()

# a sample of the malformed files through every command that reads one
picked = {"empty", "length-u64-max", "truncated-header", "not-json", "deep-nesting", "bad-utf8",
          "newline-in-name", "shape-product-overflow", "offsets-not-array"}
for name, data, rule in malformed.cases():
    if name not in picked:
        continue
    case("tensors", ["info", "{d}/bad.st"], 1, [rule], desc="info " + name, files={"bad.st": data})
    case("tensors", ["cat", "{d}/good.st", "{d}/bad.st"], 1, ["bad.st", rule], desc="cat " + name,
         files={"good.st": good, "bad.st": data})
    case("tensors", ["pick", "a", "-i", "-"], 1, ["standard input", rule], desc="pick from a pipe: " + name,
         stdin=data)

# names with a newline and an escape sequence are shown escaped, on one line
evil = "a\n\x1b[31mred"
case("tensors", ["cat", "{d}/one.st", "{d}/two.st"], 1, ["missing tensor", "a\\n\\x1b[31mred"],
     desc="a tensor name holding a newline and ESC",
     files={"one.st": st.dumps({evil: np.zeros((1, 2), np.float32)}),
            "two.st": st.dumps({"b": np.zeros((1, 2), np.float32)})})
case("tensors", ["info", "{d}/no\nsuch\x1b[2J"], 1, ["no\\nsuch\\x1b[2J", "cannot open"],
     desc="a file name holding a newline and ESC")

# cat: shards that do not join
case("tensors", ["cat", "{d}/a.st", "{d}/b.st"], 1, ["b.st", "cannot be joined"], desc="cat: other inner dims",
     files={"a.st": good, "b.st": st.dumps({"a": np.zeros((2, 3), np.float32)}, {"ids": '["p","q"]'})})
case("tensors", ["cat", "{d}/a.st", "{d}/b.st"], 1, ["b.st", "F64"], desc="cat: another dtype",
     files={"a.st": good, "b.st": st.dumps({"a": np.zeros((2, 2), np.float64)}, {"ids": '["p","q"]'})})
case("tensors", ["cat", "{d}/a.st", "{d}/b.st"], 1, ["metadata 'arch' differs"], desc="cat: other metadata",
     files={"a.st": st.dumps({"a": np.zeros((1, 2), np.float32)}, {"arch": "x"}),
            "b.st": st.dumps({"a": np.zeros((1, 2), np.float32)}, {"arch": "y"})})
case("tensors", ["cat", "-", "-"], 2, ["standard input"], desc="cat: standard input twice", stdin=good)
# 1025 shards of 2^53 - 1 empty rows: the joined count passes 2^63 (and 1025 files are open at once)
case("tensors", ["cat"] + ["{d}/a.st"] * 1025, 1, ["joined shape overflows"], desc="cat: the joined shape overflows",
     files={"a.st": st.raw_file(st.pad8(b'{"a":{"dtype":"U8","shape":[9007199254740991,0],"data_offsets":[0,0]}}'))})

# from-npy: names and metadata the reader would refuse are refused at the source
case("tensors", ["from-npy", "__metadata__={d}/x.npy"], 2, ["__metadata__"], desc="from-npy __metadata__=",
     files={"x.npy": npy})
case("tensors", ["from-npy", "x={d}/x.npy", "--meta", "k=\udcff"], 1, ["metadata 'k' is not valid UTF-8"],
     desc="from-npy --meta with a byte that is not UTF-8", files={"x.npy": npy})
case("tensors", ["from-npy", "x={d}/x.npy"], 1, ["x.npy"], desc="from-npy: truncated .npy", files={"x.npy": npy[:70]})
case("tensors", ["from-npy", "x={d}/x.npy"], 1, ["x.npy", "dtype"], desc="from-npy: object dtype",
     files={"x.npy": npy.replace(b"'<f4'", b"'|O8'")})
case("tensors", ["from-npy", "x={d}/x.npy"], 1, ["x.npy", "big-endian"], desc="from-npy: big-endian",
     files={"x.npy": npy.replace(b"'<f4'", b"'>f4'")})

# outputs that cannot be written are refused before any input is read
case("tensors", ["cat", "{d}/a.st", "-o", "{d}"], 1, ["it is a folder"], desc="-o the case's folder",
     files={"a.st": good}, out=False)
case("tensors", ["cat", "{d}/a.st", "-o", "{d}/no/such/out.st"], 1, ["cannot create", "no/such"],
     desc="-o in a missing folder", files={"a.st": good}, out=False)
case("tensors", ["dump", "a", "{d}/a.st", "--rows", "7:9"], 2, ["out of range"], desc="dump --rows out of range",
     files={"a.st": good})
case("tensors", ["to-npy", "zz", "{d}/a.st"], 1, ["missing tensor 'zz'"], desc="to-npy a missing tensor",
     files={"a.st": good})

# cat streams: two files of 40 MB joined in far less memory than either
d = scratch()
rng = np.random.default_rng(0)
size = 40 << 20
for i in range(2):
    st.write(os.path.join(d, "s%d.st" % i), {"x": rng.standard_normal((size // 16, 4)).astype(np.float32),
                                              "y": np.arange(3 * (i + 1), dtype=np.int64)})
out = os.path.join(d, "all.st")


def peak_rss(argv):
    """(exit status, the largest VmHWM seen): polled from /proc, as a child's
    ru_maxrss also counts the pages of this process it was forked from."""
    p = subprocess.Popen(argv, stderr=subprocess.DEVNULL)
    peak = 0
    while p.poll() is None:
        try:
            with open("/proc/%d/status" % p.pid) as fp:
                for line in fp:
                    if line.startswith("VmHWM:"):
                        peak = max(peak, int(line.split()[1]) * 1024)
        except (OSError, ValueError):
            pass
        time.sleep(0.002)
    return p.returncode, peak


status, peak = peak_rss([os.path.join(BIN, "tensors"), "cat", os.path.join(d, "s0.st"), os.path.join(d, "s1.st"),
                         "-o", out])
limit = (100 << 20) if ASAN else (size // 2)   # AddressSanitizer's own pages count too
ok(status == 0 and 0 < peak < limit, "cat of 2 x 40 MB peaks at %.1f MB (< %.0f MB: streamed, not loaded)" % (
    peak / 2**20, limit / 2**20))
T, _ = st.read(out)
a, b = st.read(os.path.join(d, "s0.st"))[0], st.read(os.path.join(d, "s1.st"))[0]
ok(np.array_equal(T["x"][1], np.concatenate([a["x"][1], b["x"][1]]))
   and np.array_equal(T["y"][1], np.concatenate([a["y"][1], b["y"][1]])), "cat: the joined data equal NumPy's")
done()
