#!/usr/bin/python3
# Pillow's resize reproduced bit for bit (tools/lib/resample_pil.c), through
# tests/unit/pil_dump, against Pillow itself: Image.open(f).convert("RGB")
# .resize((w, h), BILINEAR or BICUBIC), the step of torchvision's PIL recipe.
# Images: the real VOC and COCO JPEGs of tests/data/real, and from them
# images of assorted sizes saved as JPEG (baseline, progressive, 4:4:4, grey,
# CMYK) and PNG (RGB, RGBA, grey, palette, 1-bit, 16-bit RGB). Sizes: the
# Resize(256) shapes, shrinking by large and small factors, enlarging, one
# axis unchanged (Pillow skips that pass), 1-pixel results; windows of the
# result (what a centre crop keeps) must equal the same part of the whole.
# Then the whole recipe through image.c (decode, resize, crop, normalize)
# against torchvision.transforms: the same float32 tensor, bit for bit.
import glob
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "st"))
from tap import UNIT, ok, is_, done, run, scratch, diag  # noqa: E402
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "data"))
from make_images import write_png16  # noqa: E402

from PIL import Image  # noqa: E402

DUMP = os.path.join(UNIT, "pil_dump")
HERE = os.path.dirname(os.path.abspath(__file__))
REAL = sorted(glob.glob(os.path.join(HERE, "data", "real", "*", "*", "JPEGImages", "*.jpg")) +
              glob.glob(os.path.join(HERE, "data", "real", "coco", "val2017", "*.jpg")))
FILTERS = {"bilinear": Image.BILINEAR, "bicubic": Image.BICUBIC}
d = scratch()


def loads(path):
    try:
        im = Image.open(path)
        im.load()
        return True
    except (OSError, SyntaxError):
        return False


real = [p for p in REAL if loads(p)]
ok(len(real) >= 5, "at least five real JPEGs decode (%d of %d; one is truncated at the source)"
   % (len(real), len(REAL)))

# derived images: sizes, formats and modes from the real photos
images = list(real)
rng = np.random.default_rng(7)
for i, src in enumerate(real):
    im = Image.open(src).convert("RGB")
    w, h = im.size
    sizes = [(w, h), (37, 211), (301, 7), (int(w * 0.61), int(h * 0.73)), (13, 17)]
    for j, (sw, sh) in enumerate(sizes):
        small = im if (sw, sh) == (w, h) else im.resize((sw, sh), Image.LANCZOS)
        kind = (i + j) % 6
        base = os.path.join(d, "r%d_%d" % (i, j))
        if kind == 0:
            small.save(base + ".jpg", quality=87)
            images.append(base + ".jpg")
        elif kind == 1:
            small.convert("L").save(base + "_grey.jpg", quality=90, progressive=True)
            images.append(base + "_grey.jpg")
        elif kind == 2:
            small.convert("CMYK").save(base + "_cmyk.jpg", quality=92)
            images.append(base + "_cmyk.jpg")
        elif kind == 3:
            small.quantize(61).save(base + "_pal.png")
            images.append(base + "_pal.png")
        elif kind == 4:
            a = np.asarray(small).astype(np.uint16) * 257 + rng.integers(0, 257, (sh, sw, 3)).astype(np.uint16)
            write_png16(base + "_rgb16.png", a, 2)
            images.append(base + "_rgb16.png")
        else:
            small.save(base + "_444.jpg", quality=95, subsampling=0)
            small.convert("RGBA").save(base + "_rgba.png")
            small.convert("1").save(base + "_1bit.png")
            images += [base + "_444.jpg", base + "_rgba.png", base + "_1bit.png"]


def ours(path, w, h, f, window=None):
    out = os.path.join(d, "out.rgb")
    args = [DUMP, path, str(w), str(h), f, out] + [str(v) for v in (window or ())]
    rc, _, err = run(args)
    if rc:
        return None, err
    ww, hh = (window[2] - window[0], window[3] - window[1]) if window else (w, h)
    return np.fromfile(out, dtype=np.uint8).reshape(hh, ww, 3), ""


def shorter(w, h, size):   # torchvision's _compute_resized_output_size
    if w <= h:
        return size, int(size * h / w)
    return int(size * w / h), size


compared = differing = 0
for path in images:
    im = Image.open(path).convert("RGB")
    w, h = im.size
    targets = {shorter(w, h, 256), shorter(w, h, 224), (max(1, w // 3), max(1, h // 5)), (w, max(1, h // 2)),
               (max(1, w * 2 // 3), h), (w * 2 + 1, h * 3), (1, 1), (max(1, w - 1), h + 1)}
    bad = []
    for f, F in FILTERS.items():
        for tw, th in sorted(targets):
            got, err = ours(path, tw, th, f)
            ref = np.asarray(im.resize((tw, th), F))
            if got is None or got.shape != ref.shape:
                bad.append("%dx%d %s: %s" % (tw, th, f, err.strip() or "shape %r" % (got.shape,)))
                continue
            n = int((got != ref).sum())
            compared += ref.size
            differing += n
            if n:
                bad.append("%dx%d %s: %d values differ (max %d)" % (tw, th, f, n,
                           np.abs(got.astype(int) - ref).max()))
    ok(not bad, "%s (%dx%d): identical to Pillow at %d sizes, bilinear and bicubic"
       % (os.path.relpath(path, HERE) if path.startswith(HERE) else os.path.basename(path), w, h, len(targets)),
       "\n".join(bad[:8]))
diag("%d 8-bit values compared with Pillow, %d differ" % (compared, differing))
is_(differing, 0, "no value differs from Pillow in all %d" % compared)

# windows: the centre 224 crop of a Resize(256), and odd windows, equal the whole's part
for path in real[:3]:
    im = Image.open(path).convert("RGB")
    tw, th = shorter(im.size[0], im.size[1], 256)
    whole = np.asarray(im.resize((tw, th), Image.BILINEAR))
    left, top = int(round((tw - 224) / 2.0)), int(round((th - 224) / 2.0))
    for win in [(left, top, left + 224, top + 224), (0, 0, 1, 1), (tw - 3, th - 50, tw, th), (5, 7, 6, th)]:
        got, err = ours(path, tw, th, "bilinear", win)
        ok(got is not None and np.array_equal(got, whole[win[1]:win[3], win[0]:win[2]]),
           "%s: window %r of the %dx%d resize equals the same part of the whole"
           % (os.path.basename(path), win, tw, th), err)

# the whole PIL recipe through image.c (LS_RESAMPLE=pil: img_decode_pil, Pillow's
# resize, crop, normalize) against torchvision.transforms on a PIL image: the
# same float32 tensor, bit for bit; 16-bit grey PNGs included (PIL clips them)
import torchvision.transforms as T  # noqa: E402
IMG = os.path.join(UNIT, "image_dump")
g16 = (rng.integers(0, 2, (29, 41)) * rng.integers(0, 400, (29, 41))).astype(np.uint16)
write_png16(os.path.join(d, "grey16.png"), g16, 0)
recipe_images = real + [p for p in images if not p.endswith("_1bit.png")][len(real)::3] + [os.path.join(d, "grey16.png")]
mean, std = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]
for interp, F, env in [("bilinear", Image.BILINEAR, "pil"), ("bicubic", Image.BICUBIC, "pil-bicubic")]:
    bad = []
    for resize, crop in [(256, 224), (40, 32), (300, 320)]:
        tf = T.Compose([T.Resize(resize, interpolation=T.InterpolationMode(interp)), T.CenterCrop(crop),
                        T.ToTensor(), T.Normalize(mean, std)])
        for path in recipe_images:
            want = tf(Image.open(path).convert("RGB")).numpy()
            out = os.path.join(d, "pre.f32")
            rc, so, err = run(["env", "LS_RESAMPLE=" + env, IMG, "preprocess", path, str(resize), str(crop), out],
                              text=True)
            got = np.fromfile(out, np.float32).reshape(want.shape) if rc == 0 else None
            if got is None or got.tobytes() != want.tobytes():
                bad.append("%s %d/%d: %s" % (os.path.basename(path), resize, crop,
                                             err.strip() or "%d values differ" % (got != want).sum()))
    ok(not bad, "PIL recipe (%s), Resize/CenterCrop 256/224, 40/32, 300/320 (padded) on %d images: the same "
       "float32 tensor as torchvision's transforms, bit for bit" % (interp, len(recipe_images)), "\n".join(bad[:6]))

# bad arguments: one line, status 1
for args, words in [(["0", "5"], "cannot"), (["5", "-2"], "cannot")]:
    rc, _, err = run([DUMP, real[0]] + args + ["bilinear", os.path.join(d, "x")])
    ok(rc == 1 and words in err and err.count("\n") == 1, "size %s refused on one line" % "x".join(args), err)
rc, _, err = run([DUMP, real[0], "10", "10", "bilinear", os.path.join(d, "x"), "0", "0", "11", "5"])
ok(rc == 1 and "outside" in err and err.count("\n") == 1, "a window past the image refused on one line", err)
done()
