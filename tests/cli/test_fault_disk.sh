#!/usr/bin/env bash
# ctest-labels: reliability
# A full disk while writing a checkpoint: pinode train on 2 ranks
# writes into a 96 KiB tmpfs, a checkpoint at every iteration; the checkpoint
# grows with the loss history until the atomic write (temporary file, fsync,
# rename) finds no room.  Then:
#  - the run stops with exit status 1 and a message naming the file and
#    "No space left on device", within 60 s;
#  - the previous checkpoint survives, complete and consistent, and the
#    partial temporary file is removed (the disk is not left full);
#  - copied to a disk with room, --resume finishes with bitwise the same
#    model.pinode as an uninterrupted run.
# Mounting needs root (CI runs as root); without it the test reports itself
# skipped (77) with the reason, never passed.
# Usage: test_fault_disk.sh PINODE_BINARY SOURCE_DIR
set -euo pipefail
PINODE=$1
SRC=$2
T=$(mktemp -d "${TMPDIR:-/tmp}/pinode-fault-disk-XXXXXX")
mnt="$T/small"
mkdir -p "$mnt"
cleanup() {
  mountpoint -q "$mnt" && umount "$mnt"
  rm -rf "$T"
}
trap cleanup EXIT
# shellcheck source=../reliability/lib.sh
. "$SRC/tests/reliability/lib.sh"

if ! mount -t tmpfs -o size=96k,mode=0755 tmpfs "$mnt" 2>"$T/mount.err"; then
  echo "SKIPPED: cannot mount a small tmpfs (needs root): $(cat "$T/mount.err")"
  exit 77
fi

cat >"$T/cfg.ini" <<'EOF'
; the pipeline's own guarantees (method = auto may choose another layout)
[parallel]
method = pipeline
[model]
hidden = 8
[solver]
steps = 20
[data]
source = spiral
trajectories = 8
points = 11
[optimizer]
iterations = 2000
batch_size = 4
[output]
checkpoint_every = 1
EOF
train() { mpiexec -n 2 --oversubscribe "$PINODE" train "$T/cfg.ini" --quiet "$@"; }

train --set output.dir="$T/ref" --set output.checkpoint_every=0
echo "reference: $(check_modelfile "$T/ref/model.pinode") iterations"

d="$mnt/run"
mpiexec -n 2 --oversubscribe "$PINODE" train "$T/cfg.ini" --quiet --set output.dir="$d" \
  >"$T/full.log" 2>&1 &
mp=$!
wait_exit $mp 60
[ "$EXIT_STATUS" != hung ] || fail "the run on a full disk did not end within 60 s"
[ "$EXIT_STATUS" = 1 ] || fail "exit status $EXIT_STATUS on a full disk, expected 1: $(cat "$T/full.log")"
grep -q "checkpoint.pinode.tmp.[0-9]*: No space left on device" "$T/full.log" ||
  fail "no message naming the file and the full disk: $(cat "$T/full.log")"
echo "full disk: exit 1: $(grep -m1 'No space left' "$T/full.log" | cut -c1-160)"
df -k "$mnt" | tail -1 | awk '{print "   tmpfs: " $3 " KiB used of " $2 " KiB"}'
it=$(check_modelfile "$d/checkpoint.pinode") || fail "the previous checkpoint is torn"
[ "$it" -ge 10 ] && [ "$it" -lt 2000 ] || fail "checkpoint at iteration $it"
leftover=$(find "$d" -name '*.tmp.*')
[ -z "$leftover" ] || fail "partial temporary files left on the full disk: $leftover"
echo "   the previous checkpoint survives, complete, at iteration $it; no temporary file left"
# Negative control: the completeness check sees a torn copy (cut mid-array).
head -c $(($(stat -c %s "$d/checkpoint.pinode") / 2)) "$d/checkpoint.pinode" >"$T/torn.pinode"
if check_modelfile "$T/torn.pinode" >/dev/null 2>&1; then fail "a torn checkpoint passed the check"; fi

cp -r "$d" "$T/moved"
train --resume "$T/moved" >"$T/resume.log" 2>&1 || fail "resume: $(cat "$T/resume.log")"
cmp -s "$T/ref/model.pinode" "$T/moved/model.pinode" || fail "the resumed model differs"
echo "   resumed on a disk with room from iteration $it: model.pinode bitwise equal to the uninterrupted run"
echo "test_fault_disk: all checks passed"
