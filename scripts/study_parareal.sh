#!/usr/bin/env bash
# Parareal study: the bench `long` problem with one trajectory
# (B = 1: the pipeline has nothing to overlap).  For P = 1..4 ranks (more than
# the cores oversubscribe them) and each tolerance: Parareal iterations, the
# distance to the exact gradient, the critical path in fine-step equivalents
# per rank and the speedup it implies; then the measured wall-clock speedup
# at P = 2 against the exact one-rank gradient, medians of R runs.
#
# Critical path, in units of one fine forward step of the batch (a = the cost
# of a backward step in forward steps, measured on one rank; s_G, s_F the
# stages of the coarse and fine schemes; n = N/P; g coarse steps per block):
#   forward  K·n + (K + 1)·(P − 1)·g·s_G/s_F   (K fine sweeps; a coarse sweep
#            travels through P − 1 ranks before and after each)
#   adjoint  K_a·a·n + K_a·(P − 1)·g·a·s_G/s_F  (the default iterative adjoint:
#            K_a fine adjoint sweeps, a coarse adjoint sweep travelling through
#            P − 1 ranks after each; with --parareal-adjoint maps instead
#            (D + 1)·a·n + a·n: the block's affine map, then one fine adjoint)
#   serial   N·(1 + a)
#
# usage: scripts/study_parareal.sh [--build DIR] [--ranks "1 2 3 4"]
#                                  [--tols "1e-8 1e-10 1e-12"] [--repeat R]
#                                  [--coarse-ratio Q]
# Q: fine steps per coarse step (default 10, the solver's default); on this
# stiff, dissipative problem an explicit G is stable only up to Q ≈ 4.
set -euo pipefail
cd "$(dirname "$0")/.."
build=build ranks="1 2 3 4" tols="1e-8 1e-10 1e-12" repeat=5 ratio=10
while [ $# -gt 0 ]; do
  case "$1" in
    --build) build=$2; shift 2 ;;
    --ranks) ranks=$2; shift 2 ;;
    --tols) tols=$2; shift 2 ;;
    --repeat) repeat=$2; shift 2 ;;
    --coarse-ratio) ratio=$2; shift 2 ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) echo "study_parareal.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
bin=$build/bin/pinode
[ -x "$bin" ] || { echo "study_parareal.sh: no $bin; build first" >&2; exit 1; }
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
. scripts/blas-env.sh
export OPENBLAS_NUM_THREADS=1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# long with its first sample only (B = 1), its labels and targets kept.
/usr/bin/python3 - tests/data/bench/long "$tmp/long1" <<'PY'
import os, sys
src, out = sys.argv[1], sys.argv[2]
os.makedirs(out)
rd = lambda f: [l.strip() for l in open(os.path.join(src, f)) if l.strip()]
meta = dict(l.split(None, 1) for l in rd("meta.txt"))
D, B = int(meta["dim"]), int(meta["batch"])
meta["batch"] = "1"
open(os.path.join(out, "meta.txt"), "w").write("".join(f"{k} {v}\n" for k, v in meta.items()))
for f in ("theta.txt", "times.txt"):
    open(os.path.join(out, f), "w").write("\n".join(rd(f)) + "\n")
z0, y = rd("z0.txt"), rd("targets.txt")
open(os.path.join(out, "z0.txt"), "w").write("\n".join(z0[:D]) + "\n")
K = len(y) // (B * D)
open(os.path.join(out, "targets.txt"), "w").write(
    "\n".join(y[k * B * D + d] for k in range(K) for d in range(D)) + "\n")
PY
prob=$tmp/long1
N=$(awk '$1 == "steps" {print $2}' "$prob/meta.txt")
D=$(awk '$1 == "dim" {print $2}' "$prob/meta.txt")

run() { # P, then pinode gradient options; prints its output
  local P=$1; shift
  mpiexec -n "$P" --oversubscribe ${MPIEXEC_FLAGS:-} "$bin" gradient --force "$prob" "$tmp/out" "$@"
}
# Median seconds per gradient of `pinode gradient --repeat` output.
median_of() { awk '/median/ { for (i = 1; i <= NF; i++) if ($i == "median") { print $(i + 1); exit } }'; }

serial=$(run 1 --repeat "$repeat")
tf=$(echo "$serial" | sed -n 's/^ *rank 0:.*forward \([0-9.e+-]*\) s, backward \([0-9.e+-]*\) s.*/\1 \2/p' | head -1)
a=$(echo "$tf" | awk '{ printf "%.3f", $2 / $1 }')
t1=$(echo "$serial" | median_of)
echo "# Parareal study: bench long, B = 1, N = $N, D = $D, rk4 fine and coarse, $ratio fine steps per coarse step; $(nproc) cores"
echo "# one rank (pipeline, exact): median ${t1} s per gradient; a = backward/forward step cost = $a"
printf '%-3s %-7s %5s %5s %12s %12s %10s\n' P tol K K_a "dist(grad)" "crit.path" speedup
for P in $ranks; do
  for tol in $tols; do
    out=$(run "$P" --parallel parareal --parareal-tol "$tol" --exact-distance \
      --coarse-steps $(( (N / P + ratio - 1) / ratio )))
    K=$(echo "$out" | sed -n 's/^parareal: \([0-9]*\) iterations.*/\1/p')
    KA=$(echo "$out" | sed -n 's/^ *adjoint (iterate): \([0-9]*\) iterations.*/\1/p')
    g=$(echo "$out" | sed -n 's/.*(fine scheme), \([0-9]*\) steps per block.*/\1/p; s/.*coarse [a-z0-9]*, \([0-9]*\) steps per block.*/\1/p' | head -1)
    dist=$(echo "$out" | sed -n 's/.*dL\/dtheta \([0-9.e+-]*\),.*/\1/p')
    awk -v P="$P" -v tol="$tol" -v K="$K" -v KA="$KA" -v g="${g:-0}" -v N="$N" -v a="$a" -v d="$dist" 'BEGIN {
      n = N / P; fwd = K * n + (K + 1) * (P - 1) * g
      adj = KA * a * n + KA * (P - 1) * g * a
      printf "%-3d %-7s %5d %5d %12s %12.0f %10.2f\n", P, tol, K, KA, d, fwd + adj, N * (1 + a) / (fwd + adj) }'
  done
done
echo "# measured at P = 2 (median of $repeat, after one warm-up), tol 1e-10:"
t2=$(run 2 --parallel parareal --parareal-tol 1e-10 --repeat "$repeat" \
  --coarse-steps $(( (N / 2 + ratio - 1) / ratio )) | median_of)
awk -v t1="$t1" -v t2="$t2" 'BEGIN { printf "one rank %.4f s, Parareal on 2 ranks %.4f s: speedup %.2f\n", t1, t2, t1 / t2 }'
