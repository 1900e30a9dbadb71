#!/usr/bin/python3
"""sinkhorn: bad input gets one line "sinkhorn: ..." naming what is wrong,
exit 1 (2 for a usage error, whose first line says it), and no output file."""
import os
import pty
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "st"))
import stwrite as st  # noqa: E402
from tap import BIN, done, ok, run, scratch, expect_failure  # noqa: E402

TOOL = os.path.join(BIN, "sinkhorn")
d = scratch()
rng = np.random.default_rng(32)
N, K = 5, 4
prob = rng.random((2, N, K)).astype(np.float32)
y = np.eye(K, dtype=np.uint8)[rng.integers(0, K, N)]
GOOD = {"prob": prob, "labels": y}


def path(name):
    return os.path.join(d, name)


def bad(desc, tensors=None, args=(), code=1, expect=(), raw=None, meta=None):
    src = path("in.st")
    with open(src, "wb") as fp:
        fp.write(raw if raw is not None else st.dumps(tensors, meta))
    out = path("out.st")
    expect_failure(TOOL, list(args) + [src, "-o", out], code, expect, out=out, desc=desc)


def with_(**kw):
    t = dict(GOOD)
    t.update(kw)
    return {k: v for k, v in t.items() if v is not None}


p = prob.copy()
p[1, 2, 3] = -0.25
bad("a negative probability", with_(prob=p), expect=("'prob'", "-0.25", ">= 0"))
p = prob.copy()
p[0, 1, 1] = np.nan
bad("a NaN probability", with_(prob=p), expect=("'prob'", "nan"))
p[0, 1, 1] = np.inf
bad("an infinite probability", with_(prob=p), expect=("'prob'", "inf"))
bad("K of labels differs", with_(labels=np.ones((N, K + 1), np.uint8)), expect=("'labels'", "K = 4"))
bad("N of labels differs", with_(labels=np.ones((N + 1, K), np.uint8)), expect=("'labels'",))
bad("a missing tensor", with_(labels=None), expect=("labels",))
bad("--source missing", GOOD, args=["--source", "p"], expect=("'p'",))
bad("K = 0", {"prob": np.zeros((2, 0), np.float32), "labels": np.zeros((0,), np.uint8)}, expect=("'prob'",))
yy = y.copy()
yy[3] = 0
bad("a target row without labels", with_(labels=yy), expect=("'labels'", "row 3", "--skip-empty"))
pp = prob.copy()
pp[1, 4] = 0
bad("a source row without mass", with_(prob=pp), expect=("'prob'", "row 9"))
full = st.dumps(GOOD)
bad("a truncated file", raw=full[:-7])
bad("an empty file", raw=b"")
bad("not safetensors", raw=b"hello, world, this is text\n")

# costs
st.write(path("c-shape.st"), {"cost": np.ones((K, K + 1))})
bad("a non-square cost", GOOD, args=["--cost", path("c-shape.st")], expect=("'cost'",))
st.write(path("c-k.st"), {"cost": np.ones((K + 1, K + 1))})
bad("a cost of another K", GOOD, args=["--cost", path("c-k.st")], expect=("'cost'",))
c = 1 - np.eye(K)
c[1, 2] = -1
st.write(path("c-neg.st"), {"cost": c})
bad("a negative cost", GOOD, args=["--cost", path("c-neg.st")], expect=("'cost'", "-1", "[1,2]"))
c[1, 2] = np.nan
st.write(path("c-nan.st"), {"cost": c})
bad("a NaN cost", GOOD, args=["--cost", path("c-nan.st")], expect=("'cost'", "nan"))
bad("a missing cost file", GOOD, args=["--cost", path("nowhere.st")], expect=("nowhere.st",))
st.write(path("c-name.st"), {"other": 1 - np.eye(K)})
bad("a cost file without 'cost'", GOOD, args=["--cost", path("c-name.st")], expect=("'cost'",))

# embeddings
meta = {"labels": '["a", "b", "c", "d"]'}
st.write(path("e.st"), {"embeddings": rng.random((3, 7)).astype(np.float32)}, {"labels": '["a", "c", "x"]'})
bad("labels missing from the embeddings", GOOD, meta=meta, args=["--embeddings", path("e.st")],
    expect=("'b'", "'d'"))
st.write(path("e-pos.st"), {"embeddings": rng.random((3, 7)).astype(np.float32)})
bad("embeddings by position with too few rows", GOOD, args=["--embeddings", path("e-pos.st")],
    expect=("3 rows", "K = 4"))
st.write(path("e-same.st"), {"embeddings": np.ones((K, 3), np.float32)})
bad("identical embeddings", GOOD, args=["--embeddings", path("e-same.st")], expect=("cost is 0",))
e = rng.random((K, 3)).astype(np.float32)
e[2, 1] = np.nan
st.write(path("e-nan.st"), {"embeddings": e})
bad("a NaN embedding", GOOD, args=["--embeddings", path("e-nan.st")], expect=("'embeddings'",))

# usage errors: exit 2
for opt, val in (("--eps", "0"), ("--eps", "-1"), ("--eps", "nan"), ("--tol", "-1"), ("--max-iter", "0"),
                 ("--p", "0"), ("--omega", "2"), ("--omega", "0.5"), ("--loss", "wasserstein"), ("--measure", "cosine")):
    bad("%s %s" % (opt, val), GOOD, args=[opt, val], code=2, expect=(opt,))
bad("--cost and --embeddings", GOOD, args=["--cost", path("c-k.st"), "--embeddings", path("e.st")], code=2)

# a terminal as input is refused
mfd, sfd = pty.openpty()
rc, _, err = run([TOOL], stdin=sfd, timeout=30)
os.close(mfd)
os.close(sfd)
ok(rc == 2 and "terminal" in err, "a terminal as input is refused (exit 2)", err)

# empty N is fine: [L,0] out
st.write(path("n0.st"), {"prob": np.zeros((2, 0, K), np.float32), "labels": np.zeros((0, K), np.uint8)})
rc, _, err = run([TOOL, "-q", path("n0.st"), "-o", path("n0.out")])
ok(rc == 0 and st.read(path("n0.out"))[0]["wdist"][1].shape == (2, 0), "N = 0 gives wdist [L,0]", err)
done()
