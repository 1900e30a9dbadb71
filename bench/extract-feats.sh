#!/usr/bin/env bash
# extract-feats vs torchvision's CPU forward (bench/extract-feats.py), then the
# convolution engines side by side (bench/extract-feats-conv.c: im2col+sgemm,
# oneDNN blocked, oneDNN with reorders). BENCH_THREADS, BENCH_BATCH, BENCH_IMAGES
# override the defaults (all cores, 16, 48).
set -euo pipefail
cd "$(dirname "$0")/.."
make -s bin/extract-feats build/liblayerscope.a
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
gcc -O2 -Itools/lib -D_GNU_SOURCE -o "$tmp/conv" bench/extract-feats-conv.c build/liblayerscope.a \
  -ldnnl -lopenblas -lm -lpthread
T=${BENCH_THREADS:-$(nproc)}
sgemm=$("$tmp/conv" sgemm "$T")
/usr/bin/python3 bench/extract-feats.py --threads "$T" --batch "${BENCH_BATCH:-16}" \
  --images "${BENCH_IMAGES:-48}" --sgemm "$sgemm"
echo "-- one convolution at a time, batch 8:"
OMP_NUM_THREADS=$T "$tmp/conv" 8 "$T"
