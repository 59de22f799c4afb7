#!/usr/bin/env bash
# pinode bench: the table (one row per configuration, the gradient agreeing
# with ref/), the BLAS line, the DGEMM lines, the tiny problem's line, the
# 2-rank rows under mpiexec -n 2 (pipeline and batch groups), peers reported
# "not available" when absent, --model handed to the performance model;
# scripts/tiny_floor.c builds and runs; bad options and problems refused.
# No timing is asserted (the machine is shared): only the shape of the output
# and the numbers that do not depend on speed.
# Usage: test_perf_bench.sh PINODE_BINARY SOURCE_DIR
set -euo pipefail
bin=$1 src=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
small=$src/tests/data/bench/small
deep=$src/tests/data/bench/deep

# One rank: two problems, each with the tape (stages), every state (all) and
# automatic storage under a 1 MB limit; the tiny problem.
"$bin" bench --repeat 2 --warmup 1 --tiny 200 --checkpoint-mb 1 --threads 1 \
  --petsc "$tmp/no-such-petsc" --torch "$tmp/no-such.py" --peers "$small" "$deep" >"$tmp/log1"
grep -q "^BLAS: OpenBLAS" "$tmp/log1"
grep -q "^DGEMM (OpenBLAS, 1 thread, n = 2048): [0-9.]* GFLOP/s" "$tmp/log1"
grep -q "^  on deep's shapes (B=5, D=3, H=32)" "$tmp/log1"
grep -q "^peers: PETSc not available" "$tmp/log1"
grep -q "PyTorch not available" "$tmp/log1"
grep -q "^  tiny (D=2, H=16, B=1, rk4, 200 steps): forward [0-9]* ns per step" "$tmp/log1"
# Table rows: problem, configuration, then the error against ref/ last.
for p in small deep; do
  for cfg in "pinode stages, 1 thr" "pinode all, 1 thr" "pinode auto<=1MB, 1 thr"; do
    line=$(grep "^$p  *$cfg " "$tmp/log1" | tail -1)
    [ -n "$line" ] || { echo "no row '$p $cfg'"; cat "$tmp/log1"; exit 1; }
    err=$(echo "$line" | awk '{print $NF}')
    /usr/bin/python3 -c "import sys; e = float(sys.argv[1]); assert e <= 1e-11, e" "$err"
  done
done
# The flop count of a gradient is exact, hence the same in every run: deep's
# matrix products (3→32→32→3 with time input, rk38, 60 steps, batch 5) are
# counted by the library; the rate column must be a number.
grep "^deep  *pinode stages, 1 thr " "$tmp/log1" | awk '{ if ($(NF-5) !~ /^[0-9.]+$/) exit 1 }'

# Two ranks: the pipeline rows appear and still agree with ref/; so does the
# row of two batch groups for deep (B = 5), which small (B = 1) cannot have.
mpiexec -n 2 "$bin" bench --repeat 1 --warmup 0 --tiny 0 --checkpoint-mb 0 --no-dgemm "$small" \
  "$deep" >"$tmp/log2"
for row in "small  *pinode [a-z]*, 2 ranks, M=1 " "deep  *pinode [a-z]*, 2 ranks, M=[0-9]* " \
  "deep  *pinode [a-z]*, 2 ranks, G=2 "; do
  line=$(grep "^$row" "$tmp/log2") || { echo "no row '$row'"; cat "$tmp/log2"; exit 1; }
  err=$(echo "$line" | awk '{print $NF}')
  /usr/bin/python3 -c "import sys; e = float(sys.argv[1]); assert e <= 1e-11, e" "$err"
done
if grep -q "^small .*G=2" "$tmp/log2"; then echo "a batch group row for a batch of one"; exit 1; fi

# The floor program of the tiny step builds with the command in its header and runs.
gcc -O3 -march=native -ffp-contract=fast -Wall -Wextra -Werror -DSTEPS=50 -I "$src/src" \
  "$src/scripts/tiny_floor.c" -o "$tmp/tiny_floor" -lm
"$tmp/tiny_floor" | grep -q "^floor: forward [0-9]* ns (min [0-9]*), gradient [0-9]* ns"

# --model goes to the performance model.
"$bin" bench --model --help | grep -q "usage: pinode bench --model"

# Bad options: status 2 and a message naming the option.
for args in "--repeat 0" "--warmup x" "--checkpoint-mb -1" "--tiny 1e3" "--microbatches 0" "--storage none" "--clock x" "--pairs 0" "--bogus"; do
  status=0
  # shellcheck disable=SC2086
  "$bin" bench $args "$small" >"$tmp/bad.log" 2>&1 || status=$?
  [ "$status" = 2 ] || { echo "bench $args: status $status"; cat "$tmp/bad.log"; exit 1; }
done
grep -q "usage: pinode bench" "$tmp/bad.log"
# A problem that does not exist: failure with the reading error.
status=0
"$bin" bench --repeat 1 --warmup 0 --tiny 0 --no-dgemm "$tmp/nowhere" >"$tmp/bad.log" 2>&1 || status=$?
[ "$status" != 0 ]
grep -q "nowhere" "$tmp/bad.log"
echo "bench CLI: ok"
