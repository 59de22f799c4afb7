#!/usr/bin/env bash
# --parallel auto and parallel.method = auto (src/cli/auto.c):
#  - pinode gradient --parallel auto on tests/data/bench/small and long, 1 and
#    2 ranks: it prints its choice as options and every candidate's
#    prediction; the choice is the candidate with the smallest prediction;
#    the gradient is bitwise the one of the options it names, and matches
#    the reference (ref/); on one rank it is the pipeline without
#    calibration; where every layout is predicted slower than one rank
#    (small: 10 steps of one sample, each costing less than a message), a
#    warning says so on stderr, even with --quiet; other gradient methods
#    leave only the exact layouts;
#  - pinode train with method = auto (the default) on 2 ranks: it prints the
#    choice once, summary.json records the same layout, θ agrees with one
#    rank's to 1e-12 relative (what test_train.sh allows any layout), and a
#    resume on as many ranks keeps the checkpoint's layout without
#    calibrating again;
#  - training with method = newton and its keys runs and agrees with the
#    pipeline; a bad newton key is refused naming it.
# Usage: test_auto.sh PINODE_BINARY SOURCE_DIR
set -euo pipefail
PINODE=$1
SRC=$2
PY=/usr/bin/python3
T=$(mktemp -d /tmp/pinode_test_auto.XXXXXX)
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
run() { mpiexec -n "$1" --oversubscribe "$PINODE" "${@:2}"; }
bench=$SRC/tests/data/bench

# The choice line's options, and a check that the chosen candidate has the
# smallest prediction of the table printed under it (LOG PREFIX).
chosen_options() {
  $PY - "$1" "$2" <<'EOF'
import re, sys
text = open(sys.argv[1]).read().splitlines()
prefix = sys.argv[2]
head = [i for i, l in enumerate(text) if l.startswith("parallel auto on ")]
assert len(head) == 1, "the choice is printed %d times" % len(head)
i = head[0]
m = re.match(r"parallel auto on (\d+) ranks?: (.*)$", text[i])
assert m, text[i]
choice = m.group(2)
assert choice.startswith(prefix), text[i]
rows = []
for l in text[i + 2:]:
    r = re.match(r"^    (.*?)\s+([0-9.e+-]+)(  <- chosen)?$", l)
    if not r:
        break
    rows.append((r.group(1), float(r.group(2)), bool(r.group(3))))
assert rows and rows[-1][0] == "one rank", rows
cands = rows[:-1]
assert sum(c[2] for c in cands) == 1, cands
best = min(cands, key=lambda c: c[1])
chosen = [c for c in cands if c[2]][0]
assert chosen[1] == best[1], (chosen, best)          # the fastest prediction wins
assert chosen[0].split(" (")[0] == choice, (chosen, choice)
assert all(c[1] > 0 for c in rows), rows
print(choice)
EOF
}

# ---- pinode gradient --parallel auto ---------------------------------------------
for p in small long; do
  run 1 gradient --parallel auto --compare "$bench/$p/ref" "$bench/$p" "$T/a1_$p" >"$T/a1_$p.log"
  grep -qx "parallel auto on 1 rank: the pipeline (nothing to split)" "$T/a1_$p.log" ||
    fail "1 rank, $p: $(cat "$T/a1_$p.log")"
  ! grep -q "calibrated" "$T/a1_$p.log" || fail "1 rank, $p: calibrated"
  run 1 gradient "$bench/$p" "$T/p1_$p" --quiet
  for f in loss.txt grad_theta.txt grad_z0.txt; do
    cmp -s "$T/a1_$p/$f" "$T/p1_$p/$f" || fail "1 rank, $p: $f differs from the pipeline's"
  done

  run 2 gradient --parallel auto --compare "$bench/$p/ref" "$bench/$p" "$T/a2_$p" \
    >"$T/a2_$p.log" 2>"$T/a2_$p.err"
  opts=$(chosen_options "$T/a2_$p.log" "--parallel ") || fail "2 ranks, $p: $(cat "$T/a2_$p.log")"
  # shellcheck disable=SC2086
  run 2 gradient $opts "$bench/$p" "$T/n2_$p" --quiet 2>/dev/null
  for f in loss.txt grad_theta.txt grad_z0.txt; do
    cmp -s "$T/a2_$p/$f" "$T/n2_$p/$f" || fail "2 ranks, $p: $f differs from that of $opts"
  done
  echo "   $p on 2 ranks: auto chose '$opts', bitwise its gradient, within the reference's tolerance"
done
# small: 10 steps of one sample, cheaper than any message: slower on 2 ranks,
# said once on stderr, also with --quiet
grep -q "warning: on 2 ranks this problem is predicted slower" "$T/a2_small.err" ||
  fail "no warning for small on 2 ranks: $(cat "$T/a2_small.err")"
[ "$(grep -c warning "$T/a2_small.err")" = 1 ] || fail "the warning is not said once"
run 2 gradient --parallel auto --quiet "$bench/small" "$T/q" >"$T/q.log" 2>"$T/q.err"
[ ! -s "$T/q.log" ] || fail "--quiet printed: $(cat "$T/q.log")"
grep -q "predicted slower" "$T/q.err" || fail "--quiet dropped the warning"
# the continuous adjoint: neither Parareal nor Newton is a candidate
run 2 gradient --parallel auto --adjoint continuous-interp "$bench/long" "$T/ci" >"$T/ci.log"
chosen_options "$T/ci.log" "--parallel pipeline" >/dev/null || fail "$(cat "$T/ci.log")"
! grep -Eq "newton|parareal" "$T/ci.log" || fail "an iterative method with the continuous adjoint"
echo "   small on 2 ranks: the warning; the continuous adjoint: exact layouts only"

# ---- pinode train, method = auto -------------------------------------------------
cat >"$T/cfg.ini" <<'EOF'
[model]
hidden = 8
[solver]
steps = 40
[data]
source = spiral
trajectories = 8
points = 11
[optimizer]
iterations = 12
batch_size = 4
[output]
checkpoint_every = 6
EOF
run 1 train "$T/cfg.ini" --set output.dir="$T/t1" >"$T/t1.log"
grep -qx "parallel auto on 1 rank: the pipeline (nothing to split)" "$T/t1.log" || fail "$(cat "$T/t1.log")"
run 2 train "$T/cfg.ini" --set output.dir="$T/t2" >"$T/t2.log" 2>"$T/t2.err" ||
  fail "$(cat "$T/t2.log" "$T/t2.err")"
keys=$(chosen_options "$T/t2.log" "method = ") || fail "$(cat "$T/t2.log")"
$PY - "$SRC/scripts" "$T" "$keys" <<'EOF' || fail "training with method = auto"
import json, sys
sys.path.insert(0, sys.argv[1])
import numpy as np, read_model
T, keys = sys.argv[2], dict(kv.split(" = ") for kv in sys.argv[3].split(", "))
s = json.load(open(T + "/t2/summary.json"))
par = s["parallel"]
assert s["status"] == "finished" and s["iterations_done"] == 12, s
assert par["chosen_by_auto"] and par["method"] == keys["method"], (par, keys)
assert par["batch_groups"] == int(keys.get("batch_groups", 1)), (par, keys)
assert par["microbatches"] == int(keys.get("microbatches", 0)), (par, keys)
assert s["config"]["parallel"]["method"] == "auto", s["config"]["parallel"]
one = json.load(open(T + "/t1/summary.json"))["parallel"]
assert one == {"method": "pipeline", "batch_groups": 1, "microbatches": 0, "chosen_by_auto": True}, one
a = read_model.load(T + "/t1/model.pinode")["arrays"]["theta"]
b = read_model.load(T + "/t2/model.pinode")["arrays"]["theta"]
err = np.linalg.norm(a - b) / np.linalg.norm(a)
print("   train, method = auto on 2 ranks: %s; theta relative difference from 1 rank %.1e" % (sys.argv[3], err))
assert err <= 1e-12, err
EOF
# Resumed on as many ranks (here: 6 more iterations after the last
# checkpoint): the checkpoint's layout, no calibration.
run 2 train "$T/cfg.ini" --resume "$T/t2" --set optimizer.iterations=18 --extend >"$T/r.log"
grep -q "^parallel auto: the checkpoint's layout, $keys\$" "$T/r.log" || fail "resume: $(cat "$T/r.log")"
! grep -q "calibrated" "$T/r.log" || fail "the resume calibrated again"
$PY - "$T/t2/summary.json" "$keys" <<'EOF' || fail "the resumed run's layout"
import json, sys
s = json.load(open(sys.argv[1]))
keys = dict(kv.split(" = ") for kv in sys.argv[2].split(", "))
assert s["iterations_done"] == 18 and s["resumed_from"] == 12, s
assert s["parallel"]["method"] == keys["method"], s["parallel"]
EOF
echo "   resumed on 2 ranks: the checkpoint's layout ($keys)"

# ---- pinode train, method = newton and its keys ----------------------------------
# One trajectory (batch_size 1): Newton's case.  Its converged gradient is the
# pipeline's to rounding (~1e-13, docs/parallel.md); 12 Adam steps of lr 0.01
# move θ by ~0.1, so θ agrees to ~1e-12 relative.
newton_keys=(--set parallel.newton_max_iter=8 --set parallel.newton_tol=1e-14
             --set parallel.newton_start=coarse-newton --set parallel.newton_growth_limit=1e8
             --set parallel.coarse_steps=4 --set optimizer.batch_size=1)
run 2 train "$T/cfg.ini" --quiet --set output.dir="$T/nw" --set parallel.method=newton "${newton_keys[@]}"
run 2 train "$T/cfg.ini" --quiet --set output.dir="$T/pl" --set parallel.method=pipeline "${newton_keys[@]}"
$PY - "$SRC/scripts" "$T" <<'EOF' || fail "newton against the pipeline"
import json, sys
sys.path.insert(0, sys.argv[1])
import numpy as np, read_model
T = sys.argv[2]
s = json.load(open(T + "/nw/summary.json"))
assert s["parallel"]["method"] == "newton" and not s["parallel"]["chosen_by_auto"], s["parallel"]
c = s["config"]["parallel"]
assert (c["newton_max_iter"], c["newton_start"], c["coarse_steps"]) == ("8", "coarse-newton", "4"), c
a = read_model.load(T + "/pl/model.pinode")["arrays"]["theta"]
b = read_model.load(T + "/nw/model.pinode")["arrays"]["theta"]
err = np.linalg.norm(a - b) / np.linalg.norm(a)
print("   train, method = newton on 2 ranks: theta relative difference from the pipeline %.1e" % err)
assert err <= 1e-12, err
EOF
if run 2 train "$T/cfg.ini" --set output.dir="$T/bad" --set parallel.newton_start=sideways \
  >/dev/null 2>"$T/bad.err"; then
  fail "newton_start = sideways accepted"
fi
grep -q "key 'parallel.newton_start': 'sideways' is not accepted (accepted: auto, flat, coarse, coarse-newton)" \
  "$T/bad.err" || fail "$(cat "$T/bad.err")"
echo "test_auto: all checks passed"
