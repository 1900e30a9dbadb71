#!/usr/bin/python3
# Image decoding and preprocessing (tools/lib/image.c) through
# tests/unit/image_dump, against PIL (decoding) and torchvision's tensor path
# (resize with antialias, center_crop, normalize) on the same decoded pixels.
# The images (tests/data/make_images.py) cover JPEG baseline, progressive,
# 4:4:4, grey and CMYK; PNG RGB, RGBA, grey, grey+alpha, 1-bit, palette with
# and without transparency, 16-bit grey and RGB, interlaced; and broken files.
import glob
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "st"))
from tap import UNIT, ASAN, ok, is_, done, run, scratch, diag  # noqa: E402

import torch  # noqa: E402
import torchvision.transforms.functional as TF  # noqa: E402
from PIL import Image  # noqa: E402

torch.set_num_threads(1)
DUMP = os.path.join(UNIT, "image_dump")
HERE = os.path.dirname(os.path.abspath(__file__))
MEAN, STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]
STEP = 1 / 255 / min(STD)   # one uint8 level after normalisation
d = scratch()
rc, _, err = run(["/usr/bin/python3", os.path.join(HERE, "data", "make_images.py"), d])
ok(rc == 0, "test images built", err)

# decoding: identical to PIL's convert("RGB") (16-bit: the high byte)
for ref in sorted(glob.glob(os.path.join(d, "*.npy"))):
    img = ref[:-4]
    name = os.path.basename(img)
    want = np.load(ref)
    rc, out, err = run([DUMP, "decode", img, img + ".rgb"])
    ok(rc == 0, "%s: decodes" % name, err)
    if rc:
        continue
    w, h = map(int, out.split())
    got = np.fromfile(img + ".rgb", dtype=np.uint8)
    ok((h, w, 3) == want.shape and np.array_equal(got.reshape(h, w, 3), want),
       "%s: %dx%d pixels identical to the reference" % (name, w, h),
       "shape %r vs %r" % ((h, w, 3), want.shape))

bad = {"truncated.jpg": "truncated JPEG", "header_only.jpg": "truncated JPEG", "corrupt.jpg": "corrupt JPEG",
       "truncated.png": "truncated PNG", "badcrc.png": "corrupt PNG", "empty.jpg": "empty file",
       "text.jpg": "not a JPEG or PNG", "huge.png": "too large"}
for name, words in bad.items():
    rc, out, err = run([DUMP, "decode", os.path.join(d, name), os.path.join(d, "x.rgb")])
    ok(rc == 1 and words in err and len(err.rstrip("\n").split("\n")) == 1,
       "%s: refused with one line saying '%s'" % (name, words), "status %d, stderr %r" % (rc, err))


def ours(path, resize, crop, extra=()):
    out_path = os.path.join(d, "pre.f32")
    rc, out, err = run([DUMP, "preprocess", path, str(resize), str(crop), out_path] + [str(v) for v in extra])
    if rc:
        return None, err
    return np.fromfile(out_path, dtype=np.float32).reshape([int(v) for v in out.split()]), err


def pixels(path):
    """The decoded image: PIL's, or the reference where PIL differs (16-bit)."""
    if os.path.exists(path + ".npy"):
        return np.load(path + ".npy")
    return np.asarray(Image.open(path).convert("RGB")).copy()


def torchvision_tensor_path(path, resize, crop, mean=MEAN, std=STD):
    t = torch.from_numpy(pixels(path)).permute(2, 0, 1)
    if resize:
        t = TF.resize(t, resize, antialias=True)
    if crop:
        t = TF.center_crop(t, crop)
    return TF.normalize(TF.convert_image_dtype(t, torch.float32), mean, std).numpy()


def torchvision_pil_path(path, resize, crop):
    im = Image.open(path).convert("RGB")
    if resize:
        im = TF.resize(im, resize)
    if crop:
        im = TF.center_crop(im, crop)
    return TF.normalize(TF.to_tensor(im), MEAN, STD).numpy()


def agrees(got, want, desc):
    """Equal within 1e-4, but for the rare pixel where float sums on either
    side of a .5 round to neighbouring uint8 levels (at most 1 in 1000)."""
    if got is None or got.shape != want.shape:
        return ok(False, desc, "shapes %r, %r" % (None if got is None else got.shape, want.shape))
    diff = np.abs(got - want)
    ties = int((diff > 1e-4).sum())
    return ok(diff.max() <= STEP + 1e-4 and ties <= max(1, diff.size // 1000), desc,
              "max %.3g, %d values off" % (diff.max(), ties))


real = [p for p in glob.glob("/usr/lib/python3/dist-packages/sklearn/datasets/images/*.jpg")]
sizes = [(256, 224), (112, 112), (0, 0), (100, 0), (0, 30), (80, 96)]
if not ASAN:
    sizes.append((500, 480))
images = [os.path.join(d, n) for n in ("rgb.jpg", "cmyk.jpg", "palette.png", "grey16.png")] + real
for path in images:
    for resize, crop in sizes:
        got, err = ours(path, resize, crop)
        agrees(got, torchvision_tensor_path(path, resize, crop),
               "%s resize %d crop %d: as torchvision's tensor path" % (os.path.basename(path), resize, crop))

ok(len(real) >= 2, "real JPEGs found (python3-sklearn's sample images)", "none in sklearn/datasets/images")
for path in real:
    rc, out, err = run([DUMP, "decode", path, os.path.join(d, "real.rgb")])
    want = np.asarray(Image.open(path).convert("RGB"))
    ok(rc == 0 and np.array_equal(np.fromfile(os.path.join(d, "real.rgb"), dtype=np.uint8), want.reshape(-1)),
       "%s: decoded pixels identical to PIL's" % os.path.basename(path), err)
    got, _ = ours(path, 256, 224)
    pil = torchvision_pil_path(path, 256, 224)
    diff = np.abs(got - pil)
    diag("%s 256/224: PIL path differs by max %.4f, mean %.5f (%.1f%% of values)" %
         (os.path.basename(path), diff.max(), diff.mean(), 100 * (diff > 1e-4).mean()))
    ok(diff.max() <= 2 * STEP + 1e-4 and diff.mean() < 0.01,
       "%s: within two uint8 levels of torchvision's PIL path" % os.path.basename(path))

mean, std = [0.5, 0.25, 0.0], [0.5, 2.0, 1.0]
got, _ = ours(os.path.join(d, "rgb.jpg"), 64, 56, mean + std)
agrees(got, torchvision_tensor_path(os.path.join(d, "rgb.jpg"), 64, 56, mean, std), "other mean and std as torchvision's")
got, err = ours(os.path.join(d, "rgb.jpg"), 64, 56, [0, 0, 0, 1, 0, 1])
ok(got is None and "std" in err, "a zero std is refused", err)

# damaged files: flipped bytes and cuts anywhere: decoded or refused, never a crash
rng = np.random.default_rng(9)
for name in ("rgb.jpg", "progressive.jpg", "cmyk.jpg", "rgb.png", "palette.png", "interlaced16.png"):
    data = open(os.path.join(d, name), "rb").read()
    crashes = []
    for k in range(12 if ASAN else 40):
        b = bytearray(data)
        for _ in range(int(rng.integers(1, 6))):
            b[int(rng.integers(0, len(b)))] = int(rng.integers(0, 256))
        if k % 3 == 0:
            b = b[:int(rng.integers(1, len(b)))]
        path = os.path.join(d, "damaged-" + name)
        open(path, "wb").write(bytes(b))
        rc, out, err = run([DUMP, "preprocess", path, "40", "32", os.path.join(d, "x.f32")])
        if rc not in (0, 1) or (rc == 1 and len(err.rstrip("\n").split("\n")) != 1):
            crashes.append((k, rc, err[-300:]))
    ok(not crashes, "%s: damaged copies decode or fail with one line" % name, crashes[:2])

# the antialiased resize kernel alone, on floats, down and up
rng = np.random.default_rng(5)
for h, w, oh, ow in [(37, 53, 16, 23), (20, 18, 64, 40), (57, 61, 57, 30), (301, 451, 100, 97), (9, 7, 3, 29)]:
    x = (rng.random((3, h, w)) * 255).astype(np.float32)
    x.tofile(os.path.join(d, "in.f32"))
    rc, _, err = run([DUMP, "resize", os.path.join(d, "in.f32"), "3", str(h), str(w), str(oh), str(ow), os.path.join(d, "out.f32")])
    got = np.fromfile(os.path.join(d, "out.f32"), dtype=np.float32).reshape(3, oh, ow) if rc == 0 else None
    want = torch.nn.functional.interpolate(torch.from_numpy(x)[None], size=(oh, ow), mode="bilinear",
                                           align_corners=False, antialias=True)[0].numpy()
    ok(got is not None and np.abs(got - want).max() <= 1e-4 * 255, "resize %dx%d -> %dx%d as torch's interpolate(antialias=True)" % (h, w, oh, ow),
       err if got is None else "max diff %g" % np.abs(got - want).max())
done()
