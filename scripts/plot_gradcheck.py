#!/usr/bin/python3
"""Plot the CSV of `pinode gradcheck --csv FILE`: for each scheme, the gap of
each gradient method to the exact discrete gradient against the step size h,
on log-log axes, with the reference slope h^q of the scheme's order q.

The continuous adjoints (backsolve, interpolating; solid multi-point, dashed
single-point) show a gap that falls like h^q (the seed paper's claim 2); the
discrete adjoint's error against the complex step stays at rounding for every
h (claim 3).

usage: scripts/plot_gradcheck.py GRADCHECK.csv [OUT.png]   (default OUT: next to the CSV)
"""
import csv
import math
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

FLOOR = 1e-17  # zeros cannot be drawn on a log axis; shown at this value

STYLE = {
    ("continuous-backsolve", "multi"): dict(color="tab:red", ls="-", marker="o", label="backsolve"),
    ("continuous-backsolve", "single"): dict(color="tab:red", ls="--", marker="x",
                                             label="backsolve, single-point"),
    ("continuous-interp", "multi"): dict(color="tab:blue", ls="-", marker="s", label="interpolating"),
    ("continuous-interp", "single"): dict(color="tab:blue", ls="--", marker="+",
                                          label="interpolating, single-point"),
}


def read(path):
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    need = {"scheme", "order", "h", "adjoint", "mode", "err_theta", "vs_discrete"}
    if not rows or not need <= set(rows[0]):
        sys.exit(f"{path}: not a gradcheck CSV (need columns {sorted(need)})")
    return rows


def plot_scheme(ax, scheme, rows):
    q = int(rows[0]["order"])
    for (adj, mode), style in STYLE.items():
        pts = sorted((float(r["h"]), max(float(r["vs_discrete"]), FLOOR))
                     for r in rows if r["adjoint"] == adj and r["mode"] == mode)
        if pts:
            ax.loglog(*zip(*pts), **style)
    disc = sorted((float(r["h"]), max(float(r["err_theta"]), FLOOR))
                  for r in rows if r["adjoint"] == "discrete" and r["mode"] == "multi")
    if disc:
        ax.loglog(*zip(*disc), color="black", ls=":", marker="d",
                  label="discrete adjoint vs complex step")
    # Reference slope through the interpolating variant's coarsest point.
    ref = sorted((float(r["h"]), float(r["vs_discrete"])) for r in rows
                 if r["adjoint"] == "continuous-interp" and r["mode"] == "multi")
    if ref and ref[-1][1] > 0:
        h1, g1 = ref[-1]
        hs = [h for h, _ in ref]
        ax.loglog(hs, [g1 * (h / h1) ** q for h in hs], color="gray", ls="-.", lw=1,
                  label="reference slope h^q")
    ax.set_title(f"{scheme} (order {q})")
    ax.set_xlabel("step size h")
    ax.set_ylabel("relative gap to the exact gradient")
    ax.grid(True, which="both", alpha=0.3)


def main():
    if len(sys.argv) not in (2, 3):
        sys.exit(__doc__)
    src = sys.argv[1]
    out = sys.argv[2] if len(sys.argv) == 3 else os.path.splitext(src)[0] + ".png"
    rows = read(src)
    schemes = list(dict.fromkeys(r["scheme"] for r in rows))
    ncol = min(3, len(schemes))
    nrow = math.ceil(len(schemes) / ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(5 * ncol, 4 * nrow), squeeze=False)
    for ax, scheme in zip(axes.flat, schemes):
        plot_scheme(ax, scheme, [r for r in rows if r["scheme"] == scheme])
    for ax in list(axes.flat)[len(schemes):]:
        ax.axis("off")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=3, frameon=False)
    fig.suptitle("Continuous adjoint gap vs h (pinode gradcheck)")
    fig.tight_layout(rect=(0, 0.06 if nrow > 1 else 0.12, 1, 0.97))
    fig.savefig(out, dpi=110)
    print(out)


if __name__ == "__main__":
    main()
