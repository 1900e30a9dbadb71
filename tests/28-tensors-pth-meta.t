#!/usr/bin/python3
# tensors from-pth (a checkpoint's state dict as safetensors), tensors meta
# (show, edit in place, to another file, through a pipe), and from-npy's
# conversion of NumPy's int64/float64 defaults to the pipeline's dtypes.
import json
import os
import sys

import numpy as np
import torch
import torch.nn as nn

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "st"))
import stwrite as st  # noqa: E402
from tap import ok, is_, done, run, tensors, scratch, one_error_line  # noqa: E402

d = scratch("tensors-pth.")
torch.manual_seed(0)
net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Linear(4, 2))
sd = net.state_dict()


def read(path):
    return st.read(path)


def equal(got, want):
    return sorted(got) == sorted(want) and all(
        np.array_equal(got[k][1], v.numpy()) and got[k][1].shape == tuple(v.shape) for k, v in want.items())


# ---- from-pth ----
p = os.path.join(d, "net.pth")
torch.save(nn.DataParallel(net).state_dict(), p)
out = os.path.join(d, "net.st")
rc, _, err = tensors("from-pth", p, "--meta", "arch=custom", "-o", out)
if ok(rc == 0, "from-pth of a DataParallel state dict", err):
    t, meta = read(out)
    ok(equal(t, sd), "every tensor as torch.load gives it, 'module.' removed")
    ok(meta.get("arch") == "custom" and "from-pth" in meta.get("history", ""), "--meta and history recorded")
    ok("prefix 'module.' removed" in err and "%d tensors" % len(sd) in err, "notes on stderr: prefix, count", err)
rc, _, err = tensors("from-pth", p, "--strip-prefix", "", "-o", out)
ok(rc == 0 and sorted(read(out)[0]) == sorted("module." + k for k in sd), "--strip-prefix '' keeps the names", err)
torch.save({"epoch": 2, "net": sd, "opt": torch.optim.SGD(net.parameters(), lr=0.1).state_dict()}, p)
rc, _, err = tensors("from-pth", p, "-o", out)
ok(rc == 0 and equal(read(out)[0], sd) and "entry 'net'" in err, "a checkpoint dict: the state dict found", err)
rc, _, err = tensors("from-pth", p, "--key", "opt", "-o", out)
one_error_line(err, "entry 'state' holds a dict, not a tensor", "--key of an optimizer state: one-line error")
ok(not os.path.exists(out + ".tmp"), "no partial output left")
rc, piped, err = tensors("from-pth", p, "--key", "net")
ok(rc == 0 and equal(st.loads(piped)[0], sd), "to standard output by default", err)
rc, _, err = tensors("from-pth", os.path.join(d, "nothing.pth"), "-o", out)
one_error_line(err, "cannot open", "a missing checkpoint: one-line error")
open(os.path.join(d, "junk.pth"), "wb").write(b"PK\x03\x04" + b"\0" * 60)
rc, _, err = tensors("from-pth", os.path.join(d, "junk.pth"), "-o", out)
ok(rc == 1 and err.count("\n") == 1 and err.startswith("tensors: "), "a broken zip: one-line error", err)
rc, _, err = tensors("from-pth", "-o", out)
ok(rc == 2 and "from-pth takes one checkpoint" in err, "from-pth without a file: usage error", err)

# ---- meta ----
f = os.path.join(d, "m.st")
st.write(f, {"x": np.arange(3, dtype=np.float32)}, {"arch": "resnet18"})
rc, so, err = tensors("meta", f, text=True)
ok(rc == 0 and so == "arch\tresnet18\n", "meta FILE prints the metadata", so + err)
rc, _, err = tensors("meta", f, "--set", 'labels=["a","b"]', "--set", "arch=resnet50")
t, meta = read(f)
ok(rc == 0 and meta["arch"] == "resnet50" and json.loads(meta["labels"]) == ["a", "b"]
   and np.array_equal(t["x"][1], np.arange(3)), "--set edits FILE in place, tensors kept", err)
ok(not os.path.exists(f + ".tmp") and "meta" in meta.get("history", ""), "in place atomically, history recorded")
other = os.path.join(d, "other.st")
rc, _, err = tensors("meta", f, "--set", "arch=vgg16", "-o", other)
ok(rc == 0 and read(other)[1]["arch"] == "vgg16" and read(f)[1]["arch"] == "resnet50", "-o writes elsewhere", err)
rc, piped, err = tensors("meta", "-", "--set", "crop=200", input=open(f, "rb").read())
ok(rc == 0 and st.loads(piped)[1]["crop"] == "200", "FILE '-': standard input to standard output", err)
rc, _, err = tensors("meta", f, "--set", "novalue")
ok(rc == 2 and "expected KEY=VALUE" in err, "--set without '=': usage error", err)
rc, _, err = tensors("meta", os.path.join(d, "absent.st"), "--set", "a=b")
one_error_line(err, "absent.st", "meta of a missing file: one-line error")

# ---- from-npy: NumPy's int64 and float64 ----
np.save(os.path.join(d, "labels.npy"), np.array([[0, 1], [1, 0], [1, 1]]))
np.save(os.path.join(d, "split.npy"), np.array([0, 1, 2]))
np.save(os.path.join(d, "index.npy"), np.array([5, 6, 7], np.int32))
np.save(os.path.join(d, "feat.npy"), np.linspace(0, 1, 6).reshape(3, 2))
np.save(os.path.join(d, "other.npy"), np.linspace(0, 1, 3))
rc, _, err = tensors("from-npy", "labels=" + os.path.join(d, "labels.npy"), "split=" + os.path.join(d, "split.npy"),
                     "index=" + os.path.join(d, "index.npy"), "feat.00=" + os.path.join(d, "feat.npy"),
                     "other=" + os.path.join(d, "other.npy"), "-o", out)
if ok(rc == 0, "from-npy of int64 labels and split, int32 index, float64 features", err):
    t, _ = read(out)
    is_({k: t[k][0] for k in t}, {"labels": "U8", "split": "U8", "index": "I64", "feat.00": "F32", "other": "F64"},
        "labels, split U8; index I64; feat.NN F32; other names keep their dtype")
    ok(np.array_equal(t["labels"][1], [[0, 1], [1, 0], [1, 1]]) and list(t["index"][1]) == [5, 6, 7]
       and np.allclose(t["feat.00"][1], np.linspace(0, 1, 6).reshape(3, 2)), "values kept")
    ok(all(w in err for w in ("'labels' converted from I64 to U8", "'feat.00' converted from F64 to F32")),
       "each conversion noted on stderr", err)
np.save(os.path.join(d, "bad.npy"), np.array([0, 300]))
rc, _, err = tensors("from-npy", "split=" + os.path.join(d, "bad.npy"), "-o", out)
one_error_line(err, "holds 300 at element 1", "a split value of 300: one-line error")
done()
