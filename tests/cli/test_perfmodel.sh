#!/usr/bin/env bash
# pinode bench --model: the machinery of the performance model runs and its
# output is well-formed, finite and self-consistent (no timing is asserted:
# the machine is shared).  On 2 ranks with --validate: calibration table,
# ping-pong, pipeline and Parareal tables (speedup = T1/T, efficiency =
# speedup/P, P > N impossible, best M no worse than the automatic M, weak
# scaling), the validation's prediction equal to the table's at its P and M,
# Parareal's iterations measured by Parareal gradients and used in its table;
# Newton's rows (K and K_c measured by cold Newton gradients on 2 ranks, which
# validate its model per rank as the pipeline's; given; or assumed, K = 2 and
# K_c = ceil(log2 P) + 1), its B·D tangent rows calibrated;
# on 4 ranks (oversubscribed on small machines) the busy-time criterion;
# given latency and bandwidth are used; bad options are refused.
# Usage: test_perfmodel.sh PINODE_BINARY SOURCE_DIR
# ctest-labels: slow
set -euo pipefail
bin=$1 src=$2
python=/usr/bin/python3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
if ! "$bin" bench --model --help 2>/dev/null | grep "usage: pinode bench --model" >/dev/null; then
  echo "SKIPPED: this pinode has no 'bench --model' (the bench command does not dispatch to it)"
  exit 77
fi
spiral=$src/tests/data/bench/spiral

mpiexec -n 2 "$bin" bench --model --validate --repeat 3 --parareal-iterations 1,3,measure \
  --parareal-tol 1e-8 --newton-iterations measure --json "$tmp/m2.json" "$spiral" >"$tmp/m2.log"
for text in "^pipeline (exact)" "^Parareal, K = 1 " "^Parareal, K = 3 " "^assumptions:" \
            "^model: T(P,M) = " "^Parareal: T = " "^validation: the real pipelined" \
            "^validation: the real Parareal" "measured on these ranks" \
            "criterion: wall time per gradient" "^network (ping-pong ranks 0-1" \
            "^Newton shooting, K = [0-9]*, K_c = [0-9]* measured on these ranks" "^Newton: T = " \
            "^validation: the real Newton gradient" "composing Newton's 2x2 maps"; do
  grep -q "$text" "$tmp/m2.log" || { cat "$tmp/m2.log"; echo "missing: $text" >&2; exit 1; }
done
mpiexec -n 4 --oversubscribe "$bin" bench --model --validate --repeat 2 --max-ranks 64 \
  --json "$tmp/m4.json" "$spiral" >"$tmp/m4.log"
mpiexec -n 1 "$bin" bench --model --latency 2e-6 --bandwidth 1e10 --ranks 2,8,2000 --quiet \
  --json "$tmp/m1.json" "$spiral" >"$tmp/m1.log"
[ ! -s "$tmp/m1.log" ]
mpiexec -n 1 "$bin" bench --model --ranks 2,4 --newton-iterations 3,1 --repeat 2 \
  --json "$tmp/g1.json" "$spiral" >"$tmp/g1.log"
grep -q "^Newton shooting, K = 3, K_c = 1 given" "$tmp/g1.log" || { cat "$tmp/g1.log"; exit 1; }

"$python" - "$tmp" "$(nproc)" <<'PY'
import json, math, sys
tmp, cores = sys.argv[1], int(sys.argv[2])

def close(a, b, rel=1e-5):
    return abs(a - b) <= rel * max(abs(a), abs(b))

def check_validation(v, d, P_here, rows):
    pr = v["per_rank"]
    assert [x["rank"] for x in pr] == list(range(P_here)), pr
    assert pr[0]["block"][0] == 0 and pr[-1]["block"][1] == 1000, pr
    assert v["wall_measured"] > 0 and v["wall_measured"] <= v["wall_measured_median"], v
    # The JSON's times have 7 significant digits: the error recomputed from
    # them is good to ~1e-7 absolutely (not relatively: it may be near 0).
    assert abs(v["wall_error"] - (v["wall_model"] - v["wall_measured"]) / v["wall_measured"]) <= 1e-5, v
    errs = []
    for x in pr:
        assert 0 < x["busy_measured"] <= x["busy_measured_median"], x
        assert 0 < x["busy_model"] and x["time_mpi"] >= 0 and x["cpu"] > 0, x
        assert x["cpu"] >= x["busy_measured"], x  # per sample cpu >= busy, hence the best too
        errs.append((x["busy_model"] - x["busy_measured"]) / x["busy_measured"])
    worst = max(errs, key=abs)
    assert abs(v["busy_error"] - worst) <= 1e-5, (v["busy_error"], errs)
    over = v["oversubscribed"]
    assert over == (P_here > d["host"]["local_cpus"]), v
    crit = abs(v["busy_error"]) if over else abs(v["wall_error"])
    assert v["within_tolerance"] == (crit <= v["tolerance"]), v
    assert ("busy" in v["criterion"]) == over
    print(f"P = {P_here}, {v['method']}: model {v['wall_model']:.4g} s, measured "
          f"{v['wall_measured']:.4g} s ({100 * v['wall_error']:+.0f} %), busy error "
          f"{100 * v['busy_error']:+.0f} %, criterion: {v['criterion']}")

def check(d, P_here, validate):
    assert d["kind"] == "pinode-perfmodel"
    sh = d["shape"]
    assert (sh["steps"], sh["batch"], sh["dim"], sh["nparam"]) == (1000, 16, 2, 252), sh
    assert d["host"]["ranks"] == P_here and d["host"]["local_cpus"] >= 1
    pts = d["calibration"]["points"]
    assert [p["b"] for p in pts] == [1, 2, 4, 8, 16], pts
    for p in pts:
        lo, hi = p["steps"]
        assert 1 <= lo < hi <= 1000, p
        assert 0 < p["t_forward"] <= p["t_step"] and p["fixed"] >= 0, p
        assert all(x > 0 for x in p["gradient"] + p["forward"]), p
    assert 1 <= d["calibration"]["threshold_b"] <= 16
    c = d["calibration"]["coarse"]
    assert c["scheme"] == "rk4" and c["b"] == 16 and 0 < c["t_forward"] <= c["t_step"], c
    assert [q["b"] for q in c["points"]] == [16], c
    tan = d["calibration"]["tangent_rows"]
    assert tan["b"] == 32 and tan["t_forward"] > 0, tan  # Newton's B·D tangent rows
    assert 0 < d["calibration"]["multiply_add"] < 1e-6, d["calibration"]
    net = d["network"]
    assert net["latency"] >= 0 and net["bandwidth"] > 0, net
    rows = d["pipeline"]
    assert rows[0]["P"] == 1 and rows[0]["M"] == 1 and close(rows[0]["speedup"], 1.0)
    T1 = rows[0]["time"]
    assert T1 > 0
    for r in rows:
        P = r["P"]
        if P > 1000:
            assert r["time"] is None and r["speedup"] is None, r
            assert r["weak_time"] > 0, r
            continue
        assert r["time"] > 0 and math.isfinite(r["time"]), r
        assert close(r["speedup"], T1 / r["time"]) and close(r["efficiency"], r["speedup"] / P), r
        assert 1 <= r["M"] <= 16 and (P > 1 or r["M"] == 1), r
        assert 1 <= r["best_M"] <= 16 and r["best_time"] <= r["time"] * (1 + 1e-12), r
        assert close(r["best_speedup"], T1 / r["best_time"]), r
        assert close(r["weak_efficiency"], T1 / r["weak_time"]), r
        if P == 1:
            assert close(r["time"], r["weak_time"]), r
    for par in d["parareal"]:
        for r in par["rows"]:
            if r["P"] > 1000:
                assert r["time"] is None, r
                continue
            assert r["time"] > 0 and close(r["speedup"], T1 / r["time"]), r
            assert close(r["efficiency"], r["speedup"] / r["P"]), r
        # more iterations cost more (same P)
    if len(d["parareal"]) >= 2:
        a, b = d["parareal"][:2]
        assert (a["K"], b["K"]) == (1, 3) and not a["measured"] and not b["measured"]
        for ra, rb in zip(a["rows"], b["rows"]):
            if ra["time"] is not None and ra["P"] > 1:
                assert rb["time"] > ra["time"], (ra, rb)
    nw = d["newton"]
    assert [r["P"] for r in nw["rows"]] == [r["P"] for r in rows], nw
    for r, pr in zip(nw["rows"], rows):
        if r["P"] > 1000:
            assert r["time"] is None, r
            continue
        assert r["time"] > 0 and close(r["speedup"], T1 / r["time"]), r
        assert close(r["efficiency"], r["speedup"] / r["P"]), r
        assert close(r["over_pipeline"], pr["best_time"] / r["time"]), (r, pr)
        if nw["iterations"] == "assumed":
            assert r["K"] == 2 and r["K_coarse"] == math.ceil(math.log2(r["P"])) + 1, r
        if r["P"] == 1:
            assert close(r["time"], T1), r  # one rank: the serial sweep
    assert len(d["assumptions"]) >= 5
    v = d["validation"]
    if not validate:
        assert v is None
        return
    assert v["method"] == "pipeline" and v["ranks"] == P_here and 1 <= v["microbatches"] <= 16, v
    row = [r for r in rows if r["P"] == P_here][0]
    # the model's row uses the solver's own rule (pn_pipeline_auto_microbatches)
    assert row["M"] == v["microbatches"], (row, v)
    assert close(v["wall_model"], row["time"], 1e-9), (v["wall_model"], row)
    check_validation(v, d, P_here, rows)
    pv = d["parareal_validation"]
    if pv is not None:
        assert pv["method"] == "parareal" and 1 <= pv["K"] <= P_here and 1 <= pv["K_adjoint"] <= P_here
        measured = [x for x in d["parareal"] if x["measured"]]
        assert len(measured) == 1 and (measured[0]["K"], measured[0]["K_adjoint"]) == (pv["K"], pv["K_adjoint"])
        row = [r for r in measured[0]["rows"] if r["P"] == P_here][0]
        assert close(pv["wall_model"], row["time"], 1e-9), (pv["wall_model"], row)
        check_validation(pv, d, P_here, rows)
    nv = d["newton_validation"]
    assert nv is not None and nv["method"] == "newton" and nv["ranks"] == P_here, nv
    assert 1 <= nv["K"] <= P_here and 0 <= nv["K_coarse"] <= P_here and not nv["fallback"], nv
    if nw["iterations"] == "measured":
        assert nw["serial_start"] == nv["serial_start"], (nw, nv)
        row = [r for r in nw["rows"] if r["P"] == P_here][0]
        assert (row["K"], row["K_coarse"]) == (nv["K"], nv["K_coarse"]), (row, nv)
        assert close(nv["wall_model"], row["time"], 1e-9), (nv["wall_model"], row)
    check_validation(nv, d, P_here, rows)

d2 = json.load(open(f"{tmp}/m2.json"))
check(d2, 2, True)
assert d2["network"]["measured"] and not d2["network"]["latency_given"]
assert d2["network"]["pingpong"][0]["bytes"] == 8 and len(d2["network"]["pingpong"]) >= 8
assert [p["K"] for p in d2["parareal"]][:2] == [1, 3] and len(d2["parareal"]) == 3
assert d2["parareal_validation"] is not None
assert d2["pipeline"][-1]["P"] == 4096
assert d2["newton"]["iterations"] == "measured"
d4 = json.load(open(f"{tmp}/m4.json"))
check(d4, 4, True)
assert d4["parareal_validation"] is None
assert d4["newton"]["iterations"] == "assumed"
assert d4["pipeline"][-1]["P"] == 64
d1 = json.load(open(f"{tmp}/m1.json"))
check(d1, 1, False)
n = d1["network"]
assert not n["measured"] and n["latency_given"] and n["bandwidth_given"], n
assert n["latency"] == 2e-6 and n["bandwidth"] == 1e10, n
assert [r["P"] for r in d1["pipeline"]] == [1, 2, 8, 2000], d1["pipeline"]
assert d1["newton_validation"] is None and d1["newton"]["iterations"] == "assumed"
g1 = json.load(open(f"{tmp}/g1.json"))
assert g1["newton"]["iterations"] == "given", g1["newton"]
assert [(r["P"], r["K"], r["K_coarse"]) for r in g1["newton"]["rows"]] == [(1, 3, 1), (2, 3, 1), (4, 3, 1)]
PY

# Bad options: status 2 and a message naming the option; a missing directory: status 1.
for args in "--parareal-iterations 0" "--parareal-iterations 2,x" "--repeat 0" "--latency -1" \
            "--ranks 2,x" "--steps 0" "--parareal-adjoint sideways" "--parareal-tol 2" \
            "--newton-iterations 0" "--newton-iterations 2,1,1" "--newton-iterations x" \
            "--newton-iterations 2,-1"; do
  status=0
  # shellcheck disable=SC2086
  "$bin" bench --model $args "$spiral" >"$tmp/bad.log" 2>&1 || status=$?
  if [ "$status" != 2 ] || ! grep -q -- "${args%% *}" "$tmp/bad.log"; then
    cat "$tmp/bad.log"
    echo "'$args' not refused with status 2" >&2
    exit 1
  fi
done
status=0
"$bin" bench --model "$tmp/no-such-dir" >"$tmp/missing.log" 2>&1 || status=$?
[ "$status" = 1 ] && grep -q "no-such-dir" "$tmp/missing.log"
status=0  # Parareal's iterations cannot be measured on one rank
"$bin" bench --model --parareal-iterations measure "$spiral" >"$tmp/one.log" 2>&1 || status=$?
[ "$status" = 1 ] && grep -q "needs 2 or more ranks" "$tmp/one.log"
status=0  # nor Newton's
"$bin" bench --model --newton-iterations measure "$spiral" >"$tmp/one.log" 2>&1 || status=$?
[ "$status" = 1 ] && grep -q "newton-iterations measure needs 2 or more ranks" "$tmp/one.log"
echo "bench --model: tables, validation and errors ok"
