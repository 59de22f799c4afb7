#!/usr/bin/env bash
# Scaling study of the real pinode program on a simulated cluster: SimGrid's
# SMPI runs `pinode gradient` (the SMPI build) unmodified, each rank's
# computation executed and timed on this machine's CPU, messages and
# collectives through the platform's network model (docs/simulation.md).
#
# usage: scripts/simulate.sh [options] DIR [-- pinode gradient options]
#        scripts/simulate.sh --validate [options] [DIR ...]
#   --platform FILE   SimGrid platform (default scripts/platforms/cluster-16x64-hdr.xml;
#                     make one with scripts/make_platform.py); ranks are placed
#                     one a core, node by node
#   --ranks "LIST"    rank counts (default "1 2 4 8 16 32 64")
#   --parallel M      pinode gradient's --parallel (pipeline, parareal, ...);
#                     default: pinode's own
#   --repeat R        timed gradients per point, median (default 1: simulated
#                     times vary only by the measured compute bursts)
#   --csv FILE        write the table as CSV: ranks,method,seconds,speedup,
#                     efficiency,warm_seconds,... (scripts/simulate_tool.py)
#   --points DIR      also write each point as DIR/point-*.json, the result
#                     files of scaling studies (scripts/study_report.sh DIR
#                     plots them with real points of the same problem)
#   --weak            the problem grows with P: P times the steps
#                     (scripts/study_problem.py), as slurm/weak_scaling.sbatch
#   --build DIR       the SMPI build (default build-smpi: cmake -DPINODE_SMPI=ON)
#   --real-build DIR  the ordinary build, for --validate (default build)
#   --coll NAME       SMPI's collective algorithms: mpich (default: MPICH's
#                     choices), or another smpi/coll-selector value (SimGrid
#                     3.32's ompi one crashes in MPI_Reduce on one rank)
#   --validate        compare with real runs: each DIR (default: spiral, wide
#                     and long of tests/data/bench) on 1 and 2 ranks under
#                     mpiexec (a core each) against the simulation on
#                     --platform (default here scripts/platforms/local-1x2.xml,
#                     this machine), tolerance 15 %; then with --model-ranks,
#                     `pinode bench --model` against the simulation (the
#                     pipeline: the model's Parareal needs its iteration counts)
#   --model-ranks "LIST"  rank counts of that comparison (default: none)
#   --model-platform FILE its platform (default scripts/platforms/cluster-16x64-hdr.xml)
# Prints per P: method, simulated seconds per gradient, speedup and efficiency
# against P = 1, and the gradient's relative distance to DIR/ref when it exists.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
py=/usr/bin/python3
[ -x "$py" ] || py=python3
tool="$py $here/simulate_tool.py"

platform="" ranks="1 2 4 8 16 32 64" parallel="" repeat=1 csv="" points="" weak=0
build=$root/build-smpi real_build=$root/build coll=mpich validate=0 model_ranks=""
model_platform=$here/platforms/cluster-16x64-hdr.xml
dirs=() extra=()
die() { echo "simulate.sh: $*" >&2; exit 2; }
while [ $# -gt 0 ]; do
  case "$1" in
    --platform) platform=$2; shift 2 ;;
    --ranks) ranks=$2; shift 2 ;;
    --parallel) parallel=$2; shift 2 ;;
    --repeat) repeat=$2; shift 2 ;;
    --csv) csv=$2; shift 2 ;;
    --points) points=$2; shift 2 ;;
    --weak) weak=1; shift ;;
    --build) build=$2; shift 2 ;;
    --real-build) real_build=$2; shift 2 ;;
    --coll) coll=$2; shift 2 ;;
    --validate) validate=1; shift ;;
    --model-ranks) model_ranks=$2; shift 2 ;;
    --model-platform) model_platform=$2; shift 2 ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    --) shift; extra=("$@"); break ;;
    -*) die "unknown option '$1' (see --help)" ;;
    *) dirs+=("$1"); shift ;;
  esac
done
[[ "$repeat" =~ ^[1-9][0-9]*$ ]] || die "--repeat needs a positive integer, got '$repeat'"
for p in $ranks; do [[ "$p" =~ ^[1-9][0-9]*$ ]] || die "--ranks: '$p' is not a positive integer"; done
[ -n "$ranks" ] || die "--ranks is empty"
if [ $validate = 1 ]; then
  [ ${#dirs[@]} -gt 0 ] || dirs=("$root/tests/data/bench/spiral" "$root/tests/data/bench/wide" "$root/tests/data/bench/long")
  platform=${platform:-$here/platforms/local-1x2.xml}
else
  [ ${#dirs[@]} = 1 ] || die "one problem directory DIR expected (see --help)"
  platform=${platform:-$here/platforms/cluster-16x64-hdr.xml}
fi
for d in "${dirs[@]}"; do [ -s "$d/meta.txt" ] || die "$d is not a problem directory (no meta.txt)"; done
[ -r "$platform" ] || die "no platform file $platform"
command -v smpirun >/dev/null || die "smpirun not found: install libsimgrid-dev (scripts/install-deps.sh)"
bin=$build/bin/pinode
[ -x "$bin" ] || die "no $bin: build it with cmake -S . -B $build -DPINODE_SMPI=ON && cmake --build $build"

. "$here/blas-env.sh"
export OPENBLAS_NUM_THREADS=1 OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# SMPI settings (docs/simulation.md, "How the simulation is set up"):
#  - host-speed 1Gf: a burst measured as t seconds here is 1e9·t flops, so a
#    platform core of speed X Gf takes t/X simulated seconds;
#  - latency and bandwidth factors 1 for every size (0:1; a bare "1" crashes
#    SimGrid 3.32): the platform's numbers are what a
#    ping-pong measures (SMPI's defaults are fitted to a 1 Gb Ethernet);
#  - the collective algorithms of a real MPI (SMPI's own are linear);
#  - one 8 MB stack per rank, allocated lazily.
smpi_flags=(--cfg=smpi/host-speed:1Gf --cfg=smpi/bw-factor:0:1 --cfg=smpi/lat-factor:0:1
            --cfg=smpi/coll-selector:"$coll" --cfg=contexts/stack-size:8192
            --cfg=smpi/display-timing:no --log=root.thres:warning --log=xbt_cfg.thres:warning)

# simulate PROBLEM P PLATFORM OUTDIR: one run; OUTDIR/{raw.json,log,wall}.
simulate() {
  local prob=$1 p=$2 plat=$3 out=$4
  mkdir -p "$out"
  $tool hostfile "$plat" "$p" "$out/hosts" > "$out/network"
  local args=(gradient --repeat "$repeat" --json "$out/raw.json")
  [ -z "$parallel" ] || args+=(--parallel "$parallel")
  local t0 t1
  t0=$(date +%s.%N)
  if ! smpirun -np "$p" -platform "$plat" -hostfile "$out/hosts" "${smpi_flags[@]}" \
         "$bin" "${args[@]}" ${extra[@]+"${extra[@]}"} "$prob" "$out/grad" > "$out/log" 2>&1; then
    echo "simulate.sh: the simulated run on $p ranks failed ($plat); its output:" >&2
    grep -Ev '^\[[^]]*\] [^ ]*: \[[a-z_]*/(INFO|WARNING)\]' "$out/log" | tail -n 20 >&2
    exit 1
  fi
  t1=$(date +%s.%N)
  echo "$t0 $t1" | awk '{ printf "%.1f\n", $2 - $1 }' > "$out/wall"
}

# study PROBLEM: the loop over P on $platform; rows into $tmp/rows.csv.
study() {
  local src=$1 kind=strong
  [ $weak = 0 ] || kind=weak
  : > "$tmp/rows.csv"
  for p in $ranks; do
    local prob=$src out=$tmp/p$p dist=""
    if [ $weak = 1 ]; then
      prob=$tmp/problem-p$p
      "$py" "$here/study_problem.py" "$src" "$prob" "$p"
    fi
    simulate "$prob" "$p" "$platform" "$out"
    [ ! -d "$prob/ref" ] || dist=$($tool distance "$out/grad" "$prob/ref")
    $tool row "$out/raw.json" "$out/log" "$p" "$kind" "$dist" "$(cat "$out/wall")" >> "$tmp/rows.csv"
    if [ -n "$points" ]; then
      mkdir -p "$points"
      local method
      method=$("$py" -c 'import json,sys; print(json.load(open(sys.argv[1]))["method"])' "$out/raw.json")
      "$py" "$here/collect_scaling.py" point --raw "$out/raw.json" --study "$kind" \
        --method "$method" --log "$out/log" --problem "$src" \
        --simulated "$(basename "$platform" .xml)" --launcher "smpirun (SimGrid SMPI)" \
        --out "$points/point-sim-$(basename "$platform" .xml)-$kind-$method-p$(printf %05d "$p").json"
    fi
  done
}

if [ $validate = 0 ]; then
  echo "simulated on $platform: $(basename "${dirs[0]}"), ranks $ranks${parallel:+, --parallel $parallel}"
  study "${dirs[0]}"
  $tool table "$tmp/rows.csv" "${csv:--}"
  exit 0
fi

# ---- validation ---------------------------------------------------------------
[ -x "$real_build/bin/pinode" ] || die "--validate needs the ordinary build: no $real_build/bin/pinode"
[ $weak = 0 ] || die "--validate and --weak do not go together"
# real PROBLEM P OUT: "WALL CPU": median seconds per gradient of R runs under
# mpiexec, a core a rank, and the largest rank's median CPU time per gradient
# (waiting ranks spin in MPI, so on an idle machine the two agree; on a shared
# one the CPU time is what the rank would have taken alone, which is what the
# simulation measures: SMPI times each compute burst by its CPU time).
real() {
  mkdir -p "$3"
  mpiexec -n "$2" --bind-to core "$real_build/bin/pinode" gradient --quiet --force --repeat "$repeat" \
    --json "$3/raw.json" ${parallel:+--parallel "$parallel"} ${extra[@]+"${extra[@]}"} "$1" "$3/grad" \
    > "$3/log" 2>&1 || { echo "simulate.sh: the real run failed:" >&2; tail -n 20 "$3/log" >&2; exit 1; }
  "$py" -c 'import json,sys; j=json.load(open(sys.argv[1])); print(j["time_per_gradient"]["median"], max(r["cpu_time"] for r in j["per_rank"]))' "$3/raw.json"
}
status=0
echo "simulated ($(basename "$platform")) against real (mpiexec, a core a rank), median of $repeat;"
echo "diff: simulated against the real CPU time (the real wall time is longer when the machine is shared):"
printf '%-8s %3s %12s %12s %12s %8s\n' problem P "real wall s" "real CPU s" "simulated s" "diff"
for d in "${dirs[@]}"; do
  for p in 1 2; do
    read -r rw rc < <(real "$d" "$p" "$tmp/real-$p")
    simulate "$d" "$p" "$platform" "$tmp/sim-$p"
    s=$("$py" -c 'import json,sys; print(json.load(open(sys.argv[1]))["time_per_gradient"]["median"])' "$tmp/sim-$p/raw.json")
    line=$(awk -v w="$rw" -v r="$rc" -v s="$s" 'BEGIN { d = (s - r) / r; printf "%12.4g %12.4g %12.4g %+7.1f%%%s", w, r, s, 100 * d, (d > 0.15 || d < -0.15) ? "  over 15 %" : "" }')
    printf '%-8s %3d %s\n' "$(basename "$d")" "$p" "$line"
    case "$line" in *over*) status=1 ;; esac
  done
done
[ -n "$model_ranks" ] || exit $status

# The analytic model (pinode bench --model) against the simulation on
# --model-platform, with the platform's inter-node latency and bandwidth.
read -r lat bw < <($tool hostfile "$model_platform" 1 "$tmp/hosts1")
[ "$lat" != - ] || die "$model_platform is not one cluster: its latency and bandwidth are unknown"
platform=$model_platform
parallel=pipeline
for d in "${dirs[@]}"; do
  list=$(echo $model_ranks | tr ' ' ',')
  "$real_build/bin/pinode" bench --model "$d" --ranks "$list" --latency "$lat" --bandwidth "$bw" \
    --quiet --json "$tmp/model.json" > "$tmp/model.log" 2>&1 || { echo "simulate.sh: pinode bench --model failed:" >&2; tail "$tmp/model.log" >&2; exit 1; }
  echo "$(basename "$d"): pinode bench --model against the simulation ($(basename "$model_platform")):"
  printf '%6s %12s %12s %8s\n' P "simulated s" "model s" "diff"
  steps=$(awk '$1 == "steps" { print $2 }' "$d/meta.txt")
  for p in $model_ranks; do
    if [ "$p" -gt "$steps" ]; then printf '%6d %12s %12s  (more ranks than steps)\n' "$p" - -; continue; fi
    simulate "$d" "$p" "$platform" "$tmp/m-$p"
    "$py" - "$tmp/m-$p/raw.json" "$tmp/model.json" "$p" <<'PY'
import json, sys
sim = json.load(open(sys.argv[1]))["time_per_gradient"]["median"]
model = json.load(open(sys.argv[2]))
P = int(sys.argv[3])
rows = [r for r in model["pipeline"] if r["P"] == P and r.get("time") is not None]
if not rows:
    print(f"{P:6d} {sim:12.4g} {'-':>12}")
else:
    m = rows[0]["time"]
    d = (m - sim) / sim
    print(f"{P:6d} {sim:12.4g} {m:12.4g} {100 * d:+7.1f}%" + ("  over 25 %" if abs(d) > 0.25 else ""))
PY
  done
done
exit $status
