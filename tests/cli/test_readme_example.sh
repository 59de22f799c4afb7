#!/usr/bin/env bash
# The C example of README.md ("The library") is docs/examples/gradient.c,
# byte for byte, and compiles with -Wall -Wextra -Werror against the built
# library and runs on 1 and 2 ranks with the same output: the documentation
# cannot drift from the API nor from the example file.
# usage: test_readme_example.sh PINODE_BINARY SOURCE_DIR
set -euo pipefail
bin=$1 src=$2
build=$(cd "$(dirname "$bin")/.." && pwd)
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
awk '/<!-- readme-example:begin -->/ {on = 1; next} /<!-- readme-example:end -->/ {on = 0}
     on && !/^```/' "$src/README.md" >"$T/example.c"
[ "$(grep -c 'pn_solver_gradient' "$T/example.c")" -ge 1 ] || { echo "no example in README.md" >&2; exit 1; }
cmp -s "$T/example.c" "$src/docs/examples/gradient.c" || {
  echo "README.md's example is not docs/examples/gradient.c:" >&2
  diff "$src/docs/examples/gradient.c" "$T/example.c" >&2 || true
  exit 1
}
# A sanitizer build of the library needs its runtime in the program too.
san=()
# (ldd's output read whole first: with pipefail, `ldd | grep -q` fails when
# grep stops reading early and ldd dies of SIGPIPE.)
libs=$(ldd "$build/src/libpinode.so")
case "$libs" in *libasan*) san=(-fsanitize=address,undefined) ;; esac
mpicc -std=c11 -Wall -Wextra -Werror "${san[@]}" -I"$src/include" -I"$build/include" "$T/example.c" \
  -L"$build/src" -lpinode -Wl,-rpath,"$build/src" -o "$T/example"
one=$(mpiexec -n 1 "$T/example")
two=$(mpiexec -n 2 --oversubscribe "$T/example")
echo "$one"
echo "$two"
case "$one" in "loss "*" on 1 ranks") ;; *) echo "unexpected output on 1 rank" >&2; exit 1 ;; esac
[ "${one% on 1 ranks}" = "${two% on 2 ranks}" ] || { echo "1 and 2 ranks differ" >&2; exit 1; }
echo "test_readme_example: passed"
