#!/usr/bin/python3
# PyTorch checkpoints read in C (tools/lib/pth.c, pickle.c) through
# tests/unit/pth_dump, against torch.load of the same files: every tensor's
# name, dtype, shape and bytes. Files: torch.save of the state dicts of all
# 13 architectures (narrow torchvision modules, as test 50), in F32 and F16,
# the legacy format (_use_new_zipfile_serialization=False), every storage
# dtype, non-contiguous views (transposed, strided, offset, expanded, 0-d,
# empty), storages shared between tensors, parameters (keep_vars), the
# DataParallel 'module.' prefix, checkpoint dicts ({'state_dict': ..., 'epoch':
# ..., 'optimizer': ..., 'args': argparse.Namespace}), and the files that are
# not state dicts (a whole pickled module, TorchScript, big-endian storages).
import argparse
import os
import sys
import zipfile

import numpy as np
import torch
import torch.nn as nn

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "st"))
sys.path.insert(0, os.path.join(HERE, "extract-feats"))
import models  # noqa: E402
import stwrite as st  # noqa: E402
from tap import ASAN, UNIT, ok, is_, done, run, scratch, names_error  # noqa: E402

torch.manual_seed(0)
DUMP = os.path.join(UNIT, "pth_dump")
DTYPES = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16", torch.float64: "F64",
          torch.int64: "I64", torch.int32: "I32", torch.int16: "I16", torch.int8: "I8", torch.uint8: "U8",
          torch.bool: "BOOL"}
d = scratch("pth.")


def dump(path, *opts):
    out = os.path.join(d, "out.st")
    rc, so, err = run([DUMP] + list(opts) + [path, out], text=True)
    if rc:
        return None, err, so
    return st.read(out)[0], err, so


def as_numpy(t):
    t = t.detach().contiguous()
    if t.dtype == torch.bfloat16:
        return t.view(torch.int16).numpy().view(np.uint16)
    return t.numpy()


def same(got, want):
    """got: {name: (dtype, array)} from the dump; want: {name: tensor}. A list of differences."""
    bad = []
    if sorted(got) != sorted(want):
        bad.append("names: %s vs %s" % (sorted(got)[:4], sorted(want)[:4]))
        return bad
    for k, t in want.items():
        dt, a = got[k]
        if dt != DTYPES[t.dtype]:
            bad.append("%s: dtype %s, torch %s" % (k, dt, t.dtype))
        elif a.shape != tuple(t.shape):
            bad.append("%s: shape %s, torch %s" % (k, a.shape, tuple(t.shape)))
        elif a.tobytes() != as_numpy(t).tobytes():
            bad.append("%s: values differ" % k)
    return bad


def check(path, want, what, *opts, info=None):
    got, err, so = dump(path, *opts)
    if not ok(got is not None, what + ": read", err):
        return None
    bad = same(got, want)
    ok(not bad, what + ": %d tensors equal to torch.load's (names, dtypes, shapes, bytes)" % len(want),
       "\n".join(bad[:6]))
    if info is not None:
        is_(so.strip(), info, what + ": reported " + info)
    return got


# ---- the 13 architectures, F32 and F16, new and legacy format ----
archs = models.ALL if not ASAN else ["resnet18", "resnet50", "vgg16_bn"]
for arch in archs:
    m, _ = models.build(arch)
    models.randomise(m, torch.Generator().manual_seed(1))
    sd = m.state_dict()
    p = os.path.join(d, arch + ".pth")
    torch.save(sd, p)
    check(p, dict(sd), arch, info="key= stripped= legacy=0 tensors=%d" % len(sd))
    if arch in ("resnet18", "vgg11_bn"):
        half = m.half().state_dict()
        torch.save(half, p)
        check(p, dict(half), arch + " in F16")
        torch.save(sd, p, _use_new_zipfile_serialization=False)
        check(p, dict(sd), arch + ", legacy format", info="key= stripped= legacy=1 tensors=%d" % len(sd))

# ---- dtypes, views, sharing ----
base = torch.arange(4 * 6 * 5, dtype=torch.float32).reshape(4, 6, 5)
shared = torch.randn(10, 8)
views = {
    "f32": torch.randn(3, 4), "f16": torch.randn(5).half(), "bf16": torch.randn(2, 3).bfloat16(),
    "f64": torch.randn(3).double(), "i64": torch.arange(-3, 4), "i32": torch.arange(5, dtype=torch.int32),
    "i16": torch.arange(-2, 3, dtype=torch.int16), "i8": torch.arange(-4, 4, dtype=torch.int8),
    "u8": torch.arange(250, 256, dtype=torch.uint8), "bool": torch.tensor([True, False, True]),
    "transposed": base[1].t(), "permuted": base.permute(2, 0, 1), "strided": base[:, ::2, 1::3],
    "offset": base[2, 3:], "expanded": torch.randn(3, 1).expand(3, 7), "scalar": torch.tensor(2.5),
    "empty": torch.zeros(0, 4), "row_of_shared": shared[3], "col_of_shared": shared[:, 5],
    "shared": shared, "shared_again": shared.view(8, 10), "batches": torch.tensor(7),
}
p = os.path.join(d, "views.pth")
torch.save(views, p)
check(p, views, "dtypes, views and shared storages")
torch.save(views, p, _use_new_zipfile_serialization=False)
check(p, views, "dtypes, views and shared storages, legacy format")
params = {"w": nn.Parameter(torch.randn(4, 3)), "b": nn.Parameter(torch.randn(4), requires_grad=False)}
torch.save(params, p)
check(p, params, "nn.Parameter values (_rebuild_parameter)")

# ---- DataParallel prefix, checkpoint dicts ----
m, _ = models.build("resnet18")
sd = m.state_dict()
dp = nn.DataParallel(m).state_dict()
ok(all(k.startswith("module.") for k in dp), "DataParallel names start with 'module.'")
p = os.path.join(d, "dp.pth")
torch.save(dp, p)
check(p, dict(sd), "DataParallel state dict", info="key= stripped=module. legacy=0 tensors=%d" % len(sd))
check(p, dict(sd), "DataParallel state dict, --strip-prefix module.", "--strip-prefix", "module.")
check(p, dict(dp), "DataParallel state dict, --strip-prefix ''", "--strip-prefix", "")
mixed = dict(sd)
mixed.update({"module.extra": torch.ones(2)})
torch.save(mixed, p)
check(p, mixed, "names not all prefixed: nothing stripped by default")
want = dict(sd)
want["extra"] = torch.ones(2)
check(p, want, "--strip-prefix module. on names of which one has it", "--strip-prefix", "module.")
got, err, _ = dump(p, "--strip-prefix", "features.")
ok(got is None and names_error(err, "pth_dump", ("no tensor name starts with 'features.'",)),
   "--strip-prefix that no name has: one-line error", err)

opt = torch.optim.SGD(m.parameters(), lr=0.1, momentum=0.9)
m(torch.randn(2, 3, 32, 32)).sum().backward()
opt.step()
ckpt = {"epoch": 7, "state_dict": dp, "optimizer": opt.state_dict(), "best_acc1": 0.75,
        "args": argparse.Namespace(arch="resnet18", lr=0.1)}
p = os.path.join(d, "ckpt.pth")
torch.save(ckpt, p)
check(p, dict(sd), "checkpoint dict: the state dict found among epoch, optimizer, args",
      info="key=state_dict stripped=module. legacy=0 tensors=%d" % len(sd))
check(p, dict(sd), "checkpoint dict, --key state_dict", "--key", "state_dict")
torch.save(ckpt, p, _use_new_zipfile_serialization=False)
check(p, dict(sd), "checkpoint dict, legacy format")
for key, words in [("epoch", "holds an integer, not a state dict"), ("args", "object built by argparse.Namespace"),
                   ("nothing", "no entry 'nothing' in the checkpoint (entries: 'epoch', 'state_dict'"),
                   ("optimizer", "entry 'state' holds a dict, not a tensor")]:
    got, err, _ = dump(p, "--key", key)
    ok(got is None and names_error(err, "pth_dump", (words,)), "--key %s: one-line error '%s'" % (key, words), err)
torch.save({"model": sd, "model_ema": sd, "epoch": 1}, p)
got, err, _ = dump(p)
ok(got is None and names_error(err, "pth_dump", ("2 entries hold a state dict ('model', 'model_ema')", "--key")),
   "two state dicts in a checkpoint: asks for --key", err)
check(p, dict(sd), "two state dicts, --key model_ema", "--key", "model_ema")
torch.save({"epoch": 1, "lr": 0.1}, p)
got, err, _ = dump(p)
ok(got is None and names_error(err, "pth_dump", ("no state dict in the checkpoint",)),
   "a checkpoint without tensors: one-line error", err)
torch.save({"w": torch.ones(2), "note": "text"}, p)
got, err, _ = dump(p)
ok(got is None and names_error(err, "pth_dump", ("entry 'note' holds a string, not a tensor",)),
   "a state dict with a string in it: one-line error", err)

# ---- what is not a state dict ----
torch.save(m, p)
got, err, _ = dump(p)
ok(got is None and names_error(err, "pth_dump", ("object built by", "model.state_dict()")),
   "torch.save(model): refused, saying to save the state dict", err)
torch.save(m, p, _use_new_zipfile_serialization=False)
got, err, _ = dump(p)
ok(got is None and names_error(err, "pth_dump", ("model.state_dict()",)),
   "torch.save(model) in the legacy format: refused, saying to save the state dict", err)
torch.jit.save(torch.jit.script(nn.Linear(3, 2)), p)
got, err, _ = dump(p)
ok(got is None and names_error(err, "pth_dump", ("TorchScript",)), "TorchScript archive: refused by name", err)
torch.save({"w": torch.ones(3)}, p)
with zipfile.ZipFile(p) as z:
    entries = [(i, z.read(i)) for i in z.infolist()]
prefix = entries[0][0].filename.split("/")[0]
with zipfile.ZipFile(p, "w") as z:
    for i, data in entries:
        z.writestr(i, data)
    z.writestr(prefix + "/byteorder", "big")
got, err, _ = dump(p)
ok(got is None and names_error(err, "pth_dump", ("big-endian",)), "big-endian storages: refused", err)
open(p, "wb").write(b"\x89PNG\r\n\x1a\n" + b"\0" * 100)
got, err, _ = dump(p)
ok(got is None and names_error(err, "pth_dump", ("not a PyTorch checkpoint",)), "a PNG: not a checkpoint", err)
got, err, _ = dump(os.path.join(d, "missing.pth"))
ok(got is None and names_error(err, "pth_dump", ("cannot open",)), "a missing file: one-line error", err)
done()
