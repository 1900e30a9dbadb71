#!/usr/bin/env bash
# Per-stage cost and peak memory of the study as N grows (issue 14 item 5;
# docs/scale.md holds the figures): synthetic extract-feats outputs of COCO's
# shape (bench/scale_gen.py: 80 labels, ResNet-50's 17 taps, 15,168 F32 features
# a row) at each N of NS, then every stage of pipelines/study.mk on them under
# /usr/bin/time, with the study's options and --threads THREADS:
#   train-probe       --standardize, EPOCHS epochs, a snapshot of every layer after
#                     each tenth of them (the study's 100 / 10: the same 10 snapshots,
#                     so the same memory; CPU is per row-epoch, see the EPOCHS2 run)
#   sinkhorn          --embeddings fixtures/coco-glove300 --measure chebyshev,js --skip-empty
#   sinkhorn-eps100   the literal-eps run on `tensors pick prob labels split`
#   classify-samples  --split test --prob prob.st --summary
#   early-exit        --eval-split test --tune-split train (COCO without COCO_VAL)
#   tensors-cat       the Slurm join: tensors cat of the features twice (2N rows)
# and extract-feats, resnet50 (random weights) at 224 px on COCO-sized JPEGs,
# IMAGES_A and IMAGES_B images (the difference is the per-image cost).
# Writes $OUT/scale.tsv: stage, n, threads, user s, sys s, wall s, peak RSS KiB,
# input bytes, output bytes, load average at the start. CPU seconds are what to
# read: wall time is distorted on a shared machine. Generated files are removed
# as soon as the stages are done with them (the largest N takes about 7.5 GB of
# features, 7 GB of probabilities).
#
#   bench/scale.sh                    NS="1000 4000 16000 64000 123287" THREADS=2
#   NS="1000 4000" EPOCHS=10 EPOCHS2=30 THREADS=1 OUT=/tmp/s bench/scale.sh
set -euo pipefail
cd "$(dirname "$0")/.."
NS=${NS:-1000 4000 16000 64000 123287}
THREADS=${THREADS:-2}
EPOCHS=${EPOCHS:-10}
EPOCHS2=${EPOCHS2:-30}          # a second train-probe run at the second N: the per-epoch slope
IMAGES_A=${IMAGES_A:-8}
IMAGES_B=${IMAGES_B:-32}         # 0: no extract-feats run
OUT=${OUT:-/tmp/layerscope-scale}
BIN=${BIN:-bin}
EMB=fixtures/coco-glove300.safetensors
[ "$BIN" != bin ] || make -s "$BIN/train-probe" "$BIN/sinkhorn" "$BIN/classify-samples" "$BIN/early-exit" "$BIN/tensors" \
  "$BIN/extract-feats"
mkdir -p "$OUT"
tsv=$OUT/scale.tsv
[ -s "$tsv" ] || printf 'stage\tn\tthreads\tuser_s\tsys_s\twall_s\tmaxrss_kib\tin_bytes\tout_bytes\tloadavg\n' >"$tsv"

size() { local s=0 f; for f in "$@"; do s=$((s + $(stat -c %s "$f"))); done; echo "$s"; }

# run STAGE N "INPUTS" "OUTPUTS" CMD...: one line of scale.tsv
run() {
  local stage=$1 n=$2 ins=$3 outs=$4; shift 4
  local load; load=$(cut -d' ' -f1 /proc/loadavg)
  /usr/bin/time -o "$OUT/time.txt" -f '%U\t%S\t%e\t%M' "$@"
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$stage" "$n" "$THREADS" "$(cat "$OUT/time.txt")" \
    "$(size $ins)" "$(size $outs)" "$load" | tee -a "$tsv"
}

snap=$((EPOCHS / 10 > 0 ? EPOCHS / 10 : 1))
second=$(echo $NS | cut -d' ' -f2)
for n in $NS; do
  d=$OUT/n$n
  mkdir -p "$d"
  /usr/bin/python3 bench/scale_gen.py "$n" "$d/feats.st"
  run train-probe "$n" "$d/feats.st" "$d/prob.st" "$BIN/train-probe" -q -t "$THREADS" --standardize \
    --epochs "$EPOCHS" --snapshot-every "$snap" --snapshots all "$d/feats.st" -o "$d/prob.st"
  if [ "$n" = "$second" ] && [ "$EPOCHS2" -gt 0 ]; then
    run "train-probe-e$EPOCHS2" "$n" "$d/feats.st" "$d/prob2.st" "$BIN/train-probe" -q -t "$THREADS" \
      --standardize --epochs "$EPOCHS2" --snapshot-every $((EPOCHS2 / 10 > 0 ? EPOCHS2 / 10 : 1)) --snapshots all \
      "$d/feats.st" -o "$d/prob2.st"
    rm -f "$d/prob2.st"
  fi
  run tensors-cat "$n" "$d/feats.st $d/feats.st" "$d/joined.st" "$BIN/tensors" -q -t "$THREADS" cat \
    "$d/feats.st" "$d/feats.st" -o "$d/joined.st"
  rm -f "$d/joined.st" "$d/feats.st"
  run sinkhorn "$n" "$d/prob.st" "$d/dist.st" "$BIN/sinkhorn" -q -t "$THREADS" --embeddings "$EMB" \
    --measure chebyshev,js --skip-empty "$d/prob.st" -o "$d/dist.st"
  "$BIN/tensors" -q pick prob labels split -i "$d/prob.st" -o "$d/prob-only.st"
  run sinkhorn-eps100 "$n" "$d/prob-only.st" "$d/dist-eps100.st" "$BIN/sinkhorn" -q -t "$THREADS" \
    --embeddings "$EMB" --skip-empty --no-normalize --eps 100 "$d/prob-only.st" -o "$d/dist-eps100.st"
  run classify-samples "$n" "$d/dist.st $d/prob.st" "$d/classes.st" "$BIN/classify-samples" -q \
    -t "$THREADS" --split test --prob "$d/prob.st" --summary "$d/classes.md" "$d/dist.st" -o "$d/classes.st"
  run early-exit "$n" "$d/prob.st" "$d/exit.st" "$BIN/early-exit" -q -t "$THREADS" --eval-split test \
    --tune-split train --report "$d/exit.md" --metrics "$d/metrics.tsv" --frontier "$d/frontier.tsv" \
    "$d/prob.st" -o "$d/exit.st"
  rm -rf "$d"
done

[ "$IMAGES_B" -gt 0 ] || exit 0
# extract-feats: random ResNet-50 weights, sklearn's two 427x640 JPEGs (COCO's size)
d=$OUT/extract
mkdir -p "$d"
/usr/bin/python3 bench/gpu_data.py feats "$d" "$IMAGES_B" 2>/dev/null
for m in $IMAGES_A $IMAGES_B; do
  head -n "$m" "$d/list.tsv" >"$d/list-$m.tsv"
  run extract-feats "$m" "$d/resnet50-F32.st" "$d/f$m.st" "$BIN/extract-feats" -q -t "$THREADS" \
    --model "$d/resnet50-F32.st" --dataset "list:$d/list-$m.tsv" -o "$d/f$m.st"
done
rm -rf "$d"
