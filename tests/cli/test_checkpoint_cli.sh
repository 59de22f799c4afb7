#!/usr/bin/env bash
# pinode gradient --storage and --memory: every storage (the stage tape too)
# writes bit-for-bit the same outputs as all states (on the deep bench
# problem: labels at 0, 20, 30, 30, 45, 60), the report names the storage and the recompute count next to
# its optimum, and malformed values are refused with exit status 2.
# Usage: test_checkpoint_cli.sh PINODE_BINARY SOURCE_DIR
set -euo pipefail
pinode=$1
deep=$2/tests/data/bench/deep
out=$(mktemp -d "${TMPDIR:-/tmp}/pinode-ckcli-XXXXXX")
trap 'rm -rf "$out"' EXIT
status=0
fail() { echo "FAIL: $*"; status=1; }

"$pinode" gradient --storage all "$deep" "$out/all" >"$out/all.log"
i=0
for s in stages binomial:1 binomial:2 binomial:7 binomial:59 binomial:1000 every:1 every:7 auto; do
  i=$((i + 1))
  if ! "$pinode" gradient --storage "$s" "$deep" "$out/$i" >"$out/$i.log" 2>&1; then
    fail "--storage $s"; cat "$out/$i.log"; continue
  fi
  for f in loss.txt grad_theta.txt grad_z0.txt; do
    cmp -s "$out/all/$f" "$out/$i/$f" || fail "--storage $s: $f differs from all states"
  done
  line=$(grep '^storage' "$out/$i.log" || true)
  case "$s" in
    binomial:*)
      # "R steps recomputed (optimum for that memory R)": the same R twice.
      r=$(echo "$line" | sed -n 's/.* \([0-9]*\) steps recomputed (optimum for that memory \([0-9]*\)).*/\1 \2/p')
      set -- $r
      [ "$#" = 2 ] && [ "$1" = "$2" ] || fail "--storage $s: recompute count not at its optimum: $line" ;;
  esac
  echo "ok: --storage $s: $line"
done

# Sizes: units are powers of 1024, B / iB optional.
for m in 64MB 0.5G 65536K 67108864 64MiB 1T; do
  if "$pinode" gradient --force --memory "$m" "$deep" "$out/m" >"$out/m.log" 2>&1 &&
     grep -q '^storage all, within' "$out/m.log"; then
    echo "ok: --memory $m"
  else
    fail "--memory $m"; cat "$out/m.log"
  fi
done

# expect_usage_error ARGS...: exit status 2 and a message naming the option.
expect_usage_error() {
  local opt=$1 code=0
  "$pinode" gradient "$@" "$deep" "$out/x" >"$out/x.log" 2>&1 || code=$?
  if [ "$code" = 2 ] && grep -q -- "$opt" "$out/x.log"; then echo "ok: refused $* ($(head -1 "$out/x.log"))"
  else fail "$* gave status $code: $(cat "$out/x.log")"; fi
}
for s in binomial:0 binomial: binomial:x binomial:-3 binomial:2.5 auto:2 every:0 every:99999999999999999999 none; do
  expect_usage_error --storage "$s"
done
for m in 0 -5M 2x M "" 1e30 5MBB 3Q; do
  expect_usage_error --memory "$m"
done
exit $status
