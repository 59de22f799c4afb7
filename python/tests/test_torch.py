"""pinode.torch.ODEFunction: its states and gradients are PyTorch autograd's
through a plain Runge–Kutta loop written in PyTorch, and it trains the
spiral example as `pinode train` does."""
import csv
import json

import numpy as np
import pytest

import pinode

from conftest import SPIRAL_ITERATIONS

torch = pytest.importorskip("torch")
from pinode.torch import ODEFunction  # noqa: E402


def mlp_torch(theta, dim, hidden, acts, time_input):
    """f(t, z; θ) of the built-in MLP, in PyTorch: θ holds, layer by layer
    from the input, W (out × in, row-major) then b."""
    def f(t, z):
        x = torch.cat([z, torch.full((z.shape[0], 1), t, dtype=z.dtype)], 1) if time_input else z
        at, widths = 0, list(hidden) + [dim]
        for layer, out in enumerate(widths):
            inp = x.shape[1]
            W = theta[at:at + out * inp].reshape(out, inp)
            b = theta[at + out * inp:at + out * inp + out]
            at += out * inp + out
            x = x @ W.T + b
            if layer < len(hidden):
                x = acts[layer](x)
        return x
    return f


def rk4_torch(f, z0, t0, h, nsteps, steps):
    """Classical RK4 on the grid t_n = t0 + n·h; the states at @p steps."""
    z, states = z0, [z0]
    for n in range(nsteps):
        t = t0 + n * h
        k1 = f(t, z)
        k2 = f(t + 0.5 * h, z + (0.5 * h) * k1)
        k3 = f(t + 0.5 * h, z + (0.5 * h) * k2)
        k4 = f(t + h, z + h * k3)
        z = z + h * (k1 / 6 + k2 / 3 + k3 / 3 + k4 / 6)
        states.append(z)
    return torch.stack([states[s] for s in steps])


def rel(a, b):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return np.linalg.norm(a - b) / np.linalg.norm(b)


def test_states_and_gradients_are_autograds_through_rk4(ctx):
    """A time-input network of two hidden layers, labels in any order, one
    at t0 and one repeated, a loss that is not a plain MSE: the states and
    dL/dθ, dL/dz0 agree with autograd through RK4 to 1e-12 (rounding of
    two implementations of the same arithmetic)."""
    D, hidden, B, N, t1 = 2, [8, 6], 3, 40, 2.0
    model = pinode.MLP(ctx, D, hidden, ["tanh", "softplus"], time_input=True)
    solver = pinode.Solver(model, pinode.Tableau(ctx, "rk4"), t1=t1, nsteps=N, microbatches=2)
    steps = [25, 0, 40, 10, 25]
    rng = np.random.default_rng(3)
    theta0 = model.init_params(7)
    z0_np = rng.normal(size=(B, D))
    Y = torch.from_numpy(rng.normal(size=(len(steps), B, D)))

    def loss_of(Z):
        return ((Z - Y) ** 2).sum() + (Z ** 3).mean()

    theta = torch.tensor(theta0, requires_grad=True)
    z0 = torch.tensor(z0_np, requires_grad=True)
    Z = ODEFunction.apply(theta, z0, solver, steps)
    loss_of(Z).backward()

    ref_theta = torch.tensor(theta0, requires_grad=True)
    ref_z0 = torch.tensor(z0_np, requires_grad=True)
    f = mlp_torch(ref_theta, D, hidden, [torch.tanh, torch.nn.functional.softplus], True)
    Z_ref = rk4_torch(f, ref_z0, 0.0, t1 / N, N, steps)
    loss_of(Z_ref).backward()

    assert rel(Z.detach(), Z_ref.detach()) <= 1e-12
    assert rel(theta.grad, ref_theta.grad) <= 1e-12
    assert rel(z0.grad, ref_z0.grad) <= 1e-12


def test_gradcheck(ctx):
    """PyTorch's finite-difference check of the backward pass."""
    model = pinode.MLP(ctx, 2, [4], "tanh")
    solver = pinode.Solver(model, pinode.Tableau(ctx, "rk4"), t1=1.0, nsteps=10)
    theta = torch.tensor(model.init_params(2), requires_grad=True)
    z0 = torch.tensor([[0.5, -0.3], [0.1, 0.9]], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda th, z: ODEFunction.apply(th, z, solver, [3, 10]),
                                    (theta, z0), eps=1e-6, atol=1e-7, rtol=1e-6)


def read_history(run):
    with open(run / "history.csv") as f:
        return np.array([float(row["loss"]) for row in csv.DictReader(f)])


def test_trains_the_spiral_as_the_program(comm, spiral_run):
    """scripts/configs/spiral.ini, 200 of its 500 iterations (the loss falls
    from 1.0 to 0.03): the same data, split, network, initial θ, grid and
    Adam, with PyTorch's Adam and loss around ODEFunction, reach the
    program's loss at every iteration.  The program draws each full batch
    in another order, so sums differ in the last bit and training carries
    that along: 3.7e-12 (1 rank) and 6.8e-13 (2 ranks) at worst, growing
    with the iterations (2e-7 after 500); the bound 1e-9 is that noise."""
    data = pinode.generate("spiral", ntraj=24, npoints=21)
    train, _ = data.split(0.25, seed=1)
    first = data.offset[train]
    z0 = torch.from_numpy(data.z[first])
    times = data.time[first[0] + 1:first[0] + 21]
    Y = torch.from_numpy(np.stack([data.z[first + 1 + k] for k in range(len(times))]))
    with pinode.Context(comm) as ctx:
        model = pinode.MLP(ctx, 2, [32, 32], "tanh")
        solver = pinode.Solver(model, pinode.Tableau(ctx, "rk4"), t0=0.0, t1=2.0, nsteps=80,
                               microbatches=2)
        steps = np.rint((times - solver.t0) / solver.h).astype(int)
        assert np.array_equal(solver.times(steps), times)  # the observations lie on the grid
        theta = torch.tensor(model.init_params(1), requires_grad=True)
        adam = torch.optim.Adam([theta], lr=0.01)
        losses = []
        for _ in range(SPIRAL_ITERATIONS):
            adam.zero_grad()
            loss = ((ODEFunction.apply(theta, z0, solver, steps) - Y) ** 2).mean()
            loss.backward()
            adam.step()
            losses.append(loss.item())
        with torch.no_grad():
            final = ((ODEFunction.apply(theta, z0, solver, steps) - Y) ** 2).mean().item()
    program = read_history(spiral_run)
    summary = json.loads((spiral_run / "summary.json").read_text())
    assert losses[-1] < 0.5 * losses[0]  # it trains
    assert np.max(np.abs(np.array(losses) - program) / program) <= 1e-9
    assert abs(final - summary["final"]["train_loss"]) <= 1e-9 * final
