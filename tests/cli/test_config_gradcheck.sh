#!/usr/bin/env bash
# pinode gradcheck CONFIG: the gradcheck table on a training configuration's
# network, initial weights, training trajectories and grid (built by the same
# code as pinode train), on 2 ranks; and its refusal of data without common
# observation times (the complex-step reference implements the plain MSE).
# Usage: test_config_gradcheck.sh PINODE_BINARY SOURCE_DIR
set -euo pipefail
PINODE=$1
T=$(mktemp -d /tmp/pinode_test_config_gradcheck.XXXXXX)
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
cat >"$T/cfg.ini" <<'CFG'
[model]
hidden = 6
activation = softplus
[solver]
steps = 12
[data]
source = pendulum
trajectories = 4
points = 5
t1 = 1
validation = 0.25
CFG
mpiexec -n 2 --oversubscribe "$PINODE" gradcheck "$T/cfg.ini" --scheme heun --levels 2 \
  --csv "$T/gc.csv" >"$T/out.log" || fail "gradcheck CONFIG: $(cat "$T/out.log")"
grep -q "cfg.ini: D = 2, P = 32, B = 3 training trajectories, K = 4 labels, t in \[0, 1\], 2 rank(s)" \
  "$T/out.log" || fail "header: $(head -3 "$T/out.log")"
grep -q "claim 3 (the discrete adjoint is backprop): worst error against the complex step .* <= 1e-12: holds" \
  "$T/out.log" || fail "claim 3: $(tail -12 "$T/out.log")"
[ "$(grep -c '^heun' "$T/gc.csv")" = 12 ] || fail "CSV rows: $(cat "$T/gc.csv")"

printf 'trajectory,time,x\n0,0,1\n0,0.5,2\n1,0,1\n1,1,3\n' >"$T/irregular.csv"
printf '[solver]\nsteps = 4\n[data]\nsource = csv\nfile = irregular.csv\nvalidation = 0\n' >"$T/csv.ini"
if mpiexec -n 2 --oversubscribe "$PINODE" gradcheck "$T/csv.ini" >/dev/null 2>"$T/err.log"; then
  fail "irregular times accepted"
fi
grep -q "irregular.csv: trajectories 0 and 1 are not observed at the same times" "$T/err.log" ||
  fail "$(cat "$T/err.log")"
echo "test_config_gradcheck: all checks passed"
