#!/usr/bin/env bash
# The training configuration: every kind of error names the file (or --set),
# the line, the key and the accepted values; CSV data errors name their line;
# overrides and defaults; model.init; and docs/configuration.md documents
# every key exactly as `pinode train --list-keys=markdown` prints it.
# Usage: test_config.sh PINODE_BINARY SOURCE_DIR
set -euo pipefail
PINODE=$1
SRC=$2
PY=/usr/bin/python3
T=$(mktemp -d /tmp/pinode_test_config.XXXXXX)
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
# run NP ARGS...: NP ranks under mpiexec, or the binary alone (a singleton MPI
# run, much faster to start) with NP = 0.
run() {
  if [ "$1" = 0 ]; then "$PINODE" "${@:2}"; else mpiexec -n "$1" --oversubscribe "$PINODE" "${@:2}"; fi
}

BASE='[model]
hidden = 8
[solver]
steps = 20
[data]
source = spiral
trajectories = 6
points = 11
[optimizer]
iterations = 3
'
n=0
# expect_error EXPECTED-SUBSTRING CONFIG-TEXT [train options...]: the config
# (written to cN.ini) must fail with exit status 1 and the message, on $NP
# ranks (0: without mpiexec).  Some cases run on 2 ranks, to check that every
# rank agrees and only rank 0 reports.
expect_error() {
  local want=$1 text=$2
  shift 2
  n=$((n + 1))
  printf '%s' "$text" >"$T/c$n.ini"
  set +e
  run "$NP" train "$T/c$n.ini" --set output.dir="$T/out$n" "$@" >"$T/out.log" 2>"$T/err.log"
  local status=$?
  set -e
  [ $status = 1 ] || fail "c$n.ini: exit status $status, expected 1 ($want)"
  grep -qF -- "$want" "$T/err.log" || fail "c$n.ini: expected '$want', got: $(cat "$T/err.log")"
  [ ! -e "$T/out$n" ] || fail "c$n.ini: a failed configuration created its output directory"
}

# Keys, sections, values.
NP=2
expect_error "c1.ini:11: unknown key 'lrate' in [optimizer] (known: method, lr, beta1" \
  "$BASE"'lrate = 0.1
'
NP=0
expect_error "c2.ini:11: unknown section [modle] (known: model, solver, adjoint, data, loss, optimizer, parallel, output)" \
  "$BASE"'[modle]
hidden = 3
'
expect_error "c3.ini: required key 'solver.steps' is missing (accepted: an integer >= 1)" \
  '[data]
source = spiral
'
expect_error "c4.ini: required key 'data.source' is missing (accepted: spiral, lotka_volterra, pendulum, lorenz, csv)" \
  '[solver]
steps = 10
'
expect_error "c5.ini:4: key 'solver.steps': 'ten' is not an integer in 1..1000000000000000 (accepted: an integer >= 1)" \
  "${BASE/steps = 20/steps = ten}"
expect_error "c6.ini:4: key 'solver.steps': '0' is not an integer in 1..1000000000000000" "${BASE/steps = 20/steps = 0}"
expect_error "c7.ini:11: key 'optimizer.lr': '-1' is not a number in (0, 1e+15] (accepted: a number > 0)" \
  "$BASE"'lr = -1
'
expect_error "c8.ini:11: key 'optimizer.method': 'rmsprop' is not accepted (accepted: adam, sgd)" \
  "$BASE"'method = rmsprop # not in pinode
'
expect_error "c9.ini:12: key 'model.time_input': 'maybe' is not a boolean (accepted: true, false)" \
  "$BASE"'[model]
time_input = maybe
'
expect_error "c10.ini:11: key 'optimizer.iterations' set twice (first at line 10)" \
  "$BASE"'iterations = 4
'
expect_error "c11.ini:1: key 'steps' outside any [section]" "steps = 3
$BASE"
expect_error "c12.ini:11: syntax error: expected '[section]', 'key = value' or a comment" \
  "$BASE"'this line has no equals sign
'
expect_error "c13.ini:11: key 'optimizer.beta1': '1' is not a number in [0, 1) (accepted: a number in [0, 1))" \
  "$BASE"'beta1 = 1
'
expect_error "c14.ini:12: key 'data.seed': '-3' is not an unsigned 64-bit integer" \
  "$BASE"'[data]
seed = -3
'
# --set overrides: the same checks, naming the option.
expect_error "--set optimizer.lr=abc: key 'optimizer.lr': 'abc' is not a number in (0, 1e+15]" "$BASE" \
  --set optimizer.lr=abc
expect_error "--set lr=1: expected section.key=value" "$BASE" --set lr=1
expect_error "--set optimizer.rate=1: unknown key 'rate' in [optimizer]" "$BASE" --set optimizer.rate=1
expect_error "contains a line break (accepted: a directory, or auto" "$BASE" --set output.dir=$'a\nb'
# Values the configuration written into the run directory would not read back.
expect_error "--set output.dir: the value 'a ;b' has ';' or '#' at its start or after a blank" "$BASE" \
  --set output.dir="a ;b"
expect_error "--set output.dir: the value '#b' has ';' or '#' at its start" "$BASE" --set output.dir="#b"
expect_error "--set output.dir: the value 'a ' starts or ends with a blank" "$BASE" --set output.dir="a "
expect_error ".ini:12: key 'solver.storage': the value ';all' has ';' or '#' at its start" \
  "$BASE"'[solver]
storage =;all
'
# Keys together.
expect_error ".ini:12: key 'model.activation': give one activation, or one per hidden layer (model.hidden = '8')" \
  "$BASE"'[model]
activation = tanh relu
'
expect_error "--set optimizer.lr_min: must not exceed optimizer.lr = 0.01" "$BASE" --set optimizer.lr_min=0.1
expect_error "--set solver.scheme: unknown scheme (accepted: euler, midpoint" "$BASE" --set solver.scheme=rk5
expect_error "--set solver.storage: 'every:0' is not accepted (accepted: stages, all, every:K" "$BASE" --set solver.storage=every:0
expect_error "--set solver.t1: must be greater than solver.t0 = 1" "$BASE" --set solver.t0=1 --set solver.t1=1
expect_error "--set data.source: csv needs data.file, the path of the CSV file" "$BASE" --set data.source=csv
expect_error "--set data.file: only used with data.source = csv, not spiral" "$BASE" --set data.file=x.csv
expect_error ".ini:7: key 'data.trajectories': only used by generators, not with data.source = csv" \
  "$BASE" --set data.source=csv --set data.file=x.csv
expect_error "optimizer.batch_size = 9, but there are only 4 training trajectories" "$BASE" \
  --set optimizer.batch_size=9
expect_error "data.validation = 0.95: validation fraction 0.95 of 6 trajectories leaves none for training" "$BASE" \
  --set data.validation=0.95
expect_error "key 'data.validation': '1' is not a number in [0, 1) (accepted: a number in [0, 1)" \
  "$BASE" --set data.validation=1
# A value beyond a ceiling the accepted text leaves implicit states the range.
expect_error "key 'optimizer.lr': '1e100' is not a number in (0, 1e+15] (accepted: a number > 0)" \
  "$BASE" --set optimizer.lr=1e100
# A byte-order mark: skipped at the start of the file (as editors on Windows
# write it), named anywhere else.
expect_error ".ini:11: unknown key '<U+FEFF byte-order mark>lr' in [optimizer]" "$BASE"$'\xEF\xBB\xBFlr = 0.1\n'
printf '\xEF\xBB\xBF%s' "$BASE" >"$T/bom.ini"
run 0 train "$T/bom.ini" --print-config | grep -x "steps = 20" >/dev/null || fail "a configuration that starts with a byte-order mark"
expect_error "time 0.2 is not on the solver grid t_n = 0 + n*0.2857" "$BASE" \
  --set solver.steps=7
NP=2
expect_error "2 ranks but only 1 steps" "$BASE" --set parallel.method=pipeline --set solver.steps=1 --set data.points=2
NP=0
set +e
run 1 train "$T/absent.ini" >/dev/null 2>"$T/err.log"
set -e
grep -qF "cannot open $T/absent.ini" "$T/err.log" || fail "missing config: $(cat "$T/err.log")"

# CSV data: every malformed-input error names its file and line.
CSV_CFG='[solver]
steps = 4
[data]
source = csv
file = data.csv
validation = 0
[optimizer]
iterations = 2
'
csv_error() { # expected CSV-text
  printf '%s' "$2" >"$T/data.csv"
  expect_error "$1" "$CSV_CFG"
}
NP=2
csv_error "data.csv:3: expected 4 columns (trajectory,time,z1..z2), found 3" \
  $'trajectory,time,x,y\n0,0,1,2\n0,0.5,1\n'
NP=0
csv_error "data.csv:3: column 3 (a state value) is 'one', not a number" \
  $'trajectory,time,x,y\n0,0,1,2\n0,0.5,one,2\n'
csv_error "data.csv:3: column 4 (a state value) is nan: values must be finite" \
  $'trajectory,time,x,y\n0,0,1,2\n0,0.5,1,nan\n'
csv_error "data.csv:3: column 2 (time) is inf: values must be finite" \
  $'trajectory,time,x,y\n0,0,1,2\n0,inf,1,2\n'
csv_error "data.csv:4: trajectory 0: time 0.25 is not after the previous time 0.5 (line 3)" \
  $'trajectory,time,x,y\n0,0,1,2\n0,0.5,1,2\n0,0.25,1,2\n'
csv_error "data.csv:3: trajectory 0 appears again after other trajectories (first rows at line 1)" \
  $'0,0,1,2\n1,0,1,2\n0,0.5,1,2\n1,1,1,2\n'
csv_error "data.csv:3: trajectory 0: time 0.3 is not on the solver grid t_n = 0 + n*0.25 (N = 4); solver.steps = 10 (h = 0.1) would put every time on the grid" \
  $'trajectory,time,x,y\n0,0,1,2\n0,0.3,1,2\n0,1,1,2\n'
csv_error "data.csv:3: trajectory 5: the first time 0.5 is not t0 = 0" \
  $'trajectory,time,x,y\n0,0,1,2\n5,0.5,1,2\n5,1,1,2\n'

# A good CSV trains (relative data.file is found next to the config).
printf 'trajectory,time,x,y\n0,0,1,2\n0,0.5,1.1,2.1\n0,1,1.2,2.3\n3,0,-1,0\n3,0.25,-1.1,0.1\n' >"$T/data.csv"
printf '%s' "$CSV_CFG" >"$T/csv.ini"
(cd / && run 2 train "$T/csv.ini" --quiet --set output.dir="$T/csvrun")
grep -q '"status": "finished"' "$T/csvrun/summary.json" || fail "CSV training"

# --print-config: defaults and overrides, canonical values.
printf '%s' "$BASE" >"$T/base.ini"
run 1 train "$T/base.ini" --print-config --set optimizer.lr=1e-3 --set model.hidden=16,16 >"$T/eff.ini"
grep -qx "lr = 0.001" "$T/eff.ini" || fail "print-config lr: $(cat "$T/eff.ini")"
grep -qx "hidden = 16 16" "$T/eff.ini" || fail "print-config hidden"
grep -qx "beta2 = 0.999" "$T/eff.ini" || fail "print-config default"
grep -qx "dir = out/base" "$T/eff.ini" || fail "print-config output.dir"
# The printed configuration is itself a valid configuration, with the same effect.
run 1 train "$T/eff.ini" --print-config >"$T/eff2.ini"
diff <(grep -v '^dir' "$T/eff.ini") <(grep -v '^dir' "$T/eff2.ini") >/dev/null || fail "print-config round trip"

# solver.storage: every storage trains bit for bit the parameters of all states.
for s in all stages every:3 binomial:2 auto; do
  run 0 train "$T/base.ini" --quiet --set output.dir="$T/s-${s%%:*}" --set solver.storage="$s" \
    || fail "solver.storage = $s"
done
$PY - "$SRC/scripts" "$T" <<'EOF' || fail "solver.storage: parameters differ from all states"
import sys
sys.path.insert(0, sys.argv[1])
import numpy as np, read_model
theta = lambda s: read_model.load(f"{sys.argv[2]}/s-{s}/model.pinode")["arrays"]["theta"]
for s in ("stages", "every", "binomial", "auto"):
    assert np.array_equal(theta("all"), theta(s)), s
EOF

# model.init: start from a model file of the same shape (a step of 1e-300
# leaves every parameter unchanged), and refuse one of another shape.
run 1 train "$T/base.ini" --quiet --set output.dir="$T/a"
run 1 train "$T/base.ini" --quiet --set output.dir="$T/b" --set model.init="$T/a/model.pinode" \
  --set optimizer.iterations=1 --set optimizer.lr=1e-300
$PY - "$SRC/scripts" "$T" <<'EOF' || fail "model.init"
import sys
sys.path.insert(0, sys.argv[1])
import numpy as np, read_model
a = read_model.load(sys.argv[2] + "/a/model.pinode")["arrays"]["theta"]
b = read_model.load(sys.argv[2] + "/b/model.pinode")["arrays"]["theta"]
assert np.array_equal(a, b)
EOF
expect_error "model.init = $T/a/model.pinode: its network (D = 2, 1 hidden layers, 42 parameters) is not the one of [model] (D = 2, 1 hidden layers, 62 parameters)" \
  "$BASE" --set model.init="$T/a/model.pinode" --set model.hidden=12

# The configuration reference is exactly what the program accepts: every row
# the program prints is in docs/configuration.md, and every key row there is
# one the program prints.
run 1 train --list-keys=markdown >"$T/keys.md"
[ "$(grep -c '^| `' "$T/keys.md")" -ge 50 ] || fail "--list-keys=markdown lists too few keys"
ref=$SRC/docs/configuration.md
while IFS= read -r row; do
  grep -qxF -- "$row" "$ref" || fail "docs/configuration.md lacks or differs in the row: $row"
done <"$T/keys.md"
while IFS= read -r row; do
  grep -qxF -- "$row" "$T/keys.md" || fail "docs/configuration.md has a row the program does not: $row"
done < <(grep '^| `[a-z_]*\.[a-z_0-9]*` |' "$ref")
echo "test_config: $n error cases and all other checks passed"
