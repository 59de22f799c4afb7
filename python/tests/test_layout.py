"""The ctypes mirrors of the C structs (pinode/_structs.py) are the C structs:
the same fields in the same order (read from the headers), at the same
offsets with the same sizes and kinds of type, and the same struct sizes (from a C program
compiled against the headers); and the enum values the package names
itself are the headers'.  A change of a public struct fails here instead
of silently corrupting the binding."""
import ctypes
import os
import re
import shutil
import subprocess

import pytest

import pinode
from pinode import _structs as S

from conftest import SOURCE_DIR

INCLUDE_DIR = os.environ.get("PINODE_INCLUDE_DIR", str(SOURCE_DIR / "include"))
HEADERS = ["pinode/error.h", "pinode/model.h", "pinode/solver.h", "pinode/io.h",
           "pinode/data.h"]


def header_text():
    if not os.path.exists(os.path.join(INCLUDE_DIR, "pinode", "solver.h")):
        pytest.skip("no headers at %s (set PINODE_INCLUDE_DIR)" % INCLUDE_DIR)
    text = "".join(open(os.path.join(INCLUDE_DIR, h), encoding="utf-8").read() for h in HEADERS)
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    return re.sub(r"//[^\n]*", " ", text)


def header_fields(text, cname):
    """The field names of `typedef struct cname { ... } cname;`, in order."""
    m = re.search(r"typedef\s+struct\s+%s\s*\{(.*?)\}\s*%s\s*;" % (cname, cname), text, re.S)
    assert m, "struct %s not found in %s" % (cname, HEADERS)
    names = []
    for decl in m.group(1).split(";"):
        decl = " ".join(decl.split())
        if not decl:
            continue
        fnptr = re.match(r".*\(\s*\*\s*(\w+)\s*\)\s*\(.*\)$", decl)
        if fnptr:
            names.append(fnptr.group(1))
            continue
        first, *more = decl.split(",")
        names.append(re.findall(r"(\w+)\s*(?:\[[^\]]*\])?\s*$", first)[0])
        names += [re.sub(r"[\s*]|\[.*\]", "", n) for n in more]
    return names


def test_field_names_follow_the_headers():
    text = header_text()
    for struct, cname in S.C_NAMES.items():
        assert [f for f, _ in struct._fields_] == header_fields(text, cname), cname


def compiler():
    cc = os.environ.get("CC_MPI") or shutil.which("mpicc")
    if not cc:
        pytest.skip("no mpicc to compile the layout program")
    return cc


# The kind of a field's type, by C11 _Generic (arrays decay to pointers; an
# enum is an int or an unsigned int, as the compiler chooses).
KIND_MACRO = """#define KIND(x) _Generic((x), double: "double", int: "int", unsigned: "int", \\
  long: "long", unsigned long: "ulong", char *: "char*", char **: "char**", double *: "double*", \\
  const double *: "double*", long *: "long*", int *: "int*", const int *: "int*", \\
  const pn_activation *: "int*", pn_mlp_spec: "struct", pn_parareal_opts: "struct", \\
  pn_newton_opts: "struct", pn_rhs_fn: "fn", pn_vjp_fn: "fn", pn_jvp_fn: "fn", \\
  void (*)(void *): "fn", default: "other")"""


def kind(ctype):
    """What KIND() says of the C field a ctypes type mirrors."""
    if issubclass(ctype, ctypes.Array):
        return kind(ctypes.POINTER(ctype._type_))
    if issubclass(ctype, ctypes._Pointer):
        return {ctypes.c_double: "double*", ctypes.c_long: "long*", ctypes.c_int: "int*",
                ctypes.c_char: "char*", ctypes.c_char_p: "char**"}[ctype._type_]
    if issubclass(ctype, ctypes.Structure):
        return "struct"
    if issubclass(ctype, ctypes._CFuncPtr):
        return "fn"
    return {ctypes.c_double: "double", ctypes.c_int: "int", ctypes.c_long: "long",
            ctypes.c_ulong: "ulong"}[ctype]


def c_layout(tmp_path):
    """{(struct, field): (offset, size, kind)}, {struct: size} and
    {constant: value} as the C compiler sees them."""
    lines = ["#include <stddef.h>", "#include <stdio.h>"]
    lines += ["#include <%s>" % h for h in HEADERS]
    lines += [KIND_MACRO, "int main(void)", "{"]
    for struct, cname in S.C_NAMES.items():
        lines.append('  printf("size %s %%zu\\n", sizeof(%s));' % (cname, cname))
        for field, _ in struct._fields_:
            lines.append('  printf("field %s %s %%zu %%zu %%s\\n", offsetof(%s, %s), '
                         "sizeof(((%s *)0)->%s), KIND(((%s *)0)->%s));"
                         % (cname, field, cname, field, cname, field, cname, field))
    constants = ["PN_PARAREAL_HISTORY"] + list(S.STORAGE_C.values()) + \
        list(S.NEWTON_FALLBACK_C.values()) + [c_error_name(c) for c in pinode.ErrorCode]
    lines += ['  printf("const %s %%d\\n", (int)%s);' % (c, c) for c in constants]
    lines += ["  return 0;", "}"]
    src, exe = tmp_path / "layout.c", tmp_path / "layout"
    src.write_text("\n".join(lines) + "\n")
    subprocess.run([compiler(), "-std=c11", "-Wall", "-Werror", "-I", INCLUDE_DIR, str(src),
                    "-o", str(exe)], check=True)
    out = subprocess.run([str(exe)], check=True, capture_output=True, text=True).stdout
    fields, sizes, values = {}, {}, {}
    for line in out.splitlines():
        kind, *rest = line.split()
        if kind == "size":
            sizes[rest[0]] = int(rest[1])
        elif kind == "field":
            fields[rest[0], rest[1]] = (int(rest[2]), int(rest[3]), rest[4])
        else:
            values[rest[0]] = int(rest[1])
    return fields, sizes, values


def c_error_name(code):
    return "PN_OK" if code == 0 else "PN_ERR_" + code.name


def test_offsets_sizes_types_and_constants_match_the_compiler(tmp_path):
    header_text()
    fields, sizes, values = c_layout(tmp_path)
    for struct, cname in S.C_NAMES.items():
        assert ctypes.sizeof(struct) == sizes[cname], cname
        for field, ctype in struct._fields_:
            mirror = getattr(struct, field)
            assert (mirror.offset, mirror.size, kind(ctype)) == fields[cname, field], \
                (cname, field)
    assert values["PN_PARAREAL_HISTORY"] == S.PARAREAL_HISTORY
    for table, names in ((S.STORAGE, S.STORAGE_C), (S.NEWTON_FALLBACK, S.NEWTON_FALLBACK_C)):
        assert {k: values[names[k]] for k in table} == table
    for code in pinode.ErrorCode:
        assert values[c_error_name(code)] == code.value, code


def test_every_error_code_has_a_name():
    """ErrorCode covers the whole PN_ERROR_LIST of error.h."""
    codes = re.findall(r"X\((PN_\w+),\s*(-?\d+),", header_text())
    assert sorted((int(v), n) for n, v in codes) == \
        sorted((c.value, c_error_name(c)) for c in pinode.ErrorCode)


def test_the_version_is_the_projects():
    cmake = (SOURCE_DIR / "CMakeLists.txt").read_text()
    assert re.search(r"project\(pinode VERSION (\S+)", cmake).group(1) == pinode.__version__
