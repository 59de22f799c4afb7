#!/usr/bin/env bash
# The program is a user of the library like any other, and the library stands
# alone:
#  (a) every file of src/cli/ includes only the program's own headers, the
#      public headers (include/pinode.h, include/pinode/*.h) and system ones,
#      never a header of the library's sources (src/*.h);
#  (b) no symbol that the library (libpinode.so, the static archive) leaves
#      undefined is defined by the program's objects: the library never binds
#      to the program (as it did to MPI profiling wrappers);
#  (c) the library's code never names MPI_COMM_WORLD (it takes the caller's
#      communicator);
#  (d) only the context (src/ctx.c) makes or frees a communicator, so that
#      destroying any other object is never collective (pinode/solver.h).
# Each check is first shown to fail on a planted violation.
# Usage: test_architecture.sh PINODE_BINARY SOURCE_DIR
set -euo pipefail
bin=$1 src=$2
build=$(cd "$(dirname "$bin")/.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# (a) Includes of the files in $1 that name a header of the library's
# sources ($2: the src/ folder), one "file: header" a line.
private_includes() {
  local dir=$1 lib=$2 f h
  for f in "$dir"/*.c "$dir"/*.h; do
    [ -e "$f" ] || continue
    sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*[<"]\([^>"]*\)[>"].*/\1/p' "$f" |
      while read -r h; do
        if [ -e "$dir/$h" ]; then continue; fi                         # the program's own
        if [ -e "$src/include/$h" ] || [ "$h" = pinode/version.h ]; then continue; fi # public
        if [ -e "$lib/$h" ] || [ -e "$lib/$(basename "$h")" ]; then echo "$(basename "$f"): $h"; fi
      done
  done
}

# (b) Symbols undefined in the libraries $1.. that the objects in $tmp/prog
# define.
program_defines_library_symbol() {
  local objs=$1
  shift
  nm -g --defined-only -P "$objs"/*.o 2>/dev/null | awk '{print $1}' | sort -u >"$tmp/defined"
  { nm -D --undefined-only -P "$1" && nm -g --undefined-only -P "$2"; } 2>/dev/null |
    awk '{print $1}' | sed 's/@.*//' | sort -u >"$tmp/undefined"
  comm -12 "$tmp/defined" "$tmp/undefined"
}

# (c) Files of the library naming MPI_COMM_WORLD.
world_in_library() { grep -l MPI_COMM_WORLD "$@" 2>/dev/null || true; }

# (d) Files of the library, other than ctx.c, that make or free a communicator.
communicators_outside_ctx() {
  grep -lE 'MPI_Comm_(dup|idup|split|split_type|create|create_group|free)\b' "$@" 2>/dev/null |
    grep -v '/ctx\.c$' || true
}

lib_so=$build/src/libpinode.so
lib_a=$build/src/libpinode.a
objs=$build/src/cli/CMakeFiles/pinode_cli.dir
[ -e "$lib_so" ] && [ -e "$lib_a" ] || { echo "no libraries in $build/src"; exit 1; }
ls "$objs"/*.o >/dev/null || { echo "no objects of the program in $objs"; exit 1; }

# Planted violations first: each check must see them.
mkdir -p "$tmp/cli" "$tmp/prog" "$tmp/lib"
printf '#include "cli.h"\n#include "pinode/solver.h"\n#include <stdio.h>\n' >"$tmp/cli/cli.h"
printf '#include "cli.h"\n#include "gemm.h"\n' >"$tmp/cli/planted.c"
[ "$(private_includes "$tmp/cli" "$src/src")" = "planted.c: gemm.h" ] ||
  { echo "check (a) does not see a planted #include \"gemm.h\""; exit 1; }
undefined_mpi=$(nm -D --undefined-only -P "$lib_so" | awk '$1 ~ /^MPI_/ && !n++ {print $1}') # reads all: no SIGPIPE
[ -n "$undefined_mpi" ] || { echo "the library calls no MPI function?"; exit 1; }
printf 'int %s(void) { return 0; }\n' "${undefined_mpi%@*}" >"$tmp/prog/planted.c"
cc -c "$tmp/prog/planted.c" -o "$tmp/prog/planted.o"
[ "$(program_defines_library_symbol "$tmp/prog" "$lib_so" "$lib_a")" = "${undefined_mpi%@*}" ] ||
  { echo "check (b) does not see a planted definition of ${undefined_mpi%@*}"; exit 1; }
printf 'static int f(void) { return MPI_COMM_WORLD != 0; }\n' >"$tmp/lib/planted.c"
[ -n "$(world_in_library "$tmp/lib"/*.c)" ] ||
  { echo "check (c) does not see a planted MPI_COMM_WORLD"; exit 1; }
printf 'static void f(MPI_Comm *c) { MPI_Comm_free(c); }\n' >"$tmp/lib/solver.c"
printf 'static void f(MPI_Comm *c) { MPI_Comm_free(c); }\n' >"$tmp/lib/ctx.c"
[ "$(communicators_outside_ctx "$tmp/lib"/*.c)" = "$tmp/lib/solver.c" ] ||
  { echo "check (d) does not see a planted MPI_Comm_free outside ctx.c"; exit 1; }

# The real code.
status=0
found=$(private_includes "$src/src/cli" "$src/src")
if [ -n "$found" ]; then
  echo "FAIL (a): the program includes headers of the library's sources:"
  echo "$found" | sed 's/^/  /'
  status=1
fi
found=$(program_defines_library_symbol "$objs" "$lib_so" "$lib_a")
if [ -n "$found" ]; then
  echo "FAIL (b): the program defines symbols the library leaves undefined:"
  echo "$found" | sed 's/^/  /'
  status=1
fi
found=$(world_in_library "$src"/src/*.c "$src"/src/*.h "$src"/include/*.h "$src"/include/pinode/*.h)
if [ -n "$found" ]; then
  echo "FAIL (c): the library names MPI_COMM_WORLD in:"
  echo "$found" | sed 's/^/  /'
  status=1
fi
found=$(communicators_outside_ctx "$src"/src/*.c "$src"/src/pint/*.c)
if [ -n "$found" ]; then
  echo "FAIL (d): a communicator is made or freed outside src/ctx.c, in:"
  echo "$found" | sed 's/^/  /'
  status=1
fi
[ "$status" = 0 ] && echo "architecture: the program uses the public API; the library stands alone"
exit $status
