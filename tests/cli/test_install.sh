#!/usr/bin/env bash
# An installed pinode stands on its own.  `cmake --install` of this build into a scratch prefix
# (and its component "static"), then:
#  - the layout: the program, the shared and static libraries, every public header, the CMake
#    package (config, version, targets) and pinode.pc, the user scripts; every header compiles
#    alone; the library needs no BLAS; the program finds the library it was installed with;
#  - CMake: the examples' project (docs/examples, find_package(pinode)) configured against the
#    prefix, built, and each example run on 1 and 2 ranks, its 2-rank output the "Sample run"
#    of its header; the same with pinode::pinode_static (no libpinode.so needed at run time);
#    find_package(pinode) with this version accepted and with version 99 refused;
#  - pkg-config: each example compiled with `pkg-config --cflags --libs pinode` (by cc when
#    pinode.pc requires an MPI module, mpicc otherwise) and run on 1 and 2 ranks;
#  - relocation: the prefix moved elsewhere still serves CMake, pkg-config and the program.
# usage: test_install.sh PINODE_BINARY SOURCE_DIR
# ctest-labels: install
set -euo pipefail
bin=$1 src=$(cd "$2" && pwd)
build=$(cd "$(dirname "$bin")/.." && pwd)
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
examples=(gradient custom_rhs train)

# A sanitizer build of the library needs its runtime in every program that links it.
san=()
libs=$(ldd "$build/src/libpinode.so")
case "$libs" in *libasan*) san=(-fsanitize=address,undefined) ;; esac
cmake_san=()
[ ${#san[@]} -eq 0 ] || cmake_san=(-DCMAKE_C_FLAGS="${san[*]}" -DCMAKE_EXE_LINKER_FLAGS="${san[*]}")

fail() { echo "FAIL: $*" >&2; exit 1; }

prefix=$T/prefix
cmake --install "$build" --prefix "$prefix" >/dev/null
cmake --install "$build" --prefix "$prefix" --component static >/dev/null

# ---- layout ----
so=$(find "$prefix" -name libpinode.so | head -1)
[ -n "$so" ] || fail "no libpinode.so under the prefix"
libdir=$(dirname "$so")
for f in "$prefix/bin/pinode" "$libdir/libpinode.a" "$prefix/include/pinode.h" \
         "$prefix/include/pinode/version.h" "$libdir/cmake/pinode/pinodeConfig.cmake" \
         "$libdir/cmake/pinode/pinodeConfigVersion.cmake" "$libdir/cmake/pinode/pinodeTargets.cmake" \
         "$libdir/cmake/pinode/pinodeStaticTargets.cmake" "$libdir/pkgconfig/pinode.pc"; do
  [ -e "$f" ] || fail "not installed: ${f#"$prefix"/}"
done
for f in plot_run.py plot_predictions.py plot_gradcheck.py plot_scaling.py read_model.py new_problem.py \
         make_problem.py; do
  [ -x "$prefix/share/pinode/scripts/$f" ] || fail "not installed as a program: share/pinode/scripts/$f"
done
for h in "$src"/include/pinode/*.h "$src/include/pinode.h"; do
  name=${h#"$src/include/"}
  [ -e "$prefix/include/$name" ] || fail "header not installed: include/$name"
  echo "#include <$name>" | mpicc -std=c11 -Wall -Wextra -Werror -fsyntax-only -I"$prefix/include" -x c - ||
    fail "include/$name does not compile on its own"
done
needed=$(readelf -d "$so")
case "$needed" in *blas*) fail "libpinode.so needs a BLAS library:"$'\n'"$needed" ;; esac
version=$("$prefix/bin/pinode" --version)
echo "installed: $version"
loaded=$(ldd "$prefix/bin/pinode" | awk '$1 ~ /^libpinode\.so/ {print $3}')
[ -n "$loaded" ] && [ "$(dirname "$(realpath "$loaded")")" = "$(realpath "$libdir")" ] ||
  fail "the installed program loads ${loaded:-no libpinode}, not the installed library"

# The "Sample run" of an example's header: line 1 the command's arguments after ./NAME, then the
# output it shows.
sample() {
  awk '/^ \* Sample run:/ {on = 1; next} on && /^ \*$/ {exit}
       on { sub(/^ \*   /, ""); print }' "$src/docs/examples/$1.c"
}

# Run example $1 (the executable $2) on 1 and 2 ranks in a scratch directory; the 2-rank output
# must be the header's sample run.
run_example() {
  local name=$1 exe=$2 args out want
  want=$(sample "$name")
  args=$(head -1 <<<"$want" | sed "s|^\\\$ mpiexec -n 2 ./$name||")
  [ "$(head -1 <<<"$want")" != "$args" ] || fail "$name.c: no '\$ mpiexec -n 2 ./$name' sample run"
  mkdir -p "$T/run"
  # shellcheck disable=SC2086
  (cd "$T/run" && mpiexec -n 1 "$exe" $args >/dev/null) || fail "$name on 1 rank"
  # shellcheck disable=SC2086
  out=$(cd "$T/run" && mpiexec -n 2 --oversubscribe "$exe" $args) || fail "$name on 2 ranks"
  if [ "$out" != "$(tail -n +2 <<<"$want")" ]; then
    diff <(tail -n +2 <<<"$want") <(echo "$out") >&2 || true
    fail "$name: the output on 2 ranks is not the sample run of its header (above: - header, + run)"
  fi
  echo "  $name: 1 and 2 ranks, output as in its header"
}

# ---- CMake: find_package(pinode) ----
cmake_examples() { # build folder, then extra configure arguments
  local dir=$1
  shift
  cmake -S "$src/docs/examples" -B "$dir" -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_BUILD_TYPE=Release \
    "${cmake_san[@]}" "$@" >"$dir.log" 2>&1 || { cat "$dir.log" >&2; fail "configuring the examples"; }
  cmake --build "$dir" >>"$dir.log" 2>&1 || { cat "$dir.log" >&2; fail "building the examples"; }
}
echo "CMake, pinode::pinode:"
cmake_examples "$T/cmake"
for e in "${examples[@]}"; do run_example "$e" "$T/cmake/$e"; done
echo "CMake, pinode::pinode_static:"
cmake_examples "$T/cmake-static" -DPINODE_EXAMPLES_STATIC=ON
for e in "${examples[@]}"; do
  case "$(readelf -d "$T/cmake-static/$e")" in *libpinode*) fail "$e (static) needs libpinode.so" ;; esac
  run_example "$e" "$T/cmake-static/$e"
done
mkdir -p "$T/want"
cat >"$T/want/CMakeLists.txt" <<'EOF'
cmake_minimum_required(VERSION 3.18)
project(want_version LANGUAGES C)
find_package(pinode ${WANT} REQUIRED)
EOF
want=$(sed -n 's/^#define PN_VERSION_STRING "\(.*\)"/\1/p' "$prefix/include/pinode/version.h")
cmake -S "$T/want" -B "$T/want/ok" -DCMAKE_PREFIX_PATH="$prefix" -DWANT="$want" >/dev/null 2>&1 ||
  fail "find_package(pinode $want) refused the installed version $want"
if cmake -S "$T/want" -B "$T/want/new" -DCMAKE_PREFIX_PATH="$prefix" -DWANT=99.0 >/dev/null 2>&1; then
  fail "find_package(pinode 99.0) accepted version $want"
fi
echo "  find_package(pinode $want) accepted, find_package(pinode 99.0) refused"

# ---- pkg-config ----
pc_build() { # prefix, example, output
  local cc=cc
  grep -q '^Requires: *[a-z]' "$1/${libdir#"$prefix/"}/pkgconfig/pinode.pc" || cc=mpicc
  # shellcheck disable=SC2046
  PKG_CONFIG_PATH="$1/${libdir#"$prefix/"}/pkgconfig" \
    $cc -std=c11 -Wall -Wextra -Werror "${san[@]}" "$src/docs/examples/$2.c" \
    $(PKG_CONFIG_PATH="$1/${libdir#"$prefix/"}/pkgconfig" pkg-config --cflags --libs pinode) \
    -Wl,-rpath,"$1/${libdir#"$prefix/"}" -lm -o "$3" || fail "compiling $2.c with pkg-config"
}
echo "pkg-config:"
for e in "${examples[@]}"; do
  pc_build "$prefix" "$e" "$T/pc-$e"
  run_example "$e" "$T/pc-$e"
done

# ---- relocation ----
mv "$prefix" "$T/moved"
"$T/moved/bin/pinode" --version >/dev/null || fail "the moved program does not run"
pc_build "$T/moved" gradient "$T/moved-pc"
rm -rf "$T/cmake"
prefix=$T/moved cmake_examples "$T/cmake"
out=$(mpiexec -n 1 "$T/moved-pc") && out2=$(mpiexec -n 1 "$T/cmake/gradient") ||
  fail "the examples built against the moved prefix do not run"
[ "$out" = "$out2" ] || fail "moved prefix: pkg-config and CMake builds differ"
echo "relocated prefix: the program, pkg-config and CMake work"
echo "test_install: passed"
