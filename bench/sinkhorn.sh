#!/usr/bin/env bash
# sinkhorn vs POT's per-pair loop (bench/sinkhorn.py) at K = 20 (VOC GloVe cost) and
# K = 80 (COCO), eps 0.01, tol 1e-6, max-iter 1000, with the machine's GEMM rates.
# BENCH_N (rows per layer, default 100000), BENCH_LAYERS (10), BENCH_POT_ROWS (200 at
# K = 20, 100 at K = 80), BENCH_THREADS (all cores) override.
set -euo pipefail
cd "$(dirname "$0")/.."
make -s bin/sinkhorn
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
gcc -O2 -o "$tmp/gemm" bench/sinkhorn_gemm.c -lopenblas
T=${BENCH_THREADS:-$(nproc)}
for k in 20 80; do
  pot=${BENCH_POT_ROWS:-$([ "$k" = 20 ] && echo 200 || echo 100)}
  /usr/bin/python3 bench/sinkhorn.py --k "$k" --layers "${BENCH_LAYERS:-10}" --n "${BENCH_N:-100000}" \
    --pot-rows "$pot" --threads "$T" --gemm "$("$tmp/gemm" "$T" "$k")"
done
