#!/usr/bin/env bash
# Benchmark (not a test) of memory budgets: a long-horizon gradient of the
# bench `spiral` network (same weights and step h, t1 and label times scaled
# with N; scripts/make_problem.py) under --memory, next to the all-states run
# at a horizon where all states still fit.  Prints time, forward steps per
# step (1 + recomputed/N: the recompute factor) and the peak RSS of each run,
# plus the refusal that all states get at the long horizon.
#
# usage: scripts/bench_checkpoint.sh [--pinode BIN] [--steps N] [--short N0]
#                                    [--budget SIZE] [--workdir DIR]
#   defaults: build/bin/pinode, N = 10000000, N0 = 100000, SIZE = 256MB, a
#   temporary DIR (removed afterwards).  One rank; run it on a quiet machine.
set -euo pipefail
cd "$(dirname "$0")/.."
pinode=build/bin/pinode steps=10000000 short=100000 budget=256MB work=
while [ $# -gt 0 ]; do
  case "$1" in
    --pinode) pinode=$2; shift 2 ;;
    --steps) steps=$2; shift 2 ;;
    --short) short=$2; shift 2 ;;
    --budget) budget=$2; shift 2 ;;
    --workdir) work=$2; shift 2 ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    *) echo "bench_checkpoint.sh: unknown argument '$1'" >&2; exit 2 ;;
  esac
done
[ -x "$pinode" ] || { echo "bench_checkpoint.sh: no program at $pinode (build first)" >&2; exit 1; }
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
. scripts/blas-env.sh
if [ -z "$work" ]; then
  work=$(mktemp -d "${TMPDIR:-/tmp}/pinode-bench-ckpt-XXXXXX")
  trap 'rm -rf "$work"' EXIT
fi
python=/usr/bin/python3
[ -x "$python" ] || python=python3
for n in "$short" "$steps"; do
  "$python" scripts/make_problem.py tests/data/bench/spiral "$work/spiral-$n" "$n"
done

# row LABEL N ARGS...: one gradient; prints a table row from pinode's report.
row() {
  local label=$1 n=$2
  shift 2
  local log="$work/$label.log"
  "$pinode" gradient --force "$@" "$work/spiral-$n" "$work/out-$label" >"$log" 2>&1 || {
    cat "$log" >&2
    return 1
  }
  local time rss storage states factor
  time=$(sed -n 's/^time \([0-9.]*\) s.*/\1/p' "$log")
  rss=$(sed -n 's/.*peak RSS \([0-9.]*\) MB.*/\1/p' "$log")
  storage=$(sed -n 's/^storage \([a-z]*\(:[0-9]*\)\{0,1\}\)[,:].*/\1/p' "$log")
  states=$(sed -n 's/.*: \([0-9]*\) states stored.*/\1/p' "$log")
  factor=$(sed -n 's/.*, \([0-9.]*\) forward steps per step.*/\1/p' "$log")
  printf '| %-10s | %-24s | %-16s | %9s | %8s s | %6s | %8s MB |\n' "$n" "$*" "$storage" \
    "$states" "$time" "$factor" "$rss"
}

echo "pinode gradient, spiral network (D = 2, 50 tanh, B = 16, rk4), 1 rank, $(nproc) cores"
echo "| N          | options                  | storage          | states    | time       | fwd/step | peak RSS    |"
echo "|------------|--------------------------|------------------|-----------|------------|--------|-------------|"
row all-short "$short" --storage all
row budget-short "$short" --memory "$budget"
row budget-long "$steps" --memory "$budget"
grep -h '^storage' "$work"/*.log | sed 's/^/  /'
echo
echo "all states at N = $steps under --memory $budget:"
"$pinode" gradient --force --storage all --memory "$budget" "$work/spiral-$steps" "$work/out-refused" 2>&1 |
  sed 's/^/  /' || true
