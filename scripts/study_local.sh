#!/usr/bin/env bash
# A scaling study without SLURM (a laptop, a workstation, CI): the same loop as
# slurm/strong_scaling.sbatch and slurm/weak_scaling.sbatch with plain mpiexec,
# then the CSV, the plots and the model.
#
# usage: scripts/study_local.sh strong|weak [PROBLEM_DIR] [scripts/study_run.sh options]
#   PROBLEM_DIR  default tests/data/bench/spiral
#   --out DIR    default scaling-<study>-<date> in the current directory
#   other options as scripts/study_run.sh --help (--ranks "1 2", --repeat R, ...)
# Environment: MPIEXEC (default mpiexec), MPIEXEC_FLAGS (default --oversubscribe,
# so that more ranks than cores run, slowly), OPENBLAS_NUM_THREADS (default 1).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
home=$(cd "$here/.." && pwd)
[ $# -ge 1 ] || { sed -n '2,11p' "$0"; exit 2; }
case "$1" in
  strong|weak) study=$1; shift ;;
  -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
  *) echo "study_local.sh: the first argument must be strong or weak" >&2; exit 2 ;;
esac
problem=$home/tests/data/bench/spiral
if [ $# -gt 0 ] && [ "${1#-}" = "$1" ]; then problem=$1; shift; fi
out=""
args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --out) out=$2; shift 2 ;;
    *) args+=("$1"); shift ;;
  esac
done
[ -n "$out" ] || out=$PWD/scaling-$study-$(date +%Y%m%d-%H%M%S)
export OPENBLAS_NUM_THREADS="${OPENBLAS_NUM_THREADS:-1}"
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"
# shellcheck source=blas-env.sh disable=SC1091
. "$home/scripts/blas-env.sh"
launcher="${MPIEXEC:-mpiexec} -n {P} ${MPIEXEC_FLAGS---oversubscribe}"
exec "$here/study_run.sh" --study "$study" --problem "$problem" --out "$out" \
  --launcher "$launcher" "${args[@]}"
