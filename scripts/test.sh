#!/usr/bin/env bash
# The README's test command: install what is missing (Debian packages), build
# with -Werror, run every test; then the same tests built with AddressSanitizer
# + UBSan.  Usage: scripts/test.sh [--no-install] [--fast] [ctest args...]
#   --fast  skip the sanitizer build (for quick local iterations)
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
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DPINODE_WARNINGS_AS_ERRORS=ON >/dev/null
cmake --build build -j"$jobs"
(cd build && ctest --output-on-failure -j"$jobs" "$@")

if [ "$fast" = 0 ]; then
  echo "== build (AddressSanitizer + UBSan) and test"
  cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DPINODE_WARNINGS_AS_ERRORS=ON \
        -DPINODE_ENABLE_SANITIZERS=ON >/dev/null
  cmake --build build-asan -j"$jobs"
  (cd build-asan && ctest --output-on-failure -j"$jobs" -LE slow "$@")
fi
echo "== all tests passed"
