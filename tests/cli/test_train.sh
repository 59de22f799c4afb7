#!/usr/bin/env bash
# pinode train: outputs, loss decrease, bitwise determinism, agreement across
# rank counts, the output-directory guard, divergence and --quiet.
# Usage: test_train.sh PINODE_BINARY SOURCE_DIR
set -euo pipefail
PINODE=$1
SRC=$2
PY=/usr/bin/python3
T=$(mktemp -d /tmp/pinode_test_train.XXXXXX)
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
run() { mpiexec -n "$1" --oversubscribe "$PINODE" "${@:2}"; }

cat >"$T/tiny.ini" <<'EOF'
; the pipeline's own guarantees (method = auto may choose another layout)
[parallel]
method = pipeline
[model]
hidden = 8
[solver]
steps = 20
[data]
source = spiral
trajectories = 8
points = 11
[optimizer]
iterations = 30
batch_size = 4
[output]
checkpoint_every = 10
log_every = 10
EOF

# 1 rank: every output file, valid JSON, history and predictions of the right size.
run 1 train "$T/tiny.ini" --set output.dir="$T/a" >"$T/a.log"
for f in history.csv model.pinode predictions.csv data.csv config.ini summary.json checkpoint.pinode; do
  [ -s "$T/a/$f" ] || fail "missing output $f"
done
grep -q "^finished: 30 iterations on 1 rank" "$T/a.log" || fail "no final report: $(cat "$T/a.log")"
# Progress: plain lines every output.log_every iterations (and the first and
# last) under mpiexec, never carriage returns in a log.
[ "$(grep -c '^it .*loss .*val .*|g| .*s/it  ETA' "$T/a.log")" = 4 ] || fail "progress: $(cat "$T/a.log")"
! grep -q $'\r' "$T/a.log" || fail "carriage return in the progress log"
$PY - "$T/a" <<'EOF' || fail "summary/history/predictions check"
import json, sys, numpy as np
d = sys.argv[1]
s = json.load(open(d + "/summary.json"))
assert s["status"] == "finished" and s["iterations_done"] == 30, s
assert s["ranks"] == 1 and s["config"]["optimizer"]["batch_size"] == "4", s["config"]
assert s["rhs_evaluations"] > 0 and len(s["peak_rss_mb_per_rank"]) == 1
h = np.loadtxt(d + "/history.csv", delimiter=",", skiprows=1)
assert h.shape == (30, 6), h.shape
assert np.all(np.isfinite(h[:, 1])) and np.all(np.diff(h[:, 0]) == 1)
# The loss must fall: the untrained network misses the spiral by far.
assert s["final"]["train_loss"] < 0.5 * h[0, 1], (s["final"], h[0, 1])
p = np.loadtxt(d + "/predictions.csv", delimiter=",", skiprows=1)
assert p.shape == (8 * 21, 4), p.shape   # 8 trajectories x grid points 0..20
EOF

# Same configuration and seeds: bitwise the same model.
run 1 train "$T/tiny.ini" --set output.dir="$T/b" --quiet >"$T/b.log"
[ ! -s "$T/b.log" ] || fail "--quiet printed: $(cat "$T/b.log")"
cmp -s "$T/a/model.pinode" "$T/b/model.pinode" || fail "two identical runs differ"

# 2 and 3 ranks: the same training to rounding.  Every rank count runs the
# same steps in the same order; only the order of the final sums (loss,
# gradient Allreduce) differs, ~1e-16 relative per iteration, which 30 Adam
# updates do not amplify beyond 1e-12.
for np_ in 2 3; do
  run $np_ train "$T/tiny.ini" --set output.dir="$T/p$np_" --quiet
  $PY - "$SRC/scripts" "$T/a/model.pinode" "$T/p$np_/model.pinode" <<'EOF' || fail "$np_ ranks differ"
import sys
sys.path.insert(0, sys.argv[1])
import numpy as np, read_model
a = read_model.load(sys.argv[2])["arrays"]["theta"]
b = read_model.load(sys.argv[3])["arrays"]["theta"]
err = np.linalg.norm(a - b) / np.linalg.norm(a)
print("theta relative difference 1 vs P ranks: %.2e" % err)
assert err <= 1e-12, err
EOF
done

# An existing, non-empty output directory is never overwritten silently.
sum_before=$(md5sum "$T/a/model.pinode")
if run 1 train "$T/tiny.ini" --set output.dir="$T/a" 2>"$T/err.log" >/dev/null; then
  fail "training into an existing directory succeeded"
fi
grep -q "already exists and is not empty; nothing was overwritten" "$T/err.log" || fail "$(cat "$T/err.log")"
[ "$(md5sum "$T/a/model.pinode")" = "$sum_before" ] || fail "the refused run changed model.pinode"
run 1 train "$T/tiny.ini" --set output.dir="$T/a" --set output.overwrite=true --quiet
cmp -s "$T/a/model.pinode" "$T/b/model.pinode" || fail "overwrite=true run differs"

# Divergence: a huge SGD step on a linear network (identity activation) makes
# the states grow exponentially until they overflow.  The run stops with a clear
# message and exit status 1; model.pinode holds the last good (finite) θ and
# the last checkpoint (every iteration here) is that same state.
set +e
run 2 train "$T/tiny.ini" --set output.dir="$T/div" --set optimizer.method=sgd \
  --set optimizer.lr=1e2 --set model.activation=identity --set output.checkpoint_every=1 \
  2>"$T/div.log" >/dev/null
status=$?
set -e
[ $status = 1 ] || fail "divergence exit status $status"
grep -q "training diverged at iteration" "$T/div.log" || fail "$(cat "$T/div.log")"
grep -q "last good weights" "$T/div.log" || fail "$(cat "$T/div.log")"
$PY - "$SRC/scripts" "$T/div" <<'EOF' || fail "after divergence"
import sys, json
sys.path.insert(0, sys.argv[1])
import numpy as np, read_model
d = sys.argv[2]
m = read_model.load(d + "/model.pinode")
s = json.load(open(d + "/summary.json"))
assert s["status"] == "diverged", s["status"]
assert np.all(np.isfinite(m["arrays"]["theta"]))
it = int(m["header"]["iteration"])
assert it == s["iterations_done"], (it, s["iterations_done"])
if it > 0:  # a checkpoint was written at every good iteration: the last one is this state
    c = read_model.load(d + "/checkpoint.pinode")
    assert int(c["header"]["iteration"]) == it
    assert np.array_equal(c["arrays"]["theta"], m["arrays"]["theta"])
print("diverged after %d good iterations: %s" % (it, s["message"][:100]))
EOF
# Help and usage.
# (each output read whole first: with pipefail, `cmd | grep -q` fails when
# grep stops reading early and cmd dies of SIGPIPE on its next write)
help=$("$PINODE" --help)
grep -q "^  train .*fit a neural ODE" <<<"$help" || fail "pinode --help lacks train"
grep -q "^  predict " <<<"$help" || fail "pinode --help lacks predict"
grep -q "usage: pinode train \[options\] CONFIG" <<<"$("$PINODE" train --help)" || fail "train --help"
grep -q "usage: pinode predict" <<<"$("$PINODE" predict --help)" || fail "predict --help"
grep -q "^pinode [0-9]" <<<"$("$PINODE" --version)" || fail "--version"
# Every command's --help ends with the one list of exit statuses.
for cmd in "" train predict gradient gradcheck bench "bench --model"; do
  # shellcheck disable=SC2086  # $cmd: a command and its words
  out=$("$PINODE" $cmd --help)
  grep -q "^exit status (every command): 0 success; 1 failure" <<<"$out" ||
    fail "pinode $cmd --help lists no exit statuses"
done
set +e
"$PINODE" train >/dev/null 2>&1; s1=$?
"$PINODE" train "$T/tiny.ini" --bogus >/dev/null 2>&1; s2=$?
set -e
[ $s1 = 2 ] && [ $s2 = 2 ] || fail "usage errors exit with $s1 and $s2, expected 2"
echo "test_train: all checks passed"
