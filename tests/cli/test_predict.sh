#!/usr/bin/env bash
# pinode predict: reproduces the trajectories written by train (bitwise, on
# any number of ranks), agrees with an independent NumPy integration of the
# model file read by scripts/read_model.py, and refuses bad input.
# Usage: test_predict.sh PINODE_BINARY SOURCE_DIR
set -euo pipefail
PINODE=$1
SRC=$2
PY=/usr/bin/python3
T=$(mktemp -d /tmp/pinode_test_predict.XXXXXX)
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
run() { mpiexec -n "$1" --oversubscribe "$PINODE" "${@:2}"; }

cat >"$T/cfg.ini" <<'EOF'
; the pipeline's own guarantees (method = auto may choose another layout)
[parallel]
method = pipeline
[model]
hidden = 6 5
activation = tanh softplus
time_input = true
[solver]
scheme = rk38
steps = 30
[data]
source = lotka_volterra
trajectories = 5
points = 7
t1 = 3
scale = 0.5
[optimizer]
iterations = 20
[output]
predict_every = 2
EOF
run 1 train "$T/cfg.ini" --quiet --set output.dir="$T/run"

# The same trajectories as train wrote, bitwise: the forward sweep is the same
# arithmetic in the same order on every rank count (docs/parallel.md).
for np_ in 1 2 3; do
  run $np_ predict "$T/cfg.ini" --model "$T/run/model.pinode" --out "$T/p$np_.csv" >"$T/p.log"
  cmp -s "$T/run/predictions.csv" "$T/p$np_.csv" || fail "predict on $np_ ranks differs from train's"
done
grep -q "5 trajectories over \[0, 3\] (rk38, 30 steps)" "$T/p.log" || fail "$(cat "$T/p.log")"

# From new initial states (--initial, in the data's units), against NumPy:
# the network and RK3/8 re-implemented from the model file.  Both compute the
# same operations in a different order: ~1e-16 per operation, amplified by
# 30 steps of a smooth flow to < 1e-12.
cat >"$T/init.csv" <<'EOF'
trajectory,time,prey,predator
4,0,2.5,1.0
9,0,1.2,2.2
EOF
run 2 predict "$T/cfg.ini" --model "$T/run/model.pinode" --initial "$T/init.csv" \
  --out "$T/new.csv" --set solver.t1=6 --set solver.steps=60 --quiet
$PY - "$SRC/scripts" "$T" <<'EOF' || fail "NumPy reference"
import sys
sys.path.insert(0, sys.argv[1])
import numpy as np, read_model
d = sys.argv[2]
m = read_model.load(d + "/run/model.pinode")
assert m["header"]["scheme"] == "rk38" and m["header"]["content"] == "model"
s = float(m["header"]["data_scale"])
p = np.loadtxt(d + "/new.csv", delimiter=",", skiprows=1)
z0 = np.array([[2.5, 1.0], [1.2, 2.2]]) * s
Z = read_model.integrate(m, z0, 0.0, 6.0, 60) / s   # (61, 2, 2)
for b, tid in enumerate([4, 9]):
    rows = p[p[:, 0] == tid]
    assert rows.shape == (31, 4), rows.shape              # every 2nd of 60 steps
    assert np.allclose(rows[:, 1], np.arange(0, 61, 2) * 0.1, rtol=0, atol=1e-15)
    err = np.linalg.norm(rows[:, 2:] - Z[::2, b]) / np.linalg.norm(Z[::2, b])
    print("trajectory %d: predict vs NumPy relative difference %.2e" % (tid, err))
    assert err < 1e-12, err
EOF

# The prediction to t = 6 drawn against the data of [0, 3] (matplotlib is a
# dependency of the plots, scripts/install-deps.sh); the run's own plot too.
is_png() { [ -s "$1" ] && head -c 8 "$1" | od -An -tx1 | grep -q "89 50 4e 47"; }
$PY "$SRC/scripts/plot_predictions.py" "$T/new.csv" --data "$T/run/data.csv" >"$T/plot.log" 2>&1 ||
  fail "plot_predictions.py: $(cat "$T/plot.log")"
is_png "$T/new.png" || fail "new.png is not a PNG"
grep -qx "wrote $T/new.png" "$T/plot.log" || fail "$(cat "$T/plot.log")"
$PY "$SRC/scripts/plot_run.py" "$T/run" --out "$T/fit.png" >"$T/plot.log" 2>&1 ||
  fail "plot_run.py: $(cat "$T/plot.log")"
is_png "$T/fit.png" || fail "fit.png is not a PNG"
if $PY "$SRC/scripts/plot_predictions.py" "$T/new.csv" --data "$T/absent.csv" >"$T/plot.log" 2>&1; then
  fail "plot_predictions.py accepted a missing data file"
fi
grep -q "no data file" "$T/plot.log" || fail "$(cat "$T/plot.log")"

# The states keep their names (the generator's here) in every output; an
# --initial CSV with other names is warned about and named as the data.
head -1 "$T/run/predictions.csv" | grep -qx "trajectory,time,prey,predator" ||
  fail "predictions.csv header: $(head -1 "$T/run/predictions.csv")"
head -1 "$T/new.csv" | grep -qx "trajectory,time,prey,predator" || fail "new.csv header"
printf 'trajectory,time,predator,prey\n0,0,1,2\n' >"$T/swapped.csv"
run 1 predict "$T/cfg.ini" --model "$T/run/model.pinode" --initial "$T/swapped.csv" \
  --out "$T/sw.csv" --quiet 2>"$T/warn.log"
grep -qF "swapped.csv names its states predator,prey, the data of the configuration (generator 'lotka_volterra') prey,predator: states are matched by column" "$T/warn.log" ||
  fail "no warning about other names: $(cat "$T/warn.log")"
head -1 "$T/sw.csv" | grep -qx "trajectory,time,prey,predator" || fail "sw.csv header"

# Errors.
expect_error() { # expected-substring command...
  local want=$1
  shift
  if "$@" >"$T/out.log" 2>"$T/err.log"; then fail "succeeded: $*"; fi
  grep -qF -- "$want" "$T/err.log" "$T/out.log" || fail "expected '$want', got: $(cat "$T/err.log")"
}
expect_error "exists; nothing was overwritten (pass --force" \
  run 1 predict "$T/cfg.ini" --model "$T/run/model.pinode" --out "$T/p1.csv"
run 1 predict "$T/cfg.ini" --model "$T/run/model.pinode" --out "$T/p1.csv" --force --quiet
expect_error "usage: pinode predict" run 1 predict "$T/cfg.ini"
expect_error "pinode predict: --model FILE is missing" run 1 predict "$T/cfg.ini"
expect_error "pinode predict: CONFIG is missing" run 1 predict --model "$T/run/model.pinode"
printf 'trajectory,time,a,b\n0,0.5,1,1\n' >"$T/late.csv"
expect_error "late.csv:2: trajectory 0: the first time 0.5 is not t0 = 0" \
  run 1 predict "$T/cfg.ini" --model "$T/run/model.pinode" --initial "$T/late.csv" --out "$T/x.csv"
printf 'trajectory,time,a\n0,0,1\n' >"$T/d1.csv"
expect_error "d1.csv has D = 1, the model 2" \
  run 1 predict "$T/cfg.ini" --model "$T/run/model.pinode" --initial "$T/d1.csv" --out "$T/x.csv"
expect_error "was trained on data scaled by 0.5, but data.scale = 1" \
  run 1 predict "$T/cfg.ini" --model "$T/run/model.pinode" --set data.scale=1 --out "$T/x.csv"
head -c 200 "$T/run/model.pinode" >"$T/cut.pinode"
expect_error "array 'theta' announces 71 numbers, more than the rest of the file holds" \
  run 1 predict "$T/cfg.ini" --model "$T/cut.pinode" --out "$T/x.csv"
# One digit of theta changed (the first 1..8 of its first number, made one
# larger): the checksum on the end line refuses the file.
$PY - "$T/run/model.pinode" "$T/edited.pinode" <<'EOF'
import re, sys
lines = open(sys.argv[1]).read().split("\n")
i = lines.index(next(l for l in lines if l.startswith("array theta"))) + 1
lines[i] = re.sub("[1-8]", lambda m: str(int(m.group()) + 1), lines[i], count=1)
open(sys.argv[2], "w").write("\n".join(lines))
EOF
cmp -s "$T/run/model.pinode" "$T/edited.pinode" && fail "the edit changed nothing"
expect_error "edited.pinode:$(wc -l <"$T/edited.pinode"): checksum mismatch" \
  run 1 predict "$T/cfg.ini" --model "$T/edited.pinode" --out "$T/x.csv"
expect_error "cannot open $T/none.pinode" \
  run 1 predict "$T/cfg.ini" --model "$T/none.pinode" --out "$T/x.csv"
echo "test_predict: all checks passed"
