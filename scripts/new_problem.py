#!/usr/bin/python3
"""Make a problem directory with a new random network: D state components, H
tanh units, B trajectories of N steps of h, K labels spread evenly.  The
network is dissipative, like tests/data/bench/long (output weights -(D/H) times
the transpose of the input weights, plus a skew part that turns the state), so
its trajectories stay bounded over any horizon.

usage: scripts/new_problem.py DEST --dim D --hidden H --batch B --steps N
                              [--h 0.01] [--scheme rk4] [--labels 10] [--seed 1]

Plain Python 3; DEST is created or overwritten (format: tests/data/bench/README.md);
no reference gradients (ref/) are written.  Example, one trajectory of a
million steps: scripts/new_problem.py /tmp/traj1m --dim 4 --hidden 32 --batch 1 --steps 1000000
"""
import argparse
import os
import random
import sys


def main(argv):
    ap = argparse.ArgumentParser(prog="new_problem.py", usage=__doc__.split("\n\n")[1].strip())
    ap.add_argument("dest")
    for name in ("dim", "hidden", "batch", "steps"):
        ap.add_argument("--" + name, type=int, required=True)
    ap.add_argument("--h", type=float, default=0.01)
    ap.add_argument("--scheme", default="rk4")
    ap.add_argument("--labels", type=int, default=10)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args(argv[1:])
    if min(a.dim, a.hidden, a.batch, a.steps, a.labels) < 1 or not a.h > 0:
        ap.error("dim, hidden, batch, steps and labels must be >= 1, h > 0")
    rnd = random.Random(a.seed)
    D, H = a.dim, a.hidden
    w1 = [[rnd.gauss(0.0, D ** -0.5) for _ in range(D)] for _ in range(H)]
    b1 = [rnd.gauss(0.0, 0.1) for _ in range(H)]
    skew = [[0.0] * D for _ in range(D)]
    for i in range(D):
        for j in range(i + 1, D):
            skew[i][j] = rnd.gauss(0.0, 0.5)
            skew[j][i] = -skew[i][j]
    # f(z) = W2 tanh(W1 z + b1) + b2 with W2 = -(D/H) W1^T + S W1^T (D/H): near a
    # fixed point the Jacobian is (S - I) W1^T diag(tanh') W1 (D/H), whose
    # symmetric part is negative: the flow contracts while S turns it.
    c = D / H
    w2 = [[c * (-w1[k][i] + sum(skew[i][j] * w1[k][j] for j in range(D))) for k in range(H)]
          for i in range(D)]
    b2 = [rnd.gauss(0.0, 0.1) for _ in range(D)]
    os.makedirs(a.dest, exist_ok=True)
    t1 = a.steps * a.h
    K = min(a.labels, a.steps)
    times = [((k + 1) * a.steps // K) * a.h for k in range(K)]
    files = {
        "meta.txt": [f"dim {D}", f"hidden {H}", "activation tanh", "time_input 0", f"batch {a.batch}",
                     "t0 0.0", f"t1 {t1!r}", f"steps {a.steps}", f"scheme {a.scheme}"],
        "theta.txt": [repr(x) for row in w1 for x in row] + [repr(x) for x in b1] +
                     [repr(x) for row in w2 for x in row] + [repr(x) for x in b2],
        "z0.txt": [repr(rnd.gauss(0.0, 1.0)) for _ in range(a.batch * D)],
        "times.txt": [repr(t) for t in times],
        "targets.txt": [repr(rnd.gauss(0.0, 0.5)) for _ in range(K * a.batch * D)],
    }
    for name, lines in files.items():
        with open(os.path.join(a.dest, name), "w") as f:
            f.write("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
