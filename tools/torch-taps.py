#!/usr/bin/python3
"""torch-taps.py: the pipeline's features file from any PyTorch model.

extract-feats runs torchvision's ResNets and VGGs in C. For any other
nn.Module, this script hooks the named modules you choose, pools each
one's output per image and writes what extract-feats writes, so that
train-probe, sinkhorn, classify-samples, early-exit and plot take it as is:

  feat.NN  [N,D] F32   pooled output of the NN-th module of --layers
  logits   [N,K] F32   the model's own output (when it is [N,K])
  labels, ignore [N,C] U8; split [N] U8; index [N] I64
  metadata: layers (the module names), labels, ids, dataset, splits, pool,
            layer_flops, arch, resize, crop, mean, std, resample

Images go through torchvision's usual PIL recipe: Image.open(f).convert("RGB"),
Resize(resize) (bilinear, shorter side), CenterCrop(crop), ToTensor(),
Normalize(mean, std) -- what extract-feats --resample pil reproduces.
Outputs of 4 dimensions [N,C,H,W] are pooled over H and W (--pool avg, max
or avgmax), [N,T,D] over T (a transformer's tokens, mean), [N,D] kept.

The data sets are read as extract-feats reads them (docs/datasets.md):
  voc:DIR        a VOC year folder (holding ImageSets/Main) or a VOCdevkit
                 holding one year
  coco:IMAGES,ANNOTATIONS[,SPLIT]   an image folder or zip and instances JSON
  list:FILE      TSV: image path, labels, optional split
Only numpy, torch, torchvision and PIL are used; the output is written with
numpy (safetensors is a JSON header and raw little-endian arrays).

Examples:
  torch-taps.py --model torchvision:mobilenet_v2 --list-layers
  torch-taps.py --model torchvision:mobilenet_v2 --weights mnv2.pth \\
      --layers features.3,features.6,features.10,features.13,features.17 \\
      --dataset voc:VOCdevkit/VOC2007 -o feats.st
  torch-taps.py --model mymodels.py:build --layers block1,block2 --dataset list:data.tsv -o feats.st
"""
import argparse
import collections
import importlib.util
import io
import json
import os
import shlex
import sys
import xml.etree.ElementTree as ET
import zipfile

import numpy as np

VOC_LABELS = ["aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow",
              "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train",
              "tvmonitor"]
SPLITS = ["train", "val", "test"]
PROG = "torch-taps.py"


def die(msg, code=1):
    sys.stderr.write("%s: %s\n" % (PROG, msg))
    sys.exit(code)


# ---- data sets: (ids, image readers, labels, ignore, split, index, label names) ----

class Table:
    def __init__(self):
        self.ids, self.read, self.names, self.difficult, self.split, self.index = [], [], [], [], [], []

    def add(self, ident, read, names, difficult, split, index):
        self.ids.append(ident)
        self.read.append(read)
        self.names.append(names)
        self.difficult.append(difficult)
        self.split.append(split)
        self.index.append(index)

    def matrices(self, labels):
        col = {n: k for k, n in enumerate(labels)}
        n, k = len(self.ids), len(labels)
        lab, ign = np.zeros((n, k), np.uint8), np.zeros((n, k), np.uint8)
        for i, (names, diff) in enumerate(zip(self.names, self.difficult)):
            easy = set()
            for name, hard in zip(names, diff):
                lab[i, col[name]] = 1
                if not hard:
                    easy.add(name)
            for name in set(names) - easy:
                ign[i, col[name]] = 1
        return lab, ign


def file_reader(path):
    return lambda: open(path, "rb").read()


def voc_root(path):
    if os.path.isdir(os.path.join(path, "ImageSets", "Main")):
        return path
    for base in (path, os.path.join(path, "VOCdevkit")):
        years = sorted(y for y in os.listdir(base) if os.path.isdir(os.path.join(base, y, "ImageSets", "Main"))) \
            if os.path.isdir(base) else []
        if len(years) == 1:
            return os.path.join(base, years[0])
        if years:
            die("%s holds %s: give the year folder" % (path, ", ".join(years)), 2)
    die("%s: no ImageSets/Main in it or in a VOCdevkit year folder" % path)


def read_voc(path, want):
    root = voc_root(path)
    main = os.path.join(root, "ImageSets", "Main")
    lists = {s: os.path.join(main, s + ".txt") for s in SPLITS}
    if not os.path.exists(lists["train"]) and not os.path.exists(lists["val"]):
        lists["train"] = os.path.join(main, "trainval.txt")
    t, seen, pos = Table(), {}, -1
    for s, f in enumerate(lists[x] for x in SPLITS):
        if not os.path.exists(f):
            continue
        for line in open(f):
            ident = line.strip()
            if not ident:
                continue
            pos += 1   # the listing: every split file, train, val, test
            if want and s not in want:
                continue
            if ident in seen:   # only the splits asked for may not overlap
                die("%s: image %s is in split %s and %s" % (root, ident, SPLITS[seen[ident]], SPLITS[s]))
            seen[ident] = s
            xml = ET.parse(os.path.join(root, "Annotations", ident + ".xml")).getroot()
            names, diff = [], []
            for obj in xml.findall("object"):
                names.append(obj.findtext("name").strip())
                d = obj.findtext("difficult")
                diff.append(d is not None and d.strip() == "1")
            t.add(ident, file_reader(os.path.join(root, "JPEGImages", ident + ".jpg")), names, diff, s, pos)
    found = sorted({n for names in t.names for n in names})
    lt = os.path.join(root, "labels.txt")
    if os.path.exists(lt):
        labels = [x.strip() for x in open(lt).read().replace(",", "\n").split("\n") if x.strip()]
    elif set(found) <= set(VOC_LABELS):
        labels = VOC_LABELS
    else:
        labels = found
    return t, labels


def read_coco(spec, want):
    parts = spec.split(",")
    if len(parts) not in (2, 3):
        die("coco:%s: expected coco:IMAGES,ANNOTATIONS[,SPLIT]" % spec, 2)
    images, ann = parts[0], parts[1]
    if len(parts) == 3:
        split = SPLITS.index(parts[2]) if parts[2] in SPLITS else int(parts[2])
    else:
        base = os.path.basename(ann)
        split = next((s for s, n in enumerate(SPLITS) if n in base), None)
        if split is None:
            die("%s: cannot tell the split from the name; say it: coco:%s,%s,val" % (ann, images, ann), 2)
    js = json.load(open(ann))
    cats = {c["id"]: c["name"] for c in js["categories"]}
    per = collections.defaultdict(list)
    for a in js.get("annotations", []):
        per[a["image_id"]].append(cats[a["category_id"]])
    zf = zipfile.ZipFile(images) if zipfile.is_zipfile(images) else None
    members = {os.path.basename(n): n for n in zf.namelist()} if zf else None
    t = Table()
    for i, im in enumerate(js["images"]):
        name = os.path.basename(im["file_name"])
        read = (lambda n=members[name]: zf.read(n)) if zf else file_reader(os.path.join(images, name))
        names = per.get(im["id"], [])
        t.add(im["file_name"], read, names, [False] * len(names), split, i)
    return t, sorted(cats.values())


def read_list(path, want):
    t, labels = Table(), None
    folder = os.path.dirname(os.path.abspath(path))
    for line in open(path):
        line = line.rstrip("\r\n")
        if line.startswith("#labels"):
            labels = [x.strip() for x in line[7:].lstrip("\t :=").split(",") if x.strip()]
            continue
        if not line or line.startswith("#"):
            continue
        f = line.split("\t")
        names = [x.strip() for x in f[1].split(",") if x.strip()] if len(f) > 1 else []
        s = f[2].strip() if len(f) > 2 else ""
        split = SPLITS.index(s) if s in SPLITS else int(s) if s else 0
        t.add(f[0], file_reader(os.path.join(folder, f[0])), names, [False] * len(names), split, len(t.ids))
    return t, labels or sorted({n for names in t.names for n in names})


def read_dataset(spec, want):
    kind, _, rest = spec.partition(":")
    readers = {"voc": read_voc, "coco": read_coco, "list": read_list}
    if kind not in readers or not rest:
        die("--dataset %s: expected voc:DIR, coco:IMAGES,ANNOTATIONS[,SPLIT] or list:FILE" % spec, 2)
    return readers[kind](rest, want)


# ---- the model ----

def load_model(spec, weights, key):
    import torch
    import torchvision
    if spec.startswith("torchvision:"):
        name = spec.split(":", 1)[1]
        if not hasattr(torchvision.models, name):
            die("--model %s: torchvision has no model %s" % (spec, name), 2)
        model = getattr(torchvision.models, name)(weights=None)
    else:
        path, _, fn = spec.rpartition(":")
        if not path or not os.path.exists(path):
            die("--model %s: expected torchvision:NAME or FILE.py:FUNCTION" % spec, 2)
        mod_spec = importlib.util.spec_from_file_location("user_model", path)
        mod = importlib.util.module_from_spec(mod_spec)
        mod_spec.loader.exec_module(mod)
        model = getattr(mod, fn)()
    if weights:
        sd = torch.load(weights, map_location="cpu")
        if key:
            sd = sd[key]
        if all(k.startswith("module.") for k in sd):
            sd = {k[7:]: v for k, v in sd.items()}
        model.load_state_dict(sd)
    return model.eval()


def pool(out, how):
    """[N,C,H,W] -> [N,C] (avg, max) or [N,2C] (avgmax); [N,T,D] -> mean over T; [N,D] as is."""
    import torch
    if out.dim() == 4:
        a, m = out.mean((2, 3)), out.amax((2, 3))
        return a if how == "avg" else m if how == "max" else torch.cat([a, m], 1)
    if out.dim() == 3:
        return out.mean(1)
    if out.dim() == 2:
        return out
    die("a tap's output has shape %s: expected 2 to 4 dimensions" % (tuple(out.shape),))


def flops_counter(model, taps, marks):
    """Hooks counting 2 x multiply-adds of Conv2d and Linear, with the running
    total recorded each time a tap fires (cumulative FLOPs up to each tap)."""
    import torch.nn as nn
    total = [0.0]

    def count(mod, i, o):
        if isinstance(mod, nn.Conv2d):
            k = mod.kernel_size[0] * mod.kernel_size[1] * mod.in_channels // mod.groups
            total[0] += 2.0 * k * o.numel()
        else:
            total[0] += 2.0 * mod.in_features * o.numel()
    hooks = [m.register_forward_hook(count) for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    hooks += [t.register_forward_hook(lambda mod, i, o, k=k: marks.__setitem__(k, total[0]))
              for k, t in enumerate(taps)]
    return total, hooks


# ---- safetensors, written with numpy ----

def write_safetensors(path, tensors, meta):
    dtypes = {np.dtype(np.float32): "F32", np.dtype(np.uint8): "U8", np.dtype(np.int64): "I64"}
    header, off, blobs = {"__metadata__": meta}, 0, []
    for name, a in tensors.items():
        a = np.ascontiguousarray(a)
        b = a.astype(a.dtype.newbyteorder("<"), copy=False).tobytes()
        header[name] = {"dtype": dtypes[a.dtype], "shape": list(a.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-(len(h) + 8) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as fp:
        fp.write(np.uint64(len(h)).astype("<u8").tobytes() + h)
        for b in blobs:
            fp.write(b)
    os.replace(tmp, path)


def main():
    ap = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="\n\n".join(__doc__.split("\n\n")[1:]))
    ap.add_argument("--model", required=True, help="torchvision:NAME or FILE.py:FUNCTION (returns an nn.Module)")
    ap.add_argument("--weights", help="a state dict (torch.save) to load into it")
    ap.add_argument("--key", help="the entry of a checkpoint dict holding the state dict")
    ap.add_argument("--list-layers", action="store_true", help="print the named modules and exit")
    ap.add_argument("--layers", help="comma-separated module names to tap, in order")
    ap.add_argument("--dataset", help="voc:DIR, coco:IMAGES,ANNOTATIONS[,SPLIT] or list:FILE")
    ap.add_argument("--splits", default="", help="train,val,test or trainval (default: all)")
    ap.add_argument("--pool", default="avg", choices=["avg", "max", "avgmax"], help="pooling of [N,C,H,W] taps")
    ap.add_argument("--resize", type=int, default=256, help="shorter side after resizing (default 256)")
    ap.add_argument("--crop", type=int, default=224, help="side of the centre crop (default 224)")
    ap.add_argument("--mean", default="0.485,0.456,0.406", help="normalisation mean (ImageNet's)")
    ap.add_argument("--std", default="0.229,0.224,0.225", help="normalisation std (ImageNet's)")
    ap.add_argument("--batch", type=int, default=16, help="images per forward pass (default 16)")
    ap.add_argument("--limit", type=int, default=0, help="only the first N samples (0: all)")
    ap.add_argument("-o", "--output", help="the features file (safetensors)")
    a = ap.parse_args()

    import torch
    import torchvision.transforms as T
    from PIL import Image
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "0")) or torch.get_num_threads())
    model = load_model(a.model, a.weights, a.key)
    named = dict(model.named_modules())
    if a.list_layers:
        for n, m in named.items():
            if n:
                print("%s\t%s" % (n, type(m).__name__))
        return
    layers = [x.strip() for x in (a.layers or "").split(",") if x.strip()]
    missing = [x for x in layers if x not in named]
    if missing:
        die("no module named %s in %s (--list-layers shows them)" % (", ".join(missing), a.model), 2)
    if not layers or not a.dataset or not a.output:
        die("--layers, --dataset and -o are required (--list-layers shows the module names)", 2)
    mean, std = [float(x) for x in a.mean.split(",")], [float(x) for x in a.std.split(",")]

    want = set()
    for s in filter(None, a.splits.split(",")):
        if s == "trainval":
            want |= {0, 1}
        elif s in SPLITS:
            want.add(SPLITS.index(s))
        else:
            die("--splits: unknown split %s" % s, 2)
    table, labels = read_dataset(a.dataset, want)
    rows = [i for i in range(len(table.ids)) if not want or table.split[i] in want]
    if a.limit:
        rows = rows[:a.limit]
    if not rows:
        die("%s: no sample in the splits asked for" % a.dataset)
    lab, ign = table.matrices(labels)

    prep = T.Compose([T.Resize(a.resize), T.CenterCrop(a.crop), T.ToTensor(), T.Normalize(mean, std)])
    acts, marks = {}, [0.0] * len(layers)
    hooks = [named[n].register_forward_hook(lambda m, i, o, k=k: acts.__setitem__(k, o)) for k, n in enumerate(layers)]
    total, fhooks = flops_counter(model, [named[n] for n in layers], marks)
    feats, logits, flops = [[] for _ in layers], [], None
    for b in range(0, len(rows), a.batch):
        batch = []
        for i in rows[b:b + a.batch]:
            try:
                batch.append(prep(Image.open(io.BytesIO(table.read[i]())).convert("RGB")))
            except (OSError, SyntaxError) as e:
                die("image of sample '%s': %s" % (table.ids[i], e))
        total[0] = 0.0
        with torch.no_grad():
            out = model(torch.stack(batch))
        if flops is None:   # per image: the first batch's counts over its size
            flops = [m / len(batch) for m in marks] + [total[0] / len(batch)]
        for k in range(len(layers)):
            feats[k].append(pool(acts[k], a.pool).float().numpy())
        if torch.is_tensor(out) and out.dim() == 2:
            logits.append(out.float().numpy())
        sys.stderr.write("\r%s: %d/%d images" % (PROG, min(b + a.batch, len(rows)), len(rows)))
    sys.stderr.write("\n")
    for h in hooks + fhooks:
        h.remove()

    out = {"feat.%02d" % k: np.concatenate(f) for k, f in enumerate(feats)}
    if logits and logits[0].shape[1] == len(labels):
        sys.stderr.write("%s: warning: the model's %d outputs are taken as the data set's labels, in its order\n"
                         % (PROG, len(labels)))
        out["logits"] = np.concatenate(logits)
    elif logits:
        sys.stderr.write("%s: the model has %d outputs, the data set %d labels: logits left out (train-probe "
                         "--no-head)\n" % (PROG, logits[0].shape[1], len(labels)))
    out.update(labels=lab[rows], ignore=ign[rows], split=np.array([table.split[i] for i in rows], np.uint8),
               index=np.array([table.index[i] for i in rows], np.int64))
    meta = {"layers": json.dumps(layers), "labels": json.dumps(labels),
            "ids": json.dumps([table.ids[i] for i in rows]), "dataset": a.dataset,
            "splits": json.dumps(SPLITS), "pool": a.pool, "arch": a.model.split(":")[-1],
            "layer_flops": json.dumps(flops), "resize": str(a.resize), "crop": str(a.crop),
            "mean": json.dumps(mean), "std": json.dumps(std), "resample": "pil",
            "model": a.weights or a.model, "history": json.dumps([shlex.join([PROG] + sys.argv[1:])])}
    write_safetensors(a.output, out, meta)


if __name__ == "__main__":
    main()
