#!/usr/bin/env bash
# The performance benchmark of README "Performance": builds pinode (Release,
# in build-bench/ unless BUILD_DIR is set), builds the PETSc TSAdjoint driver
# from ../shared/peers/petsc into BUILD_DIR/peers when Debian's petsc-dev is
# installed, finds the PyTorch timing script when python3-torch is, and runs
#   mpiexec -n 2 pinode bench --peers ...
# so that PETSc, PyTorch and pinode (1 thread, checkpointed, 2 ranks) are
# timed in the same run.  A missing peer is reported "not available".
# Usage: scripts/bench.sh [pinode bench options...]   (e.g. --repeat 11)
# Environment: PEERS_DIR (default ../shared/peers), RANKS (default 2).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
build=${BUILD_DIR:-build-bench}
peers=${PEERS_DIR:-$root/../shared/peers}
ranks=${RANKS:-2}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
. scripts/blas-env.sh

cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" -j"$(nproc)" --target pinode_cli >/dev/null

# PETSc's driver: the fast (libmvec tanh) variant, built outside the sources.
petsc=""
if [ -f "$peers/petsc/nodeadj_petsc.c" ] && [ -f /usr/lib/petsc/lib/pkgconfig/PETSc.pc ]; then
  mkdir -p "$build/peers"
  cp "$peers/petsc/nodeadj_petsc.c" "$peers/petsc/Makefile" "$build/peers/"
  if make -s -C "$build/peers" VEC=1 >/dev/null 2>&1; then
    petsc=$root/$build/peers/nodeadj_petsc_vec
  else
    echo "bench.sh: building the PETSc driver failed; PETSc not available" >&2
  fi
else
  echo "bench.sh: PETSc not available (apt-get install petsc-dev; peers in $peers)" >&2
fi
torch=""
if [ -f "$peers/torch/torch_time.py" ] && /usr/bin/python3 -c "import torch" 2>/dev/null; then
  torch=$peers/torch/torch_time.py
else
  echo "bench.sh: PyTorch not available (apt-get install python3-torch)" >&2
fi

launch=("$build/bin/pinode")
[ "$ranks" -gt 1 ] && launch=(mpiexec -n "$ranks" --oversubscribe "$build/bin/pinode")
exec "${launch[@]}" bench --peers --petsc "$petsc" --torch "$torch" \
  --bench-dir "$root/tests/data/bench" "$@"
