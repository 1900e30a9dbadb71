#!/bin/bash
# report.sh STUDY DATASET RUN TITLE [RUN TITLE ...] > report.md
# The study's report: the paper's claims checked one by one against this
# data, then every figure and table of out/DATASET/ in the paper's order.
# Numbers come from the runs' files through `tensors` ($TENSORS, default
# bin/tensors); links are relative to STUDY. The verdicts follow criteria
# stated in the report itself, fixed before looking at any result.
set -euo pipefail
study=$1 dataset=$2; shift 2
runs=() titles=()
while [ $# -ge 2 ]; do runs+=("$1"); titles+=("$2"); shift 2; done
tensors=${TENSORS:-bin/tensors}
# the eval split: test, or val when the data have no test rows (eval-split.sh)
eval_split=$(cat "$study/${runs[0]}/eval-split" 2>/dev/null || echo test)
case $eval_split in train) eval_code=0 ;; val) eval_code=1 ;; *) eval_code=2 ;; esac

joined=$(printf '%s, ' "${titles[@]}")
joined=${joined%, }

# a Markdown file with every heading $2 levels deeper (default 1)
demote() { sed -e "s/^#/#$(printf '%*s' "${2:-1}" '' | tr ' ' '#')/" "$1"; }
# the "## NAME" section of a Markdown file, without its heading
section() { awk -v name="$2" 'index($0, "## " name) == 1 { on = 1; next } /^## / { on = 0 } on' "$1"; }
# metadata KEY of FILE
meta() { "$tensors" info "$1" | awk -v k="  $2: " 'index($0, k) == 1 { print substr($0, length(k) + 1); exit }'; }
# the layer names of FILE, one per line
layer_names() { meta "$1" layers | awk '{ gsub(/^\[|\]$/, ""); n = split($0, a, "\",\""); for (i = 1; i <= n; i++) { gsub(/"/, "", a[i]); print a[i] } }'; }
# row R (1-based) of tensor NAME in FILE, one value per line
row() { "$tensors" dump "$2" "$1" | sed -n "${3}p" | tr '\t' '\n'; }
# per layer: name, mean W on the train rows, on the eval rows (classify-samples' layer_mean)
layer_table() { paste <(layer_names "$1") <(row "$1" layer_mean 1) <(row "$1" layer_mean $((eval_code + 1))); }

cat <<EOT
# The layer behaviour study: $dataset

Made by \`make reproduce DATASET=$dataset\` (pipelines/study.mk, docs/study.md). Each
backbone ($joined) is frozen; a linear probe after every block predicts the labels,
and the last layer is the network's own head. For each sample and layer, the
predicted label distribution p/sum(p) is compared with the target y/sum(y) by the
entropic Wasserstein distance W (sinkhorn: Sinkhorn divergence, cost from the label
embeddings divided by its largest entry, eps 0.01; section 8 reads the paper's eps
literally).

EOT
# the samples: per split, and those without any label (COCO images without
# annotations: all-negative rows for the probes, no distance, left out of the figures)
feats=$study/${runs[0]}/feats.st
if [ -x "$tensors" ] && [ -f "$feats" ]; then
	paste <("$tensors" dump split "$feats") <("$tensors" dump labels "$feats") | awk -F'\t' '
		{ n[$1]++; z = 1; for (i = 2; i <= NF; i++) if ($i != 0) { z = 0; break }; u[$1] += z; t += z }
		END {
			split("train val test", name, " ")
			line = "Samples:"
			for (s = 0; s < 3; s++) if (n[s]) line = line sprintf(" %s %d%s,", name[s + 1], n[s], u[s] ? sprintf(" (%d without labels)", u[s]) : "")
			sub(/,$/, ".", line)
			print line
			if (t) print "Samples without any label (images without annotations) have no distance to a target: they train the probes as all-negative rows and are left out of the distances, categories and figures."
			print ""
		}'
fi
if [ "$eval_split" = val ]; then
	echo "These data have no test split (VOC2012's test annotations were never released): where this"
	echo "report says test, read val; the exit rule is tuned on train."
	echo
fi
cat <<EOT
## 0. The paper's claims, checked on this data

Each claim with the numbers of every backbone and a verdict by a criterion written here
before the numbers: **agrees**, **does not agree**, or **not shown** (the data cannot
tell). "Train" rows are the probes' training rows, as the paper's section 6.1.1 uses.

EOT

# ---- claims 1-3: the mean W per layer (train rows) ----
echo "**1. W decreases with depth** (section 6.1.1, figure 3). Criterion: the mean W over the"
echo "train rows is lower at the head than at the first layer and rises at no step by more than 0.01."
echo
for i in "${!runs[@]}"; do
	layer_table "$study/${runs[$i]}/classes.st" | awk -F'\t' -v t="${titles[$i]}" '
		{ name[NR] = $1; w[NR] = $2 }
		END {
			L = NR; up = 0; ups = ""
			for (l = 2; l <= L; l++) { d[l] = w[l - 1] - w[l]; if (d[l] < -0.01) { up++; ups = ups sprintf(" %s (%+.3f)", name[l], -d[l]) } }
			# the three largest drops
			for (k = 1; k <= 3 && k < L; k++) { b = 0; for (l = 2; l <= L; l++) if (!(l in used) && (b == 0 || d[l] > d[b])) b = l; used[b] = 1
				top = top sprintf("%s%s (-%.3f)", (k > 1) ? ", " : "", name[b], d[b]) }
			falls = 0; for (l = 2; l <= L; l++) falls += d[l] > 0
			v = (w[L] < w[1] && up == 0) ? "**agrees**" : "**does not agree**"
			printf "- %s: %.3f at %s, %.3f at %s; it falls at %d of %d steps%s; the largest drops at %s. %s\n",
				t, w[1], name[1], w[L], name[L], falls, L - 1, up ? "; it rises by more than 0.01 at" ups : "", top, v }'
done
echo
echo "**2. The shallow layers are similar** (section 6.1.1). Criterion: the early layers (the"
echo "first third of the depth, as classify-samples counts them) make less of the total fall"
echo "from the first layer to the head than their share of the depth."
echo
for i in "${!runs[@]}"; do
	layer_table "$study/${runs[$i]}/classes.st" | awk -F'\t' -v t="${titles[$i]}" '
		{ name[NR] = $1; w[NR] = $2 }
		END {
			L = NR; E = int((L - 1) / 3 + 0.5); total = w[1] - w[L]
			share = total > 0 ? (w[1] - w[E + 1]) / total : 0; uniform = E / (L - 1)
			printf "- %s: layers 0-%d (%s to %s) make %.0f%% of the fall (%.3f of %.3f), against %.0f%% of the depth. %s\n",
				t, E, name[1], name[E + 1], 100 * share, w[1] - w[E + 1], total, 100 * uniform,
				(share < uniform) ? "**agrees**" : "**does not agree**" }'
done
echo
echo "**3. W drops to a very small value at the last layer** (section 6.1.1). Criterion: the"
echo "head's mean W is below a tenth of the first layer's."
echo
for i in "${!runs[@]}"; do
	layer_table "$study/${runs[$i]}/classes.st" | awk -F'\t' -v t="${titles[$i]}" '
		{ name[NR] = $1; w[NR] = $2; te[NR] = $3 }
		END {
			L = NR; r = w[L] / w[1]
			printf "- %s: %.3f at the head against %.3f at %s, %.0f%% of it (test rows: %.3f, %.0f%%). %s\n",
				t, w[L], w[1], name[1], 100 * r, te[L], 100 * te[L] / te[1], (r < 0.1) ? "**agrees**" : "**does not agree**" }'
done
echo

# ---- claim 4: paths ----
echo "**4. Per-sample paths are not monotone: a deeper layer is not always better** (abstract,"
echo "figure 4). Criterion: more than 5% of the test rows have a W profile that rises by more than"
echo "0.01 from one layer to the next somewhere."
echo
for i in "${!runs[@]}"; do
	c=$study/${runs[$i]}/classes.st
	paste <("$tensors" dump rises "$c") <("$tensors" dump split "$c") <("$tensors" dump destructive "$c") | awk -F'\t' -v t="${titles[$i]}" -v ec="$eval_code" '
		$2 == ec { n++; up += $1 > 0; rises += $1; d += $3 }
		END {
			s = n ? up / n : 0
			printf "- %s: %.1f%% of the %d test rows rise somewhere (%.2f rises per row; %.2f among those); %.1f%% are right at an earlier layer and wrong at the last (destructive over-thinking). %s\n",
				t, 100 * s, n, n ? rises / n : 0, up ? rises / up : 0, n ? 100 * d / n : 0, (s > 0.05) ? "**agrees**" : "**does not agree**" }'
done
echo

# ---- claims 5-6: over-thinking and early exit ----
echo "**5. Over-thinking: an earlier layer gets right many samples the last layer gets wrong; the"
echo "ideal accuracy** (tables 2-3; the paper's ResNet-18 on VOC: 64.48% at the last layer, 70.44%"
echo "ideal, +5.96 points). Criterion: the ideal accuracy exceeds the last layer's by more than 1 point."
echo
for i in "${!runs[@]}"; do
	e=$study/${runs[$i]}/exit.st
	ideal=$(meta "$e" ideal_accuracy)
	row "$e" exit_variants 1 | awk -v t="${titles[$i]}" -v ideal="$ideal" '
		NR == 7 { last = $1 }
		END {
			g = 100 * (ideal - last)
			printf "- %s: %.2f%% at the last layer, %.2f%% ideal, +%.2f points: %.2f%% of all test samples are wrong at the last layer but right at an earlier one. %s\n",
				t, 100 * last, 100 * ideal, g, g, (g > 1) ? "**agrees**" : "**does not agree**" }'
done
echo
echo "**6. Early exit improves accuracy** (appendix H, tables 1 and 4: +0.9 to +2.7 points over the"
echo "last layer). Criterion: the rule chosen on val gains on test with a 95% bootstrap interval above"
echo "0 (**agrees**), below 0 (**does not agree**), or containing 0 (**not shown**); \"no exit\" chosen"
echo "on val does not agree. The best cascade and one-layer rules are given beside it."
echo
for i in "${!runs[@]}"; do
	e=$study/${runs[$i]}/exit.st
	mode=$(meta "$e" exit_mode)
	"$tensors" dump exit_variants "$e" | awk -F'\t' -v t="${titles[$i]}" -v mode="$mode" -v names="$(layer_names "$e" | paste -sd'|')" '
		{ for (c = 1; c <= NF; c++) v[NR, c] = $c }
		function rule(r, what) {
			if (v[r, 8] == "nan" || v[r, 8] == "") return ""
			return sprintf("; the best %s: %+.2f points [%+.2f, %+.2f], %d rescued, %d broken", what,
				100 * v[r, 8], 100 * v[r, 9], 100 * v[r, 10], v[r, 11], v[r, 12]) }
		END {
			split(names, nm, "|")
			if (mode == "none")
				printf "- %s: no rule beats the head alone on val, so no exit (the head: %.2f%% on test)%s%s. **does not agree**\n",
					t, 100 * v[1, 7], rule(3, "cascade"), rule(4, "one-layer rule")
			else {
				lo = v[2, 9]; hi = v[2, 10]
				verdict = (lo > 0) ? "**agrees**" : (hi < 0) ? "**does not agree**" : "**not shown**"
				what = (mode == "cascade") ? "the cascade" : "one layer, " nm[v[2, 3] + 1]
				printf "- %s: the chosen rule (%s, q %s, gamma %s) scores %.2f%% against the head'"'"'s %.2f%% on test, %+.2f points, 95%% interval [%+.2f, %+.2f], %d rescued, %d broken, at cost %.3f%s. %s",
					t, what, v[2, 1] + 0, v[2, 2] + 0, 100 * v[2, 7], 100 * v[1, 7], 100 * v[2, 8], 100 * lo, 100 * hi,
					v[2, 11], v[2, 12], v[2, 6], rule(mode == "cascade" ? 4 : 3, mode == "cascade" ? "one-layer rule" : "cascade"), verdict
				if (hi < 0.009)
					printf " The interval'"'"'s top, %+.2f, lies below the paper'"'"'s smallest gain, +0.9.", 100 * hi
				printf "\n"
			}
		}'
done
echo
echo "The rules, the costs and the trade-off are in section 7."
echo

cat <<EOT

## 1. Distance to the target, layer by layer (paper figure 3, and figure 10)

| train rows (the paper's figure 3) | test rows (as the paper's figure 10) |
| --- | --- |
| ![figure 3, train rows](fig3-layers.png) | ![figure 3, test rows](fig3-layers-test.png) |

The curve is the mean W over the samples at each layer and the band their interquartile
range: how far each layer's probe is from the labels, and how unequal the samples are on
the way (a wide band: some samples are settled early, others only at the last layers).
Networks of different depth are drawn against relative depth.

The paper's "layer quality" (section 6.1.2) is the drop of W a layer brings:

EOT
for i in "${!runs[@]}"; do
	echo "#### ${titles[$i]}"
	section "$study/${runs[$i]}/classes.md" "Layer quality" | sed -e '/^The mean/,/^$/d'
done
cat <<EOT
(drop: the mean W of the layer before minus this layer's; positive = closer to the labels.)

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

The paper's rule (classify-samples, docs/classify-samples.md): a sample is *right* at a
layer when the layer predicts exactly its label set. Confused: right at some layer
before the last, wrong at the last (the samples early exit could rescue); hard: first
right only in the late layers (the last quarter of the depth) or never; easy: right from
an early layer (the first third) through the last; regular: the rest. Test rows.

EOT
for i in "${!runs[@]}"; do
	echo "### ${titles[$i]}"
	echo
	echo "![figure 5, ${titles[$i]}](${runs[$i]}/fig5-categories.png)"
	echo
	demote "$study/${runs[$i]}/classes.md" 3 | sed -e '1s/^#### .*/#### Counts, depth and profiles/' \
		| awk '/^##### (Layer quality|Paths)/ { skip = 1; next } /^##### / { skip = 0 } !skip'
	echo
done
cat "$study/training.md"   # section 4, across training: pipelines/report-training.sh
cat <<EOT
## 5. Other measures beside the Wasserstein distance (paper figures 11 and 12)

EOT
for i in "${!runs[@]}"; do
	echo "| ${titles[$i]}, train rows (the paper's) | test rows |"
	echo "| --- | --- |"
	echo "| ![figures 11-12, ${titles[$i]}, train](${runs[$i]}/fig11-measures.png) | ![figures 11-12, ${titles[$i]}, test](${runs[$i]}/fig11-measures-test.png) |"
	echo
done
cat <<EOT
Chebyshev (largest single-label difference) and Jensen-Shannon (in nats) beside the
Wasserstein distance, which also counts how far apart, in the label embedding, the
labels that receive the misplaced mass are.

## 6. Over-thinking (paper tables 2 and 3)

Of the samples the last layer gets wrong (subset accuracy), the share that an earlier
layer gets right: an exit rule that stopped there would have been right. The last column
is the paper's convention: the samples first right at a layer as a share of all test
samples; it sums to the ideal accuracy minus the last layer's.

![tables 2-3 as bars](tables2-3-overthinking.png)

EOT
demote "$study/table2.md"
echo
demote "$study/table3.md"
echo
cat <<EOT
## 7. Early exit (paper table 4, appendix H)

At layer l, with N labels at p > 0.5 and n of them at p > q, a sample exits when N >= 1
and n/N >= gamma (the paper's strict "exceeding"). Searched on the val split and scored
on test: the head alone (no exit, always a candidate), the cascade (exit at the first
layer whose rule holds) and the paper's one selected layer (exit there when the rule
holds, else at the head), q in 0.5 ... 0.95, 0.99, 0.999, 0.9999 and gamma in 0.5 ... 1.
The best on val (subset accuracy, then the lower cost) is chosen; a rule must beat the
head alone to be. Costs are FLOPs relative to the whole network, the probes evaluated
included (a cascade that reaches the head has paid for every probe). Differences to the
head are paired on the same test rows, with 95% bootstrap intervals (1000 resamples,
seed 1).

EOT
demote "$study/table4.md"
echo
cat <<EOT
![accuracy against cost](frontier.png)

Every rule searched (grey, val), the val Pareto front (blue) and the same rules on test
(red): what early exit buys at each cost, and how much of the val front holds on test.
The oracle (green) exits every sample at its first right layer: the ceiling no rule
that sees only the probabilities reaches.

EOT
demote "$study/budgets.md"
echo
echo "Full per-layer scores, exit shares and the Pareto front: $(for r in "${runs[@]}"; do printf '[%s](%s/exit.md) ' "$r" "$r"; done)"
echo "(TSV: scores $(for r in "${runs[@]}"; do printf '[%s](%s/metrics.tsv) ' "$r" "$r"; done); every rule $(for r in "${runs[@]}"; do printf '[%s](%s/frontier.tsv) ' "$r" "$r"; done))."
echo
cat <<EOT
## 8. The ground cost and eps: the paper's "alpha = 0.01" read literally

The paper sets the entropic regularisation "alpha = 0.01". Read as Cuturi's lambda (the
entropy's weight in Cuturi 2013 is 1/lambda) on the raw embedding cost, that is eps = 100:
a regularisation far above the cost itself (its largest entry here is about 2), where the
Sinkhorn divergence is, to about 1%, 2 ||m(a) - m(b)||^2 with m the mean label embedding
under each distribution (its limit for a squared-distance cost): the distance between two
averages, blind to how the mass is spread. This
study uses eps = 0.01 on the cost divided by its largest entry, close to the unregularised
distance (docs/sinkhorn.md). How much the layer curve changes, train rows:

![figure 3 under eps = 100 on the raw cost](fig3-layers-eps100.png)

EOT
for i in "${!runs[@]}"; do
	r=${runs[$i]}
	echo "#### ${titles[$i]}"
	echo
	echo "| layer | name | W, eps 0.01, normalised cost | % of layer 0 | W, eps 100, raw cost | % of layer 0 | correlation over samples |"
	echo "| ---: | --- | ---: | ---: | ---: | ---: | ---: |"
	awk -F'\t' '
		FILENAME == ARGV[1] { name[FNR] = $0; next }
		FILENAME == ARGV[2] { train[FNR] = ($1 == 0); next }
		FILENAME == ARGV[3] { a[FNR] = $0; L = FNR; next }
		{
			l = FNR; n = split(a[l], x, "\t"); m = 0; sx = sy = sxx = syy = sxy = 0
			for (i = 1; i <= n; i++) if (train[i] && x[i] !~ /nan|inf/ && $i !~ /nan|inf/) {
				m++; sx += x[i]; sy += $i; sxx += x[i] * x[i]; syy += $i * $i; sxy += x[i] * $i }
			cnt[l] = m; mx[l] = m ? sx / m : 0; my[l] = m ? sy / m : 0
			cv = m ? sxy / m - mx[l] * my[l] : 0; vx = m ? sxx / m - mx[l] ^ 2 : 0; vy = m ? syy / m - my[l] ^ 2 : 0
			rr[l] = (vx > 0 && vy > 0) ? cv / sqrt(vx * vy) : 0
		}
		# a cell, or "-" where no train row has a distance (too few samples)
		function num(v, fmt, ok) { return ok ? sprintf(fmt, v) : "-" }
		function pct(a, b, ok) { return ok && b != 0 ? sprintf("%.0f%%", 100 * a / b) : "-" }
		END {
			for (l = 1; l <= L; l++)
				printf "| %d | %s | %s | %s | %s | %s | %s |\n", l - 1, name[l], num(mx[l], "%.4f", cnt[l]),
					pct(mx[l], mx[1], cnt[l]), num(my[l], "%.4f", cnt[l]), pct(my[l], my[1], cnt[l]),
					num(rr[l], "%.3f", cnt[l] > 1)
			if (!cnt[1] || !cnt[L]) { print "\nToo few train rows with a distance to compare the readings."; exit }
			# where the largest drop is under each reading
			ba = bb = 2
			for (l = 3; l <= L; l++) { if (mx[l - 1] - mx[l] > mx[ba - 1] - mx[ba]) ba = l; if (my[l - 1] - my[l] > my[bb - 1] - my[bb]) bb = l }
			printf "\nThe largest drop: %s under eps 0.01, %s under eps 100; the head keeps %s and %s of the first layer'"'"'s W.\n",
				name[ba], name[bb], pct(mx[L], mx[1], 1), pct(my[L], my[1], 1)
		}' <(layer_names "$study/$r/classes.st") <("$tensors" dump split "$study/$r/dist.st") \
		<("$tensors" dump wdist "$study/$r/dist.st") <("$tensors" dump wdist "$study/$r/dist-eps100.st")
	echo
done
cat <<EOT
The correlation is Pearson's, over the train samples at each layer, between the two
readings' per-sample W: how far the literal reading keeps the samples' order.
EOT
