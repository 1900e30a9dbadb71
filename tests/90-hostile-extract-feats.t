#!/usr/bin/python3
# extract-feats on hostile data sets (issue 17; docs/security.md): the
# catalogue's rule for each case (tests/st/hostile.py). Archive entries are
# capped before they are read and compressed archives may not inflate without
# bound; image paths are regular files of bounded size (/dev/zero or a FIFO
# would never end); names that are not UTF-8 are refused where they are read;
# a VOC annotation with 200,000 objects in a tar is read in linear time.
import io
import json
import os
import subprocess
import sys
import tarfile
import time
import zipfile

import numpy as np
from PIL import Image

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, "st"))
from tap import BIN, ok, done, scratch  # noqa: E402
from hostile import case, folder_file  # noqa: E402
import malformed  # noqa: E402

MODEL = os.path.join(here, "..", "fixtures", "fmnist-resnet18.safetensors")
buf = io.BytesIO()
Image.fromarray(np.random.default_rng(0).integers(0, 256, (8, 8, 3), dtype=np.uint8)).save(buf, "JPEG")
JPEG = buf.getvalue()
ROOT = "VOCdevkit/VOC2007/"


def voc_xml(names):
    objs = "".join("<object><name>%s</name><difficult>0</difficult></object>" % n for n in names)
    return ("<annotation>%s</annotation>" % objs).encode()


def tar_bytes(entries, mode="w"):
    """A tar ('w:gz' compressed) of {name: bytes or (size, None) for that many zero bytes}."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode=mode) as t:
        for name, data in entries.items():
            info = tarfile.TarInfo(name)
            if isinstance(data, tuple):
                info.size = data[0]
                t.addfile(info, _Zeros(data[0]))
            else:
                info.size = len(data)
                t.addfile(info, io.BytesIO(data))
    return out.getvalue()


class _Zeros(io.RawIOBase):
    """n zero bytes, never held at once."""
    def __init__(self, n):
        self.left = n

    def read(self, k=-1):
        k = self.left if k < 0 else min(k, self.left)
        self.left -= k
        return b"\0" * k


def voc_tar(images, mode="w:gz", test=None):
    entries = {ROOT + "ImageSets/Main/test.txt": "".join("%s\n" % i for i in (test or images)).encode()}
    for iid, data in images.items():
        entries[ROOT + "Annotations/%s.xml" % iid] = voc_xml(["cat"])
        entries[ROOT + "JPEGImages/%s.jpg" % iid] = data
    return tar_bytes(entries, mode)


def feats(spec, status, needles, desc, files=None, model=MODEL):
    case("extract-feats", ["--model", model, "--dataset", spec, "--resize", "32", "--crop", "32", "-t", "1"],
         status, needles, desc=desc, files=files)


# ---- archives: entries capped before they are read, inflation bounded ----
feats("voc:{d}/v.tar.gz", 1, ["v.tar.gz", "000001.jpg is too large (83886080 bytes, at most 67108864)"],
      "a gzip tar whose JPEG inflates to 80 MB", {"v.tar.gz": voc_tar({"000001": (80 << 20, None)})})
feats("voc:{d}/v.tar.gz", 1, ["v.tar.gz", "compression bomb"], "a gzip tar of two JPEGs inflating to 40 MB each",
      {"v.tar.gz": voc_tar({"000001": (40 << 20, None), "000002": (40 << 20, None)})})
zbuf = io.BytesIO()
with zipfile.ZipFile(zbuf, "w", zipfile.ZIP_DEFLATED) as z:
    z.writestr("a.jpg", b"\0" * (70 << 20))
coco = json.dumps({"images": [{"id": 1, "file_name": "a.jpg"}], "categories": [{"id": 1, "name": "cat"}],
                   "annotations": [{"image_id": 1, "category_id": 1}]}).encode()
feats("coco:{d}/i.zip,{d}/a.json,val", 1, ["a.jpg"], "a COCO zip whose image inflates to 70 MB",
      {"i.zip": zbuf.getvalue(), "a.json": coco})

# ---- image paths: regular files of bounded size ----
feats("list:{d}/l.tsv", 1, ["/dev/zero", "not a regular file"], "an image path that is /dev/zero",
      {"l.tsv": b"/dev/zero\tcat\n"})


def with_fifo(d):
    folder_file(d, "l.tsv", b"pipe.jpg\tcat\n")
    os.mkfifo(os.path.join(d, "pipe.jpg"))


feats("list:{d}/l.tsv", 1, ["pipe.jpg", "not a regular file"], "an image path that is a FIFO without a writer",
      with_fifo)


def with_folder(d):
    folder_file(d, "l.tsv", b"dir.jpg\tcat\n")
    os.mkdir(os.path.join(d, "dir.jpg"))


feats("list:{d}/l.tsv", 1, ["dir.jpg", "it is a folder"], "an image path that is a folder", with_folder)


def with_huge(d):
    folder_file(d, "l.tsv", b"huge.jpg\tcat\n")
    with open(os.path.join(d, "huge.jpg"), "wb") as fp:
        fp.truncate(65 << 20)   # sparse: no disk


feats("list:{d}/l.tsv", 1, ["huge.jpg is 68157440 bytes, more than the 67108864"], "a 65 MB image file", with_huge)
feats("list:{d}/l.tsv", 1, ["bad.jpg"], "a truncated JPEG", {"l.tsv": b"bad.jpg\tcat\n", "bad.jpg": JPEG[:40]})

# ---- names: not UTF-8, control characters, paths out of the folder ----
def coco_json(cats, images, extra=b""):
    return (b'{"images":[' + b",".join(b'{"id":%d,"file_name":"%s"}' % (i, f) for i, f in enumerate(images, 1)) +
            b'],"categories":[' + b",".join(b'{"id":%d,"name":"%s"}' % (i, c) for i, c in enumerate(cats, 1)) +
            b'],"annotations":[{"image_id":1,"category_id":1}]' + extra + b"}")


def coco(cats, images, status, needles, desc):
    feats("coco:{d}/imgs,{d}/a.json,val", status, needles, desc,
          {"a.json": coco_json(cats, images), "imgs/a.jpg": JPEG})


coco([b"cat", b"d\xffg"], [b"a.jpg"], 1, ["a.json", "category 2", "not valid UTF-8"],
     "a COCO category name that is not UTF-8")
coco([b"cat"], [b"a\xc0\xaf.jpg"], 1, ["not valid UTF-8"], "a COCO file_name that is not UTF-8 (overlong)")
coco([b"cat", b"d\\u001b[2Jog"], [b"a.jpg"], 1, ["category 2", "control character"],
     "a COCO category name holding ESC")
coco([b"cat"], [b"../a.jpg"], 1, ["leaves the image folder"], "a COCO file_name leaving the folder")
coco([b"cat"], [b"/etc/passwd"], 1, ["leaves the image folder"], "an absolute COCO file_name")
feats("coco:{d}/imgs,{d}/a.json,val", 1, ["image id 1 given twice"], "a COCO image id twice",
      {"a.json": coco_json([b"cat"], [b"a.jpg"]).replace(b'"id":2', b'"id":1').replace(
          b'"file_name":"a.jpg"}', b'"file_name":"a.jpg"},{"id":1,"file_name":"b.jpg"}', 1), "imgs/a.jpg": JPEG})
feats("coco:{d}/imgs,{d}/a.json,val", 1, ["a.json", "not valid JSON"], "truncated COCO JSON",
      {"a.json": coco_json([b"cat"], [b"a.jpg"])[:-9], "imgs/a.jpg": JPEG})
feats("list:{d}/l.tsv", 1, ["l.tsv:2", "not valid UTF-8"], "a list label that is not UTF-8",
      {"l.tsv": b"a.jpg\tcat\nb.jpg\tc\xe2\x82t\n", "a.jpg": JPEG, "b.jpg": JPEG})
feats("list:{d}/l.tsv", 1, ["l.tsv:1", "control character"], "a list label holding CSI (C1, U+009B)",
      {"l.tsv": "a.jpg\tc\u009b2Jat\n".encode(), "a.jpg": JPEG})
feats("list:{d}/l.tsv", 1, ["l.tsv:1", "control character"], "a list path holding ESC",
      {"l.tsv": b"a\x1b[2J.jpg\tcat\n"})
feats("list:{d}/l.tsv", 1, ["not valid UTF-8"], "a list path that is not UTF-8",
      {"l.tsv": b"a\xff.jpg\tcat\n", b"a\xff.jpg".decode("utf-8", "surrogateescape"): JPEG})


def voc_folder(xml):
    return {"v/VOC2007/ImageSets/Main/test.txt": b"000001\n", "v/VOC2007/Annotations/000001.xml": xml,
            "v/VOC2007/JPEGImages/000001.jpg": JPEG}


feats("voc:{d}/v", 1, ["000001.xml", "not valid UTF-8"], "a VOC object name that is not UTF-8",
      voc_folder(voc_xml(["cat", "d\xffg"]).replace(b"\xc3\xbf", b"\xff")))
feats("voc:{d}/v", 1, ["000001.xml", "nested deeper than 64"], "a VOC annotation nested 100 deep",
      voc_folder(b"<annotation>" + b"<a>" * 100 + b"</a>" * 100 + b"</annotation>"))
feats("voc:{d}/v", 1, ["control character"], "a VOC object name holding a newline inside",
      voc_folder(voc_xml(["ca&#10;t"])))
feats("voc:{d}/v", 1, ["no Annotations/000002.xml"], "a VOC image without its annotation",
      dict(voc_folder(voc_xml(["cat"])), **{"v/VOC2007/ImageSets/Main/test.txt": b"000001\n000002\n"}))

# ---- the model ----
for name, data, rule in malformed.cases():
    if name in ("length-over-limit", "not-json", "offsets-not-array"):
        feats("list:{d}/l.tsv", 1, ["m.st", rule], "a malformed model: " + name,
              {"l.tsv": b"a.jpg\tcat\n", "a.jpg": JPEG, "m.st": data}, model="{d}/m.st")
feats("list:{d}/l.tsv", 1, ["no/such/model"], "a model that is not there", {"l.tsv": b"a.jpg\tcat\n"},
      model="{d}/no/such/model")

# ---- 200,000 objects in one annotation inside a tar: linear, also where realloc copies ----
d = scratch()
tar = os.path.join(d, "many.tar")
with open(tar, "wb") as fp:
    fp.write(tar_bytes({ROOT + "ImageSets/Main/test.txt": b"000001\n",
                        ROOT + "Annotations/000001.xml": voc_xml(["cat"] * 200000),
                        ROOT + "JPEGImages/000001.jpg": JPEG}))
t0 = time.time()
try:
    p = subprocess.run([os.path.join(BIN, "extract-feats"), "--model", MODEL, "--dataset", "voc:" + tar, "--resize",
                        "32", "--crop", "32", "-q", "-o", os.path.join(d, "many.st")], capture_output=True, timeout=60)
    rc, err = p.returncode, p.stderr
except subprocess.TimeoutExpired:
    rc, err = "timeout", b""
ok(rc == 0, "a VOC tar whose annotation has 200,000 objects: read in %.1f s (limit 60)" % (time.time() - t0), err)
done()
