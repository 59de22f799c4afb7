"""pinode as a PyTorch autograd function: the neural ODE's solve in a
PyTorch computation, its backward pass pinode's exact discrete adjoint,
time-parallel over the solver's ranks.

    from pinode.torch import ODEFunction
    Z = ODEFunction.apply(theta, z0, solver, steps)     # (K, B, D) states
    loss = torch.nn.functional.mse_loss(Z, Y)           # any PyTorch loss
    loss.backward()                                     # theta.grad, z0.grad

The function returns the trajectory at the grid indices ``steps`` rather
than a loss: any PyTorch loss, regulariser or network around the ODE (an
encoder making z0, a decoder reading z(t)) composes with it, and the
backward pass stays exact, because pinode differentiates a linear loss
⟨g, z(t_k)⟩ whose gradient is PyTorch's incoming g.  The price is one more
forward sweep per training step (the forward call does one sweep, the
gradient does its own forward and backward sweeps).

``import pinode`` does not import PyTorch; ``import pinode.torch`` does.
"""
import numpy as np
import torch

from .loss import CustomLoss


def _numpy(tensor):
    """A float64 C-contiguous NumPy array of a tensor (no copy for a CPU
    float64 contiguous tensor)."""
    return np.ascontiguousarray(tensor.detach().to("cpu", torch.float64).numpy())


def _steps(solver, steps):
    steps = np.arange(solver.nsteps + 1) if steps is None else np.asarray(steps)
    if steps.ndim != 1 or not np.issubdtype(steps.dtype, np.integer):
        raise ValueError("steps: expected a 1-D array of grid indices, got %r" % (steps,))
    return steps


class ODEFunction(torch.autograd.Function):
    """``ODEFunction.apply(theta, z0, solver, steps=None) -> Z``

    theta: the (P,) parameters of the solver's model; z0: the (B, D)
    initial states; steps: grid indices in 0..N (default all), in any order,
    repeats allowed.  Z[k] is the (B, D) batch of states at grid index
    steps[k], computed by ``solver.trajectory``; the backward pass returns
    dL/dθ and dL/dz0 by ``solver.gradient``.  Tensors are computed on in
    float64 on the CPU (others are converted; the gradients come back in the
    inputs' dtype and device).  Collective: call it on every rank of the
    solver's context with the same θ and z0 (the backward pass too).
    """

    @staticmethod
    def forward(ctx, theta, z0, solver, steps=None):
        steps = _steps(solver, steps)
        th, z = _numpy(theta), _numpy(z0)
        states = solver.trajectory(th, z, steps)
        ctx.solver, ctx.steps, ctx.inputs = solver, steps, (th, z)
        ctx.kinds = (theta.device, theta.dtype), (z0.device, z0.dtype)
        return torch.from_numpy(states).to(z0.device, z0.dtype)

    @staticmethod
    def backward(ctx, grad_states):
        solver, steps, (th, z) = ctx.solver, ctx.steps, ctx.inputs
        g = _numpy(grad_states)

        def linear(label, t, b0, zk):
            part = g[label, b0:b0 + zk.shape[0]]
            return float(np.vdot(part, zk)), part

        with CustomLoss(solver.ctx, solver.times(steps), z.shape[0], z.shape[1], linear) as loss:
            _, d_theta, d_z0 = solver.gradient(th, z, loss)
        theta_kind, z0_kind = ctx.kinds
        return (torch.from_numpy(d_theta).to(*theta_kind), torch.from_numpy(d_z0).to(*z0_kind),
                None, None)


def trajectory(solver, theta, z0, steps=None):
    """The states at the grid indices @p steps as a differentiable tensor:
    ODEFunction.apply(theta, z0, solver, steps)."""
    return ODEFunction.apply(theta, z0, solver, steps)
