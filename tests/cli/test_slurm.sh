#!/usr/bin/env bash
# SLURM integration test against real daemons (slurmctld, slurmd, munged) of a
# private single-node cluster started here with the vendored
# slurm/local/start-slurm.sh (and always stopped, even on failure):
#  1. sbatch slurm/strong_scaling.sbatch (one allocation, P = 1, 2), then
#     scripts/study_report.sh: a result file per point, the CSV, the PNGs,
#     under the submission directory's runs/, the log named by the job id,
#     and the commands it logs complete (rerun as logged, they succeed);
#  2. the same as a job array (one point per task), its logs named by array
#     job and task;
#  3. slurm/train.sbatch, srun launch: SLURM's time-limit warning (SIGUSR1 to
#     the batch script, what --signal=B:USR1@T sends) -> pinode checkpoints ->
#     the script requeues the job -> the requeued job resumes; the final model
#     is bitwise the one of an uninterrupted run;
#  4. slurm/train.sbatch, mpirun launch: an external requeue (SIGTERM from
#     SLURM, as on preemption) -> checkpoint -> SLURM requeues -> resume,
#     bitwise the same again.
# Skipped (exit 77, reason printed) when the SLURM packages are missing, when
# not run as root (slurmd must be), or when the cluster cannot start.
# Usage: test_slurm.sh PINODE_BINARY SOURCE_DIR
# ctest-labels: slurm slow
set -euo pipefail
bin=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
src=$(cd "$2" && pwd)
python=/usr/bin/python3
[ -x "$python" ] || python=python3

skip() {
  echo "SKIPPED: $*"
  exit 77
}
fail() {
  echo "FAIL: $*" >&2
  exit 1
}

[ "$(id -u)" -eq 0 ] || skip "needs root (slurmd launches job steps as root)"
for c in slurmctld slurmd munged munge unmunge sbatch srun scontrol squeue scancel sinfo mpirun; do
  command -v "$c" >/dev/null 2>&1 \
    || skip "'$c' not found: install slurmctld slurmd slurm-client munge (scripts/install-deps.sh)"
done

W=$(mktemp -d /tmp/pinode-slurm.XXXXXX) # short: slurmd's unix sockets live below it
chmod 755 "$W"
cleanup() {
  local rc=$?
  "$src/slurm/local/stop-slurm.sh" "$W/c" --purge >/dev/null 2>&1 || true
  rm -rf "$W"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 143' TERM INT # so that the cluster is stopped then too

# The jobs below ask for 2 tasks: on a one-core machine the node advertises 2 CPUs.
if [ "$(nproc)" -lt 2 ]; then export SLURM_OVERRIDE_CPUS=2; fi
# Free TCP ports for slurmctld and slurmd (other clusters may run on this host).
started=0
for try in 1 2 3 4 5; do
  base=$(( 20000 + (($$ * 13 + try * 997) % 20000) * 2 ))
  if command -v ss >/dev/null 2>&1 && [ -n "$(ss -Hltn "( sport = :$base or sport = :$((base + 1)) )")" ]; then
    continue
  fi
  if SLURMCTLD_PORT=$base SLURMD_PORT=$((base + 1)) "$src/slurm/local/start-slurm.sh" "$W/c" \
       >"$W/env.sh" 2>"$W/start.log"; then
    started=1
    break
  fi
  grep -q "already in use" "$W/start.log" || break
done
if [ "$started" != 1 ]; then
  cat "$W/start.log" >&2 || true
  skip "the private SLURM cluster did not start: $(tail -n 1 "$W/start.log" 2>/dev/null)"
fi
# shellcheck disable=SC1091
. "$W/env.sh"
echo "cluster up: $(sinfo -h -o '%P %D %c %T') (ports $base, $((base + 1)))"

export PINODE_BIN=$bin OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
unset PINODE_HOME PINODE_LAUNCHER PINODE_RUN_DIR PINODE_OUT PINODE_RANKS
jobs=$W/jobs
mkdir -p "$jobs"
cd "$jobs"

# job_state ID -> "STATE RESTARTS REASON" (empty once the job has left)
job_state() {
  scontrol -o show job "$1" 2>/dev/null | head -n 1 \
    | sed -n 's/.*JobState=\([A-Z_]*\).*Restarts=\([0-9]*\).*/\1 \2/p;' | tr -d '\n'
  scontrol -o show job "$1" 2>/dev/null | head -n 1 | sed -n 's/.* Reason=\([^ ]*\).*/ \1/p'
}
# wait_job ID SECONDS -> the final state.  A requeued job's hold (SLURM sets
# BeginTime = now + 120 s on requeue) is lifted so that the test does not
# sleep through it, but only 3 s after the requeue with the node idle again:
# slurmd refuses to launch a job whose credential was revoked in the same
# second ("Job credential revoked"), which is what the hold guards against.
wait_job() {
  local id=$1 end=$(( $(date +%s) + $2 )) st held=0
  while :; do
    st=$(job_state "$id")
    case "$st" in
      COMPLETED*|FAILED*|CANCELLED*|TIMEOUT*|NODE_FAIL*|OUT_OF_MEMORY*|BOOT_FAIL*|DEADLINE*) echo "$st"; return 0 ;;
      "") echo GONE; return 0 ;;
      PENDING*BeginTime*)
        [ "$held" -gt 0 ] || held=$(date +%s)
        if [ $(( $(date +%s) - held )) -ge 3 ] && [ "$(sinfo -h -N -o %T | sort -u)" = idle ]; then
          scontrol update JobId="$id" StartTime=now >/dev/null 2>&1 || true
        fi
        ;;
    esac
    if [ "$(date +%s)" -ge "$end" ]; then
      echo "TIMEOUT_WAITING($st)"
      return 1
    fi
    sleep 0.2
  done
}
show_logs() {
  for f in "$@"; do
    echo "---- $f" >&2
    tail -n 40 "$f" >&2 || true
  done
  tail -n 20 "$W/c/log/slurmctld.log" >&2 || true
}

check_study() { # DIR NPOINTS: result files, CSV and PNGs of a strong study
  local dir=$1 n=$2
  [ "$(find "$dir/points" -name 'point-P*.json' | wc -l)" = "$n" ] || fail "$dir: not $n result files"
  "$src/scripts/study_report.sh" "$dir" >"$dir/report.log" || { cat "$dir/report.log" >&2; fail "study_report.sh $dir"; }
  "$python" - "$dir" "$n" <<'PY'
import csv, json, math, os, sys
d, n = sys.argv[1], int(sys.argv[2])
rows = list(csv.DictReader(open(os.path.join(d, "scaling.csv"))))
assert len(rows) == n, rows
assert [int(r["P"]) for r in rows] == [1, 2][:n], rows
for r in rows:
    t = float(r["t_median"])
    assert math.isfinite(t) and t > 0, r
    assert float(r["t_min"]) <= t <= float(r["t_max"]), r
    assert abs(float(r["efficiency"]) - float(r["speedup"]) / int(r["P"])) < 1e-4, r
    assert r["slurm_job"], "no SLURM job id in the result"
    assert float(r["rss_max_mb"]) > 0
assert abs(float(rows[0]["speedup"]) - 1) < 1e-9
p = json.load(open(os.path.join(d, "points", "point-P2.json" if n > 1 else "point-P1.json")))
assert p["slurm"]["job_id"] and p["host"]["hostname"] and len(p["per_rank"]) == p["P"], p
for name in ("strong_scaling", "strong_speedup", "strong_efficiency", "strong_phases"):
    f = os.path.join(d, name + ".png")
    with open(f, "rb") as fh:
        assert fh.read(8) == b"\x89PNG\r\n\x1a\n", f
    assert os.path.getsize(f) > 10000, f
if os.path.exists(os.path.join(d, "model.json")):
    m = json.load(open(os.path.join(d, "model.json")))
    assert m["pipeline"][0]["P"] == 1 and m["network"]["measured"], "model without ping-pong"
print(f"  {d}: {n} points, CSV, 4 PNGs" + (", model" if os.path.exists(os.path.join(d, "model.json")) else ""))
PY
}

# ---- 1. strong scaling in one allocation ---------------------------------
problem=$src/tests/data/bench/small
id=$(sbatch --parsable -n 2 -t 10 "$src/slurm/strong_scaling.sbatch" "$problem" --repeat 3)
st=$(wait_job "$id" 240) || { show_logs pinode-strong-"$id"*.out; fail "strong_scaling job $id: $st"; }
[ "${st%% *}" = COMPLETED ] || { show_logs pinode-strong-"$id"*.out; fail "strong_scaling job $id ended $st"; }
[ -f "pinode-strong-$id.out" ] && [ ! -e "pinode-strong-${id}_4294967294.out" ] \
  || { ls >&2; fail "the log of job $id is not pinode-strong-$id.out"; }
grep -q "launcher 'srun --mpi=" "pinode-strong-$id.out" || fail "strong_scaling did not launch with srun"
check_study "runs/scaling-strong-$id" 2
# the logged command of P = 1, run again as it stands, writes the same files
logged=$(sed -n 's/^  P = 1: //p' "pinode-strong-$id.out")
case "$logged" in *" $problem "*"runs/scaling-strong-$id/raw/grad-P1"*) ;; *) fail "incomplete command in the log: $logged" ;; esac
rm -rf "runs/scaling-strong-$id/raw/grad-P1"
eval "$(sed 's/^srun --mpi=[a-z0-9]*/mpiexec/' <<<"$logged")" >/dev/null \
  || fail "the logged command failed: $logged"
[ -f "runs/scaling-strong-$id/raw/grad-P1/grad_theta.txt" ] || fail "the logged command wrote nothing"
echo "ok 1 ($SECONDS s): sbatch slurm/strong_scaling.sbatch + scripts/study_report.sh"

# ---- 2. the same as a job array -------------------------------------------
id=$(sbatch --parsable --array=0-1 -n 2 -t 10 "$src/slurm/strong_scaling.sbatch" "$problem" --repeat 3)
for task in 0 1; do
  st=$(wait_job "${id}_$task" 240) || { show_logs pinode-strong-*.out; fail "array task $task: $st"; }
  [ "${st%% *}" = COMPLETED ] || { show_logs pinode-strong-*.out; fail "array task $task ended $st"; }
  grep -q "(array task $task)" "pinode-strong-${id}_$task.out" \
    || { ls >&2; fail "no log pinode-strong-${id}_$task.out of array task $task"; }
done
check_study "runs/scaling-strong-$id" 2
echo "ok 2 ($SECONDS s): sbatch --array=0-1 slurm/strong_scaling.sbatch + scripts/study_report.sh"

# ---- 3 and 4. training: checkpoint, requeue, resume ------------------------
# 400 steps a gradient (~2 s of training): the interruption, sent once the
# first checkpoint exists, must find the run still training (at 40 steps it
# took 0.17 s, leaving the signal's path through SLURM little time).
cat > train.ini <<'EOF'
; the pipeline's own guarantees (method = auto may choose another layout)
[parallel]
method = pipeline
[model]
hidden = 16
activation = tanh
[solver]
scheme = rk4
steps = 400
[data]
source = spiral
trajectories = 8
points = 11
validation = 0.25
[optimizer]
method = adam
lr = 0.01
iterations = 300
[output]
checkpoint_every = 5
log_every = 100
EOF
mpiexec -n 2 "$bin" train train.ini --set output.dir="$jobs/reference" --quiet >reference.log 2>&1 \
  || { cat reference.log >&2; fail "the reference training run failed"; }

# train_interrupted LAUNCHER HOW: submit, interrupt after the first checkpoint,
# wait for the requeued job to finish; check the resumed result
train_interrupted() {
  local launcher=$1 how=$2 id run st
  id=$(PINODE_LAUNCHER=$launcher PINODE_KILL_GRACE=2 sbatch --parsable -n 2 -t 10 \
         "$src/slurm/train.sbatch" train.ini)
  run=$jobs/runs/train-$id
  local end=$(( $(date +%s) + 180 ))
  until [ -f "$run/checkpoint.pinode" ]; do
    [ "$(date +%s)" -lt "$end" ] || { show_logs "pinode-train-$id.out"; fail "job $id wrote no checkpoint"; }
    case "$(job_state "$id")" in RUNNING*|PENDING*|CONFIGURING*) ;; *) show_logs "pinode-train-$id.out"; fail "job $id ended early: $(job_state "$id")"; ;; esac
    sleep 0.1
  done
  if [ "$how" = warning ]; then
    scancel --signal=USR1 --batch "$id" # what --signal=B:USR1@T sends before the time limit
  else
    scontrol requeue "$id" # SLURM sends SIGTERM, then requeues (preemption, an administrator)
  fi
  st=$(wait_job "$id" 300) || { show_logs "pinode-train-$id.out"; fail "train job $id: $st"; }
  [ "${st%% *}" = COMPLETED ] || { show_logs "pinode-train-$id.out"; fail "train job $id ended $st"; }
  read -r _ restarts _ <<< "$st"
  [ "${restarts:-0}" -ge 1 ] || { show_logs "pinode-train-$id.out"; fail "job $id was not requeued ($st)"; }
  grep -q "resuming from $run/checkpoint.pinode" "pinode-train-$id.out" \
    || { show_logs "pinode-train-$id.out"; fail "job $id did not resume from its checkpoint"; }
  if [ "$how" = warning ]; then
    grep -q "SIGUSR1: asking pinode to write a checkpoint" "pinode-train-$id.out" || fail "no USR1 handling in the log"
    grep -q "requeueing job $id" "pinode-train-$id.out" || fail "the script did not requeue job $id"
  fi
  "$python" - "$run/summary.json" <<'PY' || { show_logs "pinode-train-$id.out"; fail "summary of job $id"; }
import json, sys
s = json.load(open(sys.argv[1]))
assert s["status"] == "finished", s["status"]
assert s["iterations_done"] == 300, s["iterations_done"]
assert 0 < s["resumed_from"] < 300, s["resumed_from"]
print(f"  resumed at iteration {s['resumed_from']} of 300")
PY
  cmp "$run/model.pinode" "$jobs/reference/model.pinode" \
    || fail "job $id: the resumed model differs from the uninterrupted run's"
  echo "  job $id ($launcher, $how): requeued ${restarts}x, model bitwise equal to the uninterrupted run"
}
train_interrupted auto warning
grep -q "launcher: srun --mpi=" pinode-train-*.out || fail "train.sbatch did not launch with srun"
echo "ok 3 ($SECONDS s): train.sbatch, srun: time-limit warning -> checkpoint -> requeue -> resume"
train_interrupted mpirun requeue
echo "ok 4 ($SECONDS s): train.sbatch, mpirun: SIGTERM (external requeue) -> checkpoint -> requeue -> resume"
echo "all SLURM checks passed in $SECONDS s"
