#!/usr/bin/env python3
"""Plot predicted trajectories against the data, beyond the training horizon.

usage: scripts/plot_predictions.py PREDICTIONS [--data CSV] [--horizon T]
                                   [--trajectories N] [--out FILE]

PREDICTIONS is a CSV or HDF5 file of `pinode predict` (or a run's predictions); the data
defaults to the data.csv beside it, as in a run directory (`pinode predict
... --out out/spiral/long.csv`).  One panel per state, named by the CSV header
(x, v, ...), over time: lines the model, dots the data of the same trajectory;
the time after the horizon (by default the data's last time: what the model
was trained on) is shaded, so an extrapolation shows where it leaves the data.
Writes PREDICTIONS with .png for .csv, or --out.
"""
import argparse
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

MAX_PANELS = 6


def read_trajectories(path):
    """CSV trajectory,time,NAME1..NAMED, or an HDF5 trajectory file (time, z,
    trajectory and the columns attribute; docs/formats.md) -> (names, {id:
    (times, states)}) in file order; names z1..zD when the file has none."""
    if path.endswith(".h5"):
        import h5py  # python3-h5py, only for HDF5 files

        with h5py.File(path, "r") as f:
            t, z = f["time"][:], f["z"][:]
            ids = f["trajectory"][:] if "trajectory" in f else np.arange(z.shape[1])
            names = [str(n) for n in f.attrs.get("columns", [])]
        if len(names) != z.shape[2]:
            names = ["z%d" % (d + 1) for d in range(z.shape[2])]
        return names, {int(tid): (t, z[:, j, :]) for j, tid in enumerate(ids)}
    with open(path, encoding="utf-8-sig") as f:
        first = f.readline()
    header = first.split(",")[0].strip() == "trajectory"
    rows = np.loadtxt(path, delimiter=",", skiprows=1 if header else 0, ndmin=2, comments="#")
    D = rows.shape[1] - 2
    names = ([n.strip() for n in first.strip().split(",")[2:]] if header
             else ["z%d" % (d + 1) for d in range(D)])
    out = {}
    ids = rows[:, 0].astype(int)
    for tid in dict.fromkeys(ids):
        sel = ids == tid
        out[tid] = (rows[sel, 1], rows[sel, 2:])
    return names, out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("predictions")
    ap.add_argument("--data", help="observed trajectories (default: data.csv beside PREDICTIONS)")
    ap.add_argument("--horizon", type=float,
                    help="end of the training interval (default: the data's last time)")
    ap.add_argument("--trajectories", type=int, default=6, help="how many to draw")
    ap.add_argument("--out", help="the PNG (default: PREDICTIONS with .png)")
    a = ap.parse_args()
    names, pred = read_trajectories(a.predictions)
    data_path = a.data or os.path.join(os.path.dirname(os.path.abspath(a.predictions)), "data.csv")
    data = {}
    if os.path.exists(data_path) and os.path.abspath(data_path) != os.path.abspath(a.predictions):
        data_names, data = read_trajectories(data_path)
        if len(data_names) != len(names):
            sys.exit("%s has %d states, %s %d" % (data_path, len(data_names), a.predictions,
                                                  len(names)))
    elif a.data:
        sys.exit("no data file %s" % a.data)
    horizon = a.horizon
    if horizon is None and data:
        horizon = max(t[-1] for t, _ in data.values())

    chosen = list(pred)[: max(1, a.trajectories)]
    D = len(names)
    npanel = min(D, MAX_PANELS)
    fig, axes = plt.subplots(npanel, 1, figsize=(9, 2.6 * npanel + 0.6), sharex=True,
                             squeeze=False)
    colors = plt.cm.tab10(np.linspace(0, 1, 10))
    tmax = max(t[-1] for t, _ in pred.values())
    for d in range(npanel):
        ax = axes[d, 0]
        for c, tid in enumerate(chosen):
            col = colors[c % 10]
            tp, zp = pred[tid]
            ax.plot(tp, zp[:, d], "-", color=col, lw=1.5, label="trajectory %d" % tid)
            if tid in data:
                t, z = data[tid]
                ax.plot(t, z[:, d], "o", color=col, ms=3)
        if horizon is not None and horizon < tmax:
            ax.axvspan(horizon, tmax, color="0.92", zorder=0)
            ax.axvline(horizon, color="0.5", ls="--", lw=1)
        ax.set_ylabel(names[d])
    axes[-1, 0].set_xlabel("time")
    if len(chosen) <= 10:
        axes[0, 0].legend(fontsize=8, loc="best")
    what = "lines: model, dots: data" if data else "lines: model (no data)"
    beyond = ("; shaded: beyond the training horizon t = %g" % horizon
              if horizon is not None and horizon < tmax else "")
    shown = "" if npanel == D else " (first %d of %d states)" % (npanel, D)
    fig.suptitle("%s: %s%s%s" % (os.path.basename(a.predictions), what, beyond, shown),
                 fontsize=10)
    fig.tight_layout()
    out = a.out or os.path.splitext(a.predictions)[0] + ".png"
    fig.savefig(out, dpi=90)
    print("wrote", out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
