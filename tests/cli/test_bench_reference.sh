#!/usr/bin/env bash
# `pinode gradient DIR OUTDIR` on every problem of tests/data/bench agrees
# with the PyTorch references in DIR/ref to <= 1e-11 relative, norm-wise
# (<= 1e-10 for `long`, whose 20,000 steps accumulate rounding differently
# in any two correct implementations; see tests/data/bench/README.md).
# A negative control shows that the comparison can fail.
# Usage: test_bench_reference.sh PINODE_BINARY SOURCE_DIR
set -euo pipefail
pinode=$1
bench=$2/tests/data/bench
out=$(mktemp -d "${TMPDIR:-/tmp}/pinode-bench-XXXXXX")
trap 'rm -rf "$out"' EXIT
status=0

count=0
for dir in "$bench"/*/; do
  dir=${dir%/}
  name=$(basename "$dir")
  [ -f "$dir/meta.txt" ] || continue
  tol=1e-11
  [ "$name" = long ] && tol=1e-10
  if ! "$pinode" gradient --quiet "$dir" "$out/$name" --compare "$dir/ref" --tol "$tol" \
       >"$out/$name.log" 2>&1; then
    echo "FAIL: $name (tolerance $tol)"
    cat "$out/$name.log"
    status=1
    continue
  fi
  # The written files have the reference's layout: same number of lines.
  for f in loss.txt grad_theta.txt grad_z0.txt; do
    if [ "$(wc -l <"$out/$name/$f")" != "$(wc -l <"$dir/ref/$f")" ]; then
      echo "FAIL: $name/$f has $(wc -l <"$out/$name/$f") lines, ref has $(wc -l <"$dir/ref/$f")"
      status=1
    fi
  done
  echo "ok: $name (tolerance $tol)"
  grep -E '^(loss|grad_)' "$out/$name.log" | sed 's/^/    /'
  count=$((count + 1))
done
if [ "$count" -lt 5 ]; then
  echo "FAIL: only $count bench problems passed (expected small, deep, spiral, wide, long)"
  status=1
fi

# Batch groups (2 ranks, one sample share each): the same reference, and
# ∂L/∂z0 written bit for bit as by one rank (a sample's adjoint does not
# depend on which samples share its solve).
if mpiexec -n 2 --oversubscribe "$pinode" gradient --quiet --batch-groups 2 "$bench/spiral" \
     "$out/spiral-g2" --compare "$bench/spiral/ref" --tol 1e-11 >"$out/g2.log" 2>&1 &&
   cmp -s "$out/spiral/grad_z0.txt" "$out/spiral-g2/grad_z0.txt"; then
  echo "ok: spiral on 2 batch groups (reference, and dL/dz0 bitwise that of one rank)"
else
  echo "FAIL: spiral on 2 batch groups"
  cat "$out/g2.log"
  status=1
fi

# Negative control: a reference whose first θ-gradient entry is off by a
# relative 1e-9 must be rejected at --tol 1e-11.
small=$bench/small
mkdir -p "$out/badref"
cp "$small/ref/loss.txt" "$small/ref/grad_z0.txt" "$out/badref/"
awk 'NR == 1 { printf "%.17g\n", $1 * (1 + 1e-9); next } { print }' \
  "$small/ref/grad_theta.txt" >"$out/badref/grad_theta.txt"
if "$pinode" gradient --quiet "$small" "$out/neg" --compare "$out/badref" --tol 1e-11 \
     >"$out/neg.log" 2>&1; then
  echo "FAIL: --compare accepted a reference that is off by 1e-9"
  status=1
elif ! grep -q 'TOO LARGE' "$out/neg.log"; then
  echo "FAIL: --compare failed without saying which output differs"
  cat "$out/neg.log"
  status=1
else
  echo "ok: negative control rejected"
fi
exit $status
