# Helpers of the reliability tests (tests/cli/test_fault_*.sh, test_soak.sh,
# test_determinism.sh): sourced, not run.  They need PINODE (the binary) and
# T (a scratch directory) set by the caller.
PY=/usr/bin/python3
export OMPI_MCA_rmaps_base_oversubscribe=1

fail() { echo "FAIL: $*" >&2; exit 1; }

# The PID of rank R of the job launched by mpiexec PID MP (its child whose
# environment says OMPI_COMM_WORLD_RANK=R).
rank_pid() {
  local mp=$1 r=$2 pid
  for pid in $(pgrep -P "$mp" -x pinode || true); do
    # the environment read whole first (`tr | grep -q` under pipefail: SIGPIPE)
    if grep -qx "OMPI_COMM_WORLD_RANK=$r" <<<"$(tr '\0' '\n' <"/proc/$pid/environ" 2>/dev/null)"; then
      echo "$pid"
      return 0
    fi
  done
  return 1
}

# The iteration of DIR's checkpoint, 0 if there is none (yet).
ckpt_iteration() {
  local it
  it=$(grep -m1 '^iteration ' "$1/checkpoint.pinode" 2>/dev/null | cut -d' ' -f2) || true
  echo "${it:-0}"
}

# Wait (at most SECONDS) until DIR's checkpoint is at iteration >= IT.
wait_ckpt() {
  local dir=$1 it=$2 secs=$3 i
  for ((i = 0; i < secs * 20; i++)); do
    [ "$(ckpt_iteration "$dir")" -ge "$it" ] && return 0
    sleep 0.05
  done
  return 1
}

# Wait (at most SECONDS) for the background process PID, a child of this
# shell, to end; sets EXIT_STATUS to its exit status, or to "hung" (after
# killing it and its children) if it did not end in time.  Not in $(...):
# a subshell cannot wait for this shell's children.
wait_exit() {
  local pid=$1 secs=$2 t0=$SECONDS wd rc
  # The watchdog ends its own sleep when it is stopped, so that no sleep
  # outlives the test.
  (
    sleep "$secs" &
    s=$!
    trap 'kill $s; exit 0' TERM
    wait $s
    pkill -KILL -P "$pid"
    kill -KILL "$pid"
  ) >/dev/null 2>&1 &
  wd=$!
  rc=0
  wait "$pid" || rc=$?
  kill "$wd" 2>/dev/null || true
  wait "$wd" 2>/dev/null || true
  if [ $((SECONDS - t0)) -ge "$secs" ]; then EXIT_STATUS=hung; else EXIT_STATUS=$rc; fi
}

# A complete, consistent checkpoint or model file (the documented format,
# include/pinode/modelfile.h): magic first line, every array with exactly its
# announced count of numbers, the end line last with the CRC-32 of the lines
# before it, theta finite, and for a checkpoint the history arrays as long as
# its iteration.  Prints the iteration.
check_modelfile() {
  $PY - "$1" <<'EOF'
import math, sys, zlib
path = sys.argv[1]
text = open(path, encoding="utf-8").read()
lines = text.split("\n")
assert lines[0] == "pinode-model 2", "%s: first line %r" % (path, lines[0])
assert lines[-1] == "" and lines[-2].startswith("end crc32 "), "%s: no end line (torn?)" % path
crc = zlib.crc32(text[: text.rindex("end crc32 ")].encode("utf-8"))
assert lines[-2] == "end crc32 %08x" % crc, "%s: %r, but the lines give crc32 %08x" % (path, lines[-2], crc)
header, arrays, i = {}, {}, 1
while not lines[i].startswith("end"):
    words = lines[i].split(" ", 1)
    if words[0] == "array":
        name, n = words[1].split()
        values = [float(x) for x in lines[i + 1 : i + 1 + int(n)]]
        assert len(values) == int(n), "%s: array %s truncated" % (path, name)
        arrays[name] = values
        i += 1 + int(n)
    else:
        header[words[0]] = words[1] if len(words) > 1 else ""
        i += 1
it = int(header["iteration"])
assert len(arrays["theta"]) == int(header["nparam"]) and all(map(math.isfinite, arrays["theta"]))
if header.get("content") == "checkpoint":
    for h in ("history.loss", "history.val_loss", "history.grad_norm", "history.lr"):
        assert len(arrays[h]) == it, "%s: %s has %d entries at iteration %d" % (path, h, len(arrays[h]), it)
print(it)
EOF
}
