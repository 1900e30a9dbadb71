#!/usr/bin/python3
# sinkhorn on hostile inputs (issue 17; docs/security.md): the catalogue's rule
# for each case (tests/st/hostile.py). K is bounded by the machine's memory,
# checked before anything is allocated; a loss that is NaN, infinite or beyond
# float32 is refused, naming the tensor and the row.
import os
import sys

import numpy as np

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, "st"))
from tap import done  # noqa: E402
from hostile import case  # noqa: E402
import malformed  # noqa: E402
import stwrite as st  # noqa: E402

rng = np.random.default_rng(0)
L, N, K = 2, 3, 4
prob = rng.random((L, N, K)).astype(np.float32)
labels = (np.eye(K, dtype=np.float32)[rng.integers(0, K, N)])
names = ["cat", "dog", "bird", "fish"]


def study(p=prob, y=labels, meta=None, **more):
    t = {"prob": p, "labels": y}
    t.update(more)
    return st.dumps(t, meta if meta is not None else {"labels": '["cat","dog","bird","fish"]'})


def run(args, status, needles, desc, **files):
    case("sinkhorn", ["{d}/in.st"] + args, status, needles, desc=desc, files=dict({"in.st": study()}, **files))


for name, data, rule in malformed.cases():
    if name in ("empty", "length-over-limit", "not-json", "bad-utf8", "newline-in-name", "shape-product-overflow"):
        case("sinkhorn", ["{d}/in.st"], 1, ["in.st", rule], desc="malformed: " + name, files={"in.st": data})
case("sinkhorn", [], 1, ["standard input", "file too short"], desc="empty standard input", stdin=b"")
case("sinkhorn", ["{d}"], 1, [], desc="a folder as input")
case("sinkhorn", ["/dev/zero"], 1, ["/dev/zero", "header"], desc="/dev/zero as input")

# bad values
bad = prob.copy()
bad[1, 2, 3] = np.nan
run([], 1, ["prob", "flat index 23"], "NaN in prob", **{"in.st": study(bad)})
bad = prob.copy()
bad[0, 1, 0] = -0.5
run([], 1, ["prob", "expected finite values >= 0"], "a negative probability", **{"in.st": study(bad)})
empty = labels.copy()
empty[1] = 0
run([], 1, ["labels", "row 1 sums to 0"], "a target row without mass", **{"in.st": study(y=empty)})
run([], 1, ["missing tensor 'prob'"], "no prob", **{"in.st": st.dumps({"labels": labels})})
run([], 1, ["does not match"], "targets of another K", **{"in.st": study(y=np.ones((N, K + 1), np.float32))})

# K bounded by memory, before allocating: 100000 labels need some 240 GB
big = np.ones((1, 1, 100000), np.float32)
run([], 1, ["K = 100000", "need about", "GB of memory"], "K = 100000",
    **{"in.st": study(big, np.ones((1, 100000), np.float32), meta={})})

# results beyond float32 are refused, naming the row
run(["--eps", "1e300"], 1, ["wdist: row 0 ([0,0] of 'prob')", "--eps 1e+300"], "--eps 1e300")
run(["--eps", "1e300", "--loss", "entropic"], 1, ["wdist: row 0", "beyond float32"], "--eps 1e300, entropic")

# options
for opt, val in (("--eps", "0"), ("--eps", "nan"), ("--eps", "-1"), ("--tol", "-1"), ("--p", "0"),
                 ("--omega", "2"), ("--max-iter", "0"), ("--loss", "earth"), ("--measure", "cheb")):
    run([opt, val], 2, [opt], "%s %s" % (opt, val))
run(["--cost", "{d}/c.st", "--embeddings", "{d}/c.st"], 2, ["--cost"], "--cost and --embeddings",
    **{"c.st": st.dumps({"cost": np.zeros((K, K), np.float32)})})

# costs and embeddings
c = 1 - np.eye(K, dtype=np.float32)
c[0, 1] = -1
run(["--cost", "{d}/c.st"], 1, ["c.st", "[0,1]", "finite costs >= 0"], "a negative cost",
    **{"c.st": st.dumps({"cost": c})})
run(["--cost", "{d}/c.st"], 1, ["c.st", "shape [3,3]"], "a cost of another K",
    **{"c.st": st.dumps({"cost": np.zeros((3, 3), np.float32)})})
run(["--cost", "{d}/c.st:nope"], 1, ["missing tensor 'nope'"], "--cost FILE:NAME missing",
    **{"c.st": st.dumps({"cost": c})})
e = rng.standard_normal((K, 3)).astype(np.float32)
e[2, 1] = np.inf
run(["--embeddings", "{d}/e.st"], 1, ["e.st", "expected finite values"], "an infinite embedding",
    **{"e.st": st.dumps({"embeddings": e}, {"labels": '["cat","dog","bird","fish"]'})})
run(["--embeddings", "{d}/e.st"], 1, ["no embedding for the labels", "'fish\\n\\x1b[1m'"],
    "a label name holding a newline and ESC, without an embedding",
    **{"in.st": study(meta={"labels": '["cat","dog","bird","fish\\n\\u001b[1m"]'}),
       "e.st": st.dumps({"embeddings": rng.standard_normal((K, 3)).astype(np.float32)},
                        {"labels": '["cat","dog","bird","fish"]'})})
run(["--embeddings", "{d}/e.st"], 1, ["every embedding is the same"], "identical embeddings",
    **{"e.st": st.dumps({"embeddings": np.ones((K, 3), np.float32)}, {"labels": '["cat","dog","bird","fish"]'})})
done()
