#!/usr/bin/env bash
# Install pinode's dependencies from Debian packages, if missing.
# Usage: scripts/install-deps.sh [--run]
#   --run  only what building and running pinode needs (scripts/run.sh): a C
#          compiler, CMake, Open MPI, libinih, and matplotlib for the plots
#   (none) also everything the tests use (scripts/test.sh)
set -euo pipefail
only_run=0
case "${1:-}" in
  --run) only_run=1 ;;
  "") ;;
  *) echo "usage: scripts/install-deps.sh [--run]" >&2; exit 2 ;;
esac
pkgs=(build-essential cmake pkg-config openmpi-bin libopenmpi-dev libinih-dev python3-numpy
      python3-matplotlib
      # trajectories in parallel HDF5 (docs/formats.md) and reading them from Python
      libhdf5-openmpi-dev python3-h5py)
if [ "$only_run" = 0 ]; then
  pkgs+=(# the test suite; OpenBLAS for the performance lab's DGEMM reference
         libcmocka-dev libopenblas-dev
         # simulated clusters (scripts/simulate.sh, docs/simulation.md): SimGrid's SMPI
         libsimgrid-dev
         # the Python package (python/, docs/python.md): its bindings, tests and install
         python3-mpi4py python3-pytest python3-torch python3-setuptools python3-pip python3-venv
         # reliability checks (docs/reliability.md): libFuzzer, static analysis, memcheck
         clang-14 libclang-rt-14-dev clang-tidy-14 cppcheck valgrind procps)
fi
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

[ "$only_run" = 0 ] || exit 0

# SLURM daemons and clients for the SLURM integration test (tests/cli/test_slurm.sh
# starts a private cluster from them; slurm/local/).  Optional: if they cannot
# be installed, that test reports itself skipped, so a failure here is only a
# warning.  No daemon is started by the installation (policy-rc.d).
slurm_pkgs=(slurmctld slurmd slurm-client munge)
slurm_missing=()
for p in "${slurm_pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || slurm_missing+=("$p")
done
if [ ${#slurm_missing[@]} -gt 0 ]; then
  echo "installing (optional, for the SLURM test): ${slurm_missing[*]}"
  sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo
  policy=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    policy=/usr/sbin/policy-rc.d
    printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy" >/dev/null && $sudo chmod 755 "$policy" || policy=""
  fi
  if ! { $sudo apt-get update -qq &&
         DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
           "${slurm_missing[@]}" >/dev/null; }; then
    echo "warning: could not install ${slurm_missing[*]}; the SLURM test will be skipped" >&2
  fi
  [ -z "$policy" ] || $sudo rm -f "$policy"
fi
