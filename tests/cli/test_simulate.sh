#!/usr/bin/env bash
# Simulated scaling studies (scripts/simulate.sh, SimGrid SMPI): a strong study
# of spiral on P = 1, 4, 16 of a 4-node x 4-core platform (scripts/make_platform.py)
# for the pipeline and Parareal (both adjoints) gives a well-formed CSV,
# gradients equal to those of the real program under mpiexec (<= 1e-13
# relative; the pipeline is exact at any P, Parareal with its default P
# iterations, its adjoint maps exact to rounding) and to DIR/ref,
# finite positive speedups with efficiency = speedup / P; its result files
# plot with scripts/study_report.sh; a weak study grows N with P; a
# malformed platform file, a P beyond the platform's cores and a failing run
# are refused with a clear message.  Checks the machinery, not the timings.
# Usage: test_simulate.sh PINODE_BINARY PINODE_SMPI_BINARY SOURCE_DIR
# ctest-labels: simulate
set -euo pipefail
bin=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
smpi_build=$(cd "$(dirname "$2")/.." && pwd)
src=$(cd "$3" && pwd)
python=/usr/bin/python3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
problem=$src/tests/data/bench/spiral
sim=("$src/scripts/simulate.sh" --build "$smpi_build")
fail() { echo "test_simulate: $*" >&2; exit 1; }

"$python" "$src/scripts/make_platform.py" --nodes 4 --cores 4 "$tmp/c4x4.xml"

# The real gradient on one rank: the pipeline is exact at every P and
# Parareal after its default P iterations.
mpiexec -n 1 "$bin" gradient --quiet "$problem" "$tmp/real"

# CASE: method[-parareal adjoint]
adjoint_of() { case "$1" in parareal-*) echo "${1#parareal-}" ;; esac; }
cases="pipeline parareal-iterate parareal-maps"
for case in $cases; do
  method=${case%%-*} adj=$(adjoint_of "$case")
  "${sim[@]}" --platform "$tmp/c4x4.xml" --ranks "1 4 16" --parallel "$method" \
    --csv "$tmp/$case.csv" --points "$tmp/points-$case" "$problem" ${adj:+-- --parareal-adjoint "$adj"} \
    >"$tmp/$case.log" 2>&1 || { cat "$tmp/$case.log" >&2; fail "the $case study failed"; }
  "$python" - "$tmp/$case.csv" "$method" "$adj" <<'PY'
import csv, math, sys
path, method, adjoint = sys.argv[1], sys.argv[2], sys.argv[3]
with open(path, newline="") as f:
    reader = csv.DictReader(f)
    need = ["ranks", "method", "seconds", "speedup", "efficiency", "warm_seconds"]
    assert reader.fieldnames[:6] == need, reader.fieldnames
    rows = list(reader)
assert [int(r["ranks"]) for r in rows] == [1, 4, 16], rows
for r in rows:
    P, t, s, e = int(r["ranks"]), float(r["seconds"]), float(r["speedup"]), float(r["efficiency"])
    assert r["method"] == method and r["study"] == "strong", r
    assert all(math.isfinite(x) and x > 0 for x in (t, s, e)), r
    assert abs(e - s / P) <= 1e-3 * e, r
    assert r["warm_seconds"] == "", r           # no method warm-starts
    assert float(r["rel_error"]) <= 1e-11, r    # DIR/ref: PyTorch's gradient
    if method == "parareal":
        fwd, adj = (int(x) for x in r["iterations"].split("/"))
        assert fwd == P and r["adjoint"] == adjoint, r  # tol 0: until nothing changes
        assert (1 <= adj <= P) if adjoint == "iterate" else adj == 0, r
assert float(rows[0]["speedup"]) == 1.0, rows[0]
PY
done
grep -Eq "^ +16 parareal +maps " "$tmp/parareal-maps.log" || fail "no Parareal row in the printed table"

# Simulated gradients against the real one (simulate.sh keeps none: run one
# point again, keeping its output).
smpi_run() {
  "$python" "$src/scripts/simulate_tool.py" hostfile "$tmp/c4x4.xml" "$1" "$tmp/hosts" >/dev/null
  local method=${2%%-*} adj
  adj=$(adjoint_of "$2")
  OPENBLAS_NUM_THREADS=1 smpirun -np "$1" -platform "$tmp/c4x4.xml" -hostfile "$tmp/hosts" \
    --cfg=smpi/host-speed:1Gf --log=root.thres:error "$smpi_build/bin/pinode" gradient --quiet \
    --parallel "$method" ${adj:+--parareal-adjoint "$adj"} "$problem" "$tmp/sim-$1-$2" \
    >"$tmp/smpi.log" 2>&1 || { cat "$tmp/smpi.log" >&2; fail "smpirun of $2 on $1 ranks failed"; }
}
for case in $cases; do
  smpi_run 16 "$case"
  d=$("$python" "$src/scripts/simulate_tool.py" distance "$tmp/sim-16-$case" "$tmp/real")
  "$python" -c "import sys; sys.exit(0 if float(sys.argv[1]) <= 1e-13 else 1)" "$d" \
    || fail "$case on 16 simulated ranks: gradient $d from the real one (more than 1e-13)"
done

# The result files plot next to real points (the collector takes them).
"$src/scripts/study_report.sh" "$tmp/points-pipeline" >"$tmp/report.log" 2>&1 \
  || { cat "$tmp/report.log" >&2; fail "study_report.sh on simulated points failed"; }
grep -q "simulated: c4x4" "$tmp/report.log" || fail "the collector lost the simulated platform"
[ -s "$tmp/points-pipeline/strong_scaling.png" ] || fail "no plot of the simulated points"

# Weak: N grows with P.
"${sim[@]}" --platform "$tmp/c4x4.xml" --ranks "1 2" --weak --csv "$tmp/weak.csv" "$problem" \
  >"$tmp/weak.log" 2>&1 || { cat "$tmp/weak.log" >&2; fail "the weak study failed"; }
"$python" - "$tmp/weak.csv" <<'PY'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
assert [(int(r["ranks"]), int(r["steps"]), r["study"]) for r in rows] == [(1, 1000, "weak"), (2, 2000, "weak")], rows
assert all(r["rel_error"] == "" for r in rows), rows   # no reference for the grown problem
PY

# Refusals, each with a message that says what is wrong.
expect_error() { # MESSAGE_PATTERN COMMAND...
  local pattern=$1 rc=0
  shift
  "$@" >"$tmp/err.log" 2>&1 || rc=$?
  [ "$rc" != 0 ] || fail "accepted: $*"
  grep -q -- "$pattern" "$tmp/err.log" || { cat "$tmp/err.log" >&2; fail "no '$pattern' for: $*"; }
}
echo "<platform><cluster id=" > "$tmp/bad.xml"
expect_error "not a readable SimGrid platform file" "${sim[@]}" --platform "$tmp/bad.xml" --ranks 1 "$problem"
echo '<platform version="4.1"><zone id="z" routing="Full"/></platform>' > "$tmp/empty.xml"
expect_error "no <cluster> or <host>" "${sim[@]}" --platform "$tmp/empty.xml" --ranks 1 "$problem"
expect_error "17 ranks do not fit on $tmp/c4x4.xml: it has 16 cores" \
  "${sim[@]}" --platform "$tmp/c4x4.xml" --ranks "1 17" "$problem"
expect_error "the simulated run on 2 ranks failed" \
  "${sim[@]}" --platform "$tmp/c4x4.xml" --ranks 2 "$problem" -- --microbatches 0
expect_error "is not a positive integer" "${sim[@]}" --ranks "1 x" "$problem"
expect_error "is not a positive number" "$python" "$src/scripts/make_platform.py" --nodes 0 --cores 4 "$tmp/x.xml"
echo "test_simulate: ok"
