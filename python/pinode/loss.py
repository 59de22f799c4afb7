"""Losses L = Σ_k ℓ_k(z(t_k)) at K label times on the step grid
(include/pinode/loss.h): the mean-squared error and losses written in Python."""
import ctypes

from . import _structs as S
from ._arrays import as_input, result, view
from ._lib import double_ptr, lib
from .context import Handle


class Loss(Handle):
    """A loss over a batch of ``batch`` states of dimension ``dim`` at the
    label times ``times``; made by MSELoss or CustomLoss.  Not collective."""

    _destroy = lib.pn_loss_destroy

    def __init__(self, ctx, times, batch, dim):
        super().__init__(ctx)
        self.ctx = ctx
        self.times = as_input(times, (None,), "times").copy()
        self.batch, self.dim = int(batch), int(dim)

    @property
    def nlabels(self):
        return lib.pn_loss_nlabels(self.handle)


class MSELoss(Loss):
    """ℓ_k = w_k / (B·D) Σ_{b,d} (z_b(t_k)[d] − y_k[b,d])².

    ``targets`` has shape (K, B, D), ``weights`` (K,) or None (all 1).  The
    library copies times, targets and weights.
    """

    def __init__(self, ctx, times, targets, weights=None):
        times = as_input(times, (None,), "times")
        K = times.shape[0]
        targets = as_input(targets, (K, None, None), "targets")
        super().__init__(ctx, times, targets.shape[1], targets.shape[2])
        w = None if weights is None else as_input(weights, (K,), "weights")
        ctx.check(lib.pn_loss_create_mse(ctx.handle, K, double_ptr(times), double_ptr(targets),
                                         None if w is None else double_ptr(w), self.batch,
                                         self.dim, ctypes.byref(self._handle)),
                  "pn_loss_create_mse")


class CustomLoss(Loss):
    """A loss written in Python: ``fn(label, t, b0, z) -> (value, grad)``
    evaluates label ``label`` (at time t) on the samples [b0, b0 + nb) of the
    batch, z being their (nb, D) states: ``value`` is that part of ℓ_k (the
    parts over disjoint sample ranges must add up to ℓ_k) and ``grad`` its
    derivative ∂/∂z, shape (nb, D).  The solver calls it on the rank that
    owns the label's grid point, once per micro-batch; z is a read-only view
    valid only during the call, grad is copied into the library's buffer.
    """

    def __init__(self, ctx, times, batch, dim, fn):
        super().__init__(ctx, times, batch, dim)
        D = self.dim

        def c_loss(user, label, t, b0, nb, z, value_out, grad_out):
            return ctx.callback(self._evaluate, fn, label, t, b0, nb, z, value_out, grad_out, D)

        self._fn = S.LOSS_FN(c_loss)  # lives as long as the loss: the library keeps it
        ctx.check(lib.pn_loss_create_custom(ctx.handle, self.times.shape[0],
                                            double_ptr(self.times), self.batch, D, self._fn, None,
                                            ctypes.byref(self._handle)),
                  "pn_loss_create_custom")

    @staticmethod
    def _evaluate(fn, label, t, b0, nb, z, value_out, grad_out, D):
        value, grad = fn(label, t, b0, view(z, (nb, D)))
        view(grad_out, (nb, D), writable=True)[...] = result(grad, (nb, D), "the loss (gradient)")
        ctypes.c_double.from_address(value_out).value = float(value)
