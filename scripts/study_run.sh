#!/usr/bin/env bash
# The measuring loop of a scaling study, shared by slurm/strong_scaling.sbatch,
# slurm/weak_scaling.sbatch (inside an allocation: srun or mpirun) and
# scripts/study_local.sh (plain mpiexec, no SLURM).
#
# For each rank count P it runs, through the launcher,
#   pinode gradient --repeat R --json ... PROBLEM      (the pipelined gradient,
#                                                       or Parareal's, or the batch
#                                                       split, with --method)
# and writes the point's result file OUT/points/point-P<P>.json (Parareal:
# point-parareal-P<P>.json, with the iterations it took; batch groups:
# point-batch-P<P>.json)
# (scripts/collect_scaling.py point: P, M, N, B, time per gradient, time per
# phase and memory of every rank, host and SLURM job).  Strong scaling keeps
# the problem; weak scaling runs a problem P times longer (same step, N*P
# steps, scripts/study_problem.py).  Then, unless --point or --no-report:
# `pinode bench --model` on min(2, largest P) ranks (OUT/model.json, its table in
# OUT/model.txt), and scripts/study_report.sh OUT (CSV + PNGs).
#
# usage: scripts/study_run.sh --study strong|weak --problem DIR --out DIR [options]
#   --ranks "1 2 4"        rank counts (default: 1, 2, 4, ... up to --max-ranks)
#   --max-ranks P          (default: $SLURM_NTASKS, else the number of cores)
#   --point I              only the I-th rank count of the list, counting from 0
#                          (SLURM job arrays: I = $SLURM_ARRAY_TASK_ID); the model
#                          runs with I = 0, and nothing is collected
#   --repeat R             timed gradients per point after one warm-up (default 5)
#   --microbatches M       pipeline micro-batches (default: the solver's choice)
#   --method M             pipeline (default), parareal, or batch: P batch groups
#                          of one rank each, every rank a share of the batch over
#                          all the steps (strong scaling only; P <= the batch)
#   --parareal-tol X       Parareal's tolerance (default 0: until nothing changes)
#   --coarse-steps G, --coarse-scheme S, --parareal-adjoint A   Parareal's settings
#   --launcher CMD         launch command, {P} is replaced by the rank count
#                          (default: "mpiexec -n {P}")
#   --pinode BIN           the pinode program (default: $PINODE_BIN, build/bin/pinode
#                          or pinode on PATH)
#   --model-ranks K        ranks for the model's ping-pong (default min(2, largest P));
#                          0: no model
#   --parareal-iterations K[,K2]  passed to the model (Parareal prediction); with
#                          --method parareal the model also measures them ('measure')
#   --no-report            do not collect and plot at the end
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
home=$(cd "$here/.." && pwd)
python=/usr/bin/python3
[ -x "$python" ] || python=python3

die() { echo "study_run.sh: $*" >&2; exit 2; }

study="" problem="" out="" ranks="" max_ranks="" point="" repeat=5 micro="" launcher=""
pinode="${PINODE_BIN:-}" model_ranks="" parareal="" report=1 method=pipeline
par_opts=()
while [ $# -gt 0 ]; do
  case "$1" in
    --study) study=$2; shift 2 ;;
    --problem) problem=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --ranks) ranks=$2; shift 2 ;;
    --max-ranks) max_ranks=$2; shift 2 ;;
    --point) point=$2; shift 2 ;;
    --repeat) repeat=$2; shift 2 ;;
    --microbatches) micro=$2; shift 2 ;;
    --launcher) launcher=$2; shift 2 ;;
    --pinode) pinode=$2; shift 2 ;;
    --model-ranks) model_ranks=$2; shift 2 ;;
    --parareal-iterations) parareal=$2; shift 2 ;;
    --method) method=$2; shift 2 ;;
    --parareal-tol|--coarse-steps|--coarse-scheme|--parareal-adjoint) par_opts+=("$1" "$2"); shift 2 ;;
    --no-report) report=0; shift ;;
    -h|--help) sed -n '2,35p' "$0"; exit 0 ;;
    *) die "unknown argument '$1' (see --help)" ;;
  esac
done
case "$study" in strong|weak) ;; *) die "--study must be strong or weak" ;; esac
case "$method" in pipeline|parareal|batch) ;; *) die "--method must be pipeline, parareal or batch" ;; esac
[ "$method" != batch ] || [ "$study" = strong ] ||
  die "--method batch splits the batch: a weak study would have to grow the batch, not N (use strong)"
[ -n "$problem" ] || die "--problem DIR is required"
[ -f "$problem/meta.txt" ] || die "no problem directory at $problem (meta.txt missing)"
[ -n "$out" ] || die "--out DIR is required"
[[ "$repeat" =~ ^[1-9][0-9]*$ ]] || die "--repeat needs a positive integer"
[ -z "$micro" ] || [[ "$micro" =~ ^[1-9][0-9]*$ ]] || die "--microbatches needs a positive integer"
if [ -z "$pinode" ]; then
  if [ -x "$home/build/bin/pinode" ]; then pinode=$home/build/bin/pinode
  else pinode=$(command -v pinode || true); fi
fi
if [ -z "$pinode" ] || [ ! -x "$pinode" ]; then
  die "no pinode program (build it, or give --pinode BIN / PINODE_BIN)"
fi
[ -n "$launcher" ] || launcher="mpiexec -n {P}"
[[ "$launcher" == *"{P}"* ]] || die "--launcher must contain {P} (the rank count)"

if [ -z "$max_ranks" ]; then max_ranks=${SLURM_NTASKS:-$(nproc)}; fi
[[ "$max_ranks" =~ ^[1-9][0-9]*$ ]] || die "--max-ranks needs a positive integer"
if [ -z "$ranks" ]; then
  ranks=""
  for ((p = 1; p <= max_ranks; p *= 2)); do ranks="$ranks $p"; done
fi
read -r -a plist <<< "$ranks"
[ ${#plist[@]} -gt 0 ] || die "no rank counts"
for p in "${plist[@]}"; do [[ "$p" =~ ^[1-9][0-9]*$ ]] || die "bad rank count '$p'"; done
largest=$(printf '%s\n' "${plist[@]}" | sort -n | tail -n 1)
if [ -n "$point" ]; then
  if ! [[ "$point" =~ ^[0-9]+$ ]] || [ "$point" -ge ${#plist[@]} ]; then
    die "--point $point: the list '${plist[*]}' has ${#plist[@]} entries"
  fi
  todo=("${plist[$point]}")
  report=0
else
  todo=("${plist[@]}")
fi
if [ -z "$model_ranks" ]; then model_ranks=$(( largest < 2 ? largest : 2 )); fi

# launch P CMD...: the launcher with {P} replaced (word-split on purpose: it is
# a command line such as "srun --mpi=pmix -n {P}")
launch() {
  local n=$1
  shift
  local cmd=${launcher//\{P\}/$n}
  read -r -a words <<< "$cmd"
  "${words[@]}" "$@"
}

# show P CMD...: the command launch runs, in full and quoted, to copy and rerun.
show() {
  local n=$1
  shift
  printf '%s' "${launcher//\{P\}/$n}"
  printf ' %q' "$@"
  printf '\n'
}

mkdir -p "$out/points" "$out/raw" "$out/logs"
problem=$(cd "$problem" && pwd)
{
  echo "study $study"
  echo "problem $problem"
  echo "ranks ${plist[*]}"
  echo "repeat $repeat"
  echo "microbatches ${micro:-auto}"
  echo "method $method ${par_opts[*]}"
  echo "launcher $launcher"
  echo "pinode $pinode"
  echo "date $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "host $(hostname)"
} > "$out/study.txt.$$"
mv "$out/study.txt.$$" "$out/study.txt"

echo "study_run.sh: $study scaling of $problem, P = ${todo[*]}, launcher '$launcher', into $out"
for P in "${todo[@]}"; do
  prob=$problem
  if [ "$study" = weak ]; then
    prob=$out/problems/P$P
    mkdir -p "$out/problems"
    "$python" "$home/scripts/study_problem.py" "$problem" "$prob" "$P"
  fi
  mopt=()
  [ -z "$micro" ] || mopt=(--microbatches "$micro")
  name=P$P
  if [ "$method" = parareal ]; then
    mopt+=(--parallel parareal "${par_opts[@]}")
    name=parareal-P$P
  elif [ "$method" = batch ]; then
    mopt+=(--batch-groups "$P")
    name=batch-P$P
  fi
  raw=$out/raw/$name.json
  cmd=("$pinode" gradient --force "${mopt[@]}" --repeat "$repeat" --json "$raw" "$prob"
       "$out/raw/grad-$name")
  echo "  P = $P: $(show "$P" "${cmd[@]}")"
  if ! launch "$P" "${cmd[@]}" > "$out/logs/$name.log" 2>&1; then
    cat "$out/logs/$name.log" >&2
    die "the run on $P ranks failed (log: $out/logs/$name.log)"
  fi
  "$python" "$home/scripts/collect_scaling.py" point --raw "$raw" --study "$study" \
    --method "$method" --log "$out/logs/$name.log" \
    --out "$out/points/point-$name.json" --launcher "${launcher//\{P\}/$P}" --problem "$prob"
  grep -m1 'time per gradient' "$out/logs/$name.log" | sed 's/^/    /' || true
done

# the model, once per study (array jobs: with the first point)
if [ "$model_ranks" -gt 0 ] && { [ -z "$point" ] || [ "$point" = 0 ]; }; then
  # grep reads the whole help (with -q it would stop at the match, and pipefail would take
  # the writer's SIGPIPE for a failure)
  if "$pinode" bench --model --help 2>/dev/null | grep 'usage: pinode bench --model' >/dev/null; then
    popt=()
    if [ "$method" = parareal ] && [ "$model_ranks" -ge 2 ]; then
      popt=(--parareal-iterations "${parareal:+$parareal,}measure" "${par_opts[@]}")
    elif [ -n "$parareal" ]; then
      popt=(--parareal-iterations "$parareal")
    fi
    [ -z "$micro" ] || popt+=(--microbatches "$micro")
    cmd=("$pinode" bench --model --json "$out/model.json" "${popt[@]}" "$problem")
    echo "  model: $(show "$model_ranks" "${cmd[@]}") > $(printf '%q' "$out/model.txt")"
    if ! launch "$model_ranks" "${cmd[@]}" > "$out/model.txt" 2>&1; then
      cat "$out/model.txt" >&2
      die "pinode bench --model failed (log: $out/model.txt)"
    fi
  else
    echo "  model: skipped ('$pinode bench --model' is not available in this build)" \
      | tee "$out/model.txt"
  fi
fi

if [ "$report" = 1 ]; then
  "$home/scripts/study_report.sh" "$out"
fi
