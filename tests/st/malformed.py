"""The catalogue of malformed safetensors files and the rule each must break.

Each case is (name, bytes, rule): the reader must stop with exit status 1 and
one line "tensors: FILE: RULE: details" naming exactly that RULE (the phrases
of docs/safetensors.md). `edge_cases()` lists unusual files that are valid and
must be read. Run as a script to write every case into a folder:

    /usr/bin/python3 tests/st/malformed.py DIR     # DIR/NAME.st, DIR/rules.tsv
"""
import json
import os
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import stwrite as st  # noqa: E402

U64_MAX = 2**64 - 1


def entry(dtype="F32", shape=(2,), offsets=(0, 8)):
    return {"dtype": dtype, "shape": list(shape), "data_offsets": list(offsets)}


def one(e, data=b"\0" * 8, meta=None):
    """A file with one tensor "a" whose entry is e (a dict or raw JSON text)."""
    body = e if isinstance(e, str) else json.dumps(e)
    head = '{"a":%s}' % body
    if meta is not None:
        head = '{"__metadata__":%s,"a":%s}' % (meta, body)
    return st.raw_file(st.pad8(head.encode()), data)


def two(ea, eb, data):
    head = json.dumps({"a": ea, "b": eb}).encode()
    return st.raw_file(st.pad8(head), data)


def header(text, data=b""):
    """A file whose header is the given text or bytes, padded with spaces."""
    raw = text.encode("utf-8") if isinstance(text, str) else text
    return st.raw_file(st.pad8(raw), data)


VALID = one(entry())   # F32 [2], 8 bytes of data


def cases():
    c = []

    def add(name, data, rule):
        c.append((name, data, rule))

    # the 8-byte length
    add("empty", b"", "file too short for the header length")
    add("seven-bytes", b"\x10\0\0\0\0\0\0", "file too short for the header length")
    add("length-u64-max", struct.pack("<Q", U64_MAX) + b"{}      ",
        "exceeds the limit of 100000000 bytes")
    add("length-over-limit", struct.pack("<Q", 100_000_001) + b"{}      ",
        "exceeds the limit of 100000000 bytes")
    add("length-2-63", struct.pack("<Q", 2**63) + b"{}      ",
        "exceeds the limit of 100000000 bytes")
    # at the limit exactly the length is allowed, so the header is short
    add("length-at-limit-truncated", struct.pack("<Q", 100_000_000) + b"{}      ",
        "truncated header")
    add("truncated-header", VALID[:20], "truncated header")
    add("length-only", struct.pack("<Q", 8), "truncated header")

    # the JSON text
    add("length-zero", struct.pack("<Q", 0), "header is not valid JSON")
    add("only-spaces", header("        "), "header is not valid JSON")
    add("not-json", header("{\"a\":"), "header is not valid JSON")
    add("json-then-junk", header('{} x'), "header is not valid JSON")
    add("two-objects", header('{}{}'), "header is not valid JSON")
    add("nul-padding", st.raw_file(b"{}\0\0\0\0\0\0"), "header is not valid JSON")
    add("nul-in-name", header(b'{"a\0b":' + json.dumps(entry()).encode() + b"}", b"\0" * 8),
        "header is not valid JSON")
    # JSON forbids raw control characters inside strings (cJSON takes them)
    add("raw-newline-in-name", header(b'{"a\nb":' + json.dumps(entry()).encode() + b"}", b"\0" * 8),
        "header is not valid JSON")
    add("raw-control-in-metadata", header(b'{"__metadata__":{"k":"a\x16b"}}'), "header is not valid JSON")
    add("raw-tab-in-dtype", one(b'{"dtype":"F\t32","shape":[2],"data_offsets":[0,8]}'.decode()),
        "header is not valid JSON")
    add("deep-nesting", header("[" * 5000 + "]" * 5000), "header is not valid JSON")
    add("bad-utf8", header(b'{"\xff":' + json.dumps(entry()).encode() + b"}", b"\0" * 8),
        "header is not valid UTF-8")
    add("utf8-overlong", header(b'{"\xc0\xaf":' + json.dumps(entry()).encode() + b"}", b"\0" * 8),
        "header is not valid UTF-8")
    add("utf8-surrogate", header(b'{"\xed\xa0\x80":' + json.dumps(entry()).encode() + b"}", b"\0" * 8),
        "header is not valid UTF-8")
    add("utf8-cut", header(b'{"\xe2\x82":' + json.dumps(entry()).encode() + b"}", b"\0" * 8),
        "header is not valid UTF-8")
    add("utf8-in-metadata", header(b'{"__metadata__":{"k":"\xfe"}}'), "header is not valid UTF-8")
    add("array", header("[]"), "header is not a JSON object")
    add("number", header("42"), "header is not a JSON object")
    add("string", header('"a"'), "header is not a JSON object")
    add("null", header("null"), "header is not a JSON object")

    # entries
    e = json.dumps(entry())
    add("duplicate-name", header('{"a":%s,"a":%s}' % (e, json.dumps(entry(offsets=(8, 16)))),
                                 b"\0" * 16), "duplicate tensor name")
    add("entry-number", one("5", b""), "entry is not an object")
    add("entry-array", one("[]", b""), "entry is not an object")
    add("entry-null", one("null", b""), "entry is not an object")
    add("missing-dtype", one({"shape": [2], "data_offsets": [0, 8]}), "missing field")
    add("missing-shape", one({"dtype": "F32", "data_offsets": [0, 8]}), "missing field")
    add("missing-offsets", one({"dtype": "F32", "shape": [2]}), "missing field")
    add("unknown-field", one(dict(entry(), extra=1)), "unknown field")
    add("duplicate-field", one('{"dtype":"F32","dtype":"F32","shape":[2],"data_offsets":[0,8]}'),
        "duplicate field")
    # names are echoed in messages: a newline in one must not break the one-line rule
    add("newline-in-name", header('{"a\\nb":' + json.dumps(entry(dtype="Q4")) + "}", b"\0" * 8),
        "unknown dtype")
    add("newline-in-field", one('{"dtype":"F32","sh\\nape":[2],"data_offsets":[0,8]}'), "unknown field")

    # dtype
    add("dtype-unknown", one(entry(dtype="Q4")), "unknown dtype")
    add("dtype-lowercase", one(entry(dtype="f32")), "unknown dtype")
    add("dtype-number", one('{"dtype":4,"shape":[2],"data_offsets":[0,8]}'), "unknown dtype")
    add("dtype-empty", one(entry(dtype="")), "unknown dtype")
    # upstream has more dtypes than the contract's ten; they are refused, not misread
    add("dtype-upstream-u16", one(entry(dtype="U16", shape=(4,))), "unknown dtype")
    add("dtype-upstream-f8", one(entry(dtype="F8_E4M3", shape=(8,))), "unknown dtype")

    # shape
    add("shape-negative", one(entry(shape=(-2,))), "bad shape")
    add("shape-fractional", one('{"dtype":"F32","shape":[2.5],"data_offsets":[0,8]}'), "bad shape")
    add("shape-string-dim", one('{"dtype":"F32","shape":["2"],"data_offsets":[0,8]}'), "bad shape")
    add("shape-not-array", one('{"dtype":"F32","shape":2,"data_offsets":[0,8]}'), "bad shape")
    add("shape-nested", one('{"dtype":"F32","shape":[[2]],"data_offsets":[0,8]}'), "bad shape")
    add("shape-nine-dims", one(entry(dtype="U8", shape=(1,) * 8 + (2,), offsets=(0, 2)), b"\0\0"),
        "bad shape")
    add("shape-dim-above-2-53", one(entry(dtype="U8", shape=(2**53 + 2,), offsets=(0, 8))), "bad shape")
    add("shape-huge-dim", one('{"dtype":"F32","shape":[1e300],"data_offsets":[0,8]}'), "bad shape")
    add("shape-dim-2-64", one('{"dtype":"U8","shape":[18446744073709551616],"data_offsets":[0,8]}'),
        "bad shape")
    add("shape-product-overflow", one(entry(dtype="U8", shape=(2**32, 2**32), offsets=(0, 8))),
        "shape product overflows")
    add("shape-product-overflow-3d", one(entry(dtype="U8", shape=(2**21, 2**21, 2**22), offsets=(0, 8))),
        "shape product overflows")
    # the element count fits in 64 bits, the byte size does not (dims stay
    # below 2^53, above which a dimension is refused as a bad shape)
    add("shape-bytes-overflow", one(entry(dtype="F64", shape=(2**50, 2**11), offsets=(0, 8))),
        "shape product overflows")

    # data_offsets, one entry at a time
    add("offsets-one-number", one(entry(offsets=(0,))), "bad data_offsets")
    add("offsets-three-numbers", one(entry(offsets=(0, 4, 8))), "bad data_offsets")
    add("offsets-not-array", one('{"dtype":"F32","shape":[2],"data_offsets":8}'), "bad data_offsets")
    add("offsets-negative", one(entry(offsets=(-8, 0))), "bad data_offsets")
    add("offsets-fractional", one('{"dtype":"F32","shape":[2],"data_offsets":[0,8.5]}'), "bad data_offsets")
    add("offsets-string", one('{"dtype":"F32","shape":[2],"data_offsets":["0","8"]}'), "bad data_offsets")
    add("offsets-u64-max", one('{"dtype":"U8","shape":[2],"data_offsets":[18446744073709551613,'
                               '18446744073709551615]}'), "bad data_offsets")
    add("offsets-1e300", one('{"dtype":"U8","shape":[2],"data_offsets":[0,1e300]}'), "bad data_offsets")
    add("offsets-end-before-begin", one(entry(dtype="F32", shape=(0,), offsets=(8, 4))),
        "data_offsets end before begin")
    add("size-vs-shape", one(entry(shape=(3,), offsets=(0, 8))), "size does not match dtype and shape")
    add("size-vs-dtype", one(entry(dtype="F64", shape=(2,), offsets=(0, 8))),
        "size does not match dtype and shape")
    add("size-scalar", one(entry(shape=(), offsets=(0, 8))), "size does not match dtype and shape")
    add("size-zero-shape", one(entry(shape=(0, 2), offsets=(0, 8))), "size does not match dtype and shape")

    # the data section as a whole
    add("first-offset-not-zero", one(entry(offsets=(4, 12)), b"\0" * 12), "data section has a hole")
    add("hole", two(entry(offsets=(0, 8)), entry(offsets=(12, 20)), b"\0" * 20), "data section has a hole")
    add("overlap", two(entry(offsets=(0, 8)), entry(offsets=(4, 12)), b"\0" * 12), "data sections overlap")
    add("same-offsets", two(entry(offsets=(0, 8)), entry(offsets=(0, 8)), b"\0" * 8), "data sections overlap")
    add("trailing-bytes", VALID + b"junk", "trailing bytes after the data")
    add("trailing-bytes-no-tensors", header("{}", b"x"), "trailing bytes after the data")
    add("truncated-data", VALID[:-3], "truncated data")
    add("no-data", VALID[:-8], "truncated data")
    add("offsets-beyond-file", one(entry(dtype="U8", shape=(2**40,), offsets=(0, 2**40))), "truncated data")

    # metadata
    add("metadata-number", header('{"__metadata__":{"k":5}}'), "metadata value is not a string")
    add("metadata-null", header('{"__metadata__":{"k":null}}'), "metadata value is not a string")
    add("metadata-list", header('{"__metadata__":{"labels":["a","b"]}}'), "metadata value is not a string")
    add("metadata-duplicate-key", header('{"__metadata__":{"k":"a","k":"b"}}'), "duplicate metadata key")
    add("metadata-string", header('{"__metadata__":"x"}'), "__metadata__ is not an object")
    add("metadata-array", header('{"__metadata__":[]}'), "__metadata__ is not an object")
    add("metadata-as-tensor", header('{"__metadata__":' + json.dumps(entry()) + "}", b"\0" * 8),
        "metadata value is not a string")
    return c


def edge_cases():
    """Valid files at the edges of the rules: (name, bytes, {tensor: (dtype, shape)})."""
    e = []
    e.append(("no-tensors", header("{}"), {}))
    e.append(("empty-metadata", header('{"__metadata__":{}}'), {}))
    e.append(("unpadded-header", st.raw_file(json.dumps({"a": entry()}).encode(), b"\0" * 8),
              {"a": ("F32", [2])}))
    e.append(("header-with-spaces", st.raw_file(b'{"a":' + json.dumps(entry()).encode() + b'}  \n\t\r',
                                                b"\0" * 8), {"a": ("F32", [2])}))
    e.append(("leading-whitespace", st.raw_file(b' \n{"a":' + json.dumps(entry()).encode() + b'}     ',
                                                b"\0" * 8), {"a": ("F32", [2])}))
    e.append(("scalar", one(entry(shape=(), offsets=(0, 4)), b"\0" * 4), {"a": ("F32", [])}))
    e.append(("zero-size", one(entry(shape=(0, 3), offsets=(0, 0)), b""), {"a": ("F32", [0, 3])}))
    # a zero-size tensor may sit at the same offset as its neighbour
    e.append(("zero-size-shared-offset", two(entry(shape=(0,), offsets=(0, 0)), entry(offsets=(0, 8)),
                                             b"\0" * 8), {"a": ("F32", [0]), "b": ("F32", [2])}))
    e.append(("zero-size-at-end", two(entry(offsets=(0, 8)), entry(shape=(5, 0), offsets=(8, 8)),
                                      b"\0" * 8), {"a": ("F32", [2]), "b": ("F32", [5, 0])}))
    # header order is not data order
    e.append(("offsets-out-of-order", two(entry(offsets=(8, 16)), entry(offsets=(0, 8)), b"\0" * 16),
              {"a": ("F32", [2]), "b": ("F32", [2])}))
    e.append(("unicode-name", header('{"λ/層.0 x":' + json.dumps(entry()) + "}", b"\0" * 8),
              {"λ/層.0 x": ("F32", [2])}))
    e.append(("escaped-name", header('{"\\u00e9t\\u00e9":' + json.dumps(entry()) + "}", b"\0" * 8),
              {"été": ("F32", [2])}))
    e.append(("eight-dims", one(entry(dtype="U8", shape=(1,) * 7 + (2,), offsets=(0, 2)), b"\0\0"),
              {"a": ("U8", [1] * 7 + [2])}))
    e.append(("metadata-escapes", header('{"__metadata__":{"k":"a\\"b\\\\c\\n\\u00e9"}}'), {}))
    return e


def main(folder):
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "rules.tsv"), "w") as tsv:
        for name, data, rule in cases():
            with open(os.path.join(folder, name + ".st"), "wb") as fp:
                fp.write(data)
            tsv.write("%s\t%s\n" % (name, rule))


if __name__ == "__main__":
    main(sys.argv[1])
