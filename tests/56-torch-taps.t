#!/usr/bin/python3
# tools/torch-taps.py: the features file of any nn.Module, tested with
# torchvision's mobilenet_v2 (random weights, loaded through --weights) on
# the real images of tests/data/real. Its taps are compared with the same
# modules' outputs computed here on the PIL recipe; its labels, ignore,
# split, index and ids with extract-feats' on the same data set (the C
# readers); train-probe must take the file as it is. Bad arguments: one line.
import json
import os
import sys

import numpy as np
import torch
import torchvision
import torchvision.transforms as T
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "st"))
sys.path.insert(0, os.path.join(HERE, "extract-feats"))
import models  # noqa: E402
import stwrite as st  # noqa: E402
from tap import BIN, ok, is_, done, run, scratch, names_error  # noqa: E402

TAPS = os.path.join(HERE, "..", "tools", "torch-taps.py")
REAL = os.path.join(HERE, "data", "real")
LAYERS = ["features.3", "features.6", "features.10", "features.13", "features.17"]
torch.manual_seed(0)
torch.set_num_threads(1)
d = scratch("taps.")


def taps(*args):
    return run(["/usr/bin/python3", TAPS] + [str(a) for a in args], timeout=None, text=True)


# a list data set of the real photos: two train, one val, two test
photos = [("VOCdevkit/VOC2007/JPEGImages/000005.jpg", "chair", "train"),
          ("VOCdevkit/VOC2012/JPEGImages/2007_000032.jpg", "aeroplane,person", "train"),
          ("VOCdevkit/VOC2012/JPEGImages/2007_000033.jpg", "aeroplane", "val"),
          ("VOCdevkit/VOC2012/JPEGImages/2007_000039.jpg", "tvmonitor", "test"),
          ("coco/val2017/000000439180.jpg", "horse,person,truck", "test")]
lst = os.path.join(d, "photos.tsv")
with open(lst, "w") as fp:
    for path, labels, split in photos:
        fp.write("%s\t%s\t%s\n" % (os.path.join(REAL, path), labels, split))

model = torchvision.models.mobilenet_v2(weights=None).eval()
weights = os.path.join(d, "mnv2.pth")
torch.save(model.state_dict(), weights)

rc, out, err = taps("--model", "torchvision:mobilenet_v2", "--list-layers")
ok(rc == 0 and "features.3\tInvertedResidual" in out and "classifier.1\tLinear" in out,
   "--list-layers names the modules and their types", err)

feats = os.path.join(d, "feats.st")
rc, _, err = taps("--model", "torchvision:mobilenet_v2", "--weights", weights, "--layers", ",".join(LAYERS),
                  "--dataset", "list:" + lst, "--batch", "2", "-o", feats)
if ok(rc == 0, "mobilenet_v2 on 5 real photos", err):
    t, meta = st.read(feats)
    # the reference: the same modules, hooked here, on the PIL recipe
    prep = T.Compose([T.Resize(256), T.CenterCrop(224), T.ToTensor(),
                      T.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])])
    x = torch.stack([prep(Image.open(os.path.join(REAL, p)).convert("RGB")) for p, _, _ in photos])
    acts = {}
    named = dict(model.named_modules())
    hooks = [named[n].register_forward_hook(lambda m, i, o, n=n: acts.__setitem__(n, o)) for n in LAYERS]
    with torch.no_grad():
        logits = model(x).numpy()
    for k, n in enumerate(LAYERS):
        want = acts[n].mean((2, 3)).numpy()
        got = t["feat.%02d" % k][1]
        ok(got.shape == want.shape and np.abs(got - want).max() <= 1e-5 * np.abs(want).max(),
           "feat.%02d (%s, %d channels): the module's pooled output" % (k, n, want.shape[1]))
    ok("logits" not in t and "1000 outputs, the data set 6 labels: logits left out" in err,
       "a 1000-way head over 6 labels: logits left out, said on stderr", err)
    is_(json.loads(meta["layers"]), LAYERS, "metadata layers: the module names")
    flops = json.loads(meta["layer_flops"])
    ok(len(flops) == len(LAYERS) + 1 and all(a < b for a, b in zip(flops, flops[1:])) and 5.5e8 < flops[-1] < 6.5e8,
       "metadata layer_flops: increasing, %.3g for the whole network (mobilenet_v2: 0.3 GMAC)" % flops[-1])

    # the data set columns as extract-feats reads them
    narrow = os.path.join(d, "narrow")
    os.mkdir(narrow)
    models.export(narrow, "resnet18", np.zeros((1, 3, 32, 32), np.float32))
    ef = os.path.join(d, "ef.st")
    rc, _, err = run([os.path.join(BIN, "extract-feats"), "-q", "--model", os.path.join(narrow, "resnet18.st"),
                      "--dataset", "list:" + lst, "--resize", "40", "--crop", "32", "-o", ef], timeout=None)
    if ok(rc == 0, "extract-feats on the same list", err):
        e, emeta = st.read(ef)
        for name in ["labels", "ignore", "split", "index"]:
            ok(e[name][0] == t[name][0] and np.array_equal(e[name][1], t[name][1]),
               "%s: as extract-feats reads the data set" % name)
        for key in ["labels", "ids"]:
            is_(json.loads(meta[key]), json.loads(emeta[key]), "metadata %s: as extract-feats" % key)

    probe = os.path.join(d, "probe.st")
    rc, _, err = run([os.path.join(BIN, "train-probe"), "-q", "--epochs", "2", "--no-head", "-o", probe, feats],
                     timeout=None)
    ok(rc == 0, "train-probe takes the file", err)

# a real VOC2012 copy whose split files overlap: test alone, as extract-feats reads it
voc = "voc:" + os.path.join(REAL, "VOCdevkit", "VOC2012")
rc, _, err = taps("--model", "torchvision:mobilenet_v2", "--layers", "features.17", "--dataset", voc,
                  "--splits", "test", "-o", feats)
rc2, _, err2 = run([os.path.join(BIN, "extract-feats"), "-q", "--model", os.path.join(narrow, "resnet18.st"),
                    "--dataset", voc, "--splits", "test", "--resize", "40", "--crop", "32", "-o", ef], timeout=None)
if ok(rc == 0 and rc2 == 0, "VOC2012 test split (its split files overlap): both read it", err + err2):
    t, meta = st.read(feats)
    e, emeta = st.read(ef)
    ok(all(np.array_equal(t[n][1], e[n][1]) for n in ("labels", "ignore", "split", "index"))
       and json.loads(meta["ids"]) == json.loads(emeta["ids"]) and json.loads(meta["labels"]) == json.loads(emeta["labels"]),
       "VOC: labels, ignore, split, index, ids and label names as extract-feats")

# a head over the data set's labels, from a FILE.py:FUNCTION model: logits kept
six = torchvision.models.mobilenet_v2(num_classes=6).eval()
torch.save({"epoch": 1, "model": six.state_dict()}, os.path.join(d, "six.pth"))
with open(os.path.join(d, "mine.py"), "w") as fp:
    fp.write("import torchvision\n\ndef build():\n    return torchvision.models.mobilenet_v2(num_classes=6)\n")
rc, _, err = taps("--model", os.path.join(d, "mine.py") + ":build", "--weights", os.path.join(d, "six.pth"),
                  "--key", "model", "--layers", "features.17", "--dataset", "list:" + lst, "-o", feats)
if ok(rc == 0, "a model from FILE.py:FUNCTION, weights from a checkpoint's 'model' entry", err):
    t, _ = st.read(feats)
    with torch.no_grad():
        want = six(x).numpy()
    ok("logits" in t and np.abs(t["logits"][1] - want).max() <= 1e-5 * np.abs(want).max()
       and "taken as the data set's labels" in err, "6 outputs for 6 labels: logits kept, with a warning", err)

# errors: one line, status 2 for usage
for args, words in [(["--layers", "features.99"], "no module named features.99"),
                    (["--layers", "features.3", "--dataset", "voc:" + d], "no ImageSets/Main"),
                    (["--layers", "features.3", "--dataset", "mnist:x"], "expected voc:DIR"),
                    (["--layers", "features.3"], "are required")]:
    rc, _, err = taps("--model", "torchvision:mobilenet_v2", "-o", os.path.join(d, "x.st"), *args)
    ok(rc in (1, 2) and names_error(err, "torch-taps.py", (words,)), "%s: one line with %r" % (" ".join(args), words),
       "status %d, stderr %r" % (rc, err))
done()
