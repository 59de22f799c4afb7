#!/usr/bin/env bash
# pinode gradient --repeat R --json FILE: the timing summary and the JSON
# (fields, sorted samples, one entry per rank, each batch group's blocks
# covering 0..N and its samples) on 1 rank, 2 ranks and 2 ranks in 2 batch
# groups, gradients still equal to the reference; bad options refused.
# Usage: test_gradient_repeat.sh PINODE_BINARY SOURCE_DIR
set -euo pipefail
bin=$1 src=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
bench=$src/tests/data/bench/spiral
for spec in 1:1 2:1 2:2; do # ranks:batch groups
  np=${spec%:*} g=${spec#*:}
  mpiexec -n "$np" "$bin" gradient --repeat 3 --batch-groups "$g" --json "$tmp/t$np$g.json" \
    --compare "$bench/ref" --tol 1e-11 "$bench" "$tmp/out$np$g" >"$tmp/log$np"
  grep -q "^repeat 3: time per gradient median" "$tmp/log$np"
  [ "$(grep -c '^  rank [0-9]*: steps' "$tmp/log$np")" = "$np" ]
  /usr/bin/python3 - "$tmp/t$np$g.json" "$np" "$g" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
P, G = int(sys.argv[2]), int(sys.argv[3])
assert (d["ranks"], d["steps"], d["batch"], d["dim"], d["repeat"]) == (P, 1000, 16, 2, 3), d
assert d["batch_groups"] == G and d["microbatches"] >= 1 and d["scheme"] == "rk4", d
t = d["time_per_gradient"]
s = t["samples_sorted"]
assert len(s) == 3 and s == sorted(s) and all(x > 0 for x in s)
assert (t["min"], t["median"], t["max"]) == (s[0], s[1], s[2]), t
r = d["per_rank"]
assert [x["rank"] for x in r] == list(range(P))
# each group of P/G ranks splits the steps and solves 16/G samples
for g in range(G):
    grp = r[g * (P // G):(g + 1) * (P // G)]
    assert grp[0]["block"][0] == 0 and grp[-1]["block"][1] == 1000, grp
    assert all(a["block"][1] == b["block"][0] for a, b in zip(grp, grp[1:]))
    assert all(x["samples"] == [16 * g // G, 16 * (g + 1) // G] for x in grp), grp
assert all(x["peak_rss_kb"] > 0 and x["bytes_solver"] > 0 and x["time_forward"] > 0 for x in r)
assert all(x["cpu_time"] > 0 for x in r)
PY
done
# --quiet prints nothing on success, but still writes the JSON.
mpiexec -n 1 "$bin" gradient --quiet --repeat 1 --json "$tmp/q.json" "$bench" "$tmp/outq" >"$tmp/logq"
[ ! -s "$tmp/logq" ] && [ -s "$tmp/q.json" ]
# Bad options: exit status 2 and a message naming the option.
for args in "--repeat 0" "--repeat x" "--repeat -3" "--json $tmp/j.json"; do
  status=0
  # shellcheck disable=SC2086
  "$bin" gradient $args "$bench" "$tmp/bad" >"$tmp/bad.log" 2>&1 || status=$?
  [ "$status" = 2 ] || { echo "'$args': exit status $status, expected 2"; exit 1; }
  grep -q -- "--repeat" "$tmp/bad.log" || { echo "'$args': no message"; cat "$tmp/bad.log"; exit 1; }
done
# A JSON path that cannot be written fails (status 1) with a message.
status=0
"$bin" gradient --repeat 1 --json "$tmp/no/such/dir/t.json" "$bench" "$tmp/out" >"$tmp/e.log" 2>&1 || status=$?
[ "$status" = 1 ] && grep -q "no/such/dir" "$tmp/e.log"
echo "ok"
