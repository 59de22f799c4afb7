#!/usr/bin/python3
"""Make a problem directory in the format of tests/data/bench (docs/formats.md), with PyTorch float64 autograd references.

usage: refgen.py OUTDIR --dim D --hidden H [H ...] --activation A [--time-input]
                 --batch B --t0 T0 --t1 T1 --steps N --scheme S --labels m1 m2 ... (grid indices)
                 --seed SEED [--scale 0.5]
Targets come from integrating a second random network (seed+1) from the same z0 with the same
scheme, so the loss is a real fitting loss.  Backprop through the solver = exact discrete gradient.
"""
import argparse, os
import numpy as np
import torch

TABLEAUX = {
    "euler":    ([0.0], [], [1.0]),
    "midpoint": ([0.0, 0.5], [[0.5]], [0.0, 1.0]),
    "heun":     ([0.0, 1.0], [[1.0]], [0.5, 0.5]),
    "ralston":  ([0.0, 2/3], [[2/3]], [0.25, 0.75]),
    "kutta3":   ([0.0, 0.5, 1.0], [[0.5], [-1.0, 2.0]], [1/6, 2/3, 1/6]),
    "ssprk3":   ([0.0, 1.0, 0.5], [[1.0], [0.25, 0.25]], [1/6, 1/6, 2/3]),
    "rk4":      ([0.0, 0.5, 0.5, 1.0], [[0.5], [0.0, 0.5], [0.0, 0.0, 1.0]], [1/6, 1/3, 1/3, 1/6]),
    "rk38":     ([0.0, 1/3, 2/3, 1.0], [[1/3], [-1/3, 1.0], [1.0, -1.0, 1.0]], [1/8, 3/8, 3/8, 1/8]),
}
ACT = {"tanh": torch.tanh, "softplus": torch.nn.functional.softplus, "sigmoid": torch.sigmoid,
       "relu": torch.relu, "silu": torch.nn.functional.silu, "identity": lambda x: x}

def shapes(D, hidden, time_input):
    ins = [D + (1 if time_input else 0)] + hidden
    outs = hidden + [D]
    return list(zip(outs, ins))

def init_theta(rng, D, hidden, time_input, scale, stable=False):
    parts, Ws = [], []
    for out, inp in shapes(D, hidden, time_input):
        W = rng.normal(0, 1/np.sqrt(inp), size=(out, inp)) * scale
        if stable and len(hidden) == 1 and not time_input and out == D:
            # output layer W2 = -W1^T (+ a little noise): f = -grad of a convex potential, a dissipative flow
            W = -Ws[0].T + 0.1 * W
        Ws.append(W)
        parts.append(W.ravel())
        parts.append(rng.normal(0, 0.01, size=out))
    return np.concatenate(parts)

def unflatten(theta, D, hidden, time_input):
    layers, o = [], 0
    for out, inp in shapes(D, hidden, time_input):
        W = theta[o:o+out*inp].reshape(out, inp); o += out*inp
        b = theta[o:o+out]; o += out
        layers.append((W, b))
    assert o == theta.numel()
    return layers

def rhs(layers, act, t, Z, time_input):  # Z: B x D
    h = Z
    if time_input:
        h = torch.cat([Z, torch.full((Z.shape[0], 1), t, dtype=Z.dtype)], dim=1)
    for i, (W, b) in enumerate(layers):
        h = h @ W.T + b
        if i < len(layers) - 1:
            h = act(h)
    return h

def solve(theta, z0, a):
    layers = unflatten(theta, a.dim, a.hidden, a.time_input)
    act = ACT[a.activation]
    c, A, bw = TABLEAUX[a.scheme]
    h = (a.t1 - a.t0) / a.steps
    Z, traj = z0, [z0]
    for n in range(a.steps):
        tn = a.t0 + n * h
        ks = []
        for i in range(len(c)):
            Y = Z
            for j in range(i):
                if A[i-1][j] != 0.0:
                    Y = Y + h * A[i-1][j] * ks[j]
            ks.append(rhs(layers, act, tn + c[i]*h, Y, a.time_input))
        inc = 0
        for i in range(len(c)):
            if bw[i] != 0.0:
                inc = inc + bw[i] * ks[i]
        Z = Z + h * inc
        traj.append(Z)
    return traj

def main():
    p = argparse.ArgumentParser()
    p.add_argument("out"); p.add_argument("--dim", type=int, required=True)
    p.add_argument("--hidden", type=int, nargs="+", required=True)
    p.add_argument("--activation", default="tanh"); p.add_argument("--time-input", action="store_true")
    p.add_argument("--batch", type=int, required=True); p.add_argument("--t0", type=float, default=0.0)
    p.add_argument("--t1", type=float, required=True); p.add_argument("--steps", type=int, required=True)
    p.add_argument("--scheme", default="rk4"); p.add_argument("--labels", type=int, nargs="+", required=True)
    p.add_argument("--seed", type=int, default=0); p.add_argument("--scale", type=float, default=0.5)
    p.add_argument("--z0-scale", type=float, default=1.0)
    p.add_argument("--noise", type=float, default=0.05)
    p.add_argument("--stable", action="store_true", help="dissipative network (one hidden layer, no time input)")
    a = p.parse_args()
    torch.set_num_threads(2)
    rng = np.random.default_rng(a.seed)
    theta = init_theta(rng, a.dim, a.hidden, a.time_input, a.scale, a.stable)
    z0 = rng.normal(0, a.z0_scale, size=(a.batch, a.dim))
    theta_true = init_theta(np.random.default_rng(a.seed + 1), a.dim, a.hidden, a.time_input, a.scale, a.stable)
    h = (a.t1 - a.t0) / a.steps
    times = [a.t0 + m * h for m in a.labels]
    with torch.no_grad():
        tr = solve(torch.tensor(theta_true), torch.tensor(z0), a)
        targets = np.stack([tr[m].numpy() for m in a.labels])
    targets = targets + np.random.default_rng(a.seed + 2).normal(0, a.noise, size=targets.shape)
    th = torch.tensor(theta, requires_grad=True)
    zz = torch.tensor(z0, requires_grad=True)
    traj = solve(th, zz, a)
    L = sum(((traj[m] - torch.tensor(targets[k]))**2).mean() for k, m in enumerate(a.labels))
    L.backward()
    os.makedirs(os.path.join(a.out, "ref"), exist_ok=True)
    with open(os.path.join(a.out, "meta.txt"), "w") as f:
        f.write(f"dim {a.dim}\nhidden {' '.join(map(str, a.hidden))}\nactivation {a.activation}\n"
                f"time_input {1 if a.time_input else 0}\nbatch {a.batch}\nt0 {a.t0!r}\nt1 {a.t1!r}\n"
                f"steps {a.steps}\nscheme {a.scheme}\n")
    w = lambda name, arr: np.savetxt(os.path.join(a.out, name), np.asarray(arr).ravel(), fmt="%.17g")
    w("theta.txt", theta); w("z0.txt", z0); w("times.txt", times); w("targets.txt", targets)
    w("ref/loss.txt", [L.item()]); w("ref/grad_theta.txt", th.grad.numpy()); w("ref/grad_z0.txt", zz.grad.numpy())
    # finite-difference sanity check of a few entries (central, float64)
    rng2 = np.random.default_rng(123); worst = 0.0
    with torch.no_grad():
        for j in rng2.choice(len(theta), size=min(4, len(theta)), replace=False):
            e = 1e-6 * max(1.0, abs(theta[j]))
            def Lof(tv):
                tr = solve(torch.tensor(tv), torch.tensor(z0), a)
                return sum(((tr[m] - torch.tensor(targets[k]))**2).mean() for k, m in enumerate(a.labels)).item()
            tp = theta.copy(); tp[j] += e; tm = theta.copy(); tm[j] -= e
            fd = (Lof(tp) - Lof(tm)) / (2*e)
            g = th.grad[j].item()
            worst = max(worst, abs(fd - g) / max(abs(g), 1e-8 * abs(L.item())))
    print(f"{a.out}: loss {L.item():.6g}  |g| {th.grad.norm().item():.4g}  fd-check worst rel {worst:.2e}")

if __name__ == "__main__":
    main()
