#!/usr/bin/python3
"""train-backbone.py: trains the backbones shipped in fixtures/ (fixtures/README.md).

The one Python piece of layerscope: it makes fixtures and is not needed by
`make reproduce`. It trains a reduced-width ResNet-18 or VGG-16-BN, with
torchvision's key names, on the Fashion-MNIST mosaics written by bin/mosaic,
and saves the state_dict as safetensors with the metadata extract-feats reads.

  train   train one model: epoch 1 on the tar's train images, every later epoch
          on fresh mosaics composed from the same items (Fashion-MNIST training
          items 0-49,999), JPEG round-trip at the tar's quality; the last epoch
          is saved with its val and test scores; with --checkpoints, the model
          after every epoch and at a few points inside epoch 1 as well (F16,
          val scores and `epoch` in the metadata), listed in order in a file
  embed   label embeddings from trained models' heads (see --help of embed)
  eval    scores of a saved model on a mosaic tar's val and test splits

Run with /usr/bin/python3 (Debian's torch 1.13, torchvision 0.14, PIL, sklearn).
"""
import argparse
import copy
import gzip
import io
import json
import math
import os
import re
import struct
import sys
import tarfile
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from PIL import Image
from sklearn.metrics import average_precision_score
from torchvision.models.resnet import BasicBlock

LABELS = ["tshirt_top", "trouser", "pullover", "dress", "coat",
          "sandal", "shirt", "sneaker", "bag", "ankle_boot"]
ROOT = "VOCdevkit/VOC2007/"
TRAIN_POOL_END = 50000   # bin/mosaic: train items 0-49,999, val items 50,000-59,999


# ---------------------------------------------------------------- models
class ResNet18(nn.Module):
    """torchvision's resnet18 (same modules, same key names) with stage widths
    w, 2w, 4w, 8w instead of 64, 128, 256, 512."""

    def __init__(self, width, num_classes):
        super().__init__()
        self.inplanes = width
        self.conv1 = nn.Conv2d(3, width, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        self.layer1 = self._make_layer(width, 1)
        self.layer2 = self._make_layer(2 * width, 2)
        self.layer3 = self._make_layer(4 * width, 2)
        self.layer4 = self._make_layer(8 * width, 2)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(8 * width, num_classes)
        for m in self.modules():   # torchvision's initialisation
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def _make_layer(self, planes, stride):
        down = None
        if stride != 1 or self.inplanes != planes:
            down = nn.Sequential(nn.Conv2d(self.inplanes, planes, 1, stride, bias=False),
                                 nn.BatchNorm2d(planes))
        blocks = [BasicBlock(self.inplanes, planes, stride, down), BasicBlock(planes, planes)]
        self.inplanes = planes
        return nn.Sequential(*blocks)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


class VGG16BN(nn.Module):
    """torchvision's vgg16_bn features (key names features.N) with widths
    w, 2w, 4w, 8w, 8w, and the `gap` head of the contract: global average
    pool, then one FC named classifier.0."""

    def __init__(self, width, num_classes):
        super().__init__()
        cfg = [width, width, "M", 2 * width, 2 * width, "M", 4 * width, 4 * width, 4 * width, "M",
               8 * width, 8 * width, 8 * width, "M", 8 * width, 8 * width, 8 * width, "M"]
        layers, cin = [], 3
        for v in cfg:
            if v == "M":
                layers.append(nn.MaxPool2d(2, 2))
            else:
                layers += [nn.Conv2d(cin, v, 3, padding=1), nn.BatchNorm2d(v), nn.ReLU(inplace=True)]
                cin = v
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(nn.Linear(cin, num_classes))
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                nn.init.zeros_(m.bias)

    def forward(self, x):
        x = self.features(x).mean(dim=(2, 3))
        return self.classifier(x)


def make_model(arch, width):
    if arch == "resnet18":
        return ResNet18(width, len(LABELS)), "torchvision", [width, 2 * width, 4 * width, 8 * width]
    if arch == "vgg16_bn":
        return VGG16BN(width, len(LABELS)), "gap", [width, 2 * width, 4 * width, 8 * width, 8 * width]
    raise SystemExit(f"train-backbone: unknown --arch {arch}: expected resnet18 or vgg16_bn")


# ---------------------------------------------------------------- data
def read_idx(path, ndim):
    try:
        raw = gzip.open(path).read()
    except OSError as e:
        raise SystemExit(f"train-backbone: {path}: {e} (install the Debian package dataset-fashion-mnist)")
    magic, = struct.unpack(">I", raw[:4])
    if magic != 0x800 + ndim:
        raise SystemExit(f"train-backbone: {path}: IDX magic {magic:#x}, expected {0x800 + ndim:#x}")
    dims = struct.unpack(">" + "I" * ndim, raw[4:4 + 4 * ndim])
    data = np.frombuffer(raw, np.uint8, offset=4 + 4 * ndim)
    if data.size != int(np.prod(dims)):
        raise SystemExit(f"train-backbone: {path}: {data.size} bytes of data, expected {np.prod(dims)}")
    return data.reshape(dims)


def decode_jpeg(buf):
    return np.asarray(Image.open(io.BytesIO(buf)).convert("L"))


def read_tar(path):
    """The mosaic tar: {split: (images [N,S,S] u8, labels [N,K] u8)}."""
    files = {}
    try:
        with tarfile.open(path) as tar:   # one pass: tarfile's name look-up is linear
            for m in tar:
                if m.isfile() and m.name.startswith(ROOT):
                    files[m.name[len(ROOT):]] = tar.extractfile(m).read()
    except OSError as e:
        raise SystemExit(f"train-backbone: {path}: {e.strerror or e}")
    except tarfile.TarError:
        raise SystemExit(f"train-backbone: {path}: not a readable tar file (expected bin/mosaic's output)")
    if files.get("labels.txt", b"").decode().split() != LABELS:
        raise SystemExit(f"train-backbone: {path}: labels.txt differs from {LABELS}")
    out = {}
    for split in ("train", "val", "test"):
        ids = files[f"ImageSets/Main/{split}.txt"].decode().split()
        imgs, labels = [], np.zeros((len(ids), len(LABELS)), np.uint8)
        for i, id_ in enumerate(ids):
            imgs.append(decode_jpeg(files[f"JPEGImages/{id_}.jpg"]))
            for name in re.findall(r"<name>(\w+)</name>", files[f"Annotations/{id_}.xml"].decode()):
                labels[i, LABELS.index(name)] = 1
        out[split] = (np.stack(imgs) if imgs else np.zeros((0, 56, 56), np.uint8), labels)
    return out


def compose(items, classes, n, size, cell_prob, quality, rng):
    """n fresh mosaics like bin/mosaic's (numpy's random stream, not mosaic's),
    JPEG round-tripped at the tar's quality so training sees evaluation's pixels."""
    cells = rng.random((n, 4)) < cell_prob
    while True:
        empty = ~cells.any(1)
        if not empty.any():
            break
        cells[empty] = rng.random((empty.sum(), 4)) < cell_prob
    half = size // 2
    imgs = np.zeros((n, size, size), np.uint8)
    labels = np.zeros((n, len(LABELS)), np.uint8)
    for c in range(4):
        rows = np.nonzero(cells[:, c])[0]
        pick = rng.integers(0, len(items), len(rows))
        y, x = (c // 2) * half, (c % 2) * half
        imgs[rows, y:y + half, x:x + half] = items[pick]
        labels[rows, classes[pick]] = 1
    for i in range(n):
        buf = io.BytesIO()
        Image.fromarray(imgs[i], "L").save(buf, "JPEG", quality=quality)
        imgs[i] = decode_jpeg(buf.getvalue())
    return imgs, labels


def preprocess(u8, side, mean, std):
    """[B,S,S] u8 -> [B,3,side,side]: torchvision's order (bilinear antialiased
    resize of the shorter side to `side`, /255, normalize); grey to 3 channels."""
    x = torch.from_numpy(u8).float().unsqueeze(1)
    if x.shape[-1] != side:
        x = F.interpolate(x, size=(side, side), mode="bilinear", align_corners=False, antialias=True)
        x = x.round().clamp(0, 255)   # torchvision resizes a uint8 tensor back to uint8
    x = (x / 255 - mean) / std
    return x.expand(-1, 3, -1, -1).contiguous()


# ---------------------------------------------------------------- scores
def scores(logits, labels):
    """subset accuracy (p >= 0.5) and mAP (mean over classes with a positive)."""
    pred = torch.sigmoid(torch.tensor(logits)).numpy() >= 0.5
    acc = float((pred == labels.astype(bool)).all(1).mean())
    aps = [average_precision_score(labels[:, k], logits[:, k]) for k in range(labels.shape[1]) if labels[:, k].any()]
    return acc, float(np.mean(aps))


@torch.no_grad()
def predict(model, u8, side, mean, std, batch=500):
    model.eval()
    out = [model(preprocess(u8[i:i + batch], side, mean, std)) for i in range(0, len(u8), batch)]
    return torch.cat(out).numpy()


# ---------------------------------------------------------------- safetensors
DTYPES = {np.dtype(np.float32): "F32", np.dtype(np.float16): "F16", np.dtype(np.int64): "I64"}


def save_safetensors(path, tensors, metadata):
    header, offset, blobs = {"__metadata__": metadata}, 0, []
    for name, arr in tensors.items():
        arr = np.ascontiguousarray(arr)
        b = arr.astype(arr.dtype.newbyteorder("<")).tobytes()
        header[name] = {"dtype": DTYPES[arr.dtype], "shape": list(arr.shape), "data_offsets": [offset, offset + len(b)]}
        blobs.append(b)
        offset += len(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h)
        for b in blobs:
            f.write(b)
    os.replace(tmp, path)


def load_safetensors(path):
    with open(path, "rb") as f:
        n, = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
        data = f.read()
    meta = header.pop("__metadata__", {})
    np_types = {"F64": np.float64, "F32": np.float32, "F16": np.float16, "I64": np.int64, "I32": np.int32, "I16": np.int16,
                "I8": np.int8, "U8": np.uint8, "BOOL": np.bool_}
    out = {}
    for name, e in header.items():
        b, end = e["data_offsets"]
        out[name] = np.frombuffer(data[b:end], np.dtype(np_types[e["dtype"]]).newbyteorder("<")).reshape(e["shape"])
    return out, meta


def state_to_numpy(model):
    return {k: v.detach().cpu().numpy() for k, v in model.state_dict().items()}


def narrow(tensors, dtype):
    """Floating tensors to `dtype` (F16 for checkpoints); num_batches_tracked stays I64."""
    return {k: v.astype(dtype) if v.dtype.kind == "f" else v for k, v in tensors.items()}


def epoch_text(epoch):
    """1 -> "1", 0.12738... -> "0.1274": the `epoch` metadata and the list's first column."""
    return str(int(epoch)) if float(epoch).is_integer() else f"{epoch:.4f}"


def fractions_arg(text):
    """--first-epoch-points: comma-separated fractions, each in (0, 1)."""
    try:
        out = [float(f) for f in text.split(",") if f]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected numbers separated by commas")
    if any(not 0 < f < 1 for f in out):
        raise argparse.ArgumentTypeError(f"{text!r}: each fraction must lie in (0, 1)")
    return out


def checkpoint_steps(fractions, steps_per_epoch):
    """Steps inside epoch 1 after which a checkpoint is saved: each fraction rounded up
    to whole batches, duplicates and the epoch's end dropped."""
    steps = sorted({math.ceil(f * steps_per_epoch) for f in fractions})
    return [s for s in steps if 0 < s < steps_per_epoch]


# ---------------------------------------------------------------- commands
def train(args):
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    t0 = time.time()
    data = read_tar(args.tar)
    images = read_idx(f"{args.data}/train-images-idx3-ubyte.gz", 3)[:TRAIN_POOL_END]
    classes = read_idx(f"{args.data}/train-labels-idx1-ubyte.gz", 1)[:TRAIN_POOL_END].astype(np.int64)
    size = data["train"][0].shape[1]
    mean = float(data["train"][0].mean() / 255)
    std = float(data["train"][0].std() / 255)
    print(f"data: {len(data['train'][0])} train, {len(data['val'][0])} val, {len(data['test'][0])} test, "
          f"{size}x{size}, mean {mean:.4f} std {std:.4f} ({time.time() - t0:.0f} s)", flush=True)

    model, head, widths = make_model(args.arch, args.width)
    if args.init:
        t, _ = load_safetensors(args.init)
        model.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in t.items()})
    nparams = sum(p.numel() for p in model.parameters())
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=args.wd)
    steps_per_epoch = math.ceil(len(data["train"][0]) / args.batch)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, total_steps=args.epochs * steps_per_epoch,
                                                pct_start=0.15)
    first = "every epoch" if args.init else "epoch 1 on the tar's train split, later epochs"
    recipe = f"continued from {args.init} ({load_safetensors(args.init)[1].get('recipe', '')}), then: " if args.init else ""
    recipe += (f"AdamW lr {args.lr} one-cycle (15% warm-up), weight decay {args.wd}, batch {args.batch}, "
               f"{args.epochs} epochs (the last kept), BCE with logits; "
               f"{first} on fresh mosaics of Fashion-MNIST training items 0-{TRAIN_POOL_END - 1} (cell prob {args.cell_prob}, "
               f"JPEG quality {args.quality}); inputs {size}x{size} grey"
               + (f", bilinear upscale to {args.side}" if args.side != size else "") + ", replicated to 3 channels")
    meta = {
        "arch": args.arch, "head": head, "widths": json.dumps(widths), "labels": json.dumps(LABELS),
        "resize": str(args.side), "crop": str(args.side),
        "mean": json.dumps([round(mean, 6)] * 3), "std": json.dumps([round(std, 6)] * 3),
        "dataset": f"fmnist-mosaic: {args.tar_desc}", "recipe": recipe, "seed": str(args.seed),
        "parameters": str(nparams),
        "history": json.dumps(["train-backbone.py " + " ".join(sys.argv[1:])]),
    }
    ckpt = Checkpoints(args, meta, steps_per_epoch, data["val"], mean, std) if args.checkpoints else None
    inside = checkpoint_steps(args.first_epoch_points, steps_per_epoch) if ckpt else []
    for epoch in range(1, args.epochs + 1):
        t1 = time.time()
        if epoch == 1 and not args.init:
            x_u8, y = data["train"]
        else:
            x_u8, y = compose(images, classes, len(data["train"][0]), size, args.cell_prob, args.quality, rng)
        model.train()
        perm = torch.from_numpy(rng.permutation(len(x_u8)))
        total = 0.0
        for step, i in enumerate(range(0, len(perm), args.batch), 1):
            idx = perm[i:i + args.batch].numpy()
            x = preprocess(x_u8[idx], args.side, mean, std)
            loss = F.binary_cross_entropy_with_logits(model(x), torch.from_numpy(y[idx]).float())
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += float(loss) * len(idx)
            if epoch == 1 and step in inside:
                ckpt.save(model, step, total / min(i + args.batch, len(perm)))
        t_train = time.time() - t1
        if ckpt and epoch < args.epochs:
            val_acc, val_map = ckpt.save(model, epoch * steps_per_epoch, total / len(x_u8))
        else:
            val_acc, val_map = scores(predict(model, data["val"][0], args.side, mean, std), data["val"][1])
        print(f"epoch {epoch}: loss {total / len(x_u8):.4f} val acc {val_acc:.4f} mAP {val_map:.4f} "
              f"({t_train:.0f} s training, {time.time() - t1:.0f} s in all)", flush=True)
    test_acc, test_map = scores(predict(model, data["test"][0], args.side, mean, std), data["test"][1])
    print(f"epoch {args.epochs} kept: val acc {val_acc:.4f} mAP {val_map:.4f}; test acc {test_acc:.4f} mAP {test_map:.4f}; "
          f"{nparams} parameters; {time.time() - t0:.0f} s", flush=True)
    meta.update({"epoch": epoch_text(args.epochs), "step": str(args.epochs * steps_per_epoch),
                 "train_loss": f"{total / len(x_u8):.4f}",
                 "val_mAP": f"{val_map:.4f}", "val_subset_accuracy": f"{val_acc:.4f}",
                 "test_mAP": f"{test_map:.4f}", "test_subset_accuracy": f"{test_acc:.4f}"})
    save_safetensors(args.out, state_to_numpy(model), meta)
    print(f"wrote {args.out}", flush=True)
    if ckpt:
        ckpt.finish(args.epochs, args.out)


class Checkpoints:
    """--checkpoints DIR: DIR/STEM-eEPOCH.safetensors (F16 floats, the final model's keys and
    metadata, plus `epoch`, `step`, `train_loss` and the val scores at that point) and
    DIR/STEM.list, one `EPOCH<TAB>PATH` line per checkpoint in training order, paths
    relative to the list's folder (as docs/datasets.md's lists); the last line names the
    final model (-o), which is not saved a second time."""

    def __init__(self, args, meta, steps_per_epoch, val, mean, std):
        os.makedirs(args.checkpoints, exist_ok=True)
        self.dir, self.meta, self.steps_per_epoch = args.checkpoints, meta, steps_per_epoch
        self.val, self.side, self.mean, self.std = val, args.side, mean, std
        self.stem = os.path.basename(args.out).removesuffix(".safetensors")
        self.dtype = {"F16": np.float16, "F32": np.float32}[args.checkpoint_dtype]
        self.lines = []

    def save(self, model, step, train_loss):
        """Saves the model and returns its (val subset accuracy, val mAP): the scores of
        the weights as saved (rounded to F16), so the file's metadata describes the file."""
        tensors = narrow(state_to_numpy(model), self.dtype)
        saved = copy.deepcopy(model)
        saved.load_state_dict({k: torch.from_numpy(v.astype(np.float32) if v.dtype.kind == "f" else v)
                               for k, v in tensors.items()})
        acc, m = scores(predict(saved, self.val[0], self.side, self.mean, self.std), self.val[1])
        epoch = step / self.steps_per_epoch
        name = (f"{self.stem}-e{int(epoch):02d}" if float(epoch).is_integer() else f"{self.stem}-e{epoch:06.3f}") \
            + ".safetensors"
        meta = dict(self.meta, epoch=epoch_text(epoch), step=str(step), train_loss=f"{train_loss:.4f}",
                    val_mAP=f"{m:.4f}", val_subset_accuracy=f"{acc:.4f}")
        save_safetensors(os.path.join(self.dir, name), tensors, meta)
        self.lines.append(f"{epoch_text(epoch)}\t{name}\n")
        if not float(epoch).is_integer():
            print(f"epoch {epoch_text(epoch)} (step {step}): loss {train_loss:.4f} val acc {acc:.4f} mAP {m:.4f}; "
                  f"wrote {name}", flush=True)
        return acc, m

    def finish(self, epochs, final):
        self.lines.append(f"{epoch_text(epochs)}\t{os.path.relpath(final, self.dir)}\n")
        path = os.path.join(self.dir, self.stem + ".list")
        with open(path + ".tmp", "w") as f:
            f.writelines(self.lines)
        os.replace(path + ".tmp", path)
        print(f"wrote {path}: {len(self.lines)} checkpoints", flush=True)


def embed(args):
    """Each model's head rows, L2-normalised, concatenated and divided by sqrt(#models):
    the squared distance between two labels is then the mean over the models of the
    squared distance between their normalised head rows."""
    parts = []
    for path in args.models:
        t, meta = load_safetensors(path)
        if json.loads(meta["labels"]) != LABELS:
            raise SystemExit(f"train-backbone: {path}: labels differ from {LABELS}")
        w = t["fc.weight"] if meta["arch"].startswith("resnet") else t["classifier.0.weight"]
        parts.append(w / np.linalg.norm(w, axis=1, keepdims=True))
    emb = (np.concatenate(parts, 1) / math.sqrt(len(parts))).astype(np.float32)
    meta = {"labels": json.dumps(LABELS),
            "source": json.dumps([p.split("/")[-1] for p in args.models]),
            "derivation": "rows of each model's head weight (fc / classifier.0), L2-normalised, "
                          "concatenated over the models and divided by sqrt(number of models)",
            "history": json.dumps(["train-backbone.py " + " ".join(sys.argv[1:])])}
    save_safetensors(args.out, {"embeddings": emb}, meta)
    print(f"wrote {args.out}: embeddings {list(emb.shape)}")


def evaluate(args):
    torch.set_num_threads(args.threads)
    t, meta = load_safetensors(args.model)
    widths = json.loads(meta["widths"])
    model, _, _ = make_model(meta["arch"], widths[0])
    model.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in t.items()})
    data = read_tar(args.tar)
    side, mean, std = int(meta["resize"]), json.loads(meta["mean"])[0], json.loads(meta["std"])[0]
    for split in ("val", "test"):
        acc, m = scores(predict(model, data[split][0], side, mean, std), data[split][1])
        print(f"{split}: subset accuracy {acc:.4f} mAP {m:.4f}")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    d = argparse.ArgumentDefaultsHelpFormatter
    t = sub.add_parser("train", help="train one backbone", formatter_class=d)
    t.add_argument("--arch", required=True, help="resnet18 or vgg16_bn")
    t.add_argument("--width", type=int, default=16, help="first stage's channels (torchvision: 64)")
    t.add_argument("--tar", required=True, help="bin/mosaic's tar (train images of epoch 1, val, test)")
    t.add_argument("--tar-desc", default="bin/mosaic --seed 1", help="how the tar was made, for the metadata")
    t.add_argument("--data", default="/usr/share/datasets/fashion-mnist", help="Fashion-MNIST IDX files")
    t.add_argument("--side", type=int, default=56, help="network input side (bilinear upscale when above the tar's)")
    t.add_argument("--epochs", type=int, default=11)
    t.add_argument("--batch", type=int, default=128)
    t.add_argument("--lr", type=float, default=3e-3, help="peak learning rate")
    t.add_argument("--wd", type=float, default=5e-4, help="AdamW weight decay")
    t.add_argument("--cell-prob", type=float, default=0.7, help="as bin/mosaic --cell-prob")
    t.add_argument("--quality", type=int, default=90, help="JPEG quality, as bin/mosaic --quality")
    t.add_argument("--seed", type=int, default=1)
    t.add_argument("--checkpoints", metavar="DIR",
                   help="also save the model after every epoch but the last and at --first-epoch-points, "
                        "with DIR/STEM.list naming them in order (STEM: -o's name)")
    t.add_argument("--first-epoch-points", type=fractions_arg, default="0.125,0.25,0.5",
                   metavar="F,F,...", help="fractions of epoch 1 after which a checkpoint is saved (rounded up to whole batches)")
    t.add_argument("--checkpoint-dtype", choices=["F16", "F32"], default="F16", help="checkpoints' floating tensors")
    t.add_argument("--init", help="start from this saved model (same arch and width; give another --seed for other mosaics)")
    t.add_argument("--threads", type=int, default=1, help="torch threads (2 ran 5-8x slower on the shared 2-core machine)")
    t.add_argument("-o", "--out", required=True, help="the safetensors file to write")
    e = sub.add_parser("embed", help="label embeddings from trained heads", formatter_class=d)
    e.add_argument("models", nargs="+")
    e.add_argument("-o", "--out", required=True)
    v = sub.add_parser("eval", help="val and test scores of a saved model", formatter_class=d)
    v.add_argument("model")
    v.add_argument("--tar", required=True)
    v.add_argument("--threads", type=int, default=1)
    args = p.parse_args()
    {"train": train, "embed": embed, "eval": evaluate}[args.cmd](args)


if __name__ == "__main__":
    main()
