#!/usr/bin/env bash
# ctest-labels: reliability
# The directories training runs leave behind, and what a resume may continue
# (pinode train on 2 ranks; in both builds, so these paths run under ASan):
#  1. SIGTERM to every rank of a run of short iterations: exit 3, and --resume
#     DIR without CONFIG (the run's own config.ini) ends with bitwise the
#     model of the uninterrupted run;
#  2. output.overwrite=true over a finished run by a run that diverges at
#     iteration 1: none of the old run's files remain (its checkpoint least
#     of all, and a kill's stale temporary), a file of the user's does;
#     --resume then refuses;
#  3. a memory refusal leaves no directory; a directory of a run that stopped
#     before its first checkpoint (only config.ini and data.csv) is started
#     again by a rerun and by --resume, each saying so, to the reference model;
#  4. a resume over a CSV file changed since (one digit) is refused.
# (The time bound, the continue command and the watchdog: test_fault_signals.sh.)
# Usage: test_fault_rundir.sh PINODE_BINARY SOURCE_DIR
set -euo pipefail
PINODE=$1
SRC=$2
T=$(mktemp -d "${TMPDIR:-/tmp}/pinode-fault-rundir-XXXXXX")
trap 'rm -rf "$T"' EXIT
# shellcheck source=../reliability/lib.sh
. "$SRC/tests/reliability/lib.sh"

config() { # FILE STEPS ITERATIONS
  cat >"$1" <<EOF
[parallel]
method = pipeline
[model]
hidden = 8
[solver]
steps = $2
[data]
source = spiral
trajectories = 8
points = 11
[optimizer]
iterations = $3
batch_size = 4
[output]
checkpoint_every = 1
validate_every = 1
EOF
}

echo "== 1. SIGTERM, then --resume DIR alone"
config "$T/mid.ini" 3000 40
mpiexec -n 2 "$PINODE" train "$T/mid.ini" --quiet --set output.dir="$T/ref" >"$T/ref.log" 2>&1 ||
  fail "reference: $(cat "$T/ref.log")"
mpiexec -n 2 "$PINODE" train "$T/mid.ini" --quiet --set output.dir="$T/term" >"$T/term.log" 2>&1 &
MP=$!
wait_ckpt "$T/term" 5 300 || fail "no checkpoint at iteration 5: $(cat "$T/term.log")"
kill -TERM $(pgrep -P $MP -x pinode)
wait_exit $MP 120
[ "$EXIT_STATUS" = 3 ] || fail "SIGTERM: exit $EXIT_STATUS: $(cat "$T/term.log")"
it=$(check_modelfile "$T/term/checkpoint.pinode")
[ "$it" -lt 40 ] || fail "the run finished before the signal"
mpiexec -n 2 "$PINODE" train --resume "$T/term" --quiet >"$T/resume.log" 2>&1 || fail "resume: $(cat "$T/resume.log")"
cmp -s "$T/ref/model.pinode" "$T/term/model.pinode" || fail "the resumed model differs"
echo "   stopped at iteration $it ($(grep -o 'stopped by a signal [a-z ]*' "$T/term.log")); --resume DIR: model.pinode bitwise"

echo "== 2. output.overwrite=true removes every file of the previous run"
config "$T/fast.ini" 200 20
mpiexec -n 2 "$PINODE" train "$T/fast.ini" --quiet --set output.dir="$T/ow" >"$T/a.log" 2>&1 ||
  fail "run A: $(cat "$T/a.log")"
mkdir -p "$T/a"
cp "$T/ow/model.pinode" "$T/ow/config.ini" "$T/ow/data.csv" "$T/a/"
echo "mine" >"$T/ow/notes.txt"
touch "$T/ow/checkpoint.pinode.tmp.12345" # a kill's leftover
set +e
mpiexec -n 2 "$PINODE" train "$T/fast.ini" --set output.dir="$T/ow" --set output.overwrite=true \
  --set optimizer.method=sgd --set optimizer.lr=1e15 --set model.activation=identity >"$T/b.log" 2>&1
status=$?
set -e
[ $status = 1 ] && grep -q "training diverged at iteration 1" "$T/b.log" || fail "run B: exit $status: $(cat "$T/b.log")"
[ ! -e "$T/ow/checkpoint.pinode" ] && [ ! -e "$T/ow/checkpoint.pinode.tmp.12345" ] ||
  fail "the old run's checkpoint survived the overwrite: $(ls "$T/ow")"
grep -Eq "^lr = (1e\+?15|1000000000000000)$" "$T/ow/config.ini" && [ "$(cat "$T/ow/notes.txt")" = mine ] || fail "$(ls "$T/ow")"
grep -q '"status": "diverged"' "$T/ow/summary.json" || fail "summary.json is not run B's"
grep -q "no checkpoint had been written yet" "$T/b.log" || fail "$(cat "$T/b.log")"
if mpiexec -n 2 "$PINODE" train "$T/fast.ini" --resume "$T/ow" >"$T/r.log" 2>&1; then
  fail "--resume continued the old run over the new one's files"
fi
grep -q "ended without a checkpoint" "$T/r.log" || fail "$(cat "$T/r.log")"
echo "   files now: $(cd "$T/ow" && echo *); --resume refused: the run there ended without a checkpoint"

echo "== 3. a run that stopped before its first checkpoint can be started again"
set +e
mpiexec -n 2 "$PINODE" train "$T/fast.ini" --set output.dir="$T/mem" --set solver.memory_limit_mb=0.001 \
  >"$T/mem.log" 2>&1
status=$?
set -e
[ $status = 1 ] && grep -q "more than the memory limit" "$T/mem.log" || fail "memory: exit $status: $(cat "$T/mem.log")"
[ ! -e "$T/mem" ] || fail "a memory refusal created the output directory: $(ls "$T/mem")"
for how in rerun resume; do
  d="$T/early-$how"
  mkdir -p "$d"
  cp "$T/a/config.ini" "$T/a/data.csv" "$d/" # what a run writes before its first checkpoint
  if [ $how = rerun ]; then
    mpiexec -n 2 "$PINODE" train "$T/fast.ini" --set output.dir="$d" >"$d.log" 2>&1 || fail "rerun: $(cat "$d.log")"
  else
    mpiexec -n 2 "$PINODE" train --resume "$d" >"$d.log" 2>&1 || fail "resume: $(cat "$d.log")"
  fi
  grep -q "$d holds a run that stopped before its first checkpoint: starting it again from iteration 0" "$d.log" ||
    fail "$how: $(cat "$d.log")"
  cmp -s "$T/a/model.pinode" "$d/model.pinode" || fail "$how: model differs from the reference"
  echo "   $how: started again, saying so; model.pinode bitwise the reference"
done
echo "== 4. a resume over changed data"
cp "$T/a/data.csv" "$T/mine.csv"
sed -e 's/^source = spiral/source = csv/' -e "s|^trajectories = 8|file = $T/mine.csv|" -e '/^points/d' \
  "$T/fast.ini" >"$T/csv.ini"
mpiexec -n 2 "$PINODE" train "$T/csv.ini" --quiet --set output.dir="$T/csv" --set optimizer.iterations=4 \
  >"$T/csv.log" 2>&1 || fail "CSV run: $(cat "$T/csv.log")"
sed -i '2s/^\([^,]*,[^,]*,\)[0-9-]/\19/' "$T/mine.csv" # one digit of the first state
if mpiexec -n 2 "$PINODE" train --resume "$T/csv" --extend --set optimizer.iterations=6 >"$T/csv2.log" 2>&1; then
  fail "a resume over changed data was accepted"
fi
grep -q "was written for other data than $T/mine.csv holds now" "$T/csv2.log" || fail "$(cat "$T/csv2.log")"
echo "   refused: $(grep -o 'was written for other data than [^(]*' "$T/csv2.log")"
echo "test_fault_rundir: all checks passed"
