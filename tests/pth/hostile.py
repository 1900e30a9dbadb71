"""Writers of hostile and odd checkpoints for tests/27-pth-hostile.t and
the pickle fuzzer's seeds (tests/fuzz-corpus/pickle/).

Pickles are written by Python's own pickler (protocol 2, as torch.save),
with persistent ids and torch's rebuild call spelled out, so any field can
be given a wrong value; raw() builds byte strings opcode by opcode.
"""
import collections
import io
import pickle
import struct
import zipfile

import torch

MAGIC = 0x1950a86a20f9469cfc6c


class Storage:
    """Pickled as the persistent id pid (default: a float storage)."""

    def __init__(self, key="0", numel=4, typ=None, location="cpu", pid=None):
        self.pid = pid if pid is not None else ("storage", typ or torch.FloatStorage, key, location, numel)


class Tensor:
    """Pickled as torch._utils._rebuild_tensor_v2(*args)."""

    def __init__(self, storage, offset=0, size=(4,), stride=(1,), requires_grad=False, hooks=None, extra=()):
        self.args = (storage, offset, size, stride, requires_grad,
                     collections.OrderedDict() if hooks is None else hooks) + tuple(extra)

    def __reduce__(self):
        return (torch._utils._rebuild_tensor_v2, self.args)


class Call:
    """Pickled as fn(*args) for any importable fn: never called by the reader."""

    def __init__(self, fn, *args):
        self.fn, self.args = fn, args

    def __reduce__(self):
        return (self.fn, self.args)


class _Pickler(pickle.Pickler):
    def persistent_id(self, obj):
        return obj.pid if isinstance(obj, Storage) else None


def dumps(obj, protocol=2):
    buf = io.BytesIO()
    _Pickler(buf, protocol).dump(obj)
    return buf.getvalue()


def state(n=4, key="0"):
    """A one-tensor state dict, as torch.save writes it."""
    return collections.OrderedDict(w=Tensor(Storage(key, n), size=(n,)))


def raw(*parts):
    """bytes from str (latin-1) and bytes parts"""
    return b"".join(p.encode("latin-1") if isinstance(p, str) else p for p in parts)


def zip_checkpoint(path, pkl, records=None, prefix="archive"):
    """A torch.save-like zip: PREFIX/data.pkl and PREFIX/data/KEY records (stored)."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as z:
        if pkl is not None:
            z.writestr(prefix + "/data.pkl", pkl)
        for key, data in (records or {}).items():
            z.writestr(prefix + "/data/" + key, data)
        z.writestr(prefix + "/version", "3\n")


def legacy(main_pickle, storages, version=1001, little_endian=True, keys=None):
    """The legacy stream: magic, version, system info, the pickle, the sorted
    storage keys, then per storage an int64 element count and the bytes.
    storages: {key: (numel, bytes)}."""
    sys_info = dict(protocol_version=version, little_endian=little_endian,
                    type_sizes=dict(short=2, int=4, long=4))
    keys = sorted(storages) if keys is None else keys
    out = [pickle.dumps(MAGIC, 2), pickle.dumps(version, 2), pickle.dumps(sys_info, 2), main_pickle,
           pickle.dumps(keys, 2)]
    for k in keys:
        numel, data = storages[k]
        out.append(struct.pack("<q", numel) + data)
    return b"".join(out)


def legacy_state(n=4):
    """A legacy one-tensor state dict (6-item persistent ids)."""
    s = Storage(pid=("storage", torch.FloatStorage, "94000", "cpu", n, None))
    main = dumps(collections.OrderedDict(w=Tensor(s, size=(n,))))
    return legacy(main, {"94000": (n, struct.pack("<%df" % n, *range(n)))})
