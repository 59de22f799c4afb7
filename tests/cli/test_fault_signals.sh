#!/usr/bin/env bash
# ctest-labels: reliability slow
# Stopping a training run in a bounded time and continuing it as it was
# (pinode train on 2 ranks):
#  1. SIGTERM to every rank in the middle of an iteration of a slow problem
#     (400,000 steps: 4-5 s an iteration on 2 ranks, 10-20 s for the final
#     losses and predictions, which a signal used to wait for): exit 3
#     within 5 s of the signal, the last completed iteration checkpointed, no
#     predictions of it, the continue command printed with the launch and
#     the run's directory;
#  2. SIGTERM to one rank only, in the middle of iteration 2 of a run started
#     with --set options: the command it prints, followed as printed, ends
#     with bitwise the model and history of the uninterrupted run;
#  3. a resume with another optimizer.iterations is refused, naming the key
#     and --extend; with --extend it trains on to the new count;
#  4. --timeout 0.5 (an iteration takes seconds): exit 1 soon after, the
#     message names the timeout, the checkpoint holds iteration 0; pinode
#     gradient --timeout the same; a rank stopped with SIGSTOP 1 s into an
#     iteration under --timeout 4 does not keep the other waiting: the job
#     ends with status 1 about 14 s later, the message saying why.
# (Overwriting, restarting and changed data: test_fault_rundir.sh.)
# Labelled slow: seconds-long iterations on purpose, in the Release build only.
# Usage: test_fault_signals.sh PINODE_BINARY SOURCE_DIR
set -euo pipefail
PINODE=$1
SRC=$2
T=$(mktemp -d "${TMPDIR:-/tmp}/pinode-fault-signals-XXXXXX")
trap 'rm -rf "$T"' EXIT
# shellcheck source=../reliability/lib.sh
. "$SRC/tests/reliability/lib.sh"

config() { # FILE STEPS STORAGE ITERATIONS
  cat >"$1" <<EOF
[parallel]
method = pipeline
[model]
hidden = 8
[solver]
steps = $2
storage = $3
[data]
source = spiral
trajectories = 8
points = 11
[optimizer]
iterations = $4
batch_size = 4
[output]
checkpoint_every = 1
validate_every = 1
EOF
}
now() { date +%s.%N; }
since() { $PY -c "import sys; print('%.2f' % (float(sys.argv[2]) - float(sys.argv[1])))" "$1" "$(now)"; }
within() { $PY -c "import sys; sys.exit(0 if float(sys.argv[1]) <= float(sys.argv[2]) else 1)" "$1" "$2"; }

# Start `pinode train CFG ARGS...` on 2 ranks in the background (MP: mpiexec's PID).
start() {
  local log=$1
  shift
  mpiexec -n 2 "$PINODE" train "$@" >"$log" 2>&1 &
  MP=$!
}

echo "== 1. SIGTERM during an iteration of seconds: exit 3 within 5 s"
config "$T/slow.ini" 400000 binomial:64 3
start "$T/slow.log" "$T/slow.ini" --set output.dir="$T/slow"
wait_ckpt "$T/slow" 1 300 || fail "no checkpoint at iteration 1: $(cat "$T/slow.log")"
sleep 1
kill -TERM $(pgrep -P $MP -x pinode)
t0=$(now)
wait_exit $MP 60
took=$(since "$t0")
[ "$EXIT_STATUS" = 3 ] || fail "exit status $EXIT_STATUS, expected 3: $(cat "$T/slow.log")"
within "$took" 5 || fail "exit 3 came $took s after SIGTERM (bound 5 s): $(cat "$T/slow.log")"
it=$(check_modelfile "$T/slow/checkpoint.pinode")
$PY - "$T/slow" "$it" <<'EOF' || fail "state after SIGTERM"
import json, os, sys
d, it = sys.argv[1], int(sys.argv[2])
s = json.load(open(d + "/summary.json"))
assert s["status"] == "interrupted" and s["iterations_done"] == it and 1 <= it < 3, (s["status"], it)
assert not os.path.exists(d + "/predictions.csv")
EOF
grep -q "stopped by a signal during the" "$T/slow.log" || fail "not stopped mid-iteration: $(cat "$T/slow.log")"
grep -qx "continue with: mpiexec -n 2 pinode train --resume $T/slow" "$T/slow.log" ||
  fail "continue command: $(cat "$T/slow.log")"
echo "   exit 3 $took s after SIGTERM, checkpoint at iteration $it: $(grep -o 'stopped by a signal during [a-z ]*' "$T/slow.log")"

echo "== 2. the printed command continues the run bitwise"
config "$T/cfg.ini" 200000 all 6
sets=(--set optimizer.iterations=3 --set optimizer.lr=0.02)
mpiexec -n 2 "$PINODE" train "$T/cfg.ini" --quiet "${sets[@]}" --set output.dir="$T/ref" >"$T/ref.log" 2>&1 ||
  fail "reference run: $(cat "$T/ref.log")"
start "$T/int.log" "$T/cfg.ini" --quiet "${sets[@]}" --set output.dir="$T/int"
wait_ckpt "$T/int" 1 120 || fail "no checkpoint at iteration 1: $(cat "$T/int.log")"
kill -TERM "$(rank_pid $MP 1)" # early in iteration 2's gradient
wait_exit $MP 60
[ "$EXIT_STATUS" = 3 ] || fail "SIGTERM of rank 1: exit $EXIT_STATUS: $(cat "$T/int.log")"
grep -q "stopped by a signal during the" "$T/int.log" || fail "not stopped mid-iteration: $(cat "$T/int.log")"
cmd=$(sed -n 's/^continue with: //p' "$T/int.log")
[ "$cmd" = "mpiexec -n 2 pinode train --resume $T/int" ] || fail "continue command '$cmd'"
it=$(check_modelfile "$T/int/checkpoint.pinode")
[ "$it" -lt 3 ] || fail "the run finished before the signal"
cp -r "$T/int" "$T/int2" # for 3.
${cmd/#mpiexec -n 2 pinode/mpiexec -n 2 $PINODE} >"$T/cont.log" 2>&1 || fail "following '$cmd': $(cat "$T/cont.log")"
grep -q "resuming $T/int at iteration $it of 3" "$T/cont.log" || fail "$(cat "$T/cont.log")"
cmp -s "$T/ref/model.pinode" "$T/int/model.pinode" || fail "the continued run's model differs"
cmp -s <(cut -d, -f1-5 "$T/ref/history.csv") <(cut -d, -f1-5 "$T/int/history.csv") ||
  fail "the continued run's history differs"
echo "   '$cmd': model.pinode and history bitwise those of the uninterrupted run"

echo "== 3. a resume that changes the number of iterations"
if mpiexec -n 2 "$PINODE" train "$T/cfg.ini" --resume "$T/int2" --quiet --set optimizer.lr=0.02 \
  >"$T/it.log" 2>&1; then fail "a resume with optimizer.iterations 6 instead of 3 was accepted"; fi
grep -q "written by a run of optimizer.iterations = 3, but the configuration now has 6" "$T/it.log" &&
  grep -q -- "--extend" "$T/it.log" || fail "message: $(cat "$T/it.log")"
mpiexec -n 2 "$PINODE" train "$T/cfg.ini" --resume "$T/int2" --quiet --set optimizer.lr=0.02 --extend \
  >"$T/ext.log" 2>&1 || fail "--extend: $(cat "$T/ext.log")"
$PY - "$T/int2" <<'EOF' || fail "--extend: summary"
import json, sys
s = json.load(open(sys.argv[1] + "/summary.json"))
assert s["status"] == "finished" and s["iterations_done"] == 6 and s["resumed_from"] in (1, 2), s
EOF
echo "   refused: $(grep -o 'written by a run of optimizer.iterations = 3, but the configuration now has 6' "$T/it.log"); with --extend: 6 iterations"

echo "== 4. the watchdog"
start "$T/to.log" "$T/slow.ini" --timeout 0.5 --set output.dir="$T/to"
t0=$(now)
wait_exit $MP 120
[ "$EXIT_STATUS" = 1 ] || fail "--timeout 0.5: exit $EXIT_STATUS: $(cat "$T/to.log")"
grep -q "iteration 1 took longer than its timeout of 0.5 s (parallel.timeout)" "$T/to.log" ||
  fail "--timeout 0.5: $(cat "$T/to.log")"
grep -q "continue with: mpiexec -n 2 pinode train --resume $T/to" "$T/to.log" || fail "$(cat "$T/to.log")"
[ "$(check_modelfile "$T/to/checkpoint.pinode")" = 0 ] || fail "--timeout: checkpoint"
echo "   train --timeout 0.5: exit 1 after $(since "$t0") s (setup included), checkpoint at iteration 0"
g="$T/long"
mkdir -p "$g"
cp "$SRC"/tests/data/bench/small/*.txt "$g/"
sed -i 's/^steps .*/steps 4000000/' "$g/meta.txt"
set +e
mpiexec -n 2 "$PINODE" gradient "$g" "$T/g" --timeout 0.5 --storage binomial:64 >"$T/g.log" 2>&1
status=$?
set -e
[ $status = 1 ] && grep -q "the gradient took longer than --timeout 0.5 s: stopped on every rank" "$T/g.log" ||
  fail "gradient --timeout: exit $status: $(cat "$T/g.log")"
[ ! -e "$T/g/loss.txt" ] || fail "gradient --timeout wrote loss.txt"
echo "   gradient --timeout 0.5: exit 1, nothing written"
start "$T/stop.log" "$T/slow.ini" --timeout 4 --set output.dir="$T/stop"
# config.ini and data.csv are written just before the first iteration begins
for _ in $(seq 1200); do [ -e "$T/stop/data.csv" ] && break; sleep 0.1; done
sleep 1
kill -STOP "$(rank_pid $MP 1)"
t0=$(now)
wait_exit $MP 60
[ "$EXIT_STATUS" = 1 ] || fail "SIGSTOP of rank 1 under --timeout 4: exit $EXIT_STATUS: $(cat "$T/stop.log")"
grep -q "pinode: rank 0: iteration 1 is still running 10.4 s after its timeout of 4 s" "$T/stop.log" ||
  fail "SIGSTOP: $(cat "$T/stop.log")"
echo "   rank 1 stopped (SIGSTOP) under --timeout 4: the job ended with status 1 $(since "$t0") s later"

echo "test_fault_signals: all checks passed"
