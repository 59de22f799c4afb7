#!/usr/bin/env bash
# The README's run command: install what running needs (scripts/install-deps.sh
# --run; the test command installs the rest), build the program, then train a
# neural ODE on the spiral of torchdiffeq's demo on 2 MPI ranks (the time axis
# split between them).  Ends with out/spiral/fit.png (data and model overlaid,
# losses) and a summary; out/spiral/ also holds the model, the loss history,
# the predictions, summary.json and a checkpoint.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh --run
# The test suite only where its cmocka is installed (the test command's).
tests=OFF
[ ! -f /usr/include/cmocka.h ] || tests=ON
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DPINODE_BUILD_TESTS="$tests" >/dev/null
cmake --build build -j"$(nproc)" --target pinode_cli >/dev/null
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
. scripts/blas-env.sh
# overwrite=true: this demo replaces the files of its previous run.
mpiexec -n 2 build/bin/pinode train scripts/configs/spiral.ini --set output.overwrite=true
/usr/bin/python3 scripts/plot_run.py out/spiral
