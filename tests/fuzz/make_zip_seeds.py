#!/usr/bin/python3
# Writes the seeds of tests/fuzz/fuzz_zip.c into tests/fuzz-corpus/zip/ (run from the
# repository root: /usr/bin/python3 tests/fuzz/make_zip_seeds.py tests/fuzz-corpus/zip):
# zips of every shape tools/lib/zipfile.c meets, each under make fuzz's 4,096-byte limit.
# valid-pytorch-checkpoint.pth there came from torch.save of a two-tensor state_dict.
import io, os, sys, struct, types, zipfile
out = sys.argv[1]
# the same bytes on every run: entries dated 1980-01-01
zipfile.time = types.SimpleNamespace(time=lambda: 0, localtime=lambda *a: (1980, 1, 1, 0, 0, 0, 0, 1, -1))
def save(name, data):
    assert len(data) <= 4096, (name, len(data))
    open(os.path.join(out, name), "wb").write(data)
def make(fn, **kw):
    b = io.BytesIO()
    with zipfile.ZipFile(b, "w", **kw) as z:
        fn(z)
    return b.getvalue()
jpeg = bytes(range(256)) * 2
save("valid-stored.zip", make(lambda z: (z.writestr("val2014/a.jpg", jpeg), z.writestr("val2014/b.jpg", b"bb")), compression=zipfile.ZIP_STORED))
save("valid-deflated.zip", make(lambda z: (z.writestr("a.txt", b"hello " * 100), z.writestr("empty", b"")), compression=zipfile.ZIP_DEFLATED))
def folders(z):
    z.writestr(zipfile.ZipInfo("dir/"), b"")
    z.writestr("dir/x.jpg", b"xx")
    z.writestr("other/x.jpg", b"yy")   # same base name
    z.writestr("dir/x.jpg", b"zz")     # same full name: the last wins
    z.comment = b"a comment"
import warnings; warnings.simplefilter("ignore")
save("edge-folders-duplicates-comment.zip", make(folders))
def z64(z):
    with z.open("big.bin", "w", force_zip64=True) as f:
        f.write(b"z" * 300)
    z.writestr("small", b"s")
save("edge-zip64-extra.zip", make(z64, compression=zipfile.ZIP_DEFLATED))
# data descriptors: written to an unseekable stream
class Unseekable(io.RawIOBase):
    def __init__(self): self.b = bytearray()
    def writable(self): return True
    def write(self, d): self.b += d; return len(d)
u = Unseekable()
with zipfile.ZipFile(u, "w", compression=zipfile.ZIP_DEFLATED) as z:
    with z.open("streamed.txt", "w") as f:
        f.write(b"streamed " * 50)
save("edge-data-descriptor.zip", bytes(u.b))
save("edge-empty.zip", make(lambda z: None))
# ZIP64 end records: as a writer does past 65,535 entries (here forced on 3)
d = bytearray(make(lambda z: [z.writestr("e%d" % k, b"%d" % k) for k in range(3)], compression=zipfile.ZIP_STORED))
eocd = d.rfind(b"PK\x05\x06")
count, cdsize, cdoff = struct.unpack("<HII", d[eocd + 10:eocd + 20])
rec64 = struct.pack("<IQHHIIQQQQ", 0x06064b50, 44, 45, 45, 0, 0, count, count, cdsize, cdoff)
loc = struct.pack("<IIQI", 0x07064b50, 0, eocd, 1)
end = bytearray(d[eocd:])
end[8:20] = struct.pack("<HHII", 0xffff, 0xffff, 0xffffffff, 0xffffffff)
save("edge-zip64-end-records.zip", bytes(d[:eocd]) + rec64 + loc + bytes(end))
# damaged ones
v = bytearray(make(lambda z: z.writestr("a.jpg", jpeg), compression=zipfile.ZIP_DEFLATED))
c = bytearray(v); c[40] ^= 0x55; save("bad-crc.zip", bytes(c))
c = bytearray(v); c[6] |= 1; c[v.rfind(b"PK\x01\x02") + 8] |= 1; save("bad-encrypted.zip", bytes(c))
c = bytearray(v); c[v.rfind(b"PK\x01\x02") + 10] = 12; save("bad-method-bzip2.zip", bytes(c))
save("bad-truncated.zip", bytes(v[:len(v) - 30]))
c = bytearray(v); c[v.rfind(b"PK\x01\x02") + 24:v.rfind(b"PK\x01\x02") + 28] = struct.pack("<I", 0x7fffffff); save("bad-huge-size.zip", bytes(c))
# ZIP64 extra fields in the central directory: sizes and offset all 0xffffffff
d = make(lambda z: (z.writestr("a", b"first"), z.writestr("b", b"second")), compression=zipfile.ZIP_STORED)
eocd = d.rfind(b"PK\x05\x06")
count, cdsize, cdoff = struct.unpack("<HII", d[eocd + 10:eocd + 20])
cd, pos, new = d[cdoff:cdoff + cdsize], 0, bytearray()
while pos < len(cd):
    h = bytearray(cd[pos:pos + 46])
    nl, xl, cl = struct.unpack("<HHH", h[28:34])
    name = cd[pos + 46:pos + 46 + nl]
    csize, usize = struct.unpack("<II", h[20:28])
    off, = struct.unpack("<I", h[42:46])
    h[20:28] = struct.pack("<II", 0xffffffff, 0xffffffff)
    h[42:46] = struct.pack("<I", 0xffffffff)
    extra = struct.pack("<HHQQQ", 1, 24, usize, csize, off)
    h[30:32] = struct.pack("<H", xl + len(extra))
    new += h + name + extra + cd[pos + 46 + nl:pos + 46 + nl + xl + cl]
    pos += 46 + nl + xl + cl
end = bytearray(d[eocd:])
end[12:16] = struct.pack("<I", len(new))
zip64cd = d[:cdoff] + bytes(new) + bytes(end)
assert zipfile.ZipFile(io.BytesIO(zip64cd)).read("b") == b"second"
save("edge-zip64-central-extra.zip", zip64cd)
