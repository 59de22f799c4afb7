#!/usr/bin/env bash
# The README's run command: install what is missing, build, and run the main
# job on this machine with 2 MPI ranks.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)" >/dev/null
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
. scripts/blas-env.sh
mpiexec -n 2 build/bin/pinode gradient tests/data/bench/deep out/deep --compare tests/data/bench/deep/ref
