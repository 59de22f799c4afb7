#!/usr/bin/env bash
# scripts/plot_scaling.py on the study of slurm/example/ (P = 1, 2 measured,
# the model to P = 4096) with the waiting time at P = 1 set to 0: the rank
# axis ends at 4 times the largest P measured and the model with it; the 0
# is drawn on the bottom edge of the logarithmic time axis, with a legend
# entry that says so, and no positive time lies below that edge.
# Usage: test_plot_scaling.sh PINODE_BINARY SOURCE_DIR
set -euo pipefail
src=$2
python=/usr/bin/python3
"$python" -c "import matplotlib" 2>/dev/null || { echo "SKIPPED: no matplotlib"; exit 77; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/pinode-plot-XXXXXX")
trap 'rm -rf "$tmp"' EXIT

"$python" - "$src" "$tmp" <<'PY'
import csv, os, sys
src, tmp = sys.argv[1], sys.argv[2]
sys.path.insert(0, os.path.join(src, "scripts"))
import plot_scaling as ps
import matplotlib.pyplot as plt

ex = os.path.join(src, "slurm", "example")
rows = list(csv.DictReader(open(os.path.join(ex, "scaling.csv"))))
for r in rows:
    if r["method"] == "pipeline" and r["P"] == "1":
        r["t_wait_max"] = "0"
path = os.path.join(tmp, "scaling.csv")
with open(path, "w", newline="") as f:
    w = csv.DictWriter(f, fieldnames=list(rows[0]))
    w.writeheader()
    w.writerows(rows)
sys.argv = ["plot_scaling.py", path, "--model", os.path.join(ex, "model.json"), "--out", tmp]
assert ps.main() == 0
for name in ("scaling", "speedup", "efficiency", "phases"):
    assert os.path.getsize(os.path.join(tmp, f"strong_{name}.png")) > 10000, name

import json
srows = sorted((r for r in ps.read_csv(path) if r["study"] == "strong"), key=lambda r: r["P"])
model = json.load(open(os.path.join(ex, "model.json")))
assert max(r["P"] for r in model["pipeline"]) == 4096
pmax = ps.CONTINUATION * 2
series = ps.clip_series(ps.model_series(model, "strong"), pmax)
assert series and all(max(s[2]) <= pmax for s in series), [max(s[2]) for s in series]
fig, axes = plt.subplots(1, 3)
ps.panel_speedup(axes[0], srows, series, "strong", pmax)
ps.panel_phases(axes[2], srows, series)
assert axes[0].get_xlim()[1] < 2 * pmax, axes[0].get_xlim()
ax = axes[2]
assert ax.get_xlim()[1] < 2 * pmax, ax.get_xlim()
bottom = ax.get_ylim()[0]
on_edge = [l for l in ax.get_lines() if l.get_mfc() == "none" and len(l.get_xdata()) > 0
           and all(y == bottom for y in l.get_ydata())]
assert [list(l.get_xdata()) for l in on_edge] == [[1]], "the 0 at P = 1 is not on the bottom edge"
ys = [y for l in ax.get_lines() for y in l.get_ydata() if l not in on_edge]
assert min(ys) > bottom, (min(ys), bottom)
labels = [t.get_text() for t in ax.legend().get_texts()]
assert any(": 0" in t for t in labels), labels
print(f"ok: ranks axis to {ax.get_xlim()[1]:.3g} (measured to 2), the 0 on the edge at {bottom:.3g} s")
PY
