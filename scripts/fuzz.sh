#!/usr/bin/env bash
# Fuzz pinode's file readers with libFuzzer for a bounded time.
#
#   scripts/fuzz.sh [--seconds S] [--seed N] [--build-dir DIR] [--parallel J] [TARGET...]
#
# TARGETs: problem (pn_problem_read), csv (pn_dataset_read_csv), modelfile
# (pn_modelfile_read), config (the program's INI parser); default all.  Each
# runs S seconds (default 60), J at a time (default 2), from the committed
# seed corpus tests/fuzz/corpus/TARGET (read-only; new inputs go to
# DIR/fuzz-corpus/TARGET), with an ASan+UBSan+libFuzzer build made with
# clang-14 in DIR (default build-fuzz).  Limits that turn a hostile input
# into a failure: 2 GiB of RSS, 1 GiB in one malloc, 10 s for one input.
# --seed N fixes libFuzzer's random seed (scripts/test.sh passes one, so
# that CI explores the same inputs first every time and a finding there is
# reproducible here); without it every run explores anew.
#
# A failure leaves the input in DIR/fuzz-artifacts/TARGET-crash-* (or
# -leak-, -oom-, -timeout-), prints it, and exits 1.  Fix the bug, then copy
# the input to tests/fuzz/regressions/TARGET/ (a descriptive name): ctest
# fuzz_replay_TARGET replays it in every build from then on.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=60 build=build-fuzz parallel=2 seed=0 targets=()
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) seconds="$2"; shift 2 ;;
    --seed) seed="$2"; shift 2 ;;
    --build-dir) build="$2"; shift 2 ;;
    --parallel) parallel="$2"; shift 2 ;;
    -h|--help) sed -n '2,21p' "$0"; exit 0 ;;
    -*) echo "fuzz.sh: unknown option $1" >&2; exit 2 ;;
    *) targets+=("$1"); shift ;;
  esac
done
[ ${#targets[@]} -gt 0 ] || targets=(problem csv modelfile config)
cc=$(command -v clang-14 || command -v clang || true)
[ -n "$cc" ] || { echo "fuzz.sh: clang-14 is needed (scripts/install-deps.sh)" >&2; exit 1; }

export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OPENBLAS_NUM_THREADS=1
# libFuzzer reports per-input leaks; MPI's own allocations at exit are not
# the inputs' (leak_check_at_exit=0).  A smaller quarantine keeps RSS low.
export ASAN_OPTIONS=leak_check_at_exit=0:quarantine_size_mb=64:detect_leaks=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export OMPI_MCA_opal_signal=""  # let libFuzzer, not Open MPI, handle crashes

echo "== fuzz: build with $cc in $build"
CC="$cc" cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPINODE_BUILD_FUZZERS=ON \
  -DCMAKE_C_FLAGS="-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer" \
  >/dev/null
cmake --build "$build" -j"$parallel" --target "${targets[@]/#/fuzz_}" >/dev/null

artifacts="$build/fuzz-artifacts"
mkdir -p "$artifacts"
run_one() {
  local t="$1" work="$build/fuzz-corpus/$1"
  mkdir -p "$work"
  local dict=()
  [ -f "tests/fuzz/$t.dict" ] && dict=(-dict="tests/fuzz/$t.dict")
  "$build/tests/fuzz/fuzz_$t" -max_total_time="$seconds" -rss_limit_mb=2048 -malloc_limit_mb=1024 \
    -timeout=10 -max_len=16384 -print_final_stats=1 -seed="$seed" "${dict[@]}" \
    -artifact_prefix="$artifacts/$t-" "$work" "tests/fuzz/corpus/$t" >"$build/fuzz-$t.log" 2>&1
}

echo "== fuzz: ${targets[*]}, ${seconds} s each, $parallel at a time"
failed=()
pids=() names=()
for t in "${targets[@]}"; do
  run_one "$t" & pids+=($!) names+=("$t")
  if [ ${#pids[@]} -ge "$parallel" ]; then
    if ! wait "${pids[0]}"; then failed+=("${names[0]}"); fi
    pids=("${pids[@]:1}") names=("${names[@]:1}")
  fi
done
for i in "${!pids[@]}"; do
  if ! wait "${pids[$i]}"; then failed+=("${names[$i]}"); fi
done

for t in "${targets[@]}"; do
  log="$build/fuzz-$t.log"
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1)
  echo "   $t: ${runs:-?} inputs, ${cov:-cov: ?} (log: $log)"
done
if [ ${#failed[@]} -gt 0 ]; then
  for t in "${failed[@]}"; do
    echo "== fuzz: $t FAILED; the end of its log:" >&2
    grep -av '^#[0-9]' "$build/fuzz-$t.log" | tail -40 >&2
  done
  ls -l "$artifacts" >&2
  echo "fuzz.sh: add each input above to tests/fuzz/regressions/<target>/ once fixed" >&2
  exit 1
fi
echo "== fuzz: no crash, leak, timeout or huge allocation"
