#!/bin/bash
# eval-split.sh TENSORS FEATS EVAL TUNE: the splits the study scores on
# (EVAL: test, or val when the data have no test rows, VOC2012's test
# annotations never having been released) and tunes the exit rule on (TUNE:
# val, or train when val is taken or absent: the 07+12 protocol), each
# written to its file; a fallback is said on stderr.
set -euo pipefail
tensors=$1 feats=$2 eval_out=$3 tune_out=$4
splits=" $("$tensors" dump split "$feats" | sort -u | tr '\n' ' ')"
case $splits in
*" 2 "*) e=test ;;
*" 1 "*) e=val; echo "eval-split.sh: $feats has no test rows: the study scores on val" >&2 ;;
*) echo "eval-split.sh: $feats has neither test nor val rows: nothing to score on" >&2; exit 1 ;;
esac
t=val
if [ $e = val ] || [[ $splits != *" 1 "* ]]; then
	t=train
	echo "eval-split.sh: $feats: the exit rule is tuned on train (no val rows to spare)" >&2
fi
echo $e > "$eval_out"
echo $t > "$tune_out"
