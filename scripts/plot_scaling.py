#!/usr/bin/python3
"""Plot a scaling study: speedup, parallel efficiency and time per phase against
the rank count P, measured (the CSV of scripts/collect_scaling.py) next to the
ideal line and, with --model, the prediction of `pinode bench --model --json`
for the pipeline (automatic micro-batch count, and the best one) and for
Parareal (each iteration count K it was given).

usage: plot_scaling.py CSV [--model MODEL.json] [--out DIR] [--title TEXT]

Writes, for each study in the CSV (strong, weak): DIR/<study>_scaling.png (the
three panels side by side) and DIR/<study>_speedup.png,
DIR/<study>_efficiency.png, DIR/<study>_phases.png.  DIR defaults to the CSV's
directory.  Prints the paths written.

The axes span the rank counts measured; the model continues them to
CONTINUATION times the largest.  On the logarithmic time axis a time of 0 (no
waiting on one rank) is drawn as a hollow marker on the bottom edge, which the
legend names.
"""
import argparse
import csv
import json
import math
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def read_csv(path):
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        raise SystemExit(f"plot_scaling.py: {path} has no rows")
    for r in rows:
        for k in ("P", "M", "N", "B"):
            r[k] = int(r[k])
        for k in ("t_median", "t_min", "t_max", "speedup", "efficiency", "t_forward_max",
                  "t_backward_max", "t_wait_max", "t_busy_max"):
            r[k] = float(r[k])
        r["simulated"] = r.get("simulated") or ""
    return rows


def model_series(model, study):
    """(label, style, P list, speedup list, efficiency list, time list) of the model."""
    out = []
    rows = [r for r in model["pipeline"] if r["time"] is not None]
    if not rows:
        return out
    Ps = [r["P"] for r in rows]
    mlabel = "default M" if model.get("microbatches") == "auto" else f"M = {model.get('microbatches')}"
    if study == "strong":
        out.append((f"model: pipeline, {mlabel}", "-", Ps, [r["speedup"] for r in rows],
                    [r["efficiency"] for r in rows], [r["time"] for r in rows]))
        best = [r for r in rows if r.get("best_time") is not None]
        out.append(("model: pipeline, best M", "--", [r["P"] for r in best],
                    [r["best_speedup"] for r in best],
                    [r["best_speedup"] / r["P"] for r in best], [r["best_time"] for r in best]))
        for par in model.get("parareal", []):
            pr = [x for x in par["rows"] if x["time"] is not None]
            how = "measured" if par.get("measured") else "given"
            out.append((f"model: Parareal, K = {par['K']}, K_a = {par['K_adjoint']} ({how})", ":",
                        [x["P"] for x in pr], [x["speedup"] for x in pr],
                        [x["efficiency"] for x in pr], [x["time"] for x in pr]))
    else:
        wr = [r for r in model["pipeline"] if r.get("weak_time") is not None]
        out.append((f"model: pipeline, {mlabel}, N grows as P", "-", [r["P"] for r in wr],
                    [r["P"] * r["weak_efficiency"] for r in wr],
                    [r["weak_efficiency"] for r in wr], [r["weak_time"] for r in wr]))
    return out


# How far past the largest measured rank count the model is drawn.
CONTINUATION = 4


def clip_series(series, pmax):
    """The model's series up to pmax ranks."""
    out = []
    for label, style, mp, sp, ef, tm in series:
        keep = [i for i, P in enumerate(mp) if P <= pmax]
        out.append((label, style, [mp[i] for i in keep], [sp[i] for i in keep],
                    [ef[i] for i in keep], [tm[i] for i in keep]))
    return out


MEASURED = {"pipeline": ("o", "k", "measured, pipeline (median)"),
            "parareal": ("s", "tab:red", "measured, Parareal (median)"),
            "batch": ("D", "tab:blue", "measured, batch groups (median)")}


def measured(ax, rows, key, scale=1.0):
    for method, (marker, color, label) in MEASURED.items():
        mr = [r for r in rows if r["method"] == method and not r["simulated"]]
        if mr:
            ax.plot([r["P"] for r in mr], [scale * r[key] for r in mr], marker, ms=7, color=color,
                    label=label)
        for plat in sorted({r["simulated"] for r in rows if r["simulated"]}):
            sr = [r for r in rows if r["method"] == method and r["simulated"] == plat]
            if sr:
                ax.plot([r["P"] for r in sr], [scale * r[key] for r in sr], marker + "-.", ms=4,
                        mfc="none", color=color, lw=1.2, label=f"simulated on {plat}, {method}")


def panel_speedup(ax, rows, series, study, pmax):
    ax.plot([1, pmax], [1, pmax], color="0.6", lw=1, label="ideal")
    for label, style, mp, sp, _, _ in series:
        ax.plot(mp, sp, style, lw=1.5, label=label)
    measured(ax, rows, "speedup")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log", base=2)
    ax.set_xlabel("ranks P")
    ax.set_ylabel("speedup" if study == "strong" else "scaled speedup P*T1/TP")
    ax.grid(True, which="both", alpha=0.3)


def panel_efficiency(ax, rows, series, study, pmax):
    ax.plot([1, pmax], [100, 100], color="0.6", lw=1, label="ideal")
    for label, style, mp, _, ef, _ in series:
        ax.plot(mp, [100 * e for e in ef], style, lw=1.5, label=label)
    measured(ax, rows, "efficiency", 100.0)
    ax.set_xscale("log", base=2)
    ax.set_ylim(0, 110)
    ax.set_xlabel("ranks P")
    ax.set_ylabel("parallel efficiency (%)" if study == "strong" else "weak efficiency T1/TP (%)")
    ax.grid(True, which="both", alpha=0.3)


def panel_phases(ax, rows, series):
    # the first method measured, in the order of MEASURED
    method = next(m for m in MEASURED if any(r["method"] == m for r in rows))
    rows = [r for r in rows if r["method"] == method]
    if any(not r["simulated"] for r in rows):
        rows = [r for r in rows if not r["simulated"]]
    else:
        method += f", simulated on {rows[0]['simulated']}"
        rows = [r for r in rows if r["simulated"] == rows[0]["simulated"]]
    ax.set_title(f"phases: {method}", fontsize=9)
    Ps = [r["P"] for r in rows]
    curves = (("t_median", "o", "time per gradient"), ("t_forward_max", "s", "forward (slowest rank)"),
              ("t_backward_max", "^", "backward (slowest rank)"), ("t_wait_max", "v", "waiting (most)"))
    positive = [r[k] for r in rows for k, _, _ in curves if r[k] > 0]
    floor = 0.5 * min(positive)  # the axis' bottom edge, where zeros are drawn
    zeros = False
    for k, marker, label in curves:
        pos = [(P, r[k]) for P, r in zip(Ps, rows) if r[k] > 0]
        line, = ax.plot([P for P, _ in pos], [y for _, y in pos], marker + "-", label=label,
                        **({"color": "k"} if k == "t_median" else {}))
        zp = [P for P, r in zip(Ps, rows) if r[k] <= 0]
        if zp:
            zeros = True
            ax.plot(zp, [floor] * len(zp), marker, mfc="none", ms=9, mew=1.5, clip_on=False,
                    color=line.get_color())
    if zeros:
        ax.plot([], [], "o", mfc="none", color="0.3", label="hollow, on the bottom edge: 0")
    for label, style, mp, _, _, tm in series[:1]:
        ax.plot(mp, tm, style, color="0.4", lw=1, label=label.replace("model:", "model time:"))
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_ylim(bottom=floor)
    ax.set_xlabel("ranks P")
    ax.set_ylabel("seconds per gradient")
    ax.grid(True, which="both", alpha=0.3)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("csv")
    ap.add_argument("--model", default="")
    ap.add_argument("--out", default="")
    ap.add_argument("--title", default="")
    args = ap.parse_args()
    rows = read_csv(args.csv)
    model = None
    if args.model:
        with open(args.model) as f:
            model = json.load(f)
    out = args.out or os.path.dirname(os.path.abspath(args.csv))
    os.makedirs(out, exist_ok=True)
    written = []
    for study in ("strong", "weak"):
        srows = sorted((r for r in rows if r["study"] == study), key=lambda r: r["P"])
        if not srows:
            continue
        if not all(math.isfinite(r["speedup"]) for r in srows):
            print(f"plot_scaling.py: {study} study has no P = 1 point: no speedup", file=sys.stderr)
        pmeasured = max(r["P"] for r in srows)
        pmax = CONTINUATION * pmeasured
        series = clip_series(model_series(model, study), pmax) if model else []
        r0 = srows[0]
        title = args.title or (f"{study} scaling: N = {r0['N']}, B = {r0['B']}, D = {r0['D']}, "
                               f"{r0['scheme']}, host {r0['hostname']}")
        fig, axes = plt.subplots(1, 3, figsize=(17, 5.2))
        panel_speedup(axes[0], srows, series, study, pmax)
        panel_efficiency(axes[1], srows, series, study, pmax)
        panel_phases(axes[2], srows, series)
        axes[0].legend(fontsize=8, loc="upper left")
        axes[2].legend(fontsize=8, loc="best")
        fig.suptitle(title)
        fig.tight_layout()
        path = os.path.join(out, f"{study}_scaling.png")
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(path)
        for name, fn in (("speedup", panel_speedup), ("efficiency", panel_efficiency),
                         ("phases", None)):
            fig, ax = plt.subplots(figsize=(6.5, 5))
            if fn is None:
                panel_phases(ax, srows, series)
            else:
                fn(ax, srows, series, study, pmax)
            ax.legend(fontsize=8, loc="best")
            ax.set_title(title, fontsize=9)
            fig.tight_layout()
            path = os.path.join(out, f"{study}_{name}.png")
            fig.savefig(path, dpi=110)
            plt.close(fig)
            written.append(path)
    if not written:
        raise SystemExit(f"plot_scaling.py: no strong or weak rows in {args.csv}")
    for p in written:
        print(f"wrote {p}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
