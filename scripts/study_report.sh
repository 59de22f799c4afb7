#!/usr/bin/env bash
# Turn the result files of a scaling study into a CSV and plots: the one
# script to run after `sbatch slurm/strong_scaling.sbatch` (or the weak one,
# or scripts/study_local.sh, which calls it itself).
#
# usage: scripts/study_report.sh STUDY_DIR [--title TEXT]
#   reads STUDY_DIR/**/point-*.json (several studies' directories may sit
#   below one STUDY_DIR) and STUDY_DIR/model.json if there is one; writes
#   STUDY_DIR/scaling.csv and STUDY_DIR/<study>_{scaling,speedup,efficiency,phases}.png
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
python=/usr/bin/python3
[ -x "$python" ] || python=python3
if [ $# -lt 1 ] || [ "$1" = -h ] || [ "$1" = --help ]; then
  sed -n '2,10p' "$0"
  exit 2
fi
dir=$1
shift
title=()
if [ $# -ge 2 ] && [ "$1" = --title ]; then title=(--title "$2"); fi
[ -d "$dir" ] || { echo "study_report.sh: no directory $dir" >&2; exit 2; }
"$python" "$here/collect_scaling.py" collect "$dir" --csv "$dir/scaling.csv"
model=()
if [ -s "$dir/model.json" ]; then
  model=(--model "$dir/model.json")
else
  model_file=$(find "$dir" -name model.json -size +0 | sort | head -n 1)
  [ -z "$model_file" ] || model=(--model "$model_file")
fi
"$python" "$here/plot_scaling.py" "$dir/scaling.csv" "${model[@]}" --out "$dir" "${title[@]}"
