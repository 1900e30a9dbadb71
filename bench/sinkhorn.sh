#!/usr/bin/env bash
# sinkhorn after issue 16 against the solver before it and against POT's per-pair loop
# (bench/sinkhorn.py): K = 20 (VOC GloVe cost) and K = 80 (COCO) at eps 0.01, and
# K = 20 at eps 0.002, where the solver before needs a cap of 10^6 iterations to
# converge. Before and after run in the same process tree, one after the other.
# BENCH_BEFORE: the solver before, a git revision built here (default 48a0015, the
# last commit before issue 16) or a sinkhorn binary. BENCH_N (rows per layer, default
# 100000; 20000 at eps 0.002), BENCH_LAYERS (10), BENCH_POT_ROWS (200 at K = 20, 100 at
# K = 80), BENCH_THREADS (all cores) override.
set -euo pipefail
cd "$(dirname "$0")/.."
make -s bin/sinkhorn build/liblayerscope.a
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
gcc -O2 -o "$tmp/gemm" bench/sinkhorn_gemm.c -lopenblas
gcc -O2 -Itools/lib -o "$tmp/iters" bench/sinkhorn_iters.c build/liblayerscope.a -lopenblas -lm -lpthread
before=${BENCH_BEFORE:-48a0015}
if [ -f "$before" ]; then
  cp "$before" "$tmp/before"
else
  mkdir "$tmp/src"
  git archive "$before" | tar -x -C "$tmp/src"
  make -s -C "$tmp/src" bin/sinkhorn >/dev/null
  cp "$tmp/src/bin/sinkhorn" "$tmp/before"
fi
echo "before: $before; after: $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- tools/lib || echo ' (modified)')"
T=${BENCH_THREADS:-$(nproc)}
for k in 20 80; do
  pot=${BENCH_POT_ROWS:-$([ "$k" = 20 ] && echo 200 || echo 100)}
  /usr/bin/python3 bench/sinkhorn.py --k "$k" --layers "${BENCH_LAYERS:-10}" --n "${BENCH_N:-100000}" \
    --pot-rows "$pot" --threads "$T" --before "$tmp/before" --iters "$tmp/iters" \
    --gemm "$("$tmp/gemm" "$T" "$k")"
done
/usr/bin/python3 bench/sinkhorn.py --k 20 --eps 0.002 --layers "${BENCH_LAYERS:-10}" \
  --n "${BENCH_N:-20000}" --pot-rows 0 --threads "$T" --before "$tmp/before" --before-max-iter 1000000 \
  --iters "$tmp/iters"
