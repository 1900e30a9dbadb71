#!/usr/bin/env bash
# mosaic against the same job done the usual Python way (numpy composition, PIL
# JPEG encoding at the same quality, tarfile), in one run on the same counts.
# Prints CPU seconds of each (user+sys: the machine is shared) and the ratio.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${MOSAIC_BENCH_N:-5000}
d=$(mktemp -d); trap 'rm -rf "$d"' EXIT
cpu() { /usr/bin/time -f '%U %S' -o "$d/t" "$@" >/dev/null && awk '{print $1 + $2}' "$d/t"; }
ours=$(cpu bin/mosaic -q --train "$N" --val 0 --test 0 -o "$d/ours.tar")
peer=$(cpu /usr/bin/python3 - "$N" "$d/peer.tar" <<'PY'
import gzip, io, sys, tarfile, numpy as np
from PIL import Image
n, out = int(sys.argv[1]), sys.argv[2]
raw = gzip.open("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz").read()
items = np.frombuffer(raw, np.uint8, offset=16).reshape(-1, 28, 28)[:50000]
labels = np.frombuffer(gzip.open("/usr/share/datasets/fashion-mnist/train-labels-idx1-ubyte.gz").read(), np.uint8, offset=8)
rng = np.random.default_rng(1)
with tarfile.open(out, "w", format=tarfile.USTAR_FORMAT) as tar:
    def add(name, data):
        ti = tarfile.TarInfo(name); ti.size = len(data); ti.mtime = 946684800
        tar.addfile(ti, io.BytesIO(data))
    for i in range(n):
        cells = np.zeros(4, bool)
        while not cells.any():
            cells = rng.random(4) < 0.7
        img = np.zeros((56, 56), np.uint8); objs = []
        for c in np.nonzero(cells)[0]:
            k = rng.integers(50000); img[c // 2 * 28:c // 2 * 28 + 28, c % 2 * 28:c % 2 * 28 + 28] = items[k]
            objs.append("<object><name>%d</name><difficult>0</difficult></object>" % labels[k])
        buf = io.BytesIO(); Image.fromarray(img, "L").save(buf, "JPEG", quality=90)
        add("JPEGImages/%06d.jpg" % (i + 1), buf.getvalue())
        add("Annotations/%06d.xml" % (i + 1), ("<annotation>%s</annotation>" % "".join(objs)).encode())
PY
)
echo "mosaic: $N images: ours $ours CPU s, Python (numpy + PIL + tarfile) $peer CPU s, ratio $(awk -v a="$ours" -v b="$peer" 'BEGIN { printf "%.1fx", b / (a > 0 ? a : 0.01) }')"
