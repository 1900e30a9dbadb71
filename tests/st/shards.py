"""The join of a stage's shards as tools/lib/shard.h describes it, a test
peer of `tensors cat` for shards whose rows are not all along axis 0:
shards 0..N-1 in order, each tensor joined along its axis (metadata
`shard_axis`, else 0), `ids` lists joined, `shard` and `shard_axis` dropped,
every other key equal in every shard (history aside). run_and_join runs a
tool's shards and checks both joins against its unsharded output."""
import json
import os
import struct

import numpy as np

import stwrite
from tap import tensors


def join(paths):
    """(tensors {name: (dtype, ndarray)} in the first shard's order, metadata),
    or raises ValueError naming what does not fit."""
    parts = [stwrite.read(p) for p in paths]
    n = len(parts)
    for i, (_, m) in enumerate(parts):
        if m.get("shard") != "%d/%d" % (i, n):
            raise ValueError("%s: shard %r, expected %d/%d" % (paths[i], m.get("shard"), i, n))
    axes = json.loads(parts[0][1].get("shard_axis", "{}"))
    t0, m0 = parts[0]
    out = {}
    for name, (dt, _) in t0.items():
        if any(set(t) != set(t0) or t[name][0] != dt for t, _ in parts):
            raise ValueError("tensor %s differs in name or dtype between shards" % name)
        out[name] = (dt, np.concatenate([t[name][1] for t, _ in parts], axis=axes.get(name, 0)))
    meta = {}
    for key, v in m0.items():
        if key in ("shard", "history"):
            continue
        if key == "ids":
            v = json.dumps([x for _, m in parts for x in json.loads(m["ids"])], separators=(",", ":"))
        elif any(m.get(key) != v for _, m in parts):
            raise ValueError("metadata %s differs between shards" % key)
        if key != "shard_axis":
            meta[key] = v
    return out, meta


def differences(joined, full, leave_out=()):
    """What differs between a join and the unsharded output (history aside;
    the tensors in leave_out are expected absent from the join): [] when
    the names (in order), dtypes, shapes and bytes of every tensor and the
    metadata are the same."""
    jt, jm = joined
    ft, fm = full
    names = [k for k in ft if k not in leave_out]
    diff = []
    if list(jt) != names:
        diff.append("tensors %s, expected %s" % (list(jt), names))
    for k in names:
        if k in jt and (jt[k][0] != ft[k][0] or jt[k][1].shape != ft[k][1].shape
                        or jt[k][1].tobytes() != ft[k][1].tobytes()):
            diff.append("tensor %s: %s %s, expected %s %s" % (k, jt[k][0], jt[k][1].shape, ft[k][0], ft[k][1].shape))
    fm = {k: v for k, v in fm.items() if k != "history"}
    for k in sorted(set(jm) | set(fm)):
        a, b = jm.get(k), fm.get(k)
        if k == "ids" and a and b:
            a, b = json.loads(a), json.loads(b)
        if a != b:
            diff.append("metadata %s: %r, expected %r" % (k, a, b))
    return diff


def header_and_data(path):
    """(header without history, data section) of a safetensors file: equal
    for two files that are the same byte for byte but for their history"""
    with open(path, "rb") as fp:
        raw = fp.read()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    header.get("__metadata__", {}).pop("history", None)
    return header, raw[8 + n:]


def cat_join(paths, out):
    """tensors cat of the shards into out (each tensor along its shard_axis),
    read back without history"""
    rc, _, err = tensors("cat", *paths, "-o", out)
    if rc:
        raise ValueError("tensors cat: " + err.strip())
    t, meta = stwrite.read(out)
    meta.pop("history", None)
    return t, meta


def run_and_join(run, name, src, nshards, folder, args=(), leave_out=()):
    """Runs a tool (run(*args) -> (status, stdout, stderr)) on src unsharded
    and as shards 0..nshards-1 in folder, then joins the shards with tensors
    cat and with join(): what differs from the unsharded output (leave_out:
    the tensors a shard does not write), [] when both joins equal it."""
    full = os.path.join(folder, name + ".full.st")
    rc, _, err = run(*args, src, "-o", full)
    if rc != 0:
        return ["the unsharded run: " + err.strip()]
    paths = []
    for i in range(nshards):
        p = os.path.join(folder, "%s.%d-of-%d.st" % (name, i, nshards))
        rc, _, err = run(*args, "--shard", "%d/%d" % (i, nshards), src, "-o", p)
        if rc != 0:
            return ["shard %d/%d: %s" % (i, nshards, err.strip())]
        paths.append(p)
    want = stwrite.read(full)
    try:
        diff = differences(cat_join(paths, os.path.join(folder, name + ".joined.st")), want, leave_out)
        diff += ["the test's own join: " + x for x in differences(join(paths), want, leave_out)]
    except ValueError as e:
        diff = [str(e)]
    return diff
