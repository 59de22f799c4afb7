#!/usr/bin/env bash
# The README's test command: install what is missing (Debian packages), build
# with -Werror, run every test; then the same tests built with AddressSanitizer
# + UBSan; then the reliability checks: static analysis, valgrind memcheck of
# the unit tests, and a bounded fuzzing run of every reader
# (PINODE_FUZZ_SECONDS per reader, default 60).
# Usage: scripts/test.sh [--no-install] [--fast] [ctest args...]
#   --fast  skip the sanitizer build and the reliability checks (for quick
#           local iterations)
set -euo pipefail
cd "$(dirname "$0")/.."
install=1 fast=0
while [ $# -gt 0 ]; do
  case "$1" in
    --no-install) install=0; shift ;;
    --fast) fast=1; shift ;;
    *) break ;;
  esac
done
[ "$install" = 1 ] && scripts/install-deps.sh
jobs=$(nproc)
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
. scripts/blas-env.sh

echo "== build (Release, -Werror) and test"
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DPINODE_WARNINGS_AS_ERRORS=ON \
      -DPINODE_BUILD_TESTS=ON >/dev/null
cmake --build build -j"$jobs"
(cd build && ctest --output-on-failure -j"$jobs" "$@")

if [ "$fast" = 0 ]; then
  echo "== build (AddressSanitizer + UBSan) and test"
  cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DPINODE_WARNINGS_AS_ERRORS=ON \
        -DPINODE_ENABLE_SANITIZERS=ON >/dev/null
  cmake --build build-asan -j"$jobs"
  (cd build-asan && ctest --output-on-failure -j"$jobs" -LE slow "$@")

  # Reliability checks (docs/reliability.md), each its own script.
  echo "== reliability: static analysis of src/ (cppcheck, clang-tidy)"
  scripts/static-analysis.sh --build-dir build-static --jobs "$jobs"
  echo "== reliability: valgrind memcheck over the unit tests (Release build)"
  scripts/valgrind.sh --build-dir build --parallel "$jobs"
  echo "== reliability: fuzzing the readers (libFuzzer, ${PINODE_FUZZ_SECONDS:-60} s each)"
  scripts/fuzz.sh --build-dir build-fuzz --seconds "${PINODE_FUZZ_SECONDS:-60}" \
    --seed "${PINODE_FUZZ_SEED:-1}" --parallel "$jobs"
fi
echo "== all tests passed"
