#!/usr/bin/env bash
# ctest-labels: reliability slow
# A rank that dies does not leave the others waiting.  pinode train
# on 3 ranks (time split in 3 blocks) with a checkpoint every 20 iterations:
#  1. SIGKILL of one middle rank, midway: mpiexec ends within 60 s (measured;
#     not waiting for a time limit) with a nonzero status and its message
#     naming the killed rank and signal 9; the last checkpoint is complete and
#     consistent; --resume finishes with bitwise the same model.pinode as an
#     uninterrupted run;
#  2. the same for rank 0, the rank that writes the checkpoints;
#  3. SIGKILL of rank 0 at 6 moments spread over a run that checkpoints at
#     every iteration (so most kills land inside or near a write): the
#     checkpoint is never torn (a complete file of some iteration, or none
#     yet), and a resume from the last kill's state, stale temporary files
#     lying next to it, again gives the bitwise model;
#  4. SIGTERM to one rank only: every rank stops after the same iteration
#     (they agree on it), writes the checkpoint and exits with status 3 within
#     60 s; the resume is bitwise;
#  5. SIGTERM to every rank, as slurmstepd does at the time limit: the same.
# (SIGKILL of every rank and SIGTERM to mpiexec: tests/cli/test_resume.sh.)
# Labelled slow: it runs in the Release build only (its code paths, checkpoint
# writes and resumes, run under ASan in test_fault_disk.sh and
# test_fault_divergence.sh).
# Usage: test_fault_kill.sh PINODE_BINARY SOURCE_DIR
set -euo pipefail
PINODE=$1
SRC=$2
T=$(mktemp -d "${TMPDIR:-/tmp}/pinode-fault-kill-XXXXXX")
trap 'rm -rf "$T"' EXIT
# shellcheck source=../reliability/lib.sh
. "$SRC/tests/reliability/lib.sh"

# 1500 steps a gradient (~5 ms an iteration here, 2.5 s a run): the signals
# come at iteration >= 100 and must find the run still training (at 30 steps
# the faster solver once finished the 400 remaining iterations first).
cat >"$T/cfg.ini" <<'EOF'
; the pipeline's own guarantees (method = auto may choose another layout)
[parallel]
method = pipeline
[model]
hidden = 8
[solver]
steps = 1500
[data]
source = spiral
trajectories = 8
points = 11
[optimizer]
iterations = 500
batch_size = 4
[output]
checkpoint_every = 20
EOF
NP=3
train() { mpiexec -n $NP --oversubscribe "$PINODE" train "$T/cfg.ini" --quiet "$@"; }

train --set output.dir="$T/ref"
echo "reference: $(check_modelfile "$T/ref/model.pinode") iterations on $NP ranks"

# Resume DIR (on NP ranks) and compare with the reference bitwise.
resume_equal() {
  local dir=$1
  train --resume "$dir" >"$dir.resume.log" 2>&1 || fail "resume of $dir: $(cat "$dir.resume.log")"
  cmp -s "$T/ref/model.pinode" "$dir/model.pinode" || fail "$dir: resumed model differs"
  echo "   resumed from iteration $(grep -o '"resumed_from": [0-9]*' "$dir/summary.json" | cut -d' ' -f2): model.pinode bitwise equal to the uninterrupted run"
}

# Kill rank R with SIGNAL once DIR's checkpoint reaches iteration IT.
kill_rank_at() {
  local dir=$1 r=$2 sig=$3 it=$4
  shift 4
  rm -f "$dir/checkpoint.pinode" # a previous run's (temporary files stay)
  mpiexec -n $NP --oversubscribe "$PINODE" train "$T/cfg.ini" --quiet --set output.dir="$dir" "$@" \
    >"$dir.log" 2>&1 &
  MP=$!
  wait_ckpt "$dir" "$it" 120 || fail "$dir: no checkpoint at iteration $it after 120 s: $(cat "$dir.log")"
  local pid
  pid=$(rank_pid $MP "$r") || fail "$dir: rank $r not found (the run ended early?)"
  KILLED_AT=$(ckpt_iteration "$dir")
  kill -"$sig" "$pid"
  local t0=$SECONDS
  wait_exit $MP 60
  ELAPSED=$((SECONDS - t0))
  [ "$EXIT_STATUS" != hung ] || fail "$dir: mpiexec still running 60 s after SIG$sig of rank $r"
}

for r in 1 0; do
  echo "== SIGKILL of rank $r of $NP"
  kill_rank_at "$T/kill$r" $r KILL 100
  [ "$EXIT_STATUS" != 0 ] || fail "SIGKILL of rank $r: mpiexec exited with 0"
  grep -Eq "rank $r with PID [0-9]+ on node .* exited on signal 9" "$T/kill$r.log" ||
    fail "SIGKILL of rank $r: no launcher message naming it: $(cat "$T/kill$r.log")"
  [ ! -e "$T/kill$r/summary.json" ] || fail "SIGKILL of rank $r: the run finished anyway"
  it=$(check_modelfile "$T/kill$r/checkpoint.pinode") || fail "rank $r: checkpoint torn"
  echo "   mpiexec exited ($EXIT_STATUS) ${ELAPSED} s after the kill: \"$(grep -Eo "rank $r with PID [0-9]+ on node .* exited on signal 9 \(Killed\)" "$T/kill$r.log" | head -1)\""
  echo "   checkpoint intact at iteration $it (killed at or after $KILLED_AT)"
  resume_equal "$T/kill$r"
done

echo "== SIGKILL of rank 0 at 6 moments of a run that checkpoints every iteration"
d="$T/torn"
for k in 1 2 3 4 5 6; do
  kill_rank_at "$d" 0 KILL $((k * 15)) --set output.checkpoint_every=1 --set output.overwrite=true
  it=$(check_modelfile "$d/checkpoint.pinode") || fail "kill $k: torn checkpoint"
  [ "$it" -ge "$KILLED_AT" ] || fail "kill $k: checkpoint went back from $KILLED_AT to $it"
  # the next run restarts from scratch in the same directory (overwrite)
  echo "   kill $k: exit $EXIT_STATUS after ${ELAPSED} s, checkpoint complete at iteration $it" \
       "($(find "$d" -name '*.tmp.*' | wc -l) stale temporary file(s))"
done
# Resuming from the last state needs the run's own configuration: checkpoint_every=1.
train --resume "$d" --set output.checkpoint_every=1 >"$d.resume.log" 2>&1 ||
  fail "resume after the kills: $(cat "$d.resume.log")"
cmp -s "$T/ref/model.pinode" "$d/model.pinode" || fail "resume after the kills: model differs"
echo "   resumed with stale temporary files present: model.pinode bitwise equal"

echo "== SIGTERM to rank 1 only"
kill_rank_at "$T/term" 1 TERM 100
[ "$EXIT_STATUS" = 3 ] || fail "SIGTERM of one rank: exit status $EXIT_STATUS, expected 3: $(cat "$T/term.log")"
it=$(check_modelfile "$T/term/checkpoint.pinode")
$PY - "$T/term/summary.json" "$it" <<'EOF' || fail "SIGTERM of one rank: summary"
import json, sys
s = json.load(open(sys.argv[1]))
assert s["status"] == "interrupted" and s["iterations_done"] == int(sys.argv[2]) < 500, s["status"]
EOF
echo "   every rank stopped after iteration $it, exit 3 in ${ELAPSED} s, checkpoint at that iteration"
resume_equal "$T/term"
echo "== SIGTERM to every rank (what slurmstepd sends at the time limit)"
mpiexec -n $NP --oversubscribe "$PINODE" train "$T/cfg.ini" --quiet --set output.dir="$T/all" \
  >"$T/all.log" 2>&1 &
MP=$!
wait_ckpt "$T/all" 100 120 || fail "all: no checkpoint at iteration 100 after 120 s"
pids=$(pgrep -P $MP -x pinode) || fail "all: no ranks"
kill -TERM $pids
t0=$SECONDS
wait_exit $MP 60
[ "$EXIT_STATUS" = 3 ] || fail "SIGTERM of every rank: exit $EXIT_STATUS (want 3 within 60 s): $(cat "$T/all.log")"
it=$(check_modelfile "$T/all/checkpoint.pinode")
echo "   exit 3 $((SECONDS - t0)) s after the signal, checkpoint complete at iteration $it"
resume_equal "$T/all"
echo "test_fault_kill: all checks passed"
