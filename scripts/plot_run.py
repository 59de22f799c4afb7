#!/usr/bin/env python3
"""Plot a pinode training run: data and prediction overlaid, and the losses.

usage: scripts/plot_run.py RUNDIR [--out FILE] [--trajectories N]

Reads RUNDIR/{data.csv, predictions.csv, history.csv, summary.json} (written by
`pinode train`; the predictions are the file of output.predictions in RUNDIR/config.ini, CSV or
HDF5) and writes RUNDIR/fit.png (or --out): a phase portrait and the
first state over time, named as the data names them (dots: data, lines: the
trained model integrated from each trajectory's initial state; dashed:
validation trajectories, never trained on), and the training and validation
losses per iteration.  Predictions beyond the training interval (pinode
predict): scripts/plot_predictions.py.
"""
import argparse
import json
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from plot_predictions import read_trajectories  # noqa: E402  (beside this script)


def predictions_file(d):
    """The file of output.predictions in d/config.ini (predictions.csv if not named)."""
    name = "predictions.csv"
    try:
        with open(os.path.join(d, "config.ini")) as f:
            for line in f:
                key, _, value = line.partition("=")
                if key.strip() == "predictions":
                    name = value.split(";")[0].strip()
    except OSError:
        pass
    return os.path.join(d, name)


def read_history(path):
    with open(path) as f:
        names = f.readline().strip().split(",")
    h = np.loadtxt(path, delimiter=",", skiprows=1, ndmin=2)
    return {n: h[:, i] for i, n in enumerate(names)}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("rundir")
    ap.add_argument("--out", default=None)
    ap.add_argument("--trajectories", type=int, default=6, help="how many to draw")
    a = ap.parse_args()
    d = a.rundir
    with open(os.path.join(d, "summary.json")) as f:
        summary = json.load(f)
    names, data = read_trajectories(os.path.join(d, "data.csv"))
    _, pred = read_trajectories(predictions_file(d))
    hist = read_history(os.path.join(d, "history.csv"))
    val_ids = set(summary.get("validation_ids", []))

    # Some training and some validation trajectories, validation first.
    ids = list(data)
    chosen = [i for i in ids if i in val_ids][: max(1, a.trajectories // 3)]
    chosen += [i for i in ids if i not in val_ids][: a.trajectories - len(chosen)]
    D = next(iter(data.values()))[1].shape[1]
    colors = plt.cm.tab10(np.linspace(0, 1, 10))

    fig, ax = plt.subplots(1, 3, figsize=(16, 4.8))
    # Phase portrait: the first state against the second (Lorenz: x against z, the butterfly).
    j = 2 if D >= 3 else 1 if D >= 2 else 0
    for c, tid in enumerate(chosen):
        col = colors[c % 10]
        style = "--" if tid in val_ids else "-"
        t, z = data[tid]
        tp, zp = pred[tid]
        ax[0].plot(zp[:, 0], zp[:, j], style, color=col, lw=1.5)
        ax[0].plot(z[:, 0], z[:, j], "o", color=col, ms=3)
        ax[1].plot(tp, zp[:, 0], style, color=col, lw=1.5)
        ax[1].plot(t, z[:, 0], "o", color=col, ms=3)
    ax[0].set_xlabel(names[0])
    ax[0].set_ylabel(names[j])
    ax[0].set_title("phase portrait (dots: data, lines: model; dashed: validation)")
    ax[1].set_xlabel("t")
    ax[1].set_ylabel(names[0])
    ax[1].set_title("first component over time")

    it = hist["iteration"]
    ax[2].semilogy(it, hist["loss"], lw=0.8, label="mini-batch loss")
    v = hist["val_loss"]
    ok = np.isfinite(v)
    if ok.any():
        ax[2].semilogy(it[ok], v[ok], "o-", ms=3, label="validation loss")
    ax[2].set_xlabel("iteration")
    ax[2].set_title("loss")
    ax[2].legend()
    fin = summary["final"]

    def fmt(x):
        return "n/a" if x is None else "%.3g" % x

    fig.suptitle(
        "%s: %s, %d steps, %d rank(s), %d iterations in %.1f s; final RMSE train %s, validation %s"
        % (
            os.path.basename(summary["config_file"]),
            summary["scheme"],
            summary["steps"],
            summary["ranks"],
            summary["iterations_done"],
            summary["timings_seconds"]["total"],
            fmt(fin["train_rmse"]),
            fmt(fin["validation_rmse"]),
        )
    )
    fig.tight_layout()
    out = a.out or os.path.join(d, "fit.png")
    fig.savefig(out, dpi=90)
    print("wrote", out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
