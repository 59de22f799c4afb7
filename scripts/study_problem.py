#!/usr/bin/python3
"""Make the problem of one weak-scaling point: the problem directory SRC with a
time interval and a step count P times longer (the same step h), so that each
of P ranks owns as many steps as the single rank of the P = 1 point.  The label
times (and their targets) are repeated in every copy of the interval, so each
rank also evaluates as many labels.

usage: scripts/study_problem.py SRC DEST P

SRC is in the problem-directory format (docs/formats.md).  DEST is created (or overwritten).
The reference gradients of SRC (ref/) are not copied: they do not apply.
"""
import os
import shutil
import sys


def read_numbers(path):
    with open(path) as f:
        return [line.strip() for line in f if line.strip() and not line.lstrip().startswith("#")]


def main(argv):
    if len(argv) != 4 or argv[1] in ("-h", "--help"):
        print(__doc__.strip(), file=sys.stderr)
        return 2
    src, dest, p = argv[1], argv[2], int(argv[3])
    if p < 1:
        print("study_problem.py: P must be >= 1", file=sys.stderr)
        return 2
    meta = {}
    order = []
    with open(os.path.join(src, "meta.txt")) as f:
        for line in f:
            parts = line.split()
            if not parts or parts[0].startswith("#"):
                continue
            meta[parts[0]] = parts[1:]
            order.append(parts[0])
    for key in ("t0", "t1", "steps", "batch", "dim"):
        if key not in meta:
            print(f"study_problem.py: {src}/meta.txt has no '{key}'", file=sys.stderr)
            return 1
    t0, t1 = float(meta["t0"][0]), float(meta["t1"][0])
    steps = int(meta["steps"][0])
    span = t1 - t0
    meta["t1"] = [repr(t0 + p * span)]
    meta["steps"] = [str(p * steps)]

    times = [float(x) for x in read_numbers(os.path.join(src, "times.txt"))]
    targets = read_numbers(os.path.join(src, "targets.txt"))
    per_label = len(targets) // len(times) if times else 0
    if times and per_label * len(times) != len(targets):
        print(f"study_problem.py: {src}: targets.txt does not hold K*B*D numbers", file=sys.stderr)
        return 1
    h = span / steps
    new_times, new_targets = [], []
    for k in range(p):
        for i, t in enumerate(times):
            m = round((t - t0) / h) + k * steps  # the label's grid index in copy k
            new_times.append(repr(t0 + m * h))
            new_targets.extend(targets[i * per_label:(i + 1) * per_label])

    if os.path.isdir(dest):
        shutil.rmtree(dest)
    os.makedirs(dest)
    for name in ("theta.txt", "z0.txt"):
        shutil.copyfile(os.path.join(src, name), os.path.join(dest, name))
    with open(os.path.join(dest, "meta.txt"), "w") as f:
        for key in order:
            f.write(key + " " + " ".join(meta[key]) + "\n")
    with open(os.path.join(dest, "times.txt"), "w") as f:
        f.write("".join(t + "\n" for t in new_times))
    with open(os.path.join(dest, "targets.txt"), "w") as f:
        f.write("".join(x + "\n" for x in new_targets))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
