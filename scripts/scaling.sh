#!/usr/bin/env bash
# Strong scaling of the time-parallel gradient (a benchmark, not a test).
# For each bench problem, rank count P and micro-batch count M, runs
#   mpiexec -n P pinode gradient --microbatches M --repeat R --json ...
# (one OpenBLAS thread per rank; R timed gradients after one warm-up) and
# prints per (P, M): median / min / max time per gradient, speedup and
# parallel efficiency against P = 1, M = 1 measured in the same run, the
# largest per-rank waiting time (pn_stats.time_wait), each rank's peak RSS
# and cpu/wall: the smallest ratio over the ranks of process CPU time to wall
# time per gradient.  Idle ranks spin inside MPI, so on a machine with a free
# core per rank it is ~1; well below 1 means the ranks shared their cores
# with other work and that run's times overstate the solver's.  The column
# "model" is the efficiency the pipeline would have on free cores, from the
# CPU times of the P = 1 runs alone (robust to a busy machine):
#   E(P, M) = M·c(1) / ((M + P − 1)·c(M)),  c(M) = CPU time per gradient, P = 1
# (idle fill and drain of P − 1 micro-batch slots; the cost of splitting the
# batch into M; communication neglected).
#
# usage: scripts/scaling.sh [--build DIR] [--repeat R] [--problems "spiral wide long"]
#                           [--ranks "1 2"] [--microbatches "1 2 4 8 16 auto"]
#                           [--batch-groups "1 2"] [--out DIR]
# --batch-groups: also run each P with the ranks in G batch groups (for G
# dividing P, G > 1: each group solves B/G samples on P/G ranks; the column G),
# the other way to use more ranks on a batch (docs/parallel.md, "Batch groups").  Its
# "model" column is the pipeline's within a group, so it is left out.
# A problem NAME:bB:nN is bench problem NAME with its batch grown to B (its
# samples repeated, each copy perturbed by 1e-3 relative) and N steps of the
# same size (labels beyond the shorter interval dropped; if none is left, the
# first one moves to the end), e.g. long:b256:n2000
# to see how the batch size decides the pipeline's efficiency.
# Needs a built pinode (cmake --build DIR); writes the JSON of every run to
# --out (default: a temporary directory, removed at the end).  The machine
# should be otherwise idle: timings of a shared machine are noisy.
set -euo pipefail
cd "$(dirname "$0")/.."

build=build repeat=5 problems="spiral wide long" ranks="1 2" ms="1 2 4 8 16 auto" groups=1 out=""
while [ $# -gt 0 ]; do
  case "$1" in
    --build) build=$2; shift 2 ;;
    --repeat) repeat=$2; shift 2 ;;
    --problems) problems=$2; shift 2 ;;
    --ranks) ranks=$2; shift 2 ;;
    --microbatches) ms=$2; shift 2 ;;
    --batch-groups) groups=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) echo "scaling.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done

bin=$build/bin/pinode
[ -x "$bin" ] || { echo "scaling.sh: no $bin; build first (cmake --build $build)" >&2; exit 1; }
python=/usr/bin/python3
[ -x "$python" ] || python=python3

export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
. scripts/blas-env.sh
export OPENBLAS_NUM_THREADS=1 # one BLAS thread per rank, whatever the caller set

keep=1
if [ -z "$out" ]; then
  out=$(mktemp -d)
  keep=0
fi
mkdir -p "$out"
cleanup() { [ "$keep" = 1 ] || rm -rf "$out"; }
trap cleanup EXIT

echo "# pinode scaling: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')"
echo "# OPENBLAS_NUM_THREADS=$OPENBLAS_NUM_THREADS OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-default}, $repeat timed gradients per run after one warm-up"
# Bench problem NAME with batch B and N steps (see above) in directory OUT.
derive() {
  "$python" - "$@" <<'PY'
import os, sys
src, B, N, out = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
os.makedirs(out, exist_ok=True)
read = lambda f: [l.strip() for l in open(os.path.join(src, f)) if l.strip()]
meta = dict(l.split(None, 1) for l in read("meta.txt"))
D, B0, N0 = int(meta["dim"]), int(meta["batch"]), int(meta["steps"])
t0, t1 = float(meta["t0"]), float(meta["t1"])
t1n = t0 + (t1 - t0) * N / N0
meta.update(batch=str(B), steps=str(N), t1=repr(t1n))
open(os.path.join(out, "meta.txt"), "w").write("".join(f"{k} {v}\n" for k, v in meta.items()))
open(os.path.join(out, "theta.txt"), "w").write("\n".join(read("theta.txt")) + "\n")
z0 = [float(x) for x in read("z0.txt")]
times = [float(x) for x in read("times.txt")]
y = [float(x) for x in read("targets.txt")]
def grow(v):  # B0 samples of D -> B samples, copy c perturbed by 1e-3 * c relative
    return [v[(b % B0) * D + d] * (1 + 1e-3 * (b // B0)) for b in range(B) for d in range(D)]
keep = [k for k, t in enumerate(times) if t <= t1n + 1e-9 * (t1 - t0)]
when = [times[k] for k in keep]
if not keep:  # every label lay beyond the shorter interval: keep the first, at its end
    keep, when = [0], [t1n]
open(os.path.join(out, "z0.txt"), "w").write("".join(f"{x!r}\n" for x in grow(z0)))
open(os.path.join(out, "times.txt"), "w").write("".join(f"{t!r}\n" for t in when))
open(os.path.join(out, "targets.txt"), "w").write(
    "".join(f"{x!r}\n" for k in keep for x in grow(y[k * B0 * D:(k + 1) * B0 * D])))
PY
}

for prob in $problems; do
  dir=tests/data/bench/$prob
  if [[ "$prob" =~ ^([a-z]+):b([0-9]+):n([0-9]+)$ ]]; then
    dir=$out/problem-$prob
    derive "tests/data/bench/${BASH_REMATCH[1]}" "${BASH_REMATCH[2]}" "${BASH_REMATCH[3]}" "$dir"
  fi
  [ -d "$dir" ] || { echo "scaling.sh: no problem directory $dir" >&2; exit 1; }
  for P in $ranks; do
    for G in $groups; do
      [ "$G" -le "$P" ] && [ $((P % G)) = 0 ] || continue
      for M in $ms; do
        # one rank per group: no pipeline, every M is the same run
        [ "$G" = 1 ] || [ "$G" != "$P" ] || [ "$M" = auto ] || continue
        mopt=()
        [ "$M" = auto ] || mopt=(--microbatches "$M")
        mpiexec -n "$P" --oversubscribe ${MPIEXEC_FLAGS:-} "$bin" gradient --quiet --force "${mopt[@]}" \
          --batch-groups "$G" --repeat "$repeat" --json "$out/$prob-P$P-G$G-M$M.json" "$dir" \
          "$out/grad-$prob"
      done
    done
  done
done

"$python" - "$out" $problems <<'PY'
import glob, json, os, sys

out, problems = sys.argv[1], sys.argv[2:]
print(f"{'problem':8} {'P':>2} {'G':>2} {'M':>5} {'N':>6} {'B':>4} {'median s':>9} {'min s':>8} {'max s':>8}"
      f" {'speedup':>7} {'effic.':>6} {'model':>6} {'wait s':>7} {'cpu/wall':>8}"
      "  peak RSS per rank (MB)")
for prob in problems:
    runs = []
    for path in glob.glob(os.path.join(out, f"{prob}-P*-G*-M*.json")):
        asked = path.rsplit("-M", 1)[1][:-5]
        with open(path) as f:
            runs.append((asked, json.load(f)))
    base = [d for a, d in runs if d["ranks"] == 1 and d["microbatches"] == 1]
    groups = lambda d: d.get("batch_groups", 1)
    t1 = min(d["time_per_gradient"]["median"] for d in base) if base else None
    cpu1 = {}  # M -> CPU time per gradient on one rank
    for a, d in runs:
        if d["ranks"] == 1:
            c, M = d["per_rank"][0]["cpu_time"], d["microbatches"]
            cpu1[M] = min(c, cpu1.get(M, c))
    runs.sort(key=lambda r: (r[1]["ranks"], groups(r[1]), r[0] != "auto", r[1]["microbatches"]))
    for asked, d in runs:
        t = d["time_per_gradient"]
        P = d["ranks"]
        m = f"{d['microbatches']}" + ("*" if asked == "auto" else "")
        sp = t1 / t["median"] if t1 else float("nan")
        wait = max(r["time_wait"] for r in d["per_rank"])
        busy = min(r["cpu_time"] for r in d["per_rank"]) / t["median"]
        rss = ", ".join(f"{r['peak_rss_kb'] / 1024:.1f}" for r in d["per_rank"])
        M = d["microbatches"]
        model = (f"{100 * M * cpu1[1] / ((M + P - 1) * cpu1[M]):5.0f}%"
                 if 1 in cpu1 and M in cpu1 and groups(d) == 1 else f"{'-':>6}")
        print(f"{prob:8} {P:2d} {groups(d):2d} {m:>5} {d['steps']:6d} {d['batch']:4d} {t['median']:9.4f} "
              f"{t['min']:8.4f} {t['max']:8.4f} {sp:7.2f} {100 * sp / P:5.0f}% {model} {wait:7.4f} "
              f"{busy:8.2f}  {rss}")
print("G = batch groups; M* = automatic choice (per group); speedup and efficiency against P = 1, M = 1 of the same run;"
      " model = pipeline efficiency predicted from the P = 1 CPU times;"
      " wait s = largest per-rank median time waiting for neighbours (pn_stats.time_wait);"
      " cpu/wall well below 1: the ranks shared their cores with other work")
PY
