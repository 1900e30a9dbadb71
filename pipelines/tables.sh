#!/bin/bash
# tables.sh STUDY RUN TITLE [RUN TITLE]: tables 2 and 3 (over-thinking of the
# first and second run, from early-exit's report) and table 4 (the early-exit
# rule against the last layer on the eval split, from the metrics TSV). The
# eval split is STUDY/RUN/eval-split's: test, or val when the data have none.
set -euo pipefail
study=$1; shift
runs=() titles=()
while [ $# -ge 2 ]; do runs+=("$1"); titles+=("$2"); shift 2; done
eval_split=$(cat "$study/${runs[0]}/eval-split" 2>/dev/null || echo test)

# the "## Over-thinking" section of an early-exit report, without its heading
overthinking() {
	awk '/^## Over-thinking/ { on = 1; next } /^## / { on = 0 } on' "$1"
}

for t in 0 1; do
	out=$study/table$((t + 2)).md
	{
		if [ $t -lt ${#runs[@]} ]; then
			echo "### Table $((t + 2)): over-thinking, ${titles[$t]} ($eval_split split)"
			overthinking "$study/${runs[$t]}/exit.md"
		else
			echo "### Table $((t + 2)): over-thinking"
			echo
			echo "This study has one backbone: see table 2."
		fi
	} > "$out.tmp"
	mv "$out.tmp" "$out"
done

{
	echo "### Table 4: the early-exit rule against the last layer ($eval_split split, %)"
	echo
	echo "| network | policy | accuracy | CP | CR | CF1 | macro-F1 | OP | OR | OF1 | mAP |"
	echo "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
	for i in "${!runs[@]}"; do
		tsv=$study/${runs[$i]}/metrics.tsv
		last=$(awk -F'\t' -v e="$eval_split" 'NR > 1 && $1 != "exit" && $2 == e { l = $1 } END { print l }' "$tsv")
		awk -F'\t' -v net="${titles[$i]}" -v last="$last" -v e="$eval_split" 'NR > 1 && $2 == e && ($1 == last || $1 == "exit") {
			printf "| %s | %s |", net, $1 == "exit" ? "exit rule" : "last layer"
			for (c = 3; c <= 11; c++) printf " %.2f |", 100 * $c
			printf "\n" }' "$tsv"
	done
	echo
	for i in "${!runs[@]}"; do
		rule=$(grep -m1 '; q = ' "$study/${runs[$i]}/exit.md" || true)
		cost=$(grep -m1 -E '^(Relative cost|No layer_flops)' "$study/${runs[$i]}/exit.md" || true)
		echo "- ${titles[$i]}: $rule $cost"
	done
} > "$study/table4.md.tmp"
mv "$study/table4.md.tmp" "$study/table4.md"
