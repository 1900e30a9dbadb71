#!/bin/bash
# tables.sh STUDY RUN TITLE [RUN TITLE ...]: from each run's early-exit report
# (exit.md) and metrics TSV, on the eval split (STUDY/RUN/eval-split's: test,
# or val when the data have none):
#   table2.md, table3.md  over-thinking of the first and second run, in both
#                         conventions (share of the last layer's errors; the
#                         paper's share of all samples)
#   table4.md             early exit against the head: the head alone, the best
#                         cascade, the best one-layer rule and the oracle per
#                         network, with intervals; every score of the head and
#                         of the chosen rule
#   budgets.md            each run's budget tables
set -euo pipefail
study=$1; shift
runs=() titles=()
while [ $# -ge 2 ]; do runs+=("$1"); titles+=("$2"); shift 2; done
eval_split=$(cat "$study/${runs[0]}/eval-split" 2>/dev/null || echo test)

# the "## NAME" section of an early-exit report, without its heading
section() {
	awk -v name="$2" 'index($0, "## " name) == 1 { on = 1; next } /^## / { on = 0 } on' "$1"
}

for t in 0 1; do
	out=$study/table$((t + 2)).md
	{
		if [ $t -lt ${#runs[@]} ]; then
			echo "### Table $((t + 2)): over-thinking, ${titles[$t]} ($eval_split split)"
			section "$study/${runs[$t]}/exit.md" "Over-thinking"
		else
			echo "### Table $((t + 2)): over-thinking"
			echo
			echo "This study has one backbone: see table 2."
		fi
	} > "$out.tmp"
	mv "$out.tmp" "$out"
done

{
	echo "### Table 4: early exit against the head alone (rules chosen on the tune split, scored on $eval_split)"
	echo
	echo "| network | candidate | rule | q | gamma | tune accuracy | tune cost | $eval_split accuracy | $eval_split cost | $eval_split - head (points, 95% interval) | rescued | broken |"
	echo "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
	for i in "${!runs[@]}"; do
		awk -v net="${titles[$i]}" '/^\| (head alone|best cascade|best one layer|oracle) / { print "| " net " " $0 }' \
			"$study/${runs[$i]}/exit.md"
	done
	echo
	for i in "${!runs[@]}"; do
		decision=$(grep -m1 -E '^\*\*(No exit|Chosen)' "$study/${runs[$i]}/exit.md" || true)
		echo "- ${titles[$i]}: $decision"
	done
	echo
	echo "Every score, the head alone against the chosen rule (the head's own when no rule is chosen), $eval_split split (%):"
	echo
	echo "| network | policy | accuracy | CP | CR | CF1 | macro-F1 | OP | OR | OF1 | mAP |"
	echo "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
	for i in "${!runs[@]}"; do
		tsv=$study/${runs[$i]}/metrics.tsv
		last=$(awk -F'\t' -v e="$eval_split" 'NR > 1 && $1 != "exit" && $2 == e { l = $1 } END { print l }' "$tsv")
		awk -F'\t' -v net="${titles[$i]}" -v last="$last" -v e="$eval_split" 'NR > 1 && $2 == e && ($1 == last || $1 == "exit") {
			printf "| %s | %s |", net, $1 == "exit" ? "chosen rule" : "head alone"
			for (c = 3; c <= 11; c++) printf " %.2f |", 100 * $c
			printf "\n" }' "$tsv"
	done
} > "$study/table4.md.tmp"
mv "$study/table4.md.tmp" "$study/table4.md"

{
	for i in "${!runs[@]}"; do
		echo "### Budgets: ${titles[$i]}"
		section "$study/${runs[$i]}/exit.md" "Budgets"
	done
} > "$study/budgets.md.tmp"
mv "$study/budgets.md.tmp" "$study/budgets.md"
