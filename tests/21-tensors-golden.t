#!/usr/bin/python3
# `tensors` on files written by the numpy peer (tests/st/stwrite.py): info against
# a golden text and against numpy's own offsets, dump and to-npy value-exact for
# every dtype, from-npy for every dtype, pick/drop/merge/cat/stack read back by the peer.
import json
import os
import struct
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "st"))
import stwrite as st  # noqa: E402
from tap import TENSORS, ok, is_, done, tensors, shell, scratch, one_error_line  # noqa: E402

GOLDEN = os.path.join(HERE, "golden")
d = scratch()


def every_dtype():
    f32 = np.float32
    return {
        "f64": np.array([np.pi, -0.0, 1e-300, 1e300, np.inf, np.nan], np.float64),
        "f32": np.array([[0.1, -1.5, 3.4028235e38], [1.1754944e-38, 1e-45, -np.inf]], f32),
        "f16": np.array([65504, -6.1035156e-05, 5.9604645e-08, 0.333, np.nan], np.float16),
        "bf16": ("BF16", st.f32_to_bf16(np.array([[1 / 3, -1e38], [3.0, 1e-40]], f32))),
        "i64": np.array([-2**63, 2**63 - 1, 0], np.int64),
        "i32": np.array([[-2**31], [2**31 - 1]], np.int32),
        "i16": np.array([-32768, 32767, 7], np.int16),
        "i8": np.array([-128, 127], np.int8),
        "u8": np.array([[0, 255, 3]], np.uint8),
        "bool": np.array([[True, False], [False, True]]),
        "scalar": np.float32(-2.5),
        "empty": np.zeros((0, 4), np.float32),
        "λ.層": np.array([1, 2], np.uint8),
    }


META = {"labels": '["a","b"]', "note": 'ünïcödé "quoted" \\ tab\there'}
ALL = os.path.join(d, "all.st")
st.write(ALL, every_dtype(), META)
expected, _ = st.read(ALL)


def parse_dump(text, dtype, shape):
    """dump's TSV back into the tensor's own dtype (BF16 as its bits): the digits
    printed must round-trip to the stored value exactly."""
    lines = text.split("\n")
    assert lines[-1] == "", "no final newline"
    rows = [l.split("\t") if l else [] for l in lines[:-1]]
    number = float if dtype in ("F64", "F32", "F16", "BF16") else int
    flat = [number(x) for r in rows for x in r]
    nrows = shape[0] if shape else 1
    assert len(rows) == nrows, "%d rows, wanted %d" % (len(rows), nrows)
    if dtype == "BF16":
        return st.f32_to_bf16(np.array(flat, np.float32)).reshape(shape)
    return np.array(flat, np.float64 if number is float else object).astype(st.DTYPES[dtype]).reshape(shape)


def same(a, b):
    return a.shape == b.shape and np.array_equal(a, b, equal_nan=True)


# ---- info ----
rc, out, err = shell("'%s' info < '%s'" % (TENSORS, ALL))
text = out.decode("utf-8")
ok(rc == 0 and err == "", "info from standard input", err)
with open(os.path.join(GOLDEN, "tensors-info.txt"), encoding="utf-8") as fp:
    is_(text, fp.read(), "info matches tests/golden/tensors-info.txt")
header = st.header_of(open(ALL, "rb").read())
for name, e in header.items():
    if name == "__metadata__":
        continue
    b, e_ = e["data_offsets"]
    row = [l.split() for l in text.splitlines() if l.split()[:1] == [name]]
    want = [name, e["dtype"], "[%s]" % ",".join(map(str, e["shape"])), str(e_ - b), "[%d," % b, "%d)" % e_]
    ok(len(row) == 1 and row[0] == want, "info row of %s agrees with numpy's offsets" % name, row)
for key, value in META.items():
    ok("  %s: %s" % (key, value) in text, "info shows metadata %s" % key)

# ---- dump, value-exact for every dtype ----
for name, (dtype, array) in expected.items():
    rc, out, err = tensors("dump", name, ALL)
    try:
        got = parse_dump(out.decode(), dtype, array.shape)
    except (ValueError, AssertionError) as e:
        got = e
    ok(rc == 0 and isinstance(got, np.ndarray) and same(got, array),
       "dump %s (%s %s) prints digits that give back the stored values" % (name, dtype, list(array.shape)),
       "got %r\nwanted %r\n%s" % (got, array, err))
# the printed form itself, pinned: %.17g, %.9g, %.5g, %.4g for F64, F32, F16, BF16 (enough to round-trip)
text = ""
for name in expected:
    rc, out, err = tensors("dump", name, ALL)
    text += "== %s\n%s" % (name, out.decode())
with open(os.path.join(GOLDEN, "tensors-dump.txt"), encoding="utf-8") as fp:
    is_(text, fp.read(), "dump of every tensor matches tests/golden/tensors-dump.txt")
rc, out, err = tensors("dump", "empty", ALL)
is_((rc, out), (0, b""), "dump of a [0,4] tensor prints no rows")
rc, out, err = tensors("dump", "scalar", ALL)
is_((rc, out), (0, b"-2.5\n"), "dump of a scalar prints one row")

rc, out, err = tensors("dump", "f32", ALL, "--rows", "1:2")
is_(out.decode(), "1.17549435e-38\t1.40129846e-45\t-inf\n", "dump --rows 1:2")
rc, out, err = tensors("dump", "i16", ALL, "--rows", "-2:")
is_(out.decode(), "32767\n7\n", "dump --rows -2: counts from the end")
rc, out, err = tensors("dump", "i16", ALL, "--rows", ":1")
is_(out.decode(), "-32768\n", "dump --rows :1")
for bad in ("2:9", "x:1", "3:1", "5"):
    rc, out, err = tensors("dump", "i16", ALL, "--rows", bad)
    ok(rc == 2 and out == b"", "dump --rows %s is a usage error (exit 2)" % bad, "status %d %r" % (rc, err))
rc, out, err = tensors("dump", "nothere", ALL)
ok(rc == 1 and out == b"", "dump of a missing tensor: exit 1")
one_error_line(err, "nothere", "dump of a missing tensor names it")
rc, out, err = shell("cat '%s' | '%s' dump u8" % (ALL, TENSORS))
is_((rc, out), (0, b"0\t255\t3\n"), "dump from a pipe")

# ---- to-npy: numpy loads what we write ----
for name, (dtype, array) in expected.items():
    path = os.path.join(d, "t.npy")
    rc, out, err = tensors("to-npy", name, ALL, "-o", path)
    try:
        got = np.load(path)
    except Exception as e:  # noqa: BLE001
        got = e
    want = st.bf16_to_f32(array) if dtype == "BF16" else array
    ok(rc == 0 and isinstance(got, np.ndarray) and got.dtype == want.dtype and same(got, want),
       "to-npy %s: numpy loads the same %s values" % (name, got.dtype if hasattr(got, "dtype") else "?"),
       "%r\n%s" % (got, err))

# ---- from-npy, every dtype numpy and safetensors share; back through to-npy ----
args = []
for name, (dtype, array) in expected.items():
    if dtype == "BF16":
        continue
    path = os.path.join(d, "in-%d.npy" % len(args))
    np.save(path, array)
    args.append("%s=%s" % (name, path))
made = os.path.join(d, "made.st")
rc, out, err = tensors("from-npy", *args, "--meta", "arch=resnet18", "--meta", "k=a=b", "-o", made)
ok(rc == 0, "from-npy of %d arrays" % len(args), err)
got, meta = st.read(made)
for name, (dtype, array) in expected.items():
    if dtype == "BF16":
        continue
    ok(name in got and got[name][0] == dtype and got[name][1].tobytes() == array.tobytes()
       and got[name][1].shape == array.shape, "from-npy %s: dtype %s and bytes kept" % (name, dtype))
is_((meta.get("arch"), meta.get("k")), ("resnet18", "a=b"), "from-npy --meta KEY=VALUE")
for arg in args:
    name, path = arg.split("=", 1)
    back = os.path.join(d, "back.npy")
    rc, out, err = tensors("to-npy", name, made, "-o", back)
    a, b = np.load(path), np.load(back) if rc == 0 else None
    ok(b is not None and a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes(),
       "npy -> from-npy -> to-npy -> npy: %s (%s %s) unchanged" % (name, a.dtype, list(a.shape)), err)
for version in ((2, 0), (3, 0)):
    path = os.path.join(d, "v%d.npy" % version[0])
    with open(path, "wb") as fp:
        np.lib.format.write_array(fp, expected["i32"][1], version=version)
    rc, out, err = tensors("from-npy", "v=" + path)
    got, _ = st.loads(out) if rc == 0 else ({}, {})
    ok("v" in got and got["v"][1].tobytes() == expected["i32"][1].tobytes() and got["v"][1].shape == (2, 1),
       "from-npy reads .npy format %d.%d" % version, err)
np.save(os.path.join(d, "fortran.npy"), np.asfortranarray(np.ones((2, 3), np.float32)))
np.save(os.path.join(d, "big.npy"), np.ones(3, ">f4"))
np.save(os.path.join(d, "complex.npy"), np.ones(3, np.complex64))
np.save(os.path.join(d, "u16.npy"), np.ones(3, np.uint16))
with open(os.path.join(d, "short.npy"), "wb") as fp:
    np.save(fp, np.ones(100, np.float32))
with open(os.path.join(d, "short.npy"), "r+b") as fp:
    fp.truncate(200)
open(os.path.join(d, "junk.npy"), "wb").write(b"not an npy file at all")
for bad in ("fortran", "big", "complex", "u16", "short", "junk", "absent"):
    out_path = os.path.join(d, "bad.st")
    rc, out, err = tensors("from-npy", "x=%s" % os.path.join(d, bad + ".npy"), "-o", out_path)
    ok(rc == 1 and not os.path.exists(out_path), "from-npy refuses %s.npy (exit 1, no output)" % bad, err)
    one_error_line(err, bad + ".npy", "from-npy %s.npy: one line naming the file" % bad)

# ---- pick / drop: streamed, byte-exact, metadata kept, history appended ----
rc, out, err = tensors("pick", "i8", "f64", "-i", ALL)
got, meta = st.loads(out)
ok(rc == 0 and sorted(got) == ["f64", "i8"], "pick keeps the named tensors", err)
ok(all(got[n][1].tobytes() == expected[n][1].tobytes() for n in got), "pick copies the bytes exactly")
(hlen,) = struct.unpack("<Q", out[:8])
is_(hlen % 8, 0, "pick pads the header to a multiple of 8")
history = json.loads(meta.get("history", "null"))
ok(isinstance(history, list) and history[-1].startswith("tensors pick"), "pick appends its command line to history",
   meta.get("history"))
is_({k: meta[k] for k in META}, META, "pick keeps the metadata")
rc, out, err = shell("cat '%s' | '%s' drop f64 i8 scalar | '%s' pick u8 'λ.層' empty" % (ALL, TENSORS, TENSORS))
got, meta = st.loads(out)
ok(rc == 0 and sorted(got) == sorted(["u8", "λ.層", "empty"]) and
   all(got[n][1].tobytes() == expected[n][1].tobytes() and got[n][1].shape == expected[n][1].shape for n in got),
   "drop then pick through pipes", err)
ok(len(json.loads(meta["history"])) == 2, "each stage of the pipe adds one history entry")
rc, out, err = tensors("pick", "f64", "missing", "-i", ALL, "-o", os.path.join(d, "p.st"))
ok(rc == 1 and not os.path.exists(os.path.join(d, "p.st")), "pick of a missing tensor: exit 1, no output")
one_error_line(err, "missing", "pick of a missing tensor names it")

# ---- merge ----
parts = every_dtype()
names = list(parts)
st.write(os.path.join(d, "m1.st"), {n: parts[n] for n in names[:5]}, {"arch": "x"})
st.write(os.path.join(d, "m2.st"), {n: parts[n] for n in names[5:]}, {"arch": "y", "extra": "1"})
rc, out, err = tensors("merge", os.path.join(d, "m1.st"), os.path.join(d, "m2.st"))
got, meta = st.loads(out)
ok(rc == 0 and sorted(got) == sorted(expected) and
   all(got[n][0] == expected[n][0] and got[n][1].tobytes() == expected[n][1].tobytes()
       and got[n][1].shape == expected[n][1].shape for n in got), "merge of two halves gives the whole", err)
is_((meta.get("arch"), meta.get("extra")), ("x", "1"), "merge: the first file's metadata value wins, others added")
out_path = os.path.join(d, "dup.st")
rc, out, err = tensors("merge", os.path.join(d, "m1.st"), ALL, "-o", out_path)
ok(rc == 1 and not os.path.exists(out_path), "merge with a name twice: exit 1, no output")
one_error_line(err, "f64", "merge names the duplicate tensor")

# ---- cat: join shards along axis 0 ----
rng = np.random.default_rng(7)
shards, ids = [], []
for i, n in enumerate((3, 0, 5)):
    x = rng.standard_normal((n, 4)).astype(np.float32)
    y = rng.integers(-9, 9, n).astype(np.int64)
    m = rng.integers(0, 2, (n, 2, 2)).astype(np.uint8)
    sid = ["s%d-%d" % (i, k) for k in range(n)]
    path = os.path.join(d, "shard%d.st" % i)
    st.write(path, {"x": x, "y": y, "m": m}, {"labels": '["a","b"]', "ids": json.dumps(sid)})
    shards.append((x, y, m))
    ids += sid
rc, out, err = tensors("cat", *[os.path.join(d, "shard%d.st" % i) for i in range(3)])
got, meta = st.loads(out)
for k, name in enumerate("xym"):
    want = np.concatenate([s[k] for s in shards])
    ok(rc == 0 and got[name][1].shape == want.shape and got[name][1].tobytes() == want.tobytes(),
       "cat joins %s along axis 0 like np.concatenate" % name, err)
is_(json.loads(meta.get("ids", "[]")), ids, "cat joins the ids lists")
is_(meta.get("labels"), '["a","b"]', "cat keeps the shared metadata")
st.write(os.path.join(d, "wide.st"), {"x": np.zeros((2, 5), np.float32), "y": np.zeros(2, np.int64),
                                      "m": np.zeros((2, 2, 2), np.uint8)}, {"labels": '["a","b"]', "ids": "[]"})
st.write(os.path.join(d, "f64.st"), {"x": np.zeros((2, 4), np.float64), "y": np.zeros(2, np.int64),
                                     "m": np.zeros((2, 2, 2), np.uint8)}, {"labels": '["a","b"]', "ids": "[]"})
st.write(os.path.join(d, "other.st"), {"x": np.zeros((2, 4), np.float32), "y": np.zeros(2, np.int64),
                                       "m": np.zeros((2, 2, 2), np.uint8)}, {"labels": '["a","c"]', "ids": "[]"})
st.write(os.path.join(d, "fewer.st"), {"x": np.zeros((2, 4), np.float32), "y": np.zeros(2, np.int64)},
         {"labels": '["a","b"]', "ids": "[]"})
st.write(os.path.join(d, "sc.st"), {"s": np.float32(1)})
for bad, word in (("wide", "x"), ("f64", "x"), ("other", "labels"), ("fewer", "m")):
    out_path = os.path.join(d, "cat.st")
    rc, out, err = tensors("cat", os.path.join(d, "shard0.st"), os.path.join(d, bad + ".st"), "-o", out_path)
    ok(rc == 1 and not os.path.exists(out_path), "cat refuses %s.st (exit 1, no output)" % bad, err)
    one_error_line(err, word, "cat %s.st: one line naming '%s'" % (bad, word))
rc, out, err = tensors("cat", os.path.join(d, "sc.st"), os.path.join(d, "sc.st"))
ok(rc == 1, "cat refuses scalars", err)

# ---- stack: one tensor of several files along a new first axis ----
probs, ctx = [], {"labels": rng.integers(0, 2, (4, 3)).astype(np.uint8), "split": np.array([0, 0, 2, 2], np.uint8),
                  "index": np.arange(4, dtype=np.int64)}
for i in range(3):
    p = rng.random((2, 4, 3)).astype(np.float32)
    probs.append(p)
    st.write(os.path.join(d, "ck%d.st" % i), dict(ctx, prob=p, other=np.full(2, i, np.float32)),
             {"labels": '["a","b","c"]', "model": "m%d" % i, "ids": '["w","x","y","z"]'})
cks = [os.path.join(d, "ck%d.st" % i) for i in range(3)]
rc, out, err = tensors("stack", "prob", *cks, "--as", "prob_train", "--meta", "model=all", "--meta",
                       "checkpoint_epochs=[1,2,3]")
got, meta = st.loads(out) if rc == 0 else ({}, {})
ok(rc == 0 and sorted(got) == ["index", "labels", "prob_train", "split"]
   and got["prob_train"][1].tobytes() == np.stack(probs).tobytes() and got["prob_train"][1].shape == (3, 2, 4, 3)
   and all(got[k][1].tobytes() == v.tobytes() for k, v in ctx.items()),
   "stack: prob of 3 files = np.stack as prob_train [3,2,4,3], the context once, other tensors dropped", err)
is_((meta.get("model"), meta.get("checkpoint_epochs"), meta.get("ids")), ("all", "[1,2,3]", '["w","x","y","z"]'),
    "stack: --meta keys set instead of compared, shared metadata kept")
rc, out, err = tensors("stack", "prob", cks[0], cks[1])
one_error_line(err, "metadata 'model' differs", "stack: differing metadata refused unless set with --meta")
st.write(os.path.join(d, "ckx.st"), dict(ctx, prob=probs[0].astype(np.float64)), {"model": "x"})
st.write(os.path.join(d, "cky.st"), dict(ctx, prob=probs[0][:, :3]), {"model": "x"})
st.write(os.path.join(d, "ckz.st"), dict(ctx, prob=probs[0], split=np.array([0, 2, 2, 2], np.uint8)), {"model": "x"})
st.write(os.path.join(d, "ckw.st"), {"prob": probs[0], "labels": ctx["labels"], "index": ctx["index"]}, {"model": "x"})
st.write(os.path.join(d, "ck-base.st"), dict(ctx, prob=probs[0]), {"model": "x"})
for bad, word in (("ckx", "F64"), ("cky", "[2,3,3]"), ("ckz", "split"), ("ckw", "split")):
    out_path = os.path.join(d, "stack.st")
    rc, out, err = tensors("stack", "prob", os.path.join(d, "ck-base.st"), os.path.join(d, bad + ".st"), "-o", out_path)
    ok(rc == 1 and not os.path.exists(out_path), "stack refuses %s.st (exit 1, no output)" % bad, err)
    one_error_line(err, word, "stack %s.st: one line naming %s" % (bad, word))
rc, out, err = tensors("stack", "nothere", cks[0], cks[1], "--meta", "model=x")
ok(rc == 1 and "nothere" in err, "stack of a missing tensor: exit 1 naming it", err)
rc, out, err = tensors("stack", "prob")
ok(rc == 2 and "NAME FILE" in err, "stack without files: usage error", err)
rc, out, err = tensors("stack", "prob", cks[0], "--as", "labels")
ok(rc == 2 and "context tensor" in err, "stack --as a context tensor's name: usage error", err)

# ---- empty metadata and no tensors ----
empty = os.path.join(d, "empty-meta.st")
open(empty, "wb").write(st.raw_file(st.pad8(b'{"__metadata__":{},"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}'), b"\x07"))
rc, out, err = tensors("info", empty)
ok(rc == 0 and b"metadata" not in out, "info of empty metadata", out)
rc, out, err = tensors("dump", "a", empty)
is_((rc, out), (0, b"7\n"), "dump of a file with empty metadata")
rc, out, err = tensors("drop", "a", "-i", empty)
got, meta = st.loads(out)
ok(rc == 0 and got == {} and list(meta) == ["history"], "drop of the only tensor leaves a valid empty file")

done()
