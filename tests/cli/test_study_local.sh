#!/usr/bin/env bash
# Scaling studies without SLURM (scripts/study_local.sh, plain mpiexec): a
# strong and a weak study on P = 1, 2 produce one well-formed result file per
# point (P, M, N, B, times per phase, memory per rank, host), a consistent CSV
# (speedup and efficiency against P = 1, weak N = P*N1), the model of
# pinode bench --model and the PNGs; a malformed result file is refused by
# the collector.  Checks the machinery,
# not the timings (the machine is shared).
# Usage: test_study_local.sh PINODE_BINARY SOURCE_DIR
# ctest-labels: slow
set -euo pipefail
bin=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
src=$(cd "$2" && pwd)
python=/usr/bin/python3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
problem=$src/tests/data/bench/small

for study in strong weak; do
  model=(--model-ranks 0)   # the strong study also runs pinode bench --model (2 ranks)
  [ "$study" = weak ] || model=(--model-ranks 2 --parareal-iterations 2)
  "$src/scripts/study_local.sh" "$study" "$problem" --ranks "1 2" --repeat 3 --pinode "$bin" \
    "${model[@]}" --out "$tmp/$study" >"$tmp/$study.log" 2>&1 \
    || { cat "$tmp/$study.log" >&2; exit 1; }
  grep -q "wrote $tmp/$study/scaling.csv (2 points)" "$tmp/$study.log"
  "$python" - "$tmp/$study" "$study" <<'PY'
import csv, json, math, os, sys
d, study = sys.argv[1], sys.argv[2]
rows = list(csv.DictReader(open(os.path.join(d, "scaling.csv"))))
assert [int(r["P"]) for r in rows] == [1, 2], rows
n1 = int(rows[0]["N"])
for r in rows:
    P = int(r["P"])
    assert r["study"] == study and r["method"] == "pipeline", r
    assert int(r["N"]) == (n1 * P if study == "weak" else n1), r
    assert int(r["B"]) == 1 and int(r["D"]) == 2 and int(r["M"]) >= 1, r
    t = float(r["t_median"])
    assert math.isfinite(t) and t > 0 and float(r["t_min"]) <= t <= float(r["t_max"]), r
    t1 = float(rows[0]["t_median"])
    if study == "strong":
        assert abs(float(r["speedup"]) - t1 / t) <= 1e-5 * t1 / t, r
        assert abs(float(r["efficiency"]) - t1 / (P * t)) <= 1e-5 * t1 / t, r
    else:
        assert abs(float(r["efficiency"]) - t1 / t) <= 1e-5 * t1 / t, r
        assert abs(float(r["speedup"]) - P * t1 / t) <= 1e-5 * P * t1 / t, r
    assert len(r["rss_per_rank_mb"].split(";")) == P and float(r["rss_max_mb"]) > 0, r
    for k in ("t_forward_max", "t_backward_max", "t_wait_max", "t_busy_max"):
        assert math.isfinite(float(r[k])) and float(r[k]) >= 0, (k, r)
    p = json.load(open(os.path.join(d, "points", f"point-P{P}.json")))
    assert p["format"] == "pinode-scaling-point/1" and p["P"] == P and p["study"] == study
    assert len(p["per_rank"]) == P and len(p["memory_per_rank_kb"]) == P
    assert sum(x["block"][1] - x["block"][0] for x in p["per_rank"]) == p["N"]
    assert p["host"]["hostname"] and p["host"]["cores"] >= 1 and p["iterations"] is None
    assert p["slurm"] is None or p["slurm"]["job_id"]
for name in ("scaling", "speedup", "efficiency", "phases"):
    f = os.path.join(d, f"{study}_{name}.png")
    with open(f, "rb") as fh:
        assert fh.read(8) == b"\x89PNG\r\n\x1a\n", f
    assert os.path.getsize(f) > 10000, f
PY
done
# the model of the strong study, drawn in its plots
"$python" - "$tmp/strong/model.json" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
assert m["kind"] == "pinode-perfmodel" and m["network"]["measured"], m["network"]
assert [p["K"] for p in m["parareal"]] == [2] and m["pipeline"][0]["P"] == 1
PY
grep -q "^pipeline (exact)" "$tmp/strong/model.txt"
rm "$tmp/strong/model.json"   # the Parareal run below measures its own
# Parareal points in the strong study's directory: iterations from the run,
# speedup against Parareal's own P = 1 point, the model's measured K
"$src/scripts/study_local.sh" strong "$problem" --ranks "1 2" --repeat 3 --pinode "$bin" \
  --method parareal --parareal-tol 1e-10 --out "$tmp/strong" >"$tmp/parareal.log" 2>&1 \
  || { cat "$tmp/parareal.log" >&2; exit 1; }
grep -q "wrote $tmp/strong/scaling.csv (4 points)" "$tmp/parareal.log"
"$python" - "$tmp/strong" <<'PY'
import csv, json, os, sys
d = sys.argv[1]
rows = [r for r in csv.DictReader(open(os.path.join(d, "scaling.csv"))) if r["method"] == "parareal"]
assert [int(r["P"]) for r in rows] == [1, 2], rows
assert abs(float(rows[0]["speedup"]) - 1) < 1e-9
for r in rows:
    k, ka = (int(x) for x in r["iterations"].split("/"))
    assert 1 <= k <= int(r["P"]) and 1 <= ka <= int(r["P"]), r
p = json.load(open(os.path.join(d, "points", "point-parareal-P2.json")))
assert p["method"] == "parareal" and p["iterations"]["forward"] >= 1, p["iterations"]
m = json.load(open(os.path.join(d, "model.json")))
meas = [x for x in m["parareal"] if x["measured"]]
assert len(meas) == 1 and m["parareal_validation"]["method"] == "parareal", m["parareal"]
assert (meas[0]["K"], meas[0]["K_adjoint"]) == (p["iterations"]["forward"], p["iterations"]["adjoint"])
PY
# weak scaling ran a problem twice as long on 2 ranks
grep -q '^steps 20$' "$tmp/weak/problems/P2/meta.txt"
[ "$(wc -l < "$tmp/weak/problems/P2/times.txt")" = 2 ]

# Batch groups (--method batch): one group per rank on deep (B = 5), its own
# P = 1 base and plots drawn from batch rows alone; a weak study of it is refused.
"$src/scripts/study_local.sh" strong "$src/tests/data/bench/deep" --ranks "1 2" --repeat 2 \
  --pinode "$bin" --method batch --model-ranks 0 --out "$tmp/batch" >"$tmp/batch.log" 2>&1 \
  || { cat "$tmp/batch.log" >&2; exit 1; }
grep -q "wrote $tmp/batch/scaling.csv (2 points)" "$tmp/batch.log"
"$python" - "$tmp/batch" <<'PY'
import csv, json, os, sys
d = sys.argv[1]
rows = list(csv.DictReader(open(os.path.join(d, "scaling.csv"))))
assert [(r["method"], int(r["P"]), int(r["B"])) for r in rows] == [("batch", 1, 5), ("batch", 2, 5)], rows
assert abs(float(rows[0]["speedup"]) - 1) < 1e-9
p = json.load(open(os.path.join(d, "points", "point-batch-P2.json")))
# one group per rank: each solves all the steps
assert all(x["block"] == [0, p["N"]] for x in p["per_rank"]), p["per_rank"]
assert os.path.getsize(os.path.join(d, "strong_phases.png")) > 10000
PY
if "$src/scripts/study_local.sh" weak "$src/tests/data/bench/deep" --ranks "1 2" --pinode "$bin" \
     --method batch --out "$tmp/batchweak" >"$tmp/bw.log" 2>&1; then
  echo "a weak study with --method batch was accepted"; exit 1
fi
grep -q "use strong" "$tmp/bw.log"

# The collector refuses a malformed result file (negative control).
mkdir -p "$tmp/bad/points"
"$python" - "$tmp/strong/points/point-P2.json" "$tmp/bad/points/point-P2.json" <<'PY'
import json, sys
p = json.load(open(sys.argv[1]))
p["per_rank"][1]["block"] = [5, 9]  # the blocks no longer cover the N steps
json.dump(p, open(sys.argv[2], "w"))
PY
status=0
"$python" "$src/scripts/collect_scaling.py" collect "$tmp/bad" >"$tmp/bad.log" 2>&1 || status=$?
[ "$status" -ne 0 ] && grep -q "blocks cover" "$tmp/bad.log"
# Bad arguments: a clear message, status 2.
status=0
"$src/scripts/study_run.sh" --study sideways --problem "$problem" --out "$tmp/x" >"$tmp/arg.log" 2>&1 \
  || status=$?
[ "$status" = 2 ] && grep -q "strong or weak" "$tmp/arg.log"
echo "study_local: strong and weak studies, CSV, PNGs and checks ok"
