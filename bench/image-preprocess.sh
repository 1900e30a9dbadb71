#!/usr/bin/env bash
# Decoding + preprocessing (tools/lib/image.c) against PIL + torchvision on the
# same JPEGs, one thread each: read, decode, resize 256 (antialias), crop 224,
# normalise. Images: python3-sklearn's two 640x427 photos, 60 times each
# (IMAGES=N copies). Prints images per second, wall and CPU, and the ratios.
set -euo pipefail
cd "$(dirname "$0")/.."
make -s build/unit/dataset_dump >/dev/null
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
src=/usr/lib/python3/dist-packages/sklearn/datasets/images
for i in $(seq 1 "${IMAGES:-60}"); do
  for f in "$src"/china.jpg "$src"/flower.jpg; do printf '%s\tphoto\n' "$f"; done
done > "$tmp/list.tsv"
n=$(wc -l < "$tmp/list.tsv")
TIMEFORMAT='%R %U %S'
ours=$( { time build/unit/dataset_dump --bench 256 224 "list:$tmp/list.tsv" >/dev/null; } 2>&1 )
# the same with glibc keeping freed buffers (no fresh zeroed pages per image)
tuned=$( { time GLIBC_TUNABLES=glibc.malloc.mmap_threshold=67108864:glibc.malloc.trim_threshold=268435456 \
  build/unit/dataset_dump --bench 256 224 "list:$tmp/list.tsv" >/dev/null; } 2>&1 )
/usr/bin/python3 - "$tmp/list.tsv" "$n" $ours $tuned <<'PY'
import sys, time
import numpy as np, torch
import torchvision.transforms.functional as TF
from PIL import Image
torch.set_num_threads(1)
paths = [l.split('\t')[0] for l in open(sys.argv[1])]
n = int(sys.argv[2])
wall, cpu = float(sys.argv[3]), float(sys.argv[4]) + float(sys.argv[5])
M, S = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]
def tensor_path(p):
    t = torch.from_numpy(np.asarray(Image.open(p).convert('RGB')).copy()).permute(2, 0, 1)
    t = TF.center_crop(TF.resize(t, 256, antialias=True), 224)
    return TF.normalize(TF.convert_image_dtype(t, torch.float32), M, S)
def pil_path(p):
    return TF.normalize(TF.to_tensor(TF.center_crop(TF.resize(Image.open(p).convert('RGB'), 256), 224)), M, S)
tw, tc = float(sys.argv[6]), float(sys.argv[7]) + float(sys.argv[8])
print('ours (image.c):             %7.1f images/s wall, %7.1f per CPU second' % (n / wall, n / cpu))
print('ours, malloc tuned:         %7.1f images/s wall, %7.1f per CPU second' % (n / tw, n / tc))
for name, f in (('torchvision tensor path', tensor_path), ('torchvision PIL path', pil_path)):
    t0, c0 = time.perf_counter(), time.process_time()
    for p in paths:
        f(p)
    w, c = time.perf_counter() - t0, time.process_time() - c0
    print('%-27s %7.1f images/s wall, %7.1f per CPU second; ours/peer: %.2fx wall, %.2fx CPU'
          % (name + ':', n / w, n / c, w / wall, c / cpu))
PY
