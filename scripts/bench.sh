#!/usr/bin/env bash
# The performance lab (a development tool, not a test): pinode next to PETSc's
# TSAdjoint and PyTorch, measured in the same run.  Builds pinode and the lab's
# programs (Release, in build-bench/ unless BUILD_DIR is set), builds the PETSc
# driver from scripts/bench/petsc into BUILD_DIR/peers when Debian's petsc-dev
# is installed, finds the PyTorch timing script scripts/bench/torch when
# python3-torch is, and runs scripts/bench/lab.py (see its header) on RANKS
# ranks.  A missing peer is reported "not available".
# Usage: scripts/bench.sh [lab.py options...] [PROBLEM_DIR ...]   (e.g. --repeat 11)
# Environment: BUILD_DIR (default build-bench), RANKS (default 2).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
build=${BUILD_DIR:-build-bench}
peers=$root/scripts/bench
ranks=${RANKS:-2}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
. scripts/blas-env.sh

cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" -j"$(nproc)" --target pinode_cli bench_dgemm bench_tiny >/dev/null

# PETSc's driver: the fast (libmvec tanh) variant, built outside the sources.
petsc=""
if [ -f /usr/lib/petsc/lib/pkgconfig/PETSc.pc ]; then
  mkdir -p "$build/peers"
  cp "$peers/petsc/nodeadj_petsc.c" "$peers/petsc/Makefile" "$build/peers/"
  if make -s -C "$build/peers" VEC=1 >/dev/null 2>&1; then
    petsc=$root/$build/peers/nodeadj_petsc_vec
  else
    echo "bench.sh: building the PETSc driver failed; PETSc not available" >&2
  fi
else
  echo "bench.sh: PETSc not available (apt-get install petsc-dev)" >&2
fi
torch=""
if /usr/bin/python3 -c "import torch" 2>/dev/null; then
  torch=$peers/torch/torch_time.py
else
  echo "bench.sh: PyTorch not available (apt-get install python3-torch)" >&2
fi

exec /usr/bin/python3 scripts/bench/lab.py --build "$build" --ranks "$ranks" --petsc "$petsc" \
  --torch "$torch" "$@"
