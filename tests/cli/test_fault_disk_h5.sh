#!/usr/bin/env bash
# ctest-labels: reliability
# A full disk while writing HDF5 predictions: pinode predict on 2 ranks writes
# a 3.4 MB trajectory into a 256 KiB tmpfs that holds an older, complete file
# of the same name.  Then:
#  - predict stops within 60 s (parallel HDF5 must not hang on the failure)
#    with exit status 1 and a message naming the file, the dataset and the
#    room left;
#  - the older file is untouched and no temporary file is left (the disk is
#    not left full).
# Mounting needs root (CI runs as root); without it, or without HDF5, the
# test reports itself skipped (77) with the reason, never passed.
# Usage: test_fault_disk_h5.sh PINODE_BINARY SOURCE_DIR
set -euo pipefail
PINODE=$1
SRC=$2
T=$(mktemp -d "${TMPDIR:-/tmp}/pinode-fault-disk-h5-XXXXXX")
mnt="$T/small"
mkdir -p "$mnt"
cleanup() {
  mountpoint -q "$mnt" && umount "$mnt"
  rm -rf "$T"
}
trap cleanup EXIT
# shellcheck source=../reliability/lib.sh
. "$SRC/tests/reliability/lib.sh"

if ! mount -t tmpfs -o size=256k,mode=0755 tmpfs "$mnt" 2>"$T/mount.err"; then
  echo "SKIPPED: cannot mount a small tmpfs (needs root): $(cat "$T/mount.err")"
  exit 77
fi
cat >"$T/cfg.ini" <<'EOF'
[model]
hidden = 6
[solver]
steps = 30
[data]
source = lotka_volterra
trajectories = 5
points = 7
t1 = 3
[optimizer]
iterations = 2
EOF
mpiexec -n 1 "$PINODE" train "$T/cfg.ini" --quiet --set output.dir="$T/run"
predict() { mpiexec -n 2 "$PINODE" predict "$T/cfg.ini" --model "$T/run/model.pinode" "$@"; }
if ! predict --out "$mnt/p.h5" --quiet 2>"$T/err.log"; then
  grep -q "built without HDF5" "$T/err.log" || fail "$(cat "$T/err.log")"
  echo "SKIPPED: this pinode was built without HDF5"
  exit 77
fi
cp "$mnt/p.h5" "$T/old.h5"

predict --out "$mnt/p.h5" --force --set solver.steps=30000 >"$T/full.log" 2>&1 &
mp=$!
wait_exit $mp 60
[ "$EXIT_STATUS" != hung ] || fail "predict on a full disk did not end within 60 s"
[ "$EXIT_STATUS" = 1 ] || fail "exit status $EXIT_STATUS on a full disk, expected 1: $(cat "$T/full.log")"
grep -q "$mnt/p.h5: cannot write dataset '\(time\|z\)' (.*); only .* free on its file system, the states need 3.4 MB; nothing was written to $mnt/p.h5" \
  "$T/full.log" || fail "no message naming the file, the dataset and the room: $(cat "$T/full.log")"
echo "full disk: exit 1: $(grep -m1 'cannot write' "$T/full.log" | cut -c1-200)"
cmp -s "$T/old.h5" "$mnt/p.h5" || fail "the older file was changed"
leftover=$(find "$mnt" -name '*.tmp.*')
[ -z "$leftover" ] || fail "partial temporary files left on the full disk: $leftover"
df -k "$mnt" | tail -1 | awk '{print "   tmpfs: " $3 " KiB used of " $2 " KiB after the failure"}'
echo "test_fault_disk_h5: all checks passed"
