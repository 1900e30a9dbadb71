#!/bin/bash
# report-training.sh STUDY RUN TITLE [RUN TITLE ...] > training.md
# The report's section 4 (pipelines/training.mk): the study across the backbones'
# training, with the numbers read from the tensors of STUDY (tensors dump + awk).
# Environment: BIN (the tools), TRAIN_RUNS (the runs with checkpoints), RESPLIT
# ("RUN SEED SEED ...": figure 9's backbone and seeds, empty: none), TRAIN_LR
# ("onecycle PEAK WARMUP_SHARE STEPS_PER_EPOCH EPOCHS": the checkpoints' learning-rate
# schedule, torch's OneCycleLR with its default cosine annealing and div factors;
# empty: unknown), TRAIN_SUBSET (the subset's mosaic options), TRAIN_PROBE_ARGS,
# TRAIN_SAMPLE (for the text).
# Links are relative to STUDY.
set -euo pipefail
study=$1
shift
runs=() titles=()
while [ $# -ge 2 ]; do runs+=("$1"); titles+=("$2"); shift 2; done
bin=${BIN:-bin}
read -r -a train_runs <<< "${TRAIN_RUNS:-}"
read -r -a resplit <<< "${RESPLIT:-}"
read -r -a lr <<< "${TRAIN_LR:-}"

title_of() {
	local i
	for i in "${!runs[@]}"; do [ "${runs[$i]}" = "$1" ] && { echo "${titles[$i]}"; return; }; done
	echo "$1"
}
# metadata KEY of FILE as tensors info prints it (short values only)
meta() { "$bin/tensors" info "$1" | sed -n "s/^  $2: //p"; }
# a JSON list of numbers or strings as words
words() { tr -d '[]"' | tr ',' ' '; }
dump() { "$bin/tensors" dump "$2" "$1"; }

# per checkpoint (line) of a [T,L,N] tensor: the mean over N of each layer (NaN skipped)
layer_means() {
	dump "$1" "$2" | awk -v L="$3" '{
		n = NF / L; line = ""
		for (l = 0; l < L; l++) {
			s = 0; c = 0
			for (i = 1; i <= n; i++) { v = $(l * n + i); if (v != "nan" && v != "-nan") { s += v; c++ } }
			line = line (l ? "\t" : "") (c ? sprintf("%.3f", s / c) : "nan")
		}
		print line
	}'
}

# Per layer, from checkpoint index FROM on (the epoch-2 checkpoint): the mean per-sample
# progress W[from] - W[last], the mean per-sample path sum_t Wadj[t] (t >= from), their
# ratio, and the share of (sample, step) pairs whose distance to the target rises.
progress_path() {
	{ dump "$1" wdist_train; echo "--"; dump "$1" wdist_train_adjacent; } | awk -v L="$2" -v from="$3" '
		$0 == "--" { part = 2; t = 0; next }
		part != 2 {
			n = NF / L
			for (j = 1; j <= NF; j++) w[t, j] = $j
			t++; T = t; next
		}
		{ if (t >= from) for (j = 1; j <= NF; j++) path[j] += $j; t++ }
		END {
			for (l = 0; l < L; l++) {
				p = 0; q = 0; up = 0; steps = 0
				for (i = 1; i <= n; i++) {
					j = l * n + i
					p += w[from, j] - w[T - 1, j]; q += path[j]
					for (s = from; s + 1 < T; s++) { steps++; if (w[s + 1, j] > w[s, j]) up++ }
				}
				printf "%.3f\t%.3f\t%.3f\t%.2f\n", p / n, q / n, (q > 0 ? p / q : 0), (steps ? up / steps : 0)
			}
		}'
}

# mean of the rows of `wdist` [L,N] whose split is test (all rows without split)
test_means() {
	{ if "$bin/tensors" info "$1" | grep -q '^split '; then dump "$1" split; else echo nosplit; fi
	  echo "--"; dump "$1" wdist; } | awk '
		$0 == "--" { part = 2; next }
		part != 2 { if ($0 == "nosplit") all = 1; else split_of[++n] = $1; next }
		{ s = 0; c = 0
		  for (i = 1; i <= NF; i++) if ((all || split_of[i] == 2) && $i != "nan") { s += $i; c++ }
		  printf "%.6f\n", c ? s / c : 0 }'
}

# one line per pair: sqrt(sum over layers of w^2) of a bn-drift tensor [T-1,B]
bn_total() {
	dump "$1" "$2" | awk '{ s = 0; for (i = 1; i <= NF; i++) if ($i != "nan") s += $i * $i; printf "%.4g\n", sqrt(s) }'
}

# the sum of the learning rate over the optimizer steps between epochs A and B
# (torch's OneCycleLR: cosine warm-up from PEAK/25 to PEAK over WARMUP_SHARE of the
# steps, then cosine down to PEAK/25/1e4; steps rounded up as the checkpoints were)
lr_sum() {
	awk -v a="$1" -v b="$2" -v peak="${lr[1]}" -v pct="${lr[2]}" -v spe="${lr[3]}" -v ep="${lr[4]}" 'BEGIN {
		pi = atan2(0, -1); total = spe * ep; init = peak / 25; fin = init / 1e4
		e1 = pct * total - 1; e2 = total - 1
		sa = int(a * spe + 0.999999); sb = int(b * spe + 0.999999); s = 0
		for (k = sa; k < sb; k++) {
			if (k <= e1) { p = k / e1; lo = init; hi = peak } else { p = (k - e1) / (e2 - e1); lo = peak; hi = fin }
			s += hi + (lo - hi) / 2 * (1 + cos(pi * p))
		}
		printf "%.4g\n", s
	}'
}

cat <<EOT
## 4. Across training (paper figures 6, 15 and 16, proposition 4, figure 9)

EOT
if [ ${#train_runs[@]} -eq 0 ]; then
	echo "No run has checkpoints (CKPT_LIST_RUN, pipelines/training.mk): this section has only the"
	echo "probe-training view below."
	echo
else
	r0=${train_runs[0]}
	epochs=$(meta "$study/$r0/training/dist-train.st" checkpoint_epochs | words)
	read -r -a ep <<< "$epochs"
	T=${#ep[@]}
	from=0
	# "late": from the checkpoint at epoch 2 (the one-cycle peak is at 2.4), keeping a pair after it
	for i in "${!ep[@]}"; do if awk -v e="${ep[$i]}" 'BEGIN { exit !(e < 2) }'; then from=$((i + 1)); fi; done
	[ "$from" -le $((T - 2)) ] || from=$((T > 1 ? T - 2 : 0))
	cat <<EOT
The checkpoints of a backbone are $T points of one training run (the shipped ones:
fixtures/README.md), epochs $(echo "$epochs" | sed 's/ /, /g'). At every checkpoint the
pipeline extracts the features of a fixed subset of the data$([ -n "${TRAIN_SUBSET:-}" ] && echo " (mosaic options
\`$TRAIN_SUBSET\`, with the study's seed the first train and test mosaics of its data)"), trains a probe at the paper's layers on the
subset's train rows with the study's recipe at the study's number of optimizer steps
(\`${TRAIN_PROBE_ARGS:-}\`), applies it to the test rows, takes the network's own head as
the last layer, and measures every test sample's distance W to its target with the
study's Sinkhorn (same cost, eps, loss, iteration cap). So a curve below follows the
network, not a probe: only the features change from point to point (the probes are
retrained at each checkpoint with the same seed and recipe).
EOT
	if [ ${#lr[@]} -eq 5 ]; then
		cat <<EOT

The learning rate follows a one-cycle schedule over ${lr[4]} epochs: it rises from
$(awk -v p="${lr[1]}" 'BEGIN { printf "%.3g", p / 25 }') to its peak ${lr[1]} at epoch $(awk -v a="${lr[2]}" -v e="${lr[4]}" 'BEGIN { printf "%.3g", a * e }'), then decays along a cosine to almost 0 at
epoch ${lr[4]}: its sum over the last epoch is $(lr_sum $((lr[4] - 1)) "${lr[4]}"), against $(lr_sum 2 3) over epoch 2-3. Whatever
settles late in training settles at least partly because the steps become small, not
only because the network has converged; 4.4 separates the two for the BatchNorm layers.
EOT
	fi
	echo
	echo "### 4.1 Distance to the target per layer, checkpoint by checkpoint (figure 6)"
	echo
	for r in "${train_runs[@]}"; do
		echo "![figure 6, $(title_of "$r")]($r/fig6-training.png)"
		echo
	done
	i1=0
	for i in "${!ep[@]}"; do if awk -v e="${ep[$i]}" 'BEGIN { exit !(e < 1) }'; then i1=$((i + 1)); fi; done
	echo "Mean W over the test rows (the curves above); the last layer is the head:"
	echo
	# the columns: the first checkpoint, epoch 1, the late phase's start, the last (each once)
	shown=$(printf '%s\n' 0 "$i1" "$from" $((T - 1)) | awk '!seen[$1]++')
	hdr="| backbone | layer |" rule="| --- | --- |"
	for t in $shown; do hdr+=" epoch ${ep[$t]} |"; rule+=" --- |"; done
	echo "$hdr change after epoch ${ep[$from]} |"
	echo "$rule --- |"
	for r in "${train_runs[@]}"; do
		f="$study/$r/training/dist-train.st"
		read -r -a names <<< "$(meta "$f" layers | words)"
		L=${#names[@]}
		mapfile -t means < <(layer_means "$f" wdist_train "$L")
		for l in $(seq 0 $((L - 1))); do
			row="| $(title_of "$r") | ${names[$l]} |"
			for t in $shown; do row+=" $(echo "${means[$t]}" | cut -f$((l + 1))) |"; done
			c=$(echo "${means[$from]}" | cut -f$((l + 1))) d=$(echo "${means[$((T - 1))]}" | cut -f$((l + 1)))
			echo "$row $(awk -v c="$c" -v d="$d" 'BEGIN { printf "%+.3f", d - c }') |"
		done
	done
	echo
	echo "The paper's reading (its theorem 2) is that W to the target tends to decrease at each layer"
	echo "as the network trains. Over the whole run, and after epoch ${ep[$from]} (the last column):"
	echo
	for r in "${train_runs[@]}"; do
		f="$study/$r/training/dist-train.st"
		read -r -a names <<< "$(meta "$f" layers | words)"
		L=${#names[@]}
		mapfile -t means < <(layer_means "$f" wdist_train "$L")
		line="- $(title_of "$r"):"
		for l in $(seq 0 $((L - 1))); do
			a=$(echo "${means[0]}" | cut -f$((l + 1))) c=$(echo "${means[$from]}" | cut -f$((l + 1)))
			d=$(echo "${means[$((T - 1))]}" | cut -f$((l + 1)))
			line+=" ${names[$l]} $a to $d ($(awk -v a="$a" -v c="$c" -v d="$d" 'BEGIN {
				printf "%+.3f, %+.3f of it after epoch '"${ep[$from]}"'", d - a, d - c }'))$([ "$l" -lt $((L - 1)) ] && echo ";" || echo ".")"
		done
		first_late=$(echo "${means[$from]} ${means[$((T - 1))]}" | awk -v L="$L" '{ printf "%.3f", $(L + 1) - $1 }')
		head_late=$(echo "${means[$from]} ${means[$((T - 1))]}" | awk -v L="$L" '{ printf "%.3f", $(2 * L) - $L }')
		line+=$(awk -v f="$first_late" -v h="$head_late" -v n="${names[0]}" 'BEGIN {
			if (h < 0 && (f > 0 || -f < -h / 5)) printf " After epoch '"${ep[$from]}"', %s changes by %+.3f while the head still gains %.3f: the decrease continues only at the deeper layers.", n, f, -h
			else if (h < 0 && f < 0) printf " After epoch '"${ep[$from]}"' both keep decreasing (%s %+.3f, head %+.3f).", n, f, h
			else printf " After epoch '"${ep[$from]}"': %s %+.3f, head %+.3f.", n, f, h }')
		echo "$line"
	done
	echo
	cat <<EOT
### 4.2 How much the predictions move between checkpoints (figure 15)

EOT
	for r in "${train_runs[@]}"; do
		echo "![figure 15, $(title_of "$r")]($r/fig15-training.png)"
		echo
	done
	cat <<EOT
The Sinkhorn divergence between each test sample's distributions at checkpoints t and
t+1 (the same cost and eps as W to the target), mean and interquartile band per layer.
Consecutive checkpoints are $(printf '%s\n' "${ep[@]}" | awk 'NR > 1 { g = $1 - p; if (lo == "" || g < lo) lo = g; if (g > hi) hi = g } { p = $1 }
	END { printf (lo == hi ? "%.3g epochs" : "%.3g to %.3g epochs"), lo, hi }') apart. From epoch
${ep[$from]} on: *progress* is the mean per-sample decrease of W to the target from epoch ${ep[$from]} to
the end, *path* the mean per-sample sum of the distances between consecutive
checkpoints over the same span (by the triangle inequality, progress can reach path only
when every step heads for the target), *rising* the share of sample-steps whose W to the
target increases:

| backbone | layer | mean W(t, t+1), pairs from epoch ${ep[$from]} to 8 | last pair | progress | path | progress / path | rising |
| --- | --- | --- | --- | --- | --- | --- | --- |
EOT
	for r in "${train_runs[@]}"; do
		f="$study/$r/training/dist-train.st"
		read -r -a names <<< "$(meta "$f" layers | words)"
		L=${#names[@]}
		mapfile -t adj < <(layer_means "$f" wdist_train_adjacent "$L")
		mapfile -t pp < <(progress_path "$f" "$L" "$from")
		for l in $(seq 0 $((L - 1))); do
			mid=$(for t in $(seq "$from" $((T - 2))); do
				if awk -v e="${ep[$((t + 1))]}" 'BEGIN { exit !(e <= 8) }'; then echo "${adj[$t]}" | cut -f$((l + 1)); fi; done \
				| awk '{ s += $1; n++ } END { printf "%.3f", n ? s / n : 0 }')
			last=$(echo "${adj[$((T - 2))]}" | cut -f$((l + 1)))
			echo "| $(title_of "$r") | ${names[$l]} | $mid | $last | $(echo "${pp[$l]}" | awk -F'\t' '{ printf "%s | %s | %s | %s", $1, $2, $3, $4 }') |"
		done
	done
	echo
	echo "What the numbers say about the paper's reading (shallow layers fluctuate while deep ones"
	echo "settle):"
	echo
	for r in "${train_runs[@]}"; do
		f="$study/$r/training/dist-train.st"
		read -r -a names <<< "$(meta "$f" layers | words)"
		L=${#names[@]}
		mapfile -t adj < <(layer_means "$f" wdist_train_adjacent "$L")
		mapfile -t pp < <(progress_path "$f" "$L" "$from")
		# the layer whose predictions move most, summed over the pairs from epoch `from` on
		most=$(for t in $(seq "$from" $((T - 2))); do echo "${adj[$t]}"; done | awk -v L="$L" '
			{ for (l = 1; l <= L; l++) s[l] += $l } END { m = 1; for (l = 2; l <= L; l++) if (s[l] > s[m]) m = l; print m - 1 }')
		rf=$(echo "${pp[0]}" | cut -f3) rh=$(echo "${pp[$((L - 1))]}" | cut -f3)
		upmin=$(printf '%s\n' "${pp[@]}" | cut -f4 | sort -n | head -1) upmax=$(printf '%s\n' "${pp[@]}" | cut -f4 | sort -n | tail -1)
		echo "- $(title_of "$r"): from epoch ${ep[$from]} on, the predictions that move most between checkpoints are"
		echo "  those of $([ "$most" = $((L - 1)) ] && echo "the head" || echo "${names[$most]}"); the last pair moves $(echo "${adj[$((T - 2))]}" | tr '\t' '/') (layer by"
		echo "  layer), against $(echo "${adj[$from]}" | tr '\t' '/') for the pair ending at epoch ${ep[$((from + 1))]}. Progress / path is $rf at"
		echo "  ${names[0]} and $rh at the head$(awk -v a="$rf" -v b="$rh" 'BEGIN {
			if (b > 2 * a) printf ": the head turns %.0f times more of its movement into progress toward the target", (a > 0 ? b / a : 0)
			else if (a > 2 * b) printf ": the first layer turns more of its movement into progress than the head"
			else printf ": alike" }'); between $upmin and $upmax of the sample-steps rise, at every layer."
		# settled: from which pair on the movement stays below a quarter of the layer's largest
		settle=$(for t in $(seq 0 $((T - 2))); do echo "${ep[$((t + 1))]}	${adj[$t]}"; done | awk -F'\t' -v L="$L" '
			{ e[NR] = $1; for (l = 1; l <= L; l++) { v[NR, l] = $(l + 1); if ($(l + 1) > m[l]) m[l] = $(l + 1) } }
			END { for (l = 1; l <= L; l++) { s = NR; while (s > 1 && v[s - 1, l] < m[l] / 4) s--; printf "%s%s", (l > 1 ? " " : ""), e[s] } }')
		read -r -a se <<< "$settle"
		echo "  Each layer's movement stays below a quarter of its own largest from the pair ending at"
		echo "  epoch $(echo "$settle" | sed 's/ / \/ /g') (layer by layer)$(awk -v a="${se[0]}" -v b="${se[$((L - 1))]}" 'BEGIN {
			if (b < a) printf ": the head settles before the first layer, as the paper reads it."
			else if (b > a) printf ": the head settles after the first layer, not before it as the paper reads it."
			else printf ": the first layer and the head settle together, not the deep ones first as the paper reads it." }')"
	done
	echo
	cat <<EOT
### 4.3 One sample through training (figure 16)

EOT
	for r in "${train_runs[@]}"; do
		echo "![figure 16, $(title_of "$r")]($r/fig16-sample-epochs.png)"
		echo
	done
	cat <<EOT
Test row ${TRAIN_SAMPLE:-0} of the subset (with the default data, row 0 is the study's first test
mosaic, figure 4's sample) at the head, at four checkpoints spread over the run: the
share of the label mass on each label beside the target, W in the legend.

### 4.4 BatchNorm drift (proposition 4)

![BatchNorm drift](fig-bn-drift.png)

\`bn-drift\` (docs/bn-drift.md) gives, for every BatchNorm layer and consecutive pair of
checkpoints, the 2-Wasserstein distance between the layer's Gaussian laws
N(beta, gamma^2), channel by channel (left), and N(running mean, running variance)
(right); a stage's line joins its layers (the square root of the sum of squares). The
whole network's drift, all BatchNorm layers joined$( [ ${#lr[@]} -eq 5 ] && echo ", and the same divided by the sum of the
learning rate over the pair's optimizer steps (how far the laws move per unit of step
size)"):

EOT
	head_row="| epochs |" rule="| --- |"
	for r in "${train_runs[@]}"; do
		head_row+=" $(title_of "$r") W2 |"
		rule+=" --- |"
		if [ ${#lr[@]} -eq 5 ]; then head_row+=" per unit lr |"; rule+=" --- |"; fi
		head_row+=" running W2 |"
		rule+=" --- |"
	done
	echo "$head_row"
	echo "$rule"
	declare -A bw br
	for r in "${train_runs[@]}"; do
		mapfile -t col < <(bn_total "$study/$r/training/bn-drift.st" bn_w2)
		for t in "${!col[@]}"; do bw[$r,$t]=${col[$t]}; done
		if "$bin/tensors" info "$study/$r/training/bn-drift.st" | grep -q '^bn_w2_running '; then
			mapfile -t col < <(bn_total "$study/$r/training/bn-drift.st" bn_w2_running)
		else
			col=()
		fi
		for t in $(seq 0 $((T - 2))); do br[$r,$t]=${col[$t]:--}; done
	done
	for t in $(seq 0 $((T - 2))); do
		row="| ${ep[$t]}-${ep[$((t + 1))]} |"
		[ ${#lr[@]} -eq 5 ] && s=$(lr_sum "${ep[$t]}" "${ep[$((t + 1))]}")
		for r in "${train_runs[@]}"; do
			row+=" ${bw[$r,$t]} |"
			[ ${#lr[@]} -eq 5 ] && row+=" $(awk -v w="${bw[$r,$t]}" -v s="$s" 'BEGIN { printf "%.3g", (s > 0 ? w / s : 0) }') |"
			row+=" ${br[$r,$t]} |"
		done
		echo "$row"
	done
	echo
	for r in "${train_runs[@]}"; do
		peak=0 at=0
		for t in $(seq 0 $((T - 2))); do
			if awk -v a="${bw[$r,$t]}" -v b="$peak" 'BEGIN { exit !(a > b) }'; then peak=${bw[$r,$t]} at=$t; fi
		done
		last=${bw[$r,$((T - 2))]}
		printf '%s: the drift peaks between epochs %s and %s (W2 %s) and falls to %s between the last two checkpoints, %s times less.' \
			"$(title_of "$r")" "${ep[$at]}" "${ep[$((at + 1))]}" "$peak" "$last" "$(awk -v a="$peak" -v b="$last" 'BEGIN { printf "%.0f", a / b }')"
		if [ ${#lr[@]} -eq 5 ]; then
			sp=$(lr_sum "${ep[$at]}" "${ep[$((at + 1))]}") sl=$(lr_sum "${ep[$((T - 2))]}" "${ep[$((T - 1))]}")
			awk -v a="$peak" -v sa="$sp" -v b="$last" -v sb="$sl" 'BEGIN { x = a / sa; y = b / sb
				printf " Per unit of learning rate it goes from %.3g to %.3g: ", x, y
				if (y >= x / 2) printf "no smaller at the end, so the shrinking drift is the schedule'"'"'s shrinking steps, not layers that stopped moving on their own."
				else printf "%.1f times smaller, so the laws settle faster than the steps shrink.", x / y }'
		fi
		echo
		echo
	done
	if [ ${#lr[@]} -eq 5 ]; then
		cat <<EOT
Proposition 4 expects the BatchNorm laws to settle as training converges. The drift does
shrink toward the end; whether the layers have settled beyond what the decaying
learning rate imposes shows in the drift per unit of learning rate: if it is no smaller at
the end than at the peak, the shrinking drift is the schedule's smaller steps. The
running statistics (right) follow the moments of the last batches, which move with the
data even when the weights stand still.
EOT
	fi
fi

if [ ${#resplit[@]} -ge 2 ]; then
	rr=${resplit[0]}
	seeds=("${resplit[@]:1}")
	cat <<EOT

### 4.5 Re-split trials (figure 9)

![figure 9](fig9-resplit.png)

The across-layer study of $(title_of "$rr") (its final model: probes at every layer on the train rows,
W on the test rows) on mosaics of ${#seeds[@]} seeds with the same sizes (${TRAIN_SUBSET:-}):
other train images for the probes and other test images, from the same Fashion-MNIST
items. The last column is the full study of section 1 (seed ${seeds[0]}, its 20,000 train and
5,000 test mosaics). Mean W over the test rows:

EOT
	hdr="| layer |" rule="| --- |"
	for s in "${seeds[@]}"; do hdr+=" seed $s |"; rule+=" --- |"; done
	echo "$hdr range | full study |"
	echo "$rule --- | --- |"
	cols=()
	for s in "${seeds[@]}"; do cols+=("$(test_means "$study/resplit/seed$s.st")"); done
	full=$(test_means "$study/$rr/dist.st")
	read -r -a names <<< "$(meta "$study/resplit/seed${seeds[0]}.st" layers | words)"
	widest=0 wat="" fullgap=0 fat=""
	for l in "${!names[@]}"; do
		row="| ${names[$l]} |" lo=9 hi=-9 sum=0
		for c in "${cols[@]}"; do
			v=$(echo "$c" | sed -n "$((l + 1))p")
			row+=" $(printf '%.3f' "$v") |"
			lo=$(awk -v a="$lo" -v b="$v" 'BEGIN { print (b < a ? b : a) }') hi=$(awk -v a="$hi" -v b="$v" 'BEGIN { print (b > a ? b : a) }')
			sum=$(awk -v a="$sum" -v b="$v" 'BEGIN { print a + b }')
		done
		range=$(awk -v a="$hi" -v b="$lo" 'BEGIN { printf "%.3f", a - b }')
		fv=$(echo "$full" | sed -n "$((l + 1))p")
		gap=$(awk -v f="$fv" -v s="$sum" -v n="${#cols[@]}" 'BEGIN { d = f - s / n; printf "%.3f", d < 0 ? -d : d }')
		if awk -v a="$range" -v b="$widest" 'BEGIN { exit !(a > b) }'; then widest=$range wat=${names[$l]}; fi
		if awk -v a="$gap" -v b="$fullgap" 'BEGIN { exit !(a > b) }'; then fullgap=$gap fat=${names[$l]}; fi
		echo "$row $range | $(printf '%.3f' "$fv") |"
	done
	first=$(printf '%.3f' "$(echo "${cols[0]}" | sed -n 1p)") last=$(printf '%.3f' "$(echo "${cols[0]}" | tail -1)")
	# how many steps between adjacent layers are larger than the widest re-split move
	steps=$(echo "${cols[0]}" | awk -v w="$widest" 'NR > 1 { d = $1 - p; if (d < 0) d = -d; n++; if (d > w) k++ } { p = $1 } END { printf "%d of %d", k, n }')
	cat <<EOT

Across the seeds the curve moves by at most $widest (at $wat), $(awk -v w="$widest" -v a="$first" -v b="$last" 'BEGIN { printf "%.1f%%", 100 * w / (a - b) }') of its drop from
the first layer to the head ($first to $last for seed ${seeds[0]}); $steps steps between adjacent
layers are larger than that, so the shape of the curve is the data's, not one split's,
except between layers whose means are that close anyway. The full study's means (all
its train rows for the probes, all its test rows) lie within $fullgap of the subsets'
average (the largest difference at $fat).
EOT
fi

cat <<EOT

### 4.6 Probe convergence (the probe-training view)

The other time axis: during the training of the probes on the final backbone, the
distance of a few probe layers to the target at each snapshot epoch (left), and how much
each sample's predicted distribution still moves between adjacent snapshots (right; total
variation, which is the Wasserstein distance under the 0-1 cost). A shallow layer that
stays far from the target however long its probe trains shows what the layer can
represent, not a training artefact. (Before issue 12 these stood in for figures 6 and
15; the figures above follow the network instead.)

EOT
for i in "${!runs[@]}"; do
	echo "| ${titles[$i]}: distance per probe epoch | change between adjacent snapshots |"
	echo "| --- | --- |"
	echo "| ![probe convergence](${runs[$i]}/probe-epochs.png) | ![probe convergence, adjacent snapshots](${runs[$i]}/probe-adjacent.png) |"
	echo
done
