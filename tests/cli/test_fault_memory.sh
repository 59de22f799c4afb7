#!/usr/bin/env bash
# ctest-labels: reliability
# Memory: before allocating, the solver estimates what it needs
# per rank and refuses, with the estimate, the limit and settings that fit,
# instead of being killed by the OS.
#  1. pinode gradient of the small bench problem with 10^10 steps (152 GB of
#     trajectory on one rank) and no limit given: exit 1 within 60 s, while the
#     process may map at most 4 GB (so nothing was allocated first), with
#     "would need", the node's available memory and a storage that fits; on
#     3 ranks the per-rank estimate is a third (the blocks split the steps).
#  2. pinode train with solver.memory_limit_mb below its need: refused the
#     same way; the every:K the message proposes trains within the limit, to
#     bitwise the model of storage all; 3 ranks fit where 1 did not.
#  3. a process limit (ulimit -v) below the need, the node above it: exit 1
#     with "out of memory ... for trajectory", never a signal.
# Usage: test_fault_memory.sh PINODE_BINARY SOURCE_DIR
set -euo pipefail
PINODE=$1
SRC=$2
T=$(mktemp -d "${TMPDIR:-/tmp}/pinode-fault-memory-XXXXXX")
trap 'rm -rf "$T"' EXIT
# shellcheck source=../reliability/lib.sh
. "$SRC/tests/reliability/lib.sh"
asan=0 # ASan reserves terabytes: no ulimit -v there (grep without -q: see test_fault_inputs.sh)
if ldd "$PINODE" | grep libasan >/dev/null; then asan=1; fi

p="$T/long"
mkdir -p "$p"
cp "$SRC"/tests/data/bench/small/*.txt "$p/"
sed -i 's/^steps .*/steps 10000000000/' "$p/meta.txt"
declare -A need
for np_ in 1 3; do
  set +e
  (
    [ $asan = 1 ] || ulimit -v 4000000
    exec timeout -s KILL 60 mpiexec -n $np_ --oversubscribe "$PINODE" gradient "$p" "$T/o"
  ) >"$T/g$np_.log" 2>&1
  status=$?
  set -e
  [ $status = 1 ] || fail "$np_ ranks: exit status $status, expected 1: $(cat "$T/g$np_.log")"
  line=$(grep -m1 "would need" "$T/g$np_.log") || fail "$np_ ranks: no estimate: $(cat "$T/g$np_.log")"
  echo "$line" | grep -Eq "more than the memory available on this node \([0-9.]+ MB\)" ||
    fail "$np_ ranks: the message does not give the limit: $line"
  echo "$line" | grep -Eq "binomial:[0-9]+ (or less )?fits" || fail "$np_ ranks: no setting that fits: $line"
  need[$np_]=$(echo "$line" | grep -Eo "would need [0-9.]+ MB" | grep -Eo "[0-9.]+")
  echo "gradient, 10^10 steps, $np_ rank(s): ${line:0:250}..."
done
$PY -c "import sys; r = ${need[1]} / ${need[3]}; print('   per-rank estimate 1 rank / 3 ranks = %.3f' % r); sys.exit(0 if 2.99 < r < 3.01 else 1)" ||
  fail "the 3-rank estimate is not a third of the 1-rank one"

cat >"$T/cfg.ini" <<'EOF'
; the pipeline's own guarantees (method = auto may choose another layout)
[parallel]
method = pipeline
[model]
hidden = 16
[solver]
steps = 2000
[data]
source = spiral
trajectories = 8
points = 11
[optimizer]
iterations = 15
batch_size = 4
EOF
train() { # NP NAME [--set ...]
  local np=$1 name=$2
  shift 2
  mpiexec -n "$np" --oversubscribe "$PINODE" train "$T/cfg.ini" --quiet --set output.dir="$T/$name" "$@"
}
train 1 all
set +e
train 1 limited --set solver.memory_limit_mb=0.1 >"$T/l.log" 2>&1
status=$?
set -e
[ $status = 1 ] || fail "train over its memory limit: exit $status: $(cat "$T/l.log")"
line=$(grep -m1 "would need" "$T/l.log") || fail "train: no estimate: $(cat "$T/l.log")"
echo "$line" | grep -q "more than the memory limit" || fail "train: the limit is not named: $line"
k=$(echo "$line" | grep -Eo "every:[0-9]+" | head -1) || fail "train: no every:K proposed: $line"
echo "train, memory_limit_mb = 0.1: ${line:0:250}..."
train 1 fits --set solver.memory_limit_mb=0.1 --set solver.storage="$k"
cmp -s "$T/all/model.pinode" "$T/fits/model.pinode" || fail "storage $k changed the model"
echo "   the proposed storage $k trains within the limit: model.pinode bitwise that of storage all"
train 3 three --set solver.memory_limit_mb=0.1 --set output.overwrite=true ||
  fail "3 ranks did not fit where 1 rank did not"
echo "   3 ranks (a third of the steps each) fit the same limit"

# A limit of a few kilobytes is printed in a unit that shows it (not "0.0 MB").
set +e
train 1 tiny --set solver.memory_limit_mb=0.001 >"$T/t.log" 2>&1
"$PINODE" gradient "$SRC/tests/data/bench/small" "$T/o" --memory 1K >"$T/m.log" 2>&1
set -e
grep -q "that is more than the memory limit (1.0 KB)" "$T/t.log" || fail "a tiny limit: $(cat "$T/t.log")"
grep -q "pinode gradient: --memory 1.0 KB: rank 0 already holds [0-9.]* MB" "$T/m.log" ||
  fail "--memory 1K: $(cat "$T/m.log")"
echo "   memory_limit_mb = 0.001 and --memory 1K: $(grep -o 'more than the memory limit ([^)]*)' "$T/t.log"), $(cut -c1-50 "$T/m.log")"

if [ $asan = 0 ]; then
  q="$T/mid"
  mkdir -p "$q"
  cp "$SRC"/tests/data/bench/small/*.txt "$q/"
  sed -i 's/^steps .*/steps 200000000/' "$q/meta.txt" # 3 GB of trajectory
  set +e
  ( ulimit -v 2000000; exec timeout -s KILL 60 "$PINODE" gradient "$q" "$T/o" ) >"$T/v.log" 2>&1
  status=$?
  set -e
  [ $status = 1 ] && grep -Eq "out of memory allocating [0-9.]+ MB for trajectory" "$T/v.log" ||
    fail "under ulimit -v 2 GB: exit $status: $(cat "$T/v.log")"
  echo "ulimit -v 2 GB, 3 GB of trajectory: exit 1, $(grep -m1 'out of memory' "$T/v.log" | cut -c1-120)"
fi
echo "test_fault_memory: all checks passed"
