# shellcheck shell=bash
# Sourced by slurm/*.sbatch: environment, modules, the pinode program and the
# MPI launcher.  Nothing here names a cluster: every site-specific choice is an
# environment variable (see docs/clusters.md).
#
#   PINODE_MODULES        modules to load first ("module load $PINODE_MODULES")
#   PINODE_BIN            the pinode program (default: PINODE_HOME/build/bin/pinode,
#                         else pinode on PATH)
#   PINODE_BLAS_THREADS   OpenBLAS threads per rank (default 1)
#   PINODE_LAUNCHER       auto (default) | srun | mpirun | any command with {P}
#   PINODE_SRUN_MPI       PMI types srun may use, in order (default "pmix pmi2")
#   PINODE_SRUN_FLAGS     extra srun flags (e.g. "--cpu-bind=cores")
#   PINODE_MPIRUN         mpirun program (default mpirun)
#   PINODE_MPIRUN_FLAGS   extra mpirun flags (e.g. "--bind-to core")

pinode_log() { echo "[pinode $(date +%H:%M:%S)] $*" >&2; }
pinode_die() { pinode_log "ERROR: $*"; exit 1; }

# Modules, OpenBLAS threads, the program.  Sets PINODE_BIN.
pinode_env() {
  if [ -n "${PINODE_MODULES:-}" ]; then
    if ! type module >/dev/null 2>&1; then
      pinode_die "PINODE_MODULES is set but there is no 'module' command"
    fi
    # shellcheck disable=SC2086
    module load $PINODE_MODULES
  fi
  export OPENBLAS_NUM_THREADS="${PINODE_BLAS_THREADS:-1}"
  export OMP_NUM_THREADS="${PINODE_BLAS_THREADS:-1}"
  if [ -f "$PINODE_HOME/scripts/blas-env.sh" ]; then
    # shellcheck source-path=SCRIPTDIR source=../scripts/blas-env.sh
    . "$PINODE_HOME/scripts/blas-env.sh"
  fi
  if [ -z "${PINODE_BIN:-}" ]; then
    if [ -x "$PINODE_HOME/build/bin/pinode" ]; then
      PINODE_BIN=$PINODE_HOME/build/bin/pinode
    else
      PINODE_BIN=$(command -v pinode || true)
    fi
  fi
  if [ -z "$PINODE_BIN" ] || [ ! -x "$PINODE_BIN" ]; then
    pinode_die "no pinode program: build it (cmake --build build) or set PINODE_BIN"
  fi
  export PINODE_BIN
}

# The launch command for this allocation, with {P} for the rank count:
# srun when the cluster's MPI can be started by it (a one-rank probe of
# `pinode --version` under srun --mpi=TYPE for each TYPE srun offers), else
# mpirun (which reads the allocation from SLURM's environment).  Prints it.
pinode_launcher() {
  local choice=${PINODE_LAUNCHER:-auto} types t
  case "$choice" in
    *"{P}"*) echo "$choice"; return ;;
    mpirun) echo "${PINODE_MPIRUN:-mpirun} -n {P} ${PINODE_MPIRUN_FLAGS:-}"; return ;;
    srun|auto) ;;
    *) pinode_die "PINODE_LAUNCHER must be auto, srun, mpirun or a command with {P}, not '$choice'" ;;
  esac
  if command -v srun >/dev/null 2>&1 && [ -n "${SLURM_JOB_ID:-}" ]; then
    types=$(srun --mpi=list 2>&1 | awk 'NR > 1 && $1 !~ /:/ {print $1}' | tr '\n' ' ')
    for t in ${PINODE_SRUN_MPI:-pmix pmi2}; do
      case " $types " in *" $t "*) ;; *) continue ;; esac
      # shellcheck disable=SC2086
      if timeout 120 srun --mpi="$t" -n 1 -N 1 ${PINODE_SRUN_FLAGS:-} "$PINODE_BIN" --version \
           >/dev/null 2>&1; then
        echo "srun --mpi=$t -n {P} ${PINODE_SRUN_FLAGS:-}"
        return
      fi
      pinode_log "srun --mpi=$t cannot start $PINODE_BIN (its MPI lacks that PMI); trying the next"
    done
    if [ "$choice" = srun ]; then pinode_die "PINODE_LAUNCHER=srun, but no PMI type of srun (${PINODE_SRUN_MPI:-pmix pmi2}) starts $PINODE_BIN"; fi
  fi
  echo "${PINODE_MPIRUN:-mpirun} -n {P} ${PINODE_MPIRUN_FLAGS:-}"
}

# Replace {P} and run: pinode_launch LAUNCHER P CMD...
pinode_launch() {
  local cmd=${1//\{P\}/$2} words
  shift 2
  read -r -a words <<< "$cmd"
  "${words[@]}" "$@"
}

# Host and job, for the log.
pinode_banner() {
  pinode_log "job ${SLURM_JOB_ID:-none}${SLURM_ARRAY_TASK_ID:+ (array task $SLURM_ARRAY_TASK_ID)}" \
    "restart ${SLURM_RESTART_COUNT:-0} on ${SLURM_JOB_NODELIST:-$(hostname)}:" \
    "${SLURM_NTASKS:-?} tasks, ${SLURM_JOB_NUM_NODES:-?} nodes, partition ${SLURM_JOB_PARTITION:-?}"
  pinode_log "pinode $("$PINODE_BIN" --version 2>/dev/null | head -n 1) ($PINODE_BIN)," \
    "OPENBLAS_NUM_THREADS=$OPENBLAS_NUM_THREADS"
}

# The scaling scripts' logs are named by array job and task (--output
# NAME-%A_%a.out); outside an array SLURM writes 4294967294 for the task:
# rename that log NAME-<job id>.out (unless a log of that name exists, as
# after a requeue).
pinode_plain_log() {
  local log plain
  [ -n "${SLURM_JOB_ID:-}" ] && [ -z "${SLURM_ARRAY_JOB_ID:-}" ] || return 0
  log=$(scontrol show job -o "$SLURM_JOB_ID" 2>/dev/null \
        | sed -n 's/.* StdOut=\([^ ]*\).*/\1/p' | head -n 1 || true)
  case "$log" in *_4294967294.out) ;; *) return 0 ;; esac
  plain=${log%_4294967294.out}.out
  if [ -f "$log" ] && [ ! -e "$plain" ] && mv "$log" "$plain" 2>/dev/null; then
    pinode_log "this log is $plain"
  fi
}

# pinode_study strong|weak [PROBLEM_DIR] [scripts/study_run.sh options]: the
# body of slurm/strong_scaling.sbatch and slurm/weak_scaling.sbatch, into
# PINODE_OUT, else PINODE_OUTPUT_ROOT/scaling-<study>-<job id>, by default
# below the submission directory's runs/.  In a job array, task I measures the
# I-th rank count only (study_run.sh --point I), into the directory of the
# whole array.
pinode_study() {
  local study=$1 problem=${PINODE_PROBLEM:-$PINODE_HOME/tests/data/bench/spiral} tag out root
  local opts=()
  shift
  if [ $# -gt 0 ] && [ "${1#-}" = "$1" ]; then problem=$1; shift; fi
  tag=${SLURM_ARRAY_JOB_ID:-${SLURM_JOB_ID:-local-$$}}
  root=${PINODE_OUTPUT_ROOT:-${SLURM_SUBMIT_DIR:-$PWD}/runs}
  out=${PINODE_OUT:-$root/scaling-$study-$tag}
  pinode_plain_log
  pinode_banner
  opts=(--study "$study" --problem "$problem" --out "$out" --pinode "$PINODE_BIN"
        --launcher "$(pinode_launcher)" --repeat "${PINODE_REPEAT:-5}")
  if [ -n "${PINODE_RANKS:-}" ]; then opts+=(--ranks "$PINODE_RANKS"); fi
  if [ -n "${PINODE_MICROBATCHES:-}" ]; then opts+=(--microbatches "$PINODE_MICROBATCHES"); fi
  if [ -n "${PINODE_PARAREAL_ITERATIONS:-}" ]; then
    opts+=(--parareal-iterations "$PINODE_PARAREAL_ITERATIONS")
  fi
  if [ -n "${PINODE_METHOD:-}" ]; then opts+=(--method "$PINODE_METHOD"); fi
  if [ -n "${PINODE_PARAREAL_TOL:-}" ]; then opts+=(--parareal-tol "$PINODE_PARAREAL_TOL"); fi
  if [ -n "${SLURM_ARRAY_TASK_ID:-}" ]; then opts+=(--point "$SLURM_ARRAY_TASK_ID"); fi
  "$PINODE_HOME/scripts/study_run.sh" "${opts[@]}" "$@"
}
