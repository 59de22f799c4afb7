#!/usr/bin/python3
"""Make a problem directory with a new random network: D state components, H
tanh units, B trajectories of N steps of h, K labels spread evenly.  Two kinds
of dynamics, both bounded over any horizon:
  dissipative (default): like tests/data/bench/long (output weights -(D/H)
      times the transpose of the input weights, plus a skew part that turns
      the state): the trajectories settle on a fixed point;
  cycle: a stable limit cycle in the first two components (radius about 2,
      period about 3), the others contracting: half the units, with small
      input weights, stay in tanh's linear range and pull the state in
      (f ~ -0.5 z); the other half, with large ones, push it out and turn it
      near the origin (f ~ R z, R = [[1.5, -2], [2, 1.5]] (+) -I) but
      saturate beyond it.  The trajectories keep moving: a hard case for time
      parallelism, whose errors along the cycle do not decay.

usage: scripts/new_problem.py DEST --dim D --hidden H --batch B --steps N
                              [--h 0.01] [--scheme rk4] [--labels 10] [--seed 1]
                              [--dynamics dissipative|cycle]

Plain Python 3; DEST is created or overwritten (format: tests/data/bench/README.md);
no reference gradients (ref/) are written.  Example, one trajectory of a
million steps: scripts/new_problem.py /tmp/traj1m --dim 4 --hidden 32 --batch 1 --steps 1000000
"""
import argparse
import os
import random
import sys


def pinv(A):
    """(AᵀA)⁻¹Aᵀ of a tall matrix with independent columns (Gauss-Jordan)."""
    D = len(A[0])
    M = [[sum(r[i] * r[j] for r in A) for j in range(D)] + [1.0 if k == i else 0.0 for k in range(D)]
         for i in range(D)]
    for i in range(D):
        p = max(range(i, D), key=lambda r: abs(M[r][i]))
        M[i], M[p] = M[p], M[i]
        piv = M[i][i]
        M[i] = [x / piv for x in M[i]]
        for r in range(D):
            if r != i:
                M[r] = [x - M[r][i] * y for x, y in zip(M[r], M[i])]
    inv = [row[D:] for row in M]
    return [[sum(inv[i][k] * A[r][k] for k in range(D)) for r in range(len(A))] for i in range(D)]


def cycle_network(rnd, D, H):
    """Weights of the limit cycle (see the module's text): linear units
    A1 (small weights), saturating units A2 (large); W2 = [-0.5 A1⁺, R A2⁺]."""
    h1 = H // 2
    A1 = [[0.05 * rnd.gauss(0.0, D ** -0.5) for _ in range(D)] for _ in range(h1)]
    A2 = [[2.0 * rnd.gauss(0.0, D ** -0.5) for _ in range(D)] for _ in range(H - h1)]
    R = [[-1.0 if i == j else 0.0 for j in range(D)] for i in range(D)]
    R[0][0], R[1][1], R[0][1], R[1][0] = 1.5, 1.5, -2.0, 2.0
    P1, P2 = pinv(A1), pinv(A2)
    w2 = [[-0.5 * P1[i][k] for k in range(h1)] +
          [sum(R[i][j] * P2[j][k] for j in range(D)) for k in range(H - h1)] for i in range(D)]
    return A1 + A2, [0.0] * H, w2, [0.0] * D


def main(argv):
    ap = argparse.ArgumentParser(prog="new_problem.py", usage=__doc__.split("\n\n")[1].strip())
    ap.add_argument("dest")
    for name in ("dim", "hidden", "batch", "steps"):
        ap.add_argument("--" + name, type=int, required=True)
    ap.add_argument("--h", type=float, default=0.01)
    ap.add_argument("--scheme", default="rk4")
    ap.add_argument("--labels", type=int, default=10)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--dynamics", choices=("dissipative", "cycle"), default="dissipative")
    a = ap.parse_args(argv[1:])
    if min(a.dim, a.hidden, a.batch, a.steps, a.labels) < 1 or not a.h > 0:
        ap.error("dim, hidden, batch, steps and labels must be >= 1, h > 0")
    rnd = random.Random(a.seed)
    D, H = a.dim, a.hidden
    if a.dynamics == "cycle" and (D < 2 or H < 2 * D):
        ap.error("a limit cycle needs dim >= 2 and hidden >= 2 * dim")
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
    if a.dynamics == "cycle":
        w1, b1, w2, b2 = cycle_network(rnd, D, H)
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
