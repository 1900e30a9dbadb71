#!/usr/bin/env bash
# The GPU paths of issue 15 on a machine with a CUDA GPU, in one prepared run:
#   build     make (CPU tools in bin/) and make CUDA=1 (tools in build-cuda/bin),
#             and bench/gpu_peak.cu
#   test      tests/90-gpu.t and tests/91-gpu-tools.t: the GPU against the CPU
#   peak      the machine's ceilings: copy bandwidth, FP64/FP32/F16 GEMM rates
#   sinkhorn  problems/s at K = 20 (VOC cost) and K = 80 (COCO), 10^6 rows, GPU and
#             CPU (all cores) on the same input, their largest relative difference
#   probe     epochs/s at N = 100k, D = 2048, 17 layers, K = 20, GPU and CPU
#   feats     images/s, resnet50 (full width, random weights) at 224 px, batch 64:
#             F16 and F32 models from a tensor (no decoding), F16 from JPEGs
#             (decoding on every core), and the CPU path
# bash bench/gpu.sh [STAGE...]   (default: all, in that order; build is needed once)
# Figures go to $OUT/gpu-results.md (OUT default bench/out), a section ready for
# bench/RESULTS.md with the GPU's name and the date, and to stdout. Without nvcc
# or without a GPU this says so and exits 0 (make bench runs every bench/*.sh).
# Goals on an H100/H200 (issue 15): sinkhorn >= 1e7 problems/s at K = 20;
# extract-feats resnet50 >= 2,000 images/s in F16.
# Smaller runs (trying the script): GPU_BENCH_ROWS (sinkhorn rows, 1000000),
# GPU_BENCH_PROBE ("N D LAYERS", "100000 2048 17"), GPU_BENCH_IMAGES (4096).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
NVCC=$(command -v nvcc || ls /usr/local/cuda/bin/nvcc 2>/dev/null || true)
if [ -z "$NVCC" ]; then echo "gpu.sh: skipped: no nvcc"; exit 0; fi
if ! nvidia-smi -L >/dev/null 2>&1; then echo "gpu.sh: skipped: no GPU visible (nvidia-smi)"; exit 0; fi
OUT=${OUT:-bench/out}
mkdir -p "$OUT"
RES="$OUT/gpu-results.md"
# a Python with numpy and torch (tests and data); the machine's own python3 may be another
PY=
for p in /usr/bin/python3 python3; do
  if command -v "$p" >/dev/null && "$p" -c 'import numpy, torch' 2>/dev/null; then PY=$(command -v "$p"); break; fi
done
[ -n "$PY" ] || { echo "gpu.sh: no python3 with numpy and torch" >&2; exit 1; }
T=$(nproc)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
STAGES=${*:-build test peak sinkhorn probe feats}
GPU=$(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | head -1)
say() { echo "$*" | tee -a "$RES"; }
# arithmetic by awk (bc may be absent): calc FORMAT EXPR
calc() { awk "BEGIN { printf \"$1\", $2 }"; }
ratio() { calc %.2f "$1 / $2"; }
# seconds of a command (its stderr kept in $tmp/err)
timed() { local t0; t0=$(date +%s.%N); "$@" 2>"$tmp/err"; calc %.3f "$(date +%s.%N) - $t0"; }

stage_build() {
  local missing=
  for h in archive.h jpeglib.h png.h cjson/cJSON.h dnnl.h cblas.h zlib.h; do
    echo "#include <$h>" | gcc -E -x c - >/dev/null 2>&1 || missing="$missing $h"
  done
  [ -z "$missing" ] || { echo "gpu.sh: headers missing:$missing (the Debian packages of make deps)" >&2; exit 1; }
  make -s -j"$T" all units
  make -s -j"$T" CUDA=1 BIN=build-cuda/bin all build/unit-cuda/gpu
  "$NVCC" -O2 -gencode=arch=compute_90,code=sm_90 -o build-cuda/gpu_peak bench/gpu_peak.cu -lcublas
}

stage_test() {
  local rc=0
  for t in tests/90-gpu.t tests/91-gpu-tools.t; do
    LS_BIN=$ROOT/bin LS_UNIT=$ROOT/build/unit LS_CUDA_BIN=$ROOT/build-cuda/bin LS_CUDA_UNIT=$ROOT/build/unit-cuda \
      "$PY" "$t" | tee "$tmp/tap" || rc=1
    say "- $t: $(grep -c '^ok' "$tmp/tap") ok, $(grep -c '^not ok' "$tmp/tap") not ok$(grep -m1 '^1\.\.0' "$tmp/tap" || true)"
  done
  return $rc
}

stage_peak() {
  build-cuda/gpu_peak | tee "$OUT/peak.txt"
  say "- ceilings measured here: $(cat "$OUT/peak.txt")"
}
peak() { sed -n "s/.*$1=\([0-9.]*\).*/\1/p" "$OUT/peak.txt" 2>/dev/null || echo 0; }

# problems and seconds from sinkhorn's stderr lines: "wdist: P transport problems ..." and "... in S s"
sk_run() {
  local bin=$1 dev=$2 k=$3 emb=$4 out=$5
  "$bin" --device "$dev" -t "$T" --embeddings "$emb" "$tmp/sk$k.st" -o "$out" 2>"$tmp/err" || { cat "$tmp/err" >&2; return 1; }
  local p s
  p=$(sed -n 's/^sinkhorn: wdist: \([0-9]*\) transport problems.*/\1/p' "$tmp/err")
  s=$(sed -n 's/^sinkhorn: wdist: [0-9]* rows in \([0-9.]*\) s.*/\1/p' "$tmp/err")
  echo "$p $s"
}

stage_sinkhorn() {
  if ! build-cuda/bin/sinkhorn --help 2>&1 | grep -q -- --device; then
    say "- sinkhorn: this build's sinkhorn has no --device (not yet wired to the GPU kernel): skipped"
    return 0
  fi
  say "- sinkhorn, divergence, eps 0.01, tol 1e-6, ${GPU_BENCH_ROWS:-1000000} rows (problems: pairs + self terms):"
  say "  | K | GPU problems/s | CPU problems/s ($T cores) | GPU/CPU | max rel. diff | GPU GFLOP/s (FP64 peak $(peak dgemm_TFLOPs) TF) |"
  say "  | --- | --- | --- | --- | --- | --- |"
  for k in 20 80; do
    local emb=fixtures/voc-glove300.safetensors
    [ "$k" = 80 ] && emb=fixtures/coco-glove300.safetensors
    "$PY" bench/sinkhorn_data.py "$k" 1 "${GPU_BENCH_ROWS:-1000000}" "$tmp/sk$k.st"
    read -r pg sg < <(sk_run build-cuda/bin/sinkhorn cuda "$k" "$emb" "$tmp/g.st")
    local flops
    flops=$(sed -n 's/.*per problem, \([0-9.]*\) GFLOP\/s.*/\1/p' "$tmp/err")
    read -r pc sc < <(sk_run bin/sinkhorn cpu "$k" "$emb" "$tmp/c.st")
    local diff
    diff=$("$PY" - "$tmp/g.st" "$tmp/c.st" <<'PY'
import sys; sys.path.insert(0, "tests/st"); import numpy as np, stwrite as st
g, c = (st.read(p)[0]["wdist"][1].astype(np.float64) for p in sys.argv[1:3])
print("%.2g (%d of %d above 1e-9)" % (np.max(np.abs(g - c) / np.maximum(np.abs(c), 1e-300)),
      np.sum(np.abs(g - c) > 1e-9 * np.abs(c)), c.size))
PY
)
    say "  | $k | $(calc %.0f "$pg / $sg") | $(calc %.0f "$pc / $sc") | $(ratio "$sc" "$sg") | $diff | $flops |"
  done
}

stage_probe() {
  local pn pd pl
  read -r pn pd pl <<< "${GPU_BENCH_PROBE:-100000 2048 17}"
  "$PY" bench/gpu_data.py probe "$tmp/probe.st" "$pn" "$pd" "$pl" 20
  # training seconds from train-probe's line "trained L probes on M rows x E epochs in S s"
  tp() { "$1" --no-head --device "$2" -t "$T" --epochs "$3" --lr-step 0 "$tmp/probe.st" -o "$tmp/p.st" 2>"$tmp/err" ||
           { cat "$tmp/err" >&2; return 1; }
         sed -n 's/.*epochs in \([0-9.]*\) s$/\1/p' "$tmp/err"; }
  local g2 g10 c1 c2 eg ec
  g2=$(tp build-cuda/bin/train-probe cuda 2); g10=$(tp build-cuda/bin/train-probe cuda 10)
  c1=$(tp bin/train-probe cpu 1); c2=$(tp bin/train-probe cpu 2)
  eg=$(calc %.4f "($g10 - $g2) / 8"); ec=$(calc %.4f "$c2 - $c1")
  # per epoch and layer: the rows gathered (read + written) and read by both products
  local gbs
  gbs=$(calc %.0f "$pl * $pn * $pd * 4 * 4 / $eg / 1e9")
  say "- train-probe, N $pn (90% train), D $pd, $pl layers, K 20, batch 128:"
  say "  GPU $(ratio 1 "$eg") epochs/s (setup + 2 epochs ${g2} s), CPU ($T cores) $(ratio 1 "$ec") epochs/s,"
  say "  GPU/CPU $(ratio "$ec" "$eg"); about $gbs GB/s of feature traffic against $(peak copy_GBps) GB/s copy"
}

stage_feats() {
  local n=${GPU_BENCH_IMAGES:-4096}
  "$PY" bench/gpu_data.py feats "$tmp" "$n"
  ef() { local t; t=$(timed "$1" -q --device "$2" -t "$T" -b 64 -m "$tmp/resnet50-$3.st" -d "$4" --limit "$5" -o "$tmp/f.st")
         [ -s "$tmp/f.st" ] || { cat "$tmp/err" >&2; return 1; }; echo "$t"; }
  say "- extract-feats, resnet50 (full width, 1000 classes), 224 px, batch 64, every tap pooled (avg):"
  say "  | input | model | images/s steady (end to end) | CPU images/s | GPU/CPU | TFLOP/s (F16 peak $(peak hgemm_TFLOPs), FP32 $(peak sgemm_TFLOPs)) |"
  say "  | --- | --- | --- | --- | --- | --- |"
  local flops
  ef bin/extract-feats cpu F32 "tensor:$tmp/images.st" 64 >/dev/null
  flops=$("$PY" -c "import sys,json; sys.path.insert(0,'tests/st'); import stwrite as st; print(json.loads(st.read('$tmp/f.st')[1]['layer_flops'])[-1])")
  local c64 c128 cpu
  c64=$(ef bin/extract-feats cpu F32 "tensor:$tmp/images.st" 64); c128=$(ef bin/extract-feats cpu F32 "tensor:$tmp/images.st" 128)
  cpu=$(calc %.2f "64 / ($c128 - $c64)")
  for m in F16 F32; do
    for input in "tensor:$tmp/images.st" "list:$tmp/list.tsv"; do
      [ "$m" = F32 ] && [ "${input%%:*}" = list ] && continue
      local t1 t2 rate e2e
      t1=$(ef build-cuda/bin/extract-feats cuda "$m" "$input" 256); t2=$(ef build-cuda/bin/extract-feats cuda "$m" "$input" "$n")
      rate=$(calc %.0f "($n - 256) / ($t2 - $t1)"); e2e=$(calc %.0f "$n / $t2")
      say "  | ${input%%:*} | $m | $rate ($e2e) | $cpu | $(ratio "$rate" "$cpu") | $(calc %.1f "$rate * $flops / 1e12") |"
    done
  done
}

{ echo; echo "## GPU paths (issue 15): $GPU, $(date -u +%F)"; echo
  echo "\`bash bench/gpu.sh\` at $(git rev-parse --short HEAD 2>/dev/null || echo '?'); host: $T cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')."; echo; } >> "$RES"
for s in $STAGES; do
  echo "== $s"
  "stage_$s"
done
echo "figures in $RES"
