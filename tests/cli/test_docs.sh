#!/usr/bin/env bash
# The manual (README.md, docs/*.md) cannot drift from the program: every command it shows runs
# as written, and every link between its files resolves.
#
# A fenced block is marked for this test by an HTML comment on the line(s) just above it:
#   <!-- doc-test -->              run it: ```sh with bash -e, ```python with /usr/bin/python3,
#                                  ```c compiled with -Wall -Wextra -Werror against the library
#                                  and run on 1 and 2 ranks
#   <!-- doc-test: exits N -->     run it (sh, one command): it must exit with status N
#   <!-- doc-test: file NAME -->   write it to NAME, for the blocks after it
#   <!-- doc-test: skip (why) -->  not run (SLURM, a long benchmark, package installs): its shell
#                                  syntax is checked and every path it names in the tree exists
# Every ```sh block carries one of these marks.  Blocks run in document order, from the top of a
# scratch tree whose build/, scripts/, tests/, slurm/, include/, src/, docs/ and python/ are links
# to the build and source trees (nothing is written into them), one scratch tree per file.
# Links: every relative link and image of every Markdown file of the tree names an existing
# file, and its #anchor a heading of that file (GitHub's anchors); every docs/*.md is linked
# from README.md.  A negative control shows that a broken link, a failing command and an
# unmarked block are caught.
# usage: test_docs.sh PINODE_BINARY SOURCE_DIR
# ctest-labels: docs slow
set -euo pipefail
bin=$1 src=$(cd "$2" && pwd)
build=$(cd "$(dirname "$bin")/.." && pwd)
libs=$(ldd "$build/src/libpinode.so")
case "$libs" in
  *libasan*) echo "skipped: the manual's commands are for a plain build (an AddressSanitizer" \
                  "library needs its runtime in every program that links it)"; exit 77 ;;
esac
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
export PYTHONDONTWRITEBYTECODE=1  # python/ is the source tree's: no __pycache__ written into it

checker=$(cat <<'PY'
import os, re, subprocess, sys, unicodedata

src, build, T = sys.argv[1], sys.argv[2], sys.argv[3]
files = sys.argv[4:]
failures = []

def fail(msg):
    failures.append(msg)
    print("FAIL: " + msg, flush=True)

FENCE = re.compile(r"^(```+|~~~+)\s*([\w+-]*)")
MARK = re.compile(r"^<!--\s*doc-test(?::\s*(.*?))?\s*-->\s*$")

def blocks(path):
    """Fenced blocks of a Markdown file: (line, language, marks, text)."""
    lines = open(path, encoding="utf-8").read().split("\n")
    out, i = [], 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        fence, lang, start = m.group(1), m.group(2), i
        j = i + 1
        while j < len(lines) and not lines[j].startswith(fence):
            j += 1
        marks, k = [], start - 1
        while k >= 0 and lines[k].strip().startswith("<!--"):
            mm = MARK.match(lines[k].strip())
            if mm:
                marks.append(mm.group(1) or "run")
            k -= 1
        out.append((start + 1, lang, marks, "\n".join(lines[start + 1:j]) + "\n"))
        i = j + 1
    return out

def prose(text):
    """The text outside fenced blocks and inline code spans."""
    kept, fence = [], None
    for line in text.split("\n"):
        m = FENCE.match(line)
        if fence:
            if line.startswith(fence):
                fence = None
            continue
        if m:
            fence = m.group(1)
            continue
        kept.append(re.sub(r"`[^`]*`", "", line))
    return "\n".join(kept)

def slug(heading):
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading).strip().lower()
    text = "".join(c for c in text if c in " -_" or unicodedata.category(c)[0] in "LN")
    return text.replace(" ", "-")

def anchors(path):
    seen, out = {}, set()
    text = open(path, encoding="utf-8").read()
    for line in prose(text).split("\n"):
        m = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if m:
            s = slug(m.group(1))
            n = seen.get(s, 0)
            seen[s] = n + 1
            out.add(s if n == 0 else "%s-%d" % (s, n))
    out.update(re.findall(r'<a\s+(?:id|name)="([^"]+)"', text))
    return out

LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")

def check_links(path):
    rel = os.path.relpath(path, src)
    for target in LINK.findall(prose(open(path, encoding="utf-8").read())):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):
            continue  # http:, https:, mailto:
        name, _, anchor = target.partition("#")
        dest = os.path.normpath(os.path.join(os.path.dirname(path), name)) if name else path
        if not os.path.exists(dest):
            fail("%s: link to %s: no such file" % (rel, target))
        elif anchor and dest.endswith(".md") and anchor not in anchors(dest):
            fail("%s: link to %s: no heading with that anchor" % (rel, target))

PATH_TOKEN = re.compile(r"(?<![\w./-])((?:scripts|slurm|tests|docs|include|src|python|build)/[\w./+-]*\w)")

def scratch(name):
    work = os.path.join(T, "work-" + name.replace("/", "-"))
    os.makedirs(work)
    for d in ("scripts", "tests", "slurm", "include", "src", "docs", "python"):
        os.symlink(os.path.join(src, d), os.path.join(work, d))
    os.symlink(build, os.path.join(work, "build"))
    return work

def run(cmd, work, where, expect=0, timeout=900):
    try:
        p = subprocess.run(cmd, cwd=work, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           timeout=timeout)
    except subprocess.TimeoutExpired:
        fail("%s: still running after %d s" % (where, timeout))
        return
    if p.returncode != expect:
        tail = p.stdout.decode("utf-8", "replace").strip().split("\n")[-15:]
        fail("%s: exit status %d, expected %d:\n    %s" % (where, p.returncode, expect,
                                                         "\n    ".join(tail)))

def run_blocks(path):
    rel = os.path.relpath(path, src)
    work = None
    for n, (line, lang, marks, text) in enumerate(blocks(path)):
        where = "%s:%d" % (rel, line)
        if not marks:
            if lang in ("sh", "bash", "shell", "console"):
                fail("%s: a ```%s block without a doc-test mark" % (where, lang))
            continue
        mark = marks[0]
        if mark.startswith("skip"):
            if not re.match(r"^skip \(.+\)$", mark):
                fail("%s: 'skip' needs a reason in parentheses" % where)
            if lang == "sh":
                r = subprocess.run(["bash", "-n"], input=text.encode())
                if r.returncode != 0:
                    fail("%s: shell syntax error" % where)
            for tok in PATH_TOKEN.findall(text):
                root = build if tok.startswith("build/") else src
                rest = tok[len("build/"):] if tok.startswith("build/") else tok
                if not os.path.exists(os.path.join(root, rest)):
                    fail("%s: names %s, which does not exist" % (where, tok))
            continue
        work = work or scratch(rel)
        if mark.startswith("file "):
            with open(os.path.join(work, mark[5:].strip()), "w") as f:
                f.write(text)
            continue
        expect = 0
        if mark.startswith("exits "):
            expect = int(mark[6:])
        elif mark != "run":
            fail("%s: unknown mark 'doc-test: %s'" % (where, mark))
            continue
        script = os.path.join(T, "block-%d" % n)
        print("%s: %s" % (where, text.strip().split("\n")[0][:90]), flush=True)
        if lang == "sh":
            open(script + ".sh", "w").write("set -euo pipefail\n" + text)
            run(["bash", script + ".sh"], work, where, expect)
        elif lang == "python":
            open(script + ".py", "w").write(text)
            run(["/usr/bin/python3", script + ".py"], work, where, expect)
        elif lang == "c":
            open(script + ".c", "w").write(text)
            run(["mpicc", "-std=c11", "-Wall", "-Wextra", "-Werror", "-I" + src + "/include",
                 "-I" + build + "/include", script + ".c", "-L" + build + "/src", "-lpinode",
                 "-Wl,-rpath," + build + "/src", "-lm", "-o", script], work, where + " (compile)")
            for ranks in ("1", "2"):
                run(["mpiexec", "-n", ranks, "--oversubscribe", script], work,
                    "%s (%s ranks)" % (where, ranks), expect)
        else:
            fail("%s: cannot run a ```%s block" % (where, lang))

for path in files:
    check_links(path)
readme = open(os.path.join(src, "README.md"), encoding="utf-8").read()
for path in files:
    rel = os.path.relpath(path, src)
    if rel.startswith("docs/") and not re.search(r"\]\(%s(#[^)]*)?\)" % re.escape(rel), readme):
        fail("README.md does not link to %s" % rel)
for path in files:
    rel = os.path.relpath(path, src)
    if rel == "README.md" or rel.startswith("docs/"):
        run_blocks(path)
print("%d problem(s)" % len(failures))
sys.exit(1 if failures else 0)
PY
)

# Negative control: a broken link, a broken anchor, a failing command and an unmarked block are
# each reported.
mkdir -p "$T/control/docs"
cat >"$T/control/README.md" <<'EOF'
# Control
[a](docs/missing.md) [b](#no-such-heading) [c](docs/guide.md)
EOF
printf '%s\n' '# Guide' '<!-- doc-test -->' '```sh' 'false' '```' '```sh' 'true' '```' \
  >"$T/control/docs/guide.md"
mkdir -p "$T/control/scripts" "$T/control/tests" "$T/control/slurm" "$T/control/include" \
  "$T/control/src" "$T/control/python"
mkdir "$T/control-work"
out=$(cd "$T" && /usr/bin/python3 -c "$checker" "$T/control" "$build" "$T/control-work" \
        "$T/control/README.md" "$T/control/docs/guide.md" 2>&1) && {
  echo "negative control: the checker passed a broken manual" >&2; exit 1; }
for expect in "docs/missing.md: no such file" "#no-such-heading: no heading" \
              "exit status 1, expected 0" "without a doc-test mark"; do
  case "$out" in *"$expect"*) ;; *) echo "negative control: not reported: $expect" >&2
                                    echo "$out" >&2; exit 1 ;; esac
done

mapfile -t files < <(cd "$src" && find . \( -name 'build*' -o -name '.git' \) -prune -o \
                       -name '*.md' -print | sed 's|^\./||' | sort)
[ "${#files[@]}" -gt 0 ] || { echo "no Markdown files under $src" >&2; exit 1; }
mkdir "$T/work"
/usr/bin/python3 -c "$checker" "$src" "$build" "$T/work" "${files[@]/#/$src/}"
echo "test_docs: passed"
