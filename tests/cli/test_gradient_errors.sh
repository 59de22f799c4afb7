#!/usr/bin/env bash
# `pinode gradient` on bad input: a nonzero exit status and a message that
# says what is wrong, never a crash and never a silent success.
# Usage: test_gradient_errors.sh PINODE_BINARY SOURCE_DIR
set -uo pipefail
pinode=$1
small=$2/tests/data/bench/small
tmp=$(mktemp -d "${TMPDIR:-/tmp}/pinode-gerr-XXXXXX")
trap 'rm -rf "$tmp"' EXIT
status=0

# expect CODE NEEDLE -- ARGS...: exit status CODE and NEEDLE in stdout+stderr.
expect() {
  local code=$1 needle=$2
  shift 3
  "$pinode" gradient "$@" >"$tmp/log" 2>&1
  local rc=$?
  if [ "$rc" != "$code" ] || ! grep -qF -- "$needle" "$tmp/log"; then
    echo "FAIL: pinode gradient $* -> exit $rc (want $code), output lacks '$needle':"
    sed 's/^/    /' "$tmp/log"
    status=1
  else
    echo "ok: $* -> $rc, '$needle'"
  fi
}

expect 2 "usage: pinode gradient" -- "$small"
expect 2 "pinode gradient: DIR and OUTDIR expected, got 1 argument" -- "$small"
expect 2 "--tol needs a positive number" -- --tol abc "$small" "$tmp/o"
expect 2 "--tol needs a positive number" -- --tol -1 "$small" "$tmp/o"
expect 2 "--microbatches needs an integer" -- --microbatches 0 "$small" "$tmp/o"
expect 2 "--storage must be" -- --storage every:0 "$small" "$tmp/o"
expect 2 "--batch-groups needs an integer >= 1" -- --batch-groups 0 "$small" "$tmp/o"
expect 1 "2 batch groups on 1 rank: need 1..1" -- --batch-groups 2 "$small" "$tmp/o"
expect 1 "cannot open $tmp/none/meta.txt" -- "$tmp/none" "$tmp/o"
# The options named after the configuration keys, and their deprecated spellings.
expect 2 "--parareal-max-iter needs an integer >= 0" -- --parareal-max-iter x "$small" "$tmp/o"
expect 2 "--parareal-max-iter needs an integer >= 0" -- --parareal-iters x "$small" "$tmp/o"
expect 2 "--newton-max-iter needs an integer >= 0" -- --newton-iters -1 "$small" "$tmp/o"
expect 2 "--newton-growth-limit needs a finite number" -- --newton-growth inf "$small" "$tmp/o"
expect 2 "--sweep must be multi or single" -- --mode both "$small" "$tmp/o"

# A problem with an unknown scheme, and one whose label is off the grid.
mkdir -p "$tmp/p1" "$tmp/p2"
cp "$small"/*.txt "$tmp/p1/"
cp "$small"/*.txt "$tmp/p2/"
sed -i 's/^scheme .*/scheme rk5/' "$tmp/p1/meta.txt"
expect 1 "unknown scheme 'rk5'" -- "$tmp/p1" "$tmp/o"
echo 0.55 >"$tmp/p2/times.txt"
expect 1 "times.txt:1: label time 0.55 is not on the grid" -- "$tmp/p2" "$tmp/o"
# A loss that overflows (targets 1e200 away from finite states) is an error,
# as in training: never 'inf' in loss.txt with exit status 0.
mkdir -p "$tmp/p3"
cp "$small"/*.txt "$tmp/p3/"
sed -i 's/.*/1e200/' "$tmp/p3/targets.txt"
expect 1 "the loss is inf: the squared error overflowed" -- "$tmp/p3" "$tmp/o"
[ ! -e "$tmp/o" ] || { echo "FAIL: a failed gradient wrote $tmp/o"; status=1; }
# An OUTDIR that exists and is not empty is refused, as train and predict
# refuse theirs, unless --force.
"$pinode" gradient --quiet "$small" "$tmp/done" || status=1
cp "$tmp/done/loss.txt" "$tmp/loss.first"
expect 1 "OUTDIR $tmp/done exists and is not empty" -- "$small" "$tmp/done"
cmp -s "$tmp/done/loss.txt" "$tmp/loss.first" || { echo "FAIL: a refused gradient changed loss.txt"; status=1; }
expect 0 "loss" -- --force "$small" "$tmp/done"
# A missing reference file for --compare.
expect 1 "cannot open $tmp/noref/loss.txt" -- --compare "$tmp/noref" "$small" "$tmp/o"
exit $status
