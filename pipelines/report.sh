#!/bin/bash
# report.sh STUDY DATASET RUN TITLE [RUN TITLE ...] > report.md
# The study's report: every figure and table of out/DATASET/, in the paper's
# order, with what to look at in each. Links are relative to STUDY.
set -euo pipefail
study=$1 dataset=$2; shift 2
runs=() titles=()
while [ $# -ge 2 ]; do runs+=("$1"); titles+=("$2"); shift 2; done

joined=$(printf '%s, ' "${titles[@]}")
joined=${joined%, }

# a Markdown file with every heading $2 levels deeper (default 1)
demote() { sed -e "s/^#/#$(printf '%*s' "${2:-1}" '' | tr ' ' '#')/" "$1"; }

cat <<EOT
# The layer behaviour study: $dataset

Made by \`make reproduce DATASET=$dataset\` (pipelines/study.mk, docs/study.md). Each
backbone ($joined) is frozen; a linear probe after every block predicts the labels,
and the last layer is the network's own head. For each test sample and layer, the
predicted label distribution p/sum(p) is compared with the target y/sum(y) by the
entropic Wasserstein distance (sinkhorn: Sinkhorn divergence, cost from the label
embeddings).

## 1. Distance to the target, layer by layer (paper figure 3)

![figure 3](fig3-layers.png)

The curve is the mean distance over the test samples at each layer and the band their
interquartile range: how far each layer's probe is from the labels, and how unequal the
samples are on the way (a wide band: some samples are settled early, others only at the
last layers). Networks of different depth are drawn against relative depth.

## 2. One sample through the layers (paper figure 4)

EOT
for i in "${!runs[@]}"; do
	echo "![figure 4, ${titles[$i]}](${runs[$i]}/fig4-sample.png)"
	echo
done
cat <<EOT
Bars: the share of the label mass each layer's probe gives every label, beside the
target (dark); the legend gives each layer's distance W to the target.

## 3. Easy, hard and confused samples (paper figures 5 and 17, section 6.1.3)

The rule (classify-samples, docs/classify-samples.md): A is a sample's mean distance over
the layers and F its distance at the last layer; confused: F above the 90th percentile;
easy: A in the lowest quarter of the others; hard: A in the highest quarter.

EOT
for i in "${!runs[@]}"; do
	echo "### ${titles[$i]}"
	echo
	echo "![figure 5, ${titles[$i]}](${runs[$i]}/fig5-categories.png)"
	echo
	demote "$study/${runs[$i]}/classes.md" 3 | sed -e '1s/^#### .*/#### Counts, depth and profiles/'
	echo
done
cat "$study/training.md"   # section 4, across training: pipelines/report-training.sh
cat <<EOT
## 5. Other measures beside the Wasserstein distance (paper figures 11 and 12)

EOT
for i in "${!runs[@]}"; do
	echo "![figures 11-12, ${titles[$i]}](${runs[$i]}/fig11-measures.png)"
	echo
done
cat <<EOT
Chebyshev (largest single-label difference) and Jensen-Shannon (in nats) beside the
Wasserstein distance, which also counts how far apart, in the label embedding, the
labels that receive the misplaced mass are.

## 6. Over-thinking (paper tables 2 and 3)

Of the samples the last layer gets wrong (subset accuracy), the share that an earlier
layer gets right: an exit rule that stopped there would have been right.

![tables 2-3 as bars](tables2-3-overthinking.png)

EOT
demote "$study/table2.md"
echo
demote "$study/table3.md"
echo
cat <<EOT
## 7. Early exit (paper table 4, appendix H)

At layer l, with N labels at p >= 0.5 and n of them at p >= q, a sample exits when N >= 1
and n/N >= gamma. (q, gamma) are chosen on the val split (subset accuracy, then the
lower cost) and scored on test, in a cascade over all layers.

EOT
demote "$study/table4.md"
echo
echo "Full per-layer scores and exit shares: $(for r in "${runs[@]}"; do printf '[%s](%s/exit.md) ' "$r" "$r"; done)"
echo "(TSV: $(for r in "${runs[@]}"; do printf '[%s](%s/metrics.tsv) ' "$r" "$r"; done))."
