#!/usr/bin/python3
"""Make a long-horizon problem from an existing one: the same network, weights,
initial states and step h, with N steps, so t1 = t0 + N*h grows with N.  The
K labels keep their targets and their relative positions: label k moves from
grid index m_k to round(m_k * N / N0) (exactly m_k * N / N0 when N0 divides N),
so the loss and its adjoint involve the whole horizon, and the problem's size
on disk does not grow with N.

usage: scripts/make_problem.py SRC DEST N

SRC is a problem directory (format: docs/formats.md).  DEST is
created or overwritten; the reference gradients of SRC (ref/) are not copied,
since they do not apply.  Plain Python 3, no NumPy.
"""
import os
import shutil
import sys


def read_meta(path):
    order, meta = [], {}
    with open(path) as f:
        for line in f:
            parts = line.split()
            if not parts or parts[0].startswith("#"):
                continue
            order.append(parts[0])
            meta[parts[0]] = parts[1:]
    return order, meta


def read_numbers(path):
    with open(path) as f:
        return [float(s) for s in (line.strip() for line in f) if s and not s.startswith("#")]


def main(argv):
    if len(argv) != 4 or argv[1] in ("-h", "--help"):
        print(__doc__.strip(), file=sys.stderr)
        return 2
    src, dest = argv[1], argv[2]
    try:
        n = int(argv[3])
    except ValueError:
        n = 0
    if n < 1:
        print("make_problem.py: N must be an integer >= 1, got %r" % argv[3], file=sys.stderr)
        return 2
    order, meta = read_meta(os.path.join(src, "meta.txt"))
    for key in ("t0", "t1", "steps"):
        if key not in meta:
            print("make_problem.py: %s/meta.txt has no '%s'" % (src, key), file=sys.stderr)
            return 1
    t0, t1, n0 = float(meta["t0"][0]), float(meta["t1"][0]), int(meta["steps"][0])
    h0 = (t1 - t0) / n0
    new_t1 = t0 + n * h0
    h = (new_t1 - t0) / n  # what pinode computes from the new meta.txt
    times = read_numbers(os.path.join(src, "times.txt"))
    # Label k: grid index m_k of SRC, moved to the same fraction of the new horizon.
    new_times = []
    for t in times:
        m = round((t - t0) / h0)
        new_times.append(t0 + ((m * n + n0 // 2) // n0) * h)

    os.makedirs(dest, exist_ok=True)
    meta["t1"] = [repr(new_t1)]
    meta["steps"] = [str(n)]
    with open(os.path.join(dest, "meta.txt"), "w") as f:
        for key in order:
            f.write("%s %s\n" % (key, " ".join(meta[key])))
    with open(os.path.join(dest, "times.txt"), "w") as f:
        f.writelines(repr(t) + "\n" for t in new_times)
    for name in ("theta.txt", "z0.txt", "targets.txt"):
        shutil.copyfile(os.path.join(src, name), os.path.join(dest, name))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
