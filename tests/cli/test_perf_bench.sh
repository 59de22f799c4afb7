#!/usr/bin/env bash
# pinode bench: the table (one row per configuration, the gradient agreeing
# with ref/), the kernels line, the rows on 2 ranks under mpiexec -n 2
# (pipeline, batch groups, Parareal) with the same exact flop count as one
# rank, the JSON, --model handed to the performance model; bad options and
# problems refused.  The performance lab (scripts/bench/lab.py): the BLAS
# line, the DGEMM lines, the tiny problem's line, peers reported "not
# available" when absent, the table with the DGEMM fraction and the targets;
# scripts/bench/tiny_floor.c builds and runs; bad options refused.
# No timing is asserted (the machine is shared): only the shape of the output
# and the numbers that do not depend on speed.
# Usage: test_perf_bench.sh PINODE_BINARY SOURCE_DIR
set -euo pipefail
bin=$1 src=$2
build=$(cd "$(dirname "$bin")/.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
small=$src/tests/data/bench/small
deep=$src/tests/data/bench/deep
python=/usr/bin/python3

# The error against ref/ (the last column) of a row of the table in $1; the
# row must exist.
ref_err_ok() {
  local line
  line=$(grep "^$2" "$1" | tail -1) || { echo "no row '$2'"; cat "$1"; exit 1; }
  "$python" -c "import sys; e = float(sys.argv[1]); assert e <= 1e-11, e" "$(echo "$line" | awk '{print $NF}')"
}

# One rank: two problems, each with the tape (stages), every state (all) and
# automatic storage under a 1 MB limit.
"$bin" bench --repeat 2 --warmup 1 --checkpoint-mb 1 --json "$tmp/b1.json" "$small" "$deep" >"$tmp/log1"
grep -q "^pinode's products: [A-Za-z0-9 -]*, tanh: [a-z0-9]*$" "$tmp/log1"
for p in small deep; do
  for cfg in "stages, 1 rank" "all, 1 rank" "[a-z]*:*[0-9]* (auto, 1 MB), 1 rank"; do
    ref_err_ok "$tmp/log1" "$p  *$cfg "
  done
done
# The flop rate column (matrix-product flops counted by the library over the
# median time) must be a number.
grep "^deep  *stages, 1 rank " "$tmp/log1" | awk '{ if ($(NF-2) !~ /^[0-9.]+$/) exit 1 }'

# Two ranks, every state kept: the pipeline rows, the row of two batch groups
# for deep (B = 5), which small (B = 1) cannot have, and Parareal (exact after
# P iterations) still agree with ref/.
mpiexec -n 2 "$bin" bench --repeat 1 --warmup 0 --checkpoint-mb 0 --storage all \
  --parallel pipeline,parareal --json "$tmp/b2.json" "$small" "$deep" >"$tmp/log2"
for row in "small  *all, 2 ranks, M=1 " "deep  *all, 2 ranks, M=[0-9]* " \
  "deep  *all, 2 ranks, G=2 " "small  *parareal all, 2 ranks " "deep  *parareal all, 2 ranks "; do
  ref_err_ok "$tmp/log2" "$row"
done
if grep -q "^small .*G=2" "$tmp/log2"; then echo "a batch group row for a batch of one"; exit 1; fi

# The JSON holds the table; a gradient's product flops are exact, so with
# every state kept the pipeline and the batch groups on 2 ranks count exactly
# the flops of one rank (the same products, split by rows).
"$python" - "$tmp/b1.json" "$tmp/b2.json" <<'PY'
import json, sys
one, two = (json.load(open(f)) for f in sys.argv[1:])
assert one["kind"] == two["kind"] == "pinode-bench" and (one["ranks"], two["ranks"]) == (1, 2)
assert one["kernels"]["products"] and one["kernels"]["isa"] in ("avx512", "avx2", "generic")
assert [(r["problem"], r["storage"], r["ranks"]) for r in one["rows"]] == [
    (p, s, 1) for p in ("small", "deep") for s in ("stages", "all", "auto")], one["rows"]
for r in one["rows"] + two["rows"]:
    t = r["time_per_gradient"]
    assert 0 < t["min"] <= t["median"] <= t["max"], r
    assert r["ref_error"] <= 1e-11 and r["flops_per_gradient"] > 0 and r["peak_mb"] > 0, r
all1 = {r["problem"]: r["flops_per_gradient"] for r in one["rows"] if r["storage"] == "all"}
split = [r for r in two["rows"] if r["ranks"] == 2 and r["method"] == "pipeline"]
assert {r["problem"] for r in split} == {"small", "deep"}
assert any(r["batch_groups"] == 2 for r in split), split
for r in split:
    assert r["flops_per_gradient"] == all1[r["problem"]], (r, all1)
PY


# --model goes to the performance model.
"$bin" bench --model --help | grep "usage: pinode bench --model" >/dev/null

# Bad options, and no problem: status 2 and the usage or a message naming the option.
for args in "--repeat 0" "--warmup x" "--checkpoint-mb -1" "--microbatches 0" "--storage none" \
  "--clock x" "--parallel none" "--parareal-tol 2" "--bogus"; do
  status=0
  # shellcheck disable=SC2086
  "$bin" bench $args "$small" >"$tmp/bad.log" 2>&1 || status=$?
  [ "$status" = 2 ] || { echo "bench $args: status $status"; cat "$tmp/bad.log"; exit 1; }
  grep -q -- "${args%% *}\|usage: pinode bench" "$tmp/bad.log" || { cat "$tmp/bad.log"; exit 1; }
done
status=0
"$bin" bench >"$tmp/bad.log" 2>&1 || status=$?
[ "$status" = 2 ] && grep -q "usage: pinode bench" "$tmp/bad.log"
# A problem that does not exist: failure with the reading error.
status=0
"$bin" bench --repeat 1 --warmup 0 "$tmp/nowhere" >"$tmp/bad.log" 2>&1 || status=$?
[ "$status" != 0 ]
grep -q "nowhere" "$tmp/bad.log"

# The performance lab on the same two problems, without its peers.
"$python" "$src/scripts/bench/lab.py" --build "$build" --ranks 1 --repeat 2 --warmup 1 --tiny 200 \
  --checkpoint-mb 1 --threads 1 --petsc "$tmp/no-such-petsc" --torch "$tmp/no-such.py" \
  "$small" "$deep" >"$tmp/lab.log"
grep -q "^BLAS: OpenBLAS" "$tmp/lab.log"
grep -q "^DGEMM (OpenBLAS, 1 thread, n = 2048): [0-9.]* GFLOP/s" "$tmp/lab.log"
grep -q "^  on deep's shapes (B=5, D=3, H=32): OpenBLAS [0-9.]* GFLOP/s, pinode's " "$tmp/lab.log"
grep -q "^peers: PETSc not available" "$tmp/lab.log"
grep -q "PyTorch not available" "$tmp/lab.log"
grep -q "^  tiny (D=2, H=16, B=1, rk4, 200 steps): forward [0-9]* ns per step ([0-9]* flops)" "$tmp/lab.log"
# pinode's rows with their fraction of the DGEMM rate, and agreeing with ref/.
for cfg in "stages, 1 rank" "all, 1 rank" "[a-z]*:*[0-9]* (auto, 1 MB), 1 rank"; do
  ref_err_ok "$tmp/lab.log" "deep  *pinode $cfg "
  grep "^deep  *pinode $cfg " "$tmp/lab.log" | awk '{ if ($(NF-4) !~ /^[0-9]+%$/) exit 1 }'
done
grep -q "^project benchmark targets, from this run:" "$tmp/lab.log"
grep -q "^  deep .*stages at [0-9]*% of the DGEMM rate (target >= 70%: " "$tmp/lab.log"
grep -q "^  tiny: forward [0-9]* ns, gradient [0-9]* ns per step; target <= 3x flops" "$tmp/lab.log"
for args in "--tiny 1e3" "--pairs 0" "--threads 0" "--clock x" "--repeat 0"; do
  status=0
  # shellcheck disable=SC2086
  "$python" "$src/scripts/bench/lab.py" --build "$build" $args "$small" >"$tmp/bad.log" 2>&1 || status=$?
  [ "$status" = 2 ] && grep -q -- "${args%% *}" "$tmp/bad.log" || { echo "lab.py $args: status $status"; cat "$tmp/bad.log"; exit 1; }
done

# The floor program of the tiny problem builds with the command in its header and runs.
gcc -O3 -march=native -ffp-contract=fast -Wall -Wextra -Werror -DSTEPS=50 -I "$src/src" \
  "$src/scripts/bench/tiny_floor.c" -o "$tmp/tiny_floor" -lm
"$tmp/tiny_floor" | grep -q "^floor: forward [0-9]* ns (min [0-9]*), gradient [0-9]* ns"
echo "bench CLI and lab: ok"
