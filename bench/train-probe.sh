#!/usr/bin/env bash
# train-probe against PyTorch on the CPU, same recipe and thread count, in one run
# (bench/train-probe.py): N=20000, K=20, 10 layers, D in {64,512,2048}.
# EPOCHS (5), THREADS (all cores), DIMS (64,512,2048) override.
set -euo pipefail
cd "$(dirname "$0")/.."
exec /usr/bin/python3 bench/train-probe.py --epochs "${EPOCHS:-5}" --threads "${THREADS:-$(nproc)}" \
  --dims "${DIMS:-64,512,2048}"
