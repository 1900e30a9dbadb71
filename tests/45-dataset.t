#!/usr/bin/python3
# The data set readers (tools/lib/dataset.c) through tests/unit/dataset_dump:
# VOC as the original tars, as a VOCdevkit folder and with labels.txt; COCO as
# a zip and a folder with an instances JSON; TSV lists. Each result is compared
# with Python's own parse of the same files (tests/data/make_datasets.py:
# ElementTree, json, csv), image bytes by length and hash. Then every kind of
# bad input: one clear error naming the culprit, never a crash.
import io
import os
import shutil
import sys
import tarfile
import zipfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "st"))
from tap import UNIT, ASAN, ok, is_, done, run, scratch  # noqa: E402

DUMP = os.path.abspath(os.path.join(UNIT, "dataset_dump"))   # the test runs in its scratch folder
HERE = os.path.dirname(os.path.abspath(__file__))
d = scratch()
rc, _, err = run(["/usr/bin/python3", os.path.join(HERE, "data", "make_datasets.py"), d])
ok(rc == 0, "test data sets built", err)
os.chdir(d)


def dump(spec, splits=None, threads=None):
    args = [DUMP] + (["-t", str(threads)] if threads else []) + [spec] + ([splits] if splits else [])
    rc, out, err = run(args)
    return rc, out.decode(), err


def expect(name):
    return open(os.path.join("expect", name + ".tsv")).read()


TARS = "VOCtrainval_06-Nov-2007.tar,VOCtest_06-Nov-2007.tar"
COCO_JSON = "coco/annotations/instances_val2014.json"
good = [
    ("voc-all", "voc:" + TARS, None, 3),
    ("voc-all", "voc:voc-folder", None, None),
    ("voc-all", "voc:voc-folder/VOCdevkit", None, None),
    ("voc-all", "voc:voc-folder/VOCdevkit/VOC2007", "train,val,test", None),
    ("voc-test", "voc:" + TARS, "test", None),
    ("voc-trainval", "voc:" + TARS, "trainval", None),
    ("voc-trainval", "voc:voc-folder", "train,val", None),
    ("voc-trainval-tar", "voc:VOCtrainval_06-Nov-2007.tar", None, None),
    ("custom", "voc:custom.tar", None, 2),
    ("coco", "coco:coco/val2014.zip," + COCO_JSON, None, 3),
    ("coco", "coco:coco/val2014," + COCO_JSON, "val", None),
    ("coco-as-test", "coco:coco/val2014," + COCO_JSON + ",test", None, None),
    ("list", "list:list.tsv", None, 2),
    ("list-header", "list:list-header.tsv", None, None),
    ("list-val-test", "list:list.tsv", "val,test", None),
]
import gzip  # noqa: E402
with open("custom.tar", "rb") as f, gzip.open("custom.tar.gz", "wb") as g:
    g.write(f.read())
with tarfile.open("custom.tar") as a, zipfile.ZipFile("custom.zip", "w") as z:
    for m in a.getmembers():
        if m.isfile():
            z.writestr(m.name, a.extractfile(m).read())
good += [("custom", "voc:custom.tar.gz", None, None), ("custom", "voc:custom.zip", None, None)]
for name, spec, splits, threads in good:
    rc, out, err = dump(spec, splits, threads)
    what = "%s %s%s" % (spec, splits or "", " (%d threads)" % threads if threads else "")
    ok(rc == 0, "%s: opens" % what, err)
    is_(out, expect(name), "%s: ids, splits, labels, ignore and image bytes as Python reads them" % what)

# the expectations themselves hold what the layouts are meant to test
voc = expect("voc-all").splitlines()
row7 = [r for r in voc if "\t000007\t" in r][0].split("\t")
ok(row7[3][11] == "1" and row7[4][11] == "0", "VOC: a label with one easy object is not ignored")
row9 = [r for r in voc if "\t000009\t" in r][0].split("\t")
ok(row9[3][7] == "1" and row9[4][7] == "1", "VOC: a label whose objects are all difficult is ignored")
ok(expect("coco").splitlines()[0].endswith("\t1"), "COCO: the image without annotations is counted")
ok(expect("coco").splitlines()[1].split("\t")[:3] == ["airplane", "bicycle", "bottle"],
   "COCO: labels in alphabetical order of the names, not of the ids")


def fails(spec, splits, words, desc):
    rc, out, err = dump(spec, splits)
    lines = err.rstrip("\n").split("\n")
    return ok(rc == 1 and out == "" and len(lines) == 1 and all(w in err for w in words), desc,
              "status %d, stderr %r, wanted %r" % (rc, err, words))


def row_error(spec, sample, words, desc):
    """The data set opens; reading that one sample fails with a message naming it."""
    rc, out, err = dump(spec)
    rows = [r for r in out.splitlines() if "\t%s\t" % sample in r]
    ok(rc == 0 and len(rows) == 1 and "\tERR " in rows[0] and all(w in rows[0] for w in words), desc,
       "status %d, rows %r, stderr %r" % (rc, rows, err))


def retar(src, dst, edit):
    """Copies tar src to dst, entry by entry, through edit(name, data) -> data or None (drop)."""
    with tarfile.open(src) as a, tarfile.open(dst, "w") as b:
        for m in a.getmembers():
            data = a.extractfile(m).read() if m.isfile() else None
            if data is not None:
                data = edit(m.name, data)
                if data is None:
                    continue
                m.size = len(data)
            b.addfile(m, io.BytesIO(data) if data is not None else None)


TV = "VOCtrainval_06-Nov-2007.tar"
retar(TV, "noann.tar", lambda n, b: None if n.endswith("Annotations/000012.xml") else b)
fails("voc:noann.tar", None, ["Annotations/000012.xml", "000012"], "VOC: a listed image without annotation is an error naming it")
retar(TV, "nojpeg.tar", lambda n, b: None if n.endswith("JPEGImages/000016.jpg") else b)
row_error("voc:nojpeg.tar", "000016", ["000016", "not found", "nojpeg.tar"], "VOC tar: a missing JPEG fails that sample's read, naming it")
retar(TV, "badxml.tar", lambda n, b: b.replace(b"</annotation>", b"") if n.endswith("000017.xml") else b)
fails("voc:badxml.tar", None, ["000017.xml", "unclosed"], "VOC: truncated XML is an error naming the file")
retar(TV, "baddiff.tar", lambda n, b: b.replace(b"<difficult>0</difficult>", b"<difficult>maybe</difficult>", 1) if n.endswith("000005.xml") else b)
fails("voc:baddiff.tar", None, ["000005.xml", "difficult", "maybe"], "VOC: a difficult flag that is not 0 or 1 is an error")
retar(TV, "mismatch.tar", lambda n, b: b.replace(b"</object>", b"</objet>", 1) if n.endswith("000005.xml") else b)
fails("voc:mismatch.tar", None, ["000005.xml", "</objet>"], "VOC: mismatched tags are an error")
retar(TV, "twosplits.tar", lambda n, b: b + b"000005\n" if n.endswith("Main/val.txt") else b)
fails("voc:twosplits.tar", None, ["000005", "split train and val, both asked for", "--splits"],
      "VOC: an image in two splits asked for is an error")
rc, out, err = dump("voc:twosplits.tar", "train")
ok(rc == 0 and "\t000005\t0\t" in out, "VOC: the same files read for train only (the overlap is not asked for)", err)

# real VOCdevkit test copies (tests/data/real): VOC2007 and VOC2012 side by side,
# test.txt listing the same ids as trainval.txt, a truncated JPEG
REAL = os.path.join(HERE, "data", "real", "VOCdevkit")
fails("voc:" + REAL, None, ["holds VOC2007 and VOC2012", "--year", "voc0712:"],
      "a VOCdevkit with two years and no year chosen: an error saying how to choose")
fails("voc2012:" + REAL, None, ["2007_000032", "split train and test, both asked for"],
      "real VOC2012 copy, all splits: its overlapping split files are refused")


def rows(out):
    return [r.split("\t") for r in out.splitlines()[2:]]


rc, out, err = dump("voc2012:" + REAL, "test")
got = rows(out)
ok(rc == 0 and [r[1] for r in got] == ["2007_000032", "2007_000033", "2007_000039"] and {r[2] for r in got} == {"2"}
   and [r[0] for r in got] == ["3", "4", "5"], "voc2012: test alone: 3 images, index after the trainval listing", err)
rc, out, err = dump("voc2007:" + REAL, "train")
ok(rc == 0 and [r[1] for r in rows(out)] == ["000001", "000005"], "voc2007: train (trainval.txt) alone", err)
rc, out, err = dump("voc0712:" + REAL, "train")
got = rows(out)
ok(rc == 0 and [r[1] for r in got] == ["000001", "000005", "2007_000032", "2007_000033", "2007_000039"]
   and {r[2] for r in got} == {"0"}, "voc0712 train: 2007 and 2012 trainval", err)
rc, out, err = dump("voc0712:" + REAL, "test")
ok(rc == 0 and [r[1] for r in rows(out)] == ["000001", "000005"], "voc0712 test: 2007 test only", err)
fails("voc0712:" + REAL, "val", ["no val split"], "voc0712 has no val split")
tar = os.path.join(d, "real-voc.tar")
with tarfile.open(tar, "w") as t:
    t.add(REAL, arcname="VOCdevkit")
rc, out, err = run(["sh", "-c", "%s voc2012:- test < %s" % (DUMP, tar)])
ok(rc == 0 and out.decode().count("\t2007_0000") == 3, "voc2012:- reads a tar from standard input", err)
rc, out, err = run(["sh", "-c", "%s voc:- test < %s" % (DUMP, tar)])
ok(rc == 1 and "standard input: two VOC folders" in err and "voc0712:" in err,
   "voc:- with two years in the tar: an error saying how to choose", err)
rc, out, err = run(["sh", "-c", "%s voc0712:- train < %s" % (DUMP, tar)])
ok(rc == 1 and "standard input can be read once" in err, "voc0712:- refused: its archives are read twice", err)
retar("custom.tar", "badlabel.tar", lambda n, b: b.replace(b"<object><name>", b"<object><name>zebra_", 1) if n.endswith("000004.xml") else b)
fails("voc:badlabel.tar", None, ["zebra_", "labels.txt", "000004.xml"], "VOC: a name outside labels.txt is an error naming it")
retar(TV, "ctlname.tar", lambda n, b: b.replace(b"<object><name>", b"<object><name>do&#10;g", 1) if n.endswith("000005.xml") else b)
fails("voc:ctlname.tar", None, ["000005.xml", "control character"], "VOC: a label name with a control character is refused")
retar("custom.tar", "duplabel.tar", lambda n, b: b + b"trouser\n" if n.endswith("labels.txt") else b)
fails("voc:duplabel.tar", None, ["trouser", "twice"], "VOC: labels.txt naming a label twice is an error")
with open(TV, "rb") as f:
    data = f.read()
with open("cut.tar", "wb") as f:
    f.write(data[:len(data) // 2 + 100])
fails("voc:cut.tar", None, ["cut.tar"], "VOC: a truncated tar is an error naming it")
with open("garbage.tar", "wb") as f:
    f.write(b"\x00\x01garbage" * 100)
fails("voc:garbage.tar", None, ["garbage.tar"], "VOC: a file that is no archive is an error naming it")
fails("voc:nowhere.tar", None, ["nowhere.tar"], "VOC: a missing archive is an error naming it")
fails("voc:imgs", None, ["ImageSets/Main", "imgs"], "VOC: a folder without ImageSets/Main is an error")
fails("voc:" + TV, "test", ["test", "test.txt"], "VOC: asking for a split the data set lacks is an error")
fails("voc:" + TARS, "train,bogus", ["bogus"], "an unknown split name is an error")
fails("voc:" + TV + ",voc-folder", None, ["not both"], "VOC: a folder and archives together are refused")
shutil.copytree("voc-folder", "voc-nojpeg")
os.remove("voc-nojpeg/VOCdevkit/VOC2007/JPEGImages/000003.jpg")
row_error("voc:voc-nojpeg", "000003", ["000003", "JPEGImages/000003.jpg"], "VOC folder: a missing JPEG fails that sample's read, naming the file")

# damaged annotations: flipped bytes and cuts: parsed or refused, never a crash
import numpy as np  # noqa: E402
rng = np.random.default_rng(4)
crashes = []
for k in range(60):
    def damage(n, b):
        if not n.endswith("000007.xml"):
            return b
        b = bytearray(b)
        for _ in range(int(rng.integers(1, 4))):
            b[int(rng.integers(0, len(b)))] = int(rng.choice([60, 62, 47, 38, 0, 32, 97, 34]))
        return bytes(b[:int(rng.integers(1, len(b) + 1))] if k % 2 else b)
    retar(TV, "damaged.tar", damage)
    rc, out, err = dump("voc:damaged.tar")
    if rc not in (0, 1) or (rc == 1 and len(err.rstrip("\n").split("\n")) != 1):
        crashes.append((k, rc, err[-300:]))
ok(not crashes, "VOC: 60 damaged annotations are parsed or refused with one line", crashes[:2])

# COCO
import json  # noqa: E402
js = json.load(open(COCO_JSON))


def coco_variant(name, edit):
    j = json.loads(json.dumps(js))
    edit(j)
    path = "coco/annotations/%s_val2014.json" % name
    with open(path, "w") as f:
        json.dump(j, f)
    return "coco:coco/val2014," + path


fails(coco_variant("badcat", lambda j: j["annotations"][0].update(category_id=4)), None,
      ["category_id 4"], "COCO: an annotation of an unknown category is an error")
fails(coco_variant("badimg", lambda j: j["annotations"][0].update(image_id=999)), None,
      ["image id 999"], "COCO: an annotation of an unknown image is an error")
fails(coco_variant("dupcat", lambda j: j["categories"].append({"id": 91, "name": "dog"})), None,
      ["dog", "twice"], "COCO: a category name given twice is an error")
fails(coco_variant("ctlcat", lambda j: j["categories"][0].update(name="per\nson")), None,
      ["control character", "ctlcat_val2014.json"], "COCO: a category name with a control character is refused")
fails(coco_variant("nocat", lambda j: j.pop("categories")), None, ["categories"], "COCO: no categories is an error")
fails(coco_variant("floatid", lambda j: j["images"][0].update(id=42.5)), None, ["integer id"], "COCO: a non-integer image id is an error")
with open(COCO_JSON) as f:
    text = f.read()
with open("coco/annotations/cut_val2014.json", "w") as f:
    f.write(text[:len(text) // 2])
fails("coco:coco/val2014,coco/annotations/cut_val2014.json", None, ["cut_val2014.json", "JSON"], "COCO: truncated JSON is an error naming the file")
shutil.copy(COCO_JSON, "coco/annotations/mine.json")
fails("coco:coco/val2014,coco/annotations/mine.json", None, ["split", "mine.json"], "COCO: a split that the name does not tell must be given")
fails("coco:coco/val2014,coco/annotations/mine.json,eval", None, ["eval"], "COCO: an unknown split field is an error")
fails("coco:coco/val2014", None, ["coco:IMAGES,ANNOTATIONS"], "COCO: a spec without annotations is a usage error")
with zipfile.ZipFile("coco/val2014.zip") as a, zipfile.ZipFile("coco/missing.zip", "w") as b:
    for m in a.infolist():
        if "000073" not in m.filename:
            b.writestr(m, a.read(m))
row_error("coco:coco/missing.zip," + COCO_JSON, "COCO_val2014_000000000073.jpg", ["not found", "missing.zip"],
          "COCO zip: an image missing from the zip fails that sample's read")

# the zip is read in place (central directory, pread, inflate, CRC)
with zipfile.ZipFile("coco/val2014.zip") as a, zipfile.ZipFile("coco/zip64.zip", "w") as b:
    for k in range(70000 if not ASAN else 66000):   # over 65,535 entries: ZIP64 end records
        b.writestr("pad/%d" % k, b"")
    for m in a.infolist():
        b.writestr(m, a.read(m))
rc, out, err = dump("coco:coco/zip64.zip," + COCO_JSON)
is_(out, expect("coco"), "COCO: a ZIP64 zip (over 65,535 entries) reads as the plain one")
with open("coco/val2014.zip", "rb") as f:
    data = bytearray(f.read())
with zipfile.ZipFile("coco/val2014.zip") as a:
    info = a.getinfo("val2014/COCO_val2014_000000000042.jpg")
    at = info.header_offset + 30 + len(info.filename) + len(info.extra) + 100
data[at] ^= 0x55
with open("coco/crc.zip", "wb") as f:
    f.write(bytes(data))
row_error("coco:coco/crc.zip," + COCO_JSON, "COCO_val2014_000000000042.jpg", ["CRC", "crc.zip"],
          "COCO zip: a damaged entry fails that sample's read with a CRC error")
with open("coco/cut.zip", "wb") as f:
    f.write(bytes(data[:len(data) - 30]))
fails("coco:coco/cut.zip," + COCO_JSON, None, ["cut.zip", "central directory"], "COCO: a truncated zip is an error naming it")

# lists
def list_file(name, text):
    with open(name, "w") as f:
        f.write(text)
    return "list:" + name


fails(list_file("l1.tsv", "imgs/a.jpg\tdog\ttrain\n\n\r\n# note\nimgs/c.jpg\tcat\tsometimes\n"), None,
      ["l1.tsv:5", "sometimes"], "list: an unknown split is an error with the line number (blank lines counted)")
fails(list_file("l2.tsv", "#labels dog,cat\nimgs/a.jpg\tdog,emu\n"), None, ["l2.tsv:2", "emu"], "list: a label outside the #labels line is an error")
fails(list_file("l3.tsv", "imgs/a.jpg\tdog\ttrain\textra\n"), None, ["l3.tsv:1", "3 tab-separated"], "list: four fields are an error")
fails(list_file("l4.tsv", "imgs/a.jpg\tdog\n#labels dog\n"), None, ["l4.tsv:2", "#labels"], "list: a #labels line after the images is an error")
fails(list_file("l5.tsv", "# nothing\n\n"), None, ["no samples"], "list: an empty list is an error")
fails(list_file("l6.tsv", "imgs/a.jpg\t\n"), None, ["no labels"], "list: a list without any label is an error")
fails(list_file("l8.tsv", "imgs/a\x01.jpg\tdog\n"), None, ["l8.tsv:1", "control character"], "list: a path with a control character is refused")
fails("list:imgs", None, ["imgs", "folder"], "list: a folder as the list is an error")
fails("list:nothere.tsv", None, ["nothere.tsv"], "list: a missing list file is an error naming it")
row_error(list_file("l7.tsv", "imgs/a.jpg\tdog\nimgs/gone.jpg\tcat\n"), "imgs/gone.jpg", ["imgs/gone.jpg"],
          "list: a missing image fails that sample's read, naming the file")
fails("folder:x", None, ["unknown data set", "voc:PATH"], "an unknown kind of data set is an error listing the kinds")
done()
