"""A numpy-only safetensors writer and reader: the independent peer of tools/lib/st.c.

It shares no code with the C library, so a file both agree on is right by the
specification (docs/safetensors.md), not by a common bug. The writer can also
produce malformed files on purpose: `raw_file` takes the header as bytes.

    import stwrite as st
    st.write("x.st", {"w": np.ones((2, 3), np.float32)}, {"arch": "resnet18"})
    tensors, meta = st.read("x.st")     # {name: (dtype, ndarray)}, {key: value}
"""
import json
import struct

import numpy as np

# safetensors dtype -> numpy dtype of the stored bytes (little-endian).
# BF16 has no numpy type: it travels as its raw uint16 bits.
DTYPES = {
    "F64": "<f8", "F32": "<f4", "F16": "<f2", "BF16": "<u2",
    "I64": "<i8", "I32": "<i4", "I16": "<i2", "I8": "i1",
    "U8": "u1", "BOOL": "?",
}
# (numpy kind, item size) -> safetensors dtype
FROM_NUMPY = {(np.dtype(v).kind, np.dtype(v).itemsize): k for k, v in DTYPES.items() if k != "BF16"}


def dtype_of(array):
    """The safetensors dtype of a numpy array (never BF16: pass it explicitly)."""
    key = (array.dtype.kind, array.dtype.itemsize)
    if key not in FROM_NUMPY:
        raise ValueError("no safetensors dtype for numpy %s" % array.dtype)
    return FROM_NUMPY[key]


def f32_to_bf16(a):
    """float32 -> bf16 bits, rounding to nearest even; NaN stays a quiet NaN."""
    bits = np.asarray(a, np.float32).view(np.uint32).astype(np.uint64)
    rounded = (bits + 0x7FFF + ((bits >> 16) & 1)) >> 16
    nan = np.isnan(np.asarray(a, np.float32))
    out = rounded.astype(np.uint16)
    out[nan] = ((bits[nan] >> 16) | 0x40).astype(np.uint16)
    return out


def bf16_to_f32(u16):
    return (np.asarray(u16, np.uint16).astype(np.uint32) << 16).view(np.float32)


def _entry(value):
    """(dtype, little-endian ndarray) from an ndarray or a (dtype, ndarray) pair."""
    if isinstance(value, tuple):
        dtype, array = value
    else:
        array = np.asarray(value)
        dtype = dtype_of(array)
    # np.array, not np.ascontiguousarray, which turns a scalar into shape [1]
    return dtype, np.array(array, dtype=DTYPES[dtype], order="C")


def header_json(entries, metadata=None):
    """The header dict for {name: (dtype, shape, (begin, end))}, as the spec orders nothing."""
    h = {}
    if metadata is not None:
        h["__metadata__"] = dict(metadata)
    for name, (dtype, shape, offsets) in entries.items():
        h[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": list(offsets)}
    return h


def pad8(header_bytes, pad=True):
    if pad:
        header_bytes += b" " * (-len(header_bytes) % 8)
    return header_bytes


def raw_file(header, data=b"", length=None):
    """Bytes of a file with header (dict -> compact JSON, str, or bytes) and data.
    length overrides the 8-byte header length (for malformed files)."""
    if isinstance(header, dict):
        header = json.dumps(header, separators=(",", ":"), ensure_ascii=False)
    if isinstance(header, str):
        header = header.encode("utf-8")
    n = len(header) if length is None else length
    return struct.pack("<Q", n) + header + data


def dumps(tensors, metadata=None, pad=True):
    """Bytes of a valid file: tensors {name: ndarray or (dtype, ndarray)} in dict order."""
    entries, chunks, offset = {}, [], 0
    for name, value in tensors.items():
        dtype, array = _entry(value)
        raw = array.tobytes()
        entries[name] = (dtype, array.shape, (offset, offset + len(raw)))
        chunks.append(raw)
        offset += len(raw)
    header = json.dumps(header_json(entries, metadata), separators=(",", ":"),
                        ensure_ascii=False).encode("utf-8")
    return raw_file(pad8(header, pad), b"".join(chunks))


def write(path, tensors, metadata=None, pad=True):
    with open(path, "wb") as fp:
        fp.write(dumps(tensors, metadata, pad))


def loads(buf):
    """(tensors {name: (dtype, ndarray)}, metadata) from the bytes of a file.
    Checks the rules of the specification with plain asserts: this is a test
    peer, not a second implementation of the error messages."""
    if len(buf) < 8:
        raise ValueError("file too short for the header length")
    (n,) = struct.unpack("<Q", buf[:8])
    if n > 100_000_000 or 8 + n > len(buf):
        raise ValueError("bad header length %d" % n)
    header = json.loads(buf[8:8 + n].decode("utf-8"))
    data = memoryview(buf)[8 + n:]
    metadata = header.pop("__metadata__", {})
    tensors, spans = {}, []
    for name, e in header.items():
        if set(e) != {"dtype", "shape", "data_offsets"}:
            raise ValueError("%s: fields %s" % (name, sorted(e)))
        begin, end = e["data_offsets"]
        np_dtype = np.dtype(DTYPES[e["dtype"]])
        shape = tuple(e["shape"])
        if end - begin != np_dtype.itemsize * int(np.prod(shape, dtype=np.int64)):
            raise ValueError("%s: size does not match dtype and shape" % name)
        spans.append((begin, end))
        tensors[name] = (e["dtype"], np.frombuffer(data[begin:end], np_dtype).reshape(shape))
    pos = 0
    for begin, end in sorted(spans):
        if begin != pos:
            raise ValueError("hole or overlap at %d" % begin)
        pos = end
    if pos != len(data):
        raise ValueError("data end %d, file data %d" % (pos, len(data)))
    return tensors, metadata


def read(path):
    with open(path, "rb") as fp:
        return loads(fp.read())


def header_of(buf):
    """The parsed header dict of a file's bytes (no checks)."""
    (n,) = struct.unpack("<Q", buf[:8])
    return json.loads(buf[8:8 + n].decode("utf-8"))
