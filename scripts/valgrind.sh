#!/usr/bin/env bash
# valgrind memcheck over the unit tests (tests/unit/test_*.c) and the fuzz
# harnesses' corpus replays, with zero errors required.
#
#   scripts/valgrind.sh [--build-dir DIR] [--parallel J] [--all]
#
# Without --all, two kernel-accuracy sweeps are left out: test_mlp_kernels and
# test_vmath (every tile shape and edge against long-double loops, millions of
# kernel calls: 12 and 4 minutes under valgrind on 2 cores, beyond the CI
# budget).  Their out-of-bounds checks run under ASan+UBSan in scripts/test.sh
# and the kernels' callers (mlp, step, solver) run under valgrind here.
#
# DIR is a configured and built tree (default: build, the Release build of
# scripts/test.sh).  Every executable runs as a single MPI process (no
# mpiexec: valgrind checks pinode, not the launcher) with
#   --leak-check=full, definite and possible leaks counted as errors,
#   --track-origins=yes, --error-exitcode=99,
#   OPENBLAS_CORETYPE=Haswell: valgrind cannot decode AVX-512 instructions;
#   OpenBLAS would pick its AVX-512 kernels from this variable's default
#   (pinode's own kernels, gemm.c/vmath.c, ask CPUID, which valgrind answers
#   without AVX-512),
# and the suppressions of Open MPI (/usr/share/openmpi/openmpi-valgrind.supp)
# plus scripts/valgrind.supp (MPI_Init/MPI_Finalize's own allocations, only).
# (--num-callers=50: the suppressions match the MPI_Init frame at the bottom
# of deep stacks; with valgrind's default of 12 it falls off and MPI's own
# allocations show up as leaks.)  Negative control, run first: a program that
# leaks one pn_modelfile (tests/reliability/valgrind_leak.c) must fail with
# exactly 1 error, in pn_modelfile_create.
set -euo pipefail
cd "$(dirname "$0")/.."
build=build parallel=2 all=0
skip=" test_mlp_kernels test_vmath "
while [ $# -gt 0 ]; do
  case "$1" in
    --build-dir) build="$2"; shift 2 ;;
    --parallel) parallel="$2"; shift 2 ;;
    --all) all=1; shift ;;
    -h|--help) sed -n '2,23p' "$0"; exit 0 ;;
    *) echo "valgrind.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
command -v valgrind >/dev/null || { echo "valgrind.sh: valgrind is needed (scripts/install-deps.sh)" >&2; exit 1; }
[ -d "$build/tests" ] || { echo "valgrind.sh: $build is not a built tree (scripts/test.sh builds 'build')" >&2; exit 1; }
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OPENBLAS_NUM_THREADS=1
export OPENBLAS_CORETYPE=Haswell
supp=(--suppressions=scripts/valgrind.supp)
[ -f /usr/share/openmpi/openmpi-valgrind.supp ] && supp+=(--suppressions=/usr/share/openmpi/openmpi-valgrind.supp)
logs="$build/valgrind"
rm -rf "$logs"
mkdir -p "$logs"

# The jobs: NAME and command line.
jobs=()
for src in tests/unit/test_*.c; do
  name=$(basename "$src" .c)
  if [ $all = 0 ] && [[ "$skip" == *" $name "* ]]; then
    echo "   (left out without --all: $name)"
    continue
  fi
  [ -x "$build/tests/$name" ] || { echo "valgrind.sh: $build/tests/$name is not built" >&2; exit 1; }
  jobs+=("$name|$build/tests/$name")
done
for t in problem csv modelfile config; do
  exe="$build/tests/fuzz/replay_$t"
  [ -x "$exe" ] && jobs+=("replay_$t|$exe tests/fuzz/corpus/$t tests/fuzz/regressions/$t")
done

run_job() {
  local name=${1%%|*} cmd=${1#*|} t0=$SECONDS rc=0
  # shellcheck disable=SC2086
  valgrind --tool=memcheck --error-exitcode=99 --leak-check=full \
    --show-leak-kinds=definite,possible --errors-for-leak-kinds=definite,possible \
    --track-origins=yes --keep-debuginfo=yes --num-callers=50 "${supp[@]}" \
    --log-file="$logs/$name.log" $cmd >"$logs/$name.out" 2>&1 || rc=$?
  echo "$rc $((SECONDS - t0))" >"$logs/$name.rc"
}

echo "== valgrind: negative control (a leak of pinode's must be reported)"
mpicc -O1 -g -I include -I "$build/include" tests/reliability/valgrind_leak.c \
  "$build/src/libpinode.a" -lm -o "$logs/valgrind_leak"
run_job "valgrind_leak|$logs/valgrind_leak"
read -r rc secs <"$logs/valgrind_leak.rc"
if [ "$rc" != 99 ] || ! grep -q "ERROR SUMMARY: 1 errors" "$logs/valgrind_leak.log" ||
   ! grep -q "pn_modelfile_create" "$logs/valgrind_leak.log"; then
  echo "valgrind.sh: the negative control was not reported as exactly one leak (exit $rc):" >&2
  grep -v '^==[0-9]*== *$' "$logs/valgrind_leak.log" | head -40 >&2
  exit 1
fi
echo "   ok: the leak was reported ($(grep -o 'ERROR SUMMARY: [0-9]* errors' "$logs/valgrind_leak.log"), $secs s)"

echo "== valgrind memcheck: ${#jobs[@]} executables, $parallel at a time (logs: $logs)"
for job in "${jobs[@]}"; do
  while [ "$(jobs -rp | wc -l)" -ge "$parallel" ]; do sleep 0.2; done
  run_job "$job" &
done
wait
failed=()
for job in "${jobs[@]}"; do
  name=${job%%|*}
  read -r rc secs <"$logs/$name.rc" || rc=missing
  if [ "$rc" = 0 ]; then
    echo "   ok: $name, $secs s ($(grep -o 'ERROR SUMMARY: [0-9]* errors' "$logs/$name.log"))"
  else
    echo "   FAILED: $name (exit $rc)"
    failed+=("$name")
  fi
done
if [ ${#failed[@]} -gt 0 ]; then
  for name in "${failed[@]}"; do
    echo "== valgrind: $name FAILED" >&2
    tail -5 "$logs/$name.out" >&2
    grep -v '^==[0-9]*== *$' "$logs/$name.log" | head -60 >&2
  done
  exit 1
fi
echo "== valgrind: zero errors in ${#jobs[@]} executables"
