#!/usr/bin/python3
# Hostile and broken checkpoints (tools/lib/pickle.c, pth.c) through
# tests/unit/pth_dump: every refused opcode and global, every prefix of a
# real pickle, sizes, counts and indices past any limit, broken views,
# broken zip containers and legacy streams. Each must be refused with one
# line naming what is wrong, never a crash, a hang or a wrong tensor; and no
# pickle runs anything (a refused global that would write a file does not).
import collections
import os
import struct
import sys
import zipfile

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "st"))
sys.path.insert(0, os.path.join(HERE, "pth"))
from hostile import (Call, Storage, Tensor, dumps, legacy, legacy_state, raw, state,  # noqa: E402
                     zip_checkpoint)
from tap import ASAN, UNIT, ok, done, run, scratch, names_error  # noqa: E402

DUMP = os.path.join(UNIT, "pth_dump")
d = scratch("pth-hostile.")
P2 = "\x80\x02"


def refused(data, words, what, pickle=True):
    path = os.path.join(d, "in.pkl" if pickle else "in.pth")
    with open(path, "wb") as fp:
        fp.write(data)
    rc, _, err = run([DUMP] + (["--pickle"] if pickle else []) + [path, os.path.join(d, "out.st")])
    return ok(rc == 1 and names_error(err, "pth_dump", words), "%s: refused, one line with %r" % (what, words),
              "status %d, stderr %r" % (rc, err))


# ---- opcodes that torch.save never writes ----
refused_ops = {"i": "INST", "o": "OBJ", "P": "PERSID", "\x82": "EXT1", "\x83": "EXT2", "\x84": "EXT4",
               "I": "INT", "L": "LONG", "S": "STRING", "V": "UNICODE", "F": "FLOAT", "d": "DICT",
               "l": "LIST", "g": "GET", "p": "PUT", "2": "DUP", "\x8f": "EMPTY_SET", "\x90": "ADDITEMS",
               "\x91": "FROZENSET", "\x96": "BYTEARRAY8", "\x97": "NEXT_BUFFER", "\x98": "READONLY_BUFFER",
               "T": "BINSTRING", "U": "SHORT_BINSTRING"}
for op, name in refused_ops.items():
    refused(raw(P2, "(", op, "0\n0\n."), ("opcode %s not supported" % name,), "opcode %s" % name)
for op in ("\xff", "\x00", "z"):
    refused(raw(P2, op, "."), ("unknown opcode 0x%02x" % ord(op),), "byte 0x%02x" % ord(op))
for proto in (0, 1, 6):
    refused(raw("\x80", chr(proto), "N."), ("pickle protocol %d not supported" % proto,), "protocol %d" % proto)

# ---- globals: named, never imported or called ----
marker = os.path.join(d, "pwned")
refused(dumps(Call(os.system, "touch " + marker)), ("holds an object built by posix.system, not a state dict",),
        "os.system at the root")
ok(not os.path.exists(marker), "the refused os.system call did not run")
refused(dumps({"w": Call(eval, "1+1")}), ("'w' (an object built by __builtin__.eval)",),
        "builtins.eval as a tensor")
refused(dumps({"w": Call(open, marker, "w")}), ("'w' (an object built by io.open)",), "open() as a tensor")
refused(dumps({"w": Tensor(Storage()), "x": Call(eval, "1")}), ("entry 'x' holds an object built by __builtin__.eval",),
        "builtins.eval beside a tensor")
ok(not os.path.exists(marker), "the refused open() did not run")
refused(dumps(Call(os.system, "x"), protocol=4), ("object built by posix.system",), "STACK_GLOBAL (protocol 4)")
refused(raw(P2, "cos\nsystem\n."), ("holds the global os.system",), "a bare global at the root")
refused(dumps({"w": Tensor(Storage(typ=os.system))}), ("storage type the global posix.system not supported",),
        "os.system as a storage type")
refused(dumps({"w": Tensor(Storage(typ=torch.ComplexFloatStorage))}),
        ("storage type the global torch.ComplexFloatStorage not supported",), "complex storages")
refused(dumps({"w": Tensor(Call(os.getcwd))}), ("_rebuild_tensor_v2 on an object built by posix.getcwd",),
        "a tensor on a called global instead of a storage")
refused(dumps({"w": Call(collections.OrderedDict, [("a", 1)])}),
        ("collections.OrderedDict called with arguments",), "OrderedDict with arguments")
refused(dumps({"w": Tensor(Storage(pid=("module", torch.nn.Linear, "f.py", "src")))}),
        ("a pickled nn.Module",), "a 'module' persistent id")
refused(dumps({"w": Tensor(Storage(pid=("thing", 1, 2)))}), ("persistent id ('thing', ...) of 3 items",),
        "an unknown persistent id")
refused(dumps({"w": Tensor(Storage(pid="storage"))}), ("not a tuple ('storage', ...)",), "a string persistent id")
refused(raw(P2, "]", "N", "b."), ("BUILD on a list",), "BUILD on a list")

# ---- every prefix of a real state dict pickle ----
real = dumps(state())
bad = []
for n in range(len(real)):
    path = os.path.join(d, "prefix.pkl")
    open(path, "wb").write(real[:n])
    rc, _, err = run([DUMP, "--pickle", path, os.path.join(d, "out.st")])
    if not (rc == 1 and names_error(err, "pth_dump", ("truncated",))):
        bad.append("%d bytes: status %d, %r" % (n, rc, err))
ok(not bad, "all %d prefixes of a %d-byte state dict pickle refused as truncated, one line" % (len(real), len(real)),
   "\n".join(bad[:5]))
open(path, "wb").write(real)
rc, so, err = run([DUMP, "--pickle", path, os.path.join(d, "out.st")], text=True)
ok(rc == 0 and "tensors=1" in so, "the whole pickle is read", err)

# ---- lengths, counts and indices past the data or the limits ----
for what, data, words in [
        ("BINUNICODE of 4 GB", raw(P2, "X\xff\xff\xff\xffab."), "a length past the end"),
        ("BINUNICODE8 of 2^63 bytes", raw(P2, "\x8d", struct.pack("<Q", 1 << 63), "ab."), "a length past the end"),
        ("BINBYTES8 of 2^64-1 bytes", raw(P2, "\x8e", b"\xff" * 8, "."), "a length past the end"),
        ("SHORT_BINUNICODE past the end", raw(P2, "\x8c\x09ab."), "a length past the end"),
        ("LONG4 of negative length", raw(P2, "\x8b\xff\xff\xff\xff."), "LONG4 with a negative length"),
        ("LONG4 of 2 GB", raw(P2, "\x8b\xff\xff\xff\x7f."), "a length past the end"),
        ("FRAME of 2^60 bytes", raw("\x80\x04\x95", struct.pack("<Q", 1 << 60), "N."), "a length past the end"),
        ("LONG_BINPUT 2^32-1", raw(P2, "Nr\xff\xff\xff\xff."), "memo index out of order"),
        ("BINPUT skipping indices", raw(P2, "Nq\x05."), "memo index out of order"),
        ("BINGET of an unset index", raw(P2, "h\x03."), "memo index never set"),
        ("LONG_BINGET of 2^32-1", raw(P2, "j\xff\xff\xff\xff."), "memo index never set"),
        ("a string that is not UTF-8", raw(P2, "X\x02\x00\x00\x00\xc3\x28."), "not UTF-8"),
        ("a GLOBAL without its newline", raw(P2, "cos"), "without its newline"),
        ("a GLOBAL with a control byte", raw(P2, "cos\x01\nsystem\n."), "not printable ASCII"),
        ("a GLOBAL name of 300 bytes", raw(P2, "c", "a" * 300, "\nb\n."), "longer than 200"),
        ("REDUCE on an empty stack", raw(P2, "R."), "stack underflow"),
        ("SETITEMS without a MARK", raw(P2, "}u."), "no MARK"),
        ("SETITEMS with an odd count", raw(P2, "}(Nu."), "odd number"),
        ("APPEND to a dict", raw(P2, "}Na."), "APPEND(S) on a dict"),
        ("SETITEM on a list", raw(P2, "]NNs."), "SETITEM(S) on a list"),
        ("STOP with two values", raw(P2, "NN."), "STOP with 2 values"),
        ("STOP inside a MARK", raw(P2, "N(."), "STOP inside a MARK"),
        ("an empty file", b"", "truncated"),
        ("a million MARKs", raw(P2, "(" * 1000000, "."), "STOP inside a MARK"),
        ("a list that holds itself", raw(P2, "]q\x00h\x00a."), "holds a list, not a state dict"),
]:
    refused(data, (words,), what)
if not ASAN:
    refused(raw(P2, "N0" * 8388609, "N."), ("more than 8388608 values",), "9 million values")

# ---- storages and views out of bounds ----
S = Storage
for what, obj, words in [
        ("a storage of 2^62 floats", {"w": Tensor(S(numel=1 << 62))}, "storage size that is not an integer"),
        ("a negative storage size", {"w": Tensor(S(numel=-1))}, "storage size that is not an integer"),
        ("a storage key with a slash", {"w": Tensor(S(key="../x"))}, "storage key that is not a short name"),
        ("a view past its storage", {"w": Tensor(S(numel=4), size=(5,))}, "reads element 4 of a storage of 4"),
        ("an offset past the storage", {"w": Tensor(S(numel=4), offset=4, size=(1,))}, "reads element 4"),
        ("strides past the storage", {"w": Tensor(S(numel=8), size=(2, 2), stride=(4, 4))}, "reads element 8"),
        ("strides past 2^64", {"w": Tensor(S(numel=8), size=(3, 3), stride=(1 << 62, 1 << 62))}, "past 2^64"),
        ("a shape of 2^80 elements", {"w": Tensor(S(), size=(1 << 40, 1 << 40), stride=(0, 0))}, "2^59"),
        ("nine dimensions", {"w": Tensor(S(), size=(1,) * 9, stride=(1,) * 9)}, "more than 8 dimensions"),
        ("size and stride of different lengths", {"w": Tensor(S(), size=(2, 2), stride=(1,))}, "differ in length"),
        ("a negative offset", {"w": Tensor(S(), offset=-1)}, "storage offset is not an integer >= 0"),
        ("a negative size", {"w": Tensor(S(), size=(-1,))}, "integers >= 0"),
        ("a negative stride", {"w": Tensor(S(), size=(2,), stride=(-1,))}, "integers >= 0"),
        ("a float size", {"w": Tensor(S(), size=(2.0,))}, "integers >= 0"),
        ("a size that is a list", {"w": Tensor(S(), size=[4])}, "size is not a tuple"),
        ("requires_grad that is not a boolean", {"w": Tensor(S(), requires_grad=1)}, "not a boolean"),
        ("_rebuild_tensor_v2 with 5 arguments", {"w": Call(torch._utils._rebuild_tensor_v2, S(), 0, (4,), (1,),
                                                           False)}, "not a tuple of 6 or 7"),
        ("one key, two dtypes", {"a": Tensor(S(numel=4)), "b": Tensor(S(numel=4, typ=torch.LongStorage))},
         "declared twice"),
        ("a key that is an integer", {3: Tensor(S())}, "a state dict key that is an integer"),
        ("an empty name", {"": Tensor(S())}, "empty or holds a NUL"),
        ("a name with a NUL byte", {"a\0b": Tensor(S())}, "empty or holds a NUL"),
        ("a storage too large for the test's zeros", {"w": Tensor(S(numel=1 << 40), size=(1,))}, "more than a test"),
]:
    refused(dumps(obj), (words,), what)
path = os.path.join(d, "dup.pkl")
open(path, "wb").write(dumps(collections.OrderedDict([("module.a", Tensor(S("0"))), ("module.a", Tensor(S("1")))])))
rc, _, err = run([DUMP, "--pickle", path, os.path.join(d, "out.st")])
ok(rc == 0, "a key set twice keeps the last value, as Python's dict (read)", err)
open(path, "wb").write(dumps(collections.OrderedDict([("a", Tensor(S("0"))), ("module.a", Tensor(S("1")))])))
rc, _, err = run([DUMP, "--pickle", "--strip-prefix", "module.", path, os.path.join(d, "out.st")])
ok(rc == 1 and names_error(err, "pth_dump", ("tensor name 'a' appears twice once the prefix is removed",)),
   "names equal once the prefix is stripped: one-line error", err)

# ---- zip containers ----
pkl = dumps(state())
data = struct.pack("<4f", 1, 2, 3, 4)
p = os.path.join(d, "c.pth")
for what, records, pickle_, words in [
        ("no data.pkl", {"0": data}, None, "without <archive>/data.pkl"),
        ("a missing storage record", {}, pkl, "storage record archive/data/0 missing"),
        ("a storage record too short", {"0": data[:12]}, pkl, "holds 12 bytes, the pickle says 16"),
        ("a storage record too long", {"0": data + b"\0"}, pkl, "holds 17 bytes, the pickle says 16"),
        ("a broken pickle in data.pkl", {"0": data}, pkl[:-5], "data.pkl: pickle byte"),
]:
    zip_checkpoint(p, pickle_, records)
    refused(open(p, "rb").read(), (words,), "zip: " + what, pickle=False)
zip_checkpoint(p, pkl, {"0": data})
good = open(p, "rb").read()
rc, _, err = run([DUMP, p, os.path.join(d, "out.st")])
ok(rc == 0, "zip: the well-formed one is read", err)
refused(good[:len(good) // 2], ("zip",), "zip: cut in half", pickle=False)
at = good.index(data)
refused(good[:at] + b"\x55" + good[at + 1:], ("CRC",), "zip: a storage byte changed (CRC)", pickle=False)
with open(p, "wb") as fp:
    fp.write(good)
with zipfile.ZipFile(p, "a") as z:
    z.writestr("other/data.pkl", pkl)
refused(open(p, "rb").read(), ("two data.pkl records",), "zip: two archives in one file", pickle=False)

# ---- legacy streams ----
good = legacy_state()
p = os.path.join(d, "l.pth")
open(p, "wb").write(good)
rc, so, err = run([DUMP, p, os.path.join(d, "out.st")], text=True)
ok(rc == 0 and "legacy=1 tensors=1" in so, "legacy: the well-formed one is read", err)
main = dumps(collections.OrderedDict(w=Tensor(Storage(pid=("storage", torch.FloatStorage, "9", "cpu", 4, None)))))
four = (4, struct.pack("<4f", 1, 2, 3, 4))
for what, data, words in [
        ("version 1000", legacy(main, {"9": four}, version=1000), "protocol version is not 1001"),
        ("big-endian", legacy(main, {"9": four}, little_endian=False), "big-endian"),
        ("a storage count that disagrees", legacy(main, {"9": (3, four[1])}), "holds 3 elements, the pickle says 4"),
        ("a listed storage never used", legacy(main, {"9": four, "8": four}), "storage '8' listed but never used"),
        ("a used storage not listed", legacy(main, {"9": four}, keys=[]), "not in the file's list"),
        ("bytes after the last storage", legacy(main, {"9": four}) + b"\0", "1 bytes after the last storage"),
        ("a view of a storage", legacy(dumps({"w": Tensor(Storage(pid=("storage", torch.FloatStorage, "9", "cpu", 4,
                                                                              ("9", 0, 16))))}), {"9": four}),
         "a storage view"),
]:
    refused(data, (words,), "legacy: " + what, pickle=False)
cuts = sorted({1, 10, 20, 40, len(good) // 2, len(good) - 17, len(good) - 1})
bad = []
for n in cuts:
    open(p, "wb").write(good[:n])
    rc, _, err = run([DUMP, p, os.path.join(d, "out.st")])
    if not (rc == 1 and names_error(err, "pth_dump", ())):
        bad.append("%d bytes: status %d, %r" % (n, rc, err))
ok(not bad, "legacy: cut at %d places, refused with one line each" % len(cuts), "\n".join(bad))
done()
