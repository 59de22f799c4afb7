#!/usr/bin/env bash
# ctest-labels: reliability
# Divergence: a trajectory that overflows or becomes NaN is
# reported with the step, its time and the rank that computed it; training
# stops with the last good checkpoint and weights kept.
#  1. pinode gradient, dz/dt = w z (Euler, h = 1/20, 1 + h w = 1e30, z0 = 1):
#     z_n = 1e30^n overflows exactly at step 11, t = 0.55.  On 1..4 ranks the
#     message names step 11, t = 0.55 and the rank that owns step 11 (blocks
#     of 20 steps: 0, 1, 1, 2), with exit status 1, on every rank count.
#  2. pinode train on 3 ranks, plain SGD with a step far too large, a
#     checkpoint every 3 iterations: exit 1 with "training diverged at
#     iteration K" and the step, time and rank; summary.json says diverged;
#     model.pinode holds the weights of iteration K-1, finite, and equal to
#     the checkpoint's when that was written at K-1 (it was not: an update
#     whose weights made the validation diverge stayed in model.pinode); the
#     checkpoint is complete, at the last multiple of 3 below K, and resuming
#     from it replays the same run to the same divergence at iteration K.
# Usage: test_fault_divergence.sh PINODE_BINARY SOURCE_DIR
set -euo pipefail
PINODE=$1
SRC=$2
T=$(mktemp -d "${TMPDIR:-/tmp}/pinode-divergence-XXXXXX")
trap 'rm -rf "$T"' EXIT
# shellcheck source=../reliability/lib.sh
. "$SRC/tests/reliability/lib.sh"

p="$T/blowup"
mkdir -p "$p"
printf 'dim 1\nhidden\ntime_input 0\nbatch 1\nt0 0\nt1 1\nsteps 20\nscheme euler\n' >"$p/meta.txt"
printf '2e31\n0\n' >"$p/theta.txt" # w = (1e30 - 1) / h, rounded; b = 0
echo 1 >"$p/z0.txt"
echo 1 >"$p/times.txt"
echo 0 >"$p/targets.txt"
owner=(x 0 1 1 2)
for np_ in 1 2 3 4; do
  set +e
  mpiexec -n $np_ --oversubscribe "$PINODE" gradient "$p" "$T/out" >"$T/g.log" 2>&1
  status=$?
  set -e
  [ $status = 1 ] || fail "$np_ ranks: exit status $status, expected 1: $(cat "$T/g.log")"
  want="the state became inf at step 11 (t = 0.55000000000000004), sample 0, component 0, on rank ${owner[$np_]}"
  grep -qF "$want" "$T/g.log" || fail "$np_ ranks: no '$want': $(cat "$T/g.log")"
  echo "gradient on $np_ rank(s): exit 1, '$want'"
done

cat >"$T/cfg.ini" <<'EOF'
[model]
hidden = 8
activation = identity
[solver]
steps = 20
[data]
source = spiral
trajectories = 8
points = 11
[optimizer]
method = sgd
lr = 0.2
iterations = 200
batch_size = 4
[output]
checkpoint_every = 3
EOF
d="$T/div"
set +e
mpiexec -n 3 --oversubscribe "$PINODE" train "$T/cfg.ini" --quiet --set output.dir="$d" >"$T/t.log" 2>&1
status=$?
set -e
[ $status = 1 ] || fail "train: exit status $status, expected 1: $(cat "$T/t.log")"
msg=$(grep -m1 "training diverged at iteration" "$T/t.log") || fail "train: no divergence message: $(cat "$T/t.log")"
echo "train on 3 ranks: ${msg:0:200}"
$PY - "$SRC/scripts" "$d" "$msg" <<'EOF' || fail "train: state after the divergence"
import json, re, sys
sys.path.insert(0, sys.argv[1])
import numpy as np, read_model
d, msg = sys.argv[2], sys.argv[3]
m = re.search(r"diverged at iteration (\d+) \(\w+\): .*became \S+ at step (\d+) \(t = ([0-9.e+-]+)\)"
              r".* on rank (\d)", msg)
assert m, "the message lacks the iteration, step, time or rank: " + msg
K, step, t, rank = int(m[1]), int(m[2]), float(m[3]), int(m[4])
assert 0 <= step <= 20 and t == 0.0 + step * (2.0 / 20) and 0 <= rank < 3, (step, t, rank)
s = json.load(open(d + "/summary.json"))
assert s["status"] == "diverged" and s["iterations_done"] == K - 1, (s["status"], s["iterations_done"], K)
model = read_model.load(d + "/model.pinode")
assert int(model["header"]["iteration"]) == K - 1
assert np.all(np.isfinite(model["arrays"]["theta"]))
ck = read_model.load(d + "/checkpoint.pinode")
it = int(ck["header"]["iteration"])
assert it == 3 * ((K - 1) // 3) and it >= 3, (it, K)
if it == K - 1:  # the last good checkpoint is the last good state: the same weights
    assert np.array_equal(ck["arrays"]["theta"], model["arrays"]["theta"]), \
        "model.pinode is labelled iteration %d but is not that iteration's weights" % (K - 1)
print("   diverged at iteration %d (step %d, t = %g, rank %d); model.pinode = iteration %d, "
      "checkpoint at %d kept" % (K, step, t, rank, K - 1, it))
EOF
it=$(check_modelfile "$d/checkpoint.pinode") || fail "train: the checkpoint is torn"
K=$(echo "$msg" | grep -o "diverged at iteration [0-9]*" | grep -o "[0-9]*$")
set +e
mpiexec -n 3 --oversubscribe "$PINODE" train "$T/cfg.ini" --quiet --resume "$d" >"$T/r.log" 2>&1
status=$?
set -e
[ $status = 1 ] && grep -q "training diverged at iteration $K " "$T/r.log" ||
  fail "resume from iteration $it: exit $status, not the divergence at iteration $K: $(cat "$T/r.log")"
echo "   resumed from the kept checkpoint (iteration $it): the same run, diverging again at iteration $K"
echo "test_fault_divergence: all checks passed"
