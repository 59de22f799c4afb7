#!/usr/bin/env bash
# Every public function of the library (PN_EXPORT in include/pinode/*.h) has a contract on the
# one template of docs/library.md, in the doc comment (/** ... */) directly above it:
#   @brief             what it does;
#   @param[in|out|in,out] NAME ...   every named parameter, with its direction;
#   @return            for every function that returns a value (the codes, for int);
#   "Collective on ..." or "Not collective": whether every rank must call it.
# A negative control first: a header planted with each kind of gap must be refused, naming
# the function and the gap.
# usage: test_headers.sh PINODE_BINARY SOURCE_DIR
# ctest-labels: docs
set -euo pipefail
src=$(cd "$2" && pwd)
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT

checker=$(cat <<'PY'
import re, sys

DECL = re.compile(r"PN_EXPORT\s+([^;{]*?)\b(pn_\w+)\s*\(")
PARAM = re.compile(r"@param\[(in|out|in,\s*out)\]\s+(\w+(?:\s*,\s*\w+)*)")
failures = 0

def matching_paren(text, i):
    """Index just past the parenthesis that closes the one at text[i]."""
    depth = 0
    for j in range(i, len(text)):
        depth += {"(": 1, ")": -1}.get(text[j], 0)
        if depth == 0:
            return j + 1
    raise ValueError("unbalanced parentheses")

def params(inside):
    """Named parameters of a parameter list (not void, not ...)."""
    names, depth, cur = [], 0, ""
    for ch in inside + ",":
        if ch == "," and depth == 0:
            decl = re.sub(r"\[[^\]]*\]", "", cur).strip()
            fnptr = re.search(r"\(\s*\*\s*(\w+)\s*\)", decl)
            if fnptr:
                names.append(fnptr.group(1))
            elif decl not in ("void", "...", ""):
                names.append(re.findall(r"\w+", decl)[-1])
            cur = ""
            continue
        depth += {"(": 1, ")": -1}.get(ch, 0)
        cur += ch
    return names

def doc_above(text, start):
    """The /** ... */ comment that ends right above text[start] (only blanks between)."""
    before = text[:start].rstrip()
    if not before.endswith("*/"):
        return None
    open_at = before.rfind("/*")
    comment = before[open_at:]
    return comment if comment.startswith("/**") else None

def check(path):
    global failures
    text = open(path, encoding="utf-8").read()
    for m in DECL.finditer(text):
        line_start = text.rfind("\n", 0, m.start()) + 1
        if text[line_start:m.start()].lstrip().startswith("#"):
            continue  # the macro's own definition
        ret, name = " ".join(m.group(1).split()), m.group(2)
        close = matching_paren(text, m.end() - 1)
        where = "%s: %s" % (path.split("/include/")[-1], name)
        doc = doc_above(text, line_start)
        gaps = []
        if doc is None:
            gaps.append("no /** doc comment */ directly above")
            doc = ""
        if "@brief" not in doc:
            gaps.append("no @brief")
        if ret != "void" and "@return" not in doc:
            gaps.append("returns %s but has no @return" % ret)
        if "Collective on" not in doc and "Not collective" not in doc:
            gaps.append('no "Collective on ..." or "Not collective"')
        documented = set()
        for _, names in PARAM.findall(doc):
            documented.update(n.strip() for n in names.split(","))
        for p in params(text[m.end():close - 1]):
            if p not in documented:
                gaps.append("parameter %s has no @param[in|out|in,out]" % p)
        for g in gaps:
            print("FAIL: %s: %s" % (where, g))
        failures += len(gaps)
        yield name

names = [n for path in sys.argv[1:] for n in check(path)]
print("%d public functions, %d gap(s)" % (len(names), failures))
sys.exit(1 if failures or not names else 0)
PY
)

# Negative control: each kind of gap in a planted header is reported.
mkdir -p "$T/include/pinode"
cat >"$T/include/pinode/planted.h" <<'EOF'
/** @brief Fine.  @param[in] a the input  @return PN_OK.  Not collective. */
PN_EXPORT int pn_fine(int a);
PN_EXPORT int pn_undocumented(int a);
/** @brief No return.  @param[in] a x.  Not collective. */
PN_EXPORT int pn_no_return(int a);
/** @brief No collectivity.  @param[in] a x  @return PN_OK. */
PN_EXPORT int pn_no_collective(int a);
/** @brief A parameter missing.  @param[in] a x  @return PN_OK.  Collective on ctx. */
PN_EXPORT int pn_no_param(int a, double *b_out);
/* @brief Not a doc comment.  @return 0.  Not collective. */
PN_EXPORT double pn_plain_comment(void);
EOF
out=$(/usr/bin/python3 -c "$checker" "$T/include/pinode/planted.h") && {
  echo "negative control: the checker passed a planted header" >&2; exit 1; }
for expect in "pn_undocumented: no /** doc comment */" "pn_no_return: returns int but has no @return" \
              "pn_no_collective: no \"Collective on" "pn_no_param: parameter b_out has no @param" \
              "pn_plain_comment: no /** doc comment */" "6 public functions, 12 gap(s)"; do
  case "$out" in *"$expect"*) ;; *) echo "negative control: not reported: $expect" >&2
                                    echo "$out" >&2; exit 1 ;; esac
done
case "$out" in *"pn_fine"*) echo "negative control: a complete contract was refused" >&2
                            echo "$out" >&2; exit 1 ;; esac

/usr/bin/python3 -c "$checker" "$src"/include/pinode/*.h "$src/include/pinode.h"
echo "test_headers: passed"
