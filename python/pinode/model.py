"""Right-hand sides f(t, z; θ) (include/pinode/model.h): the built-in
multilayer perceptron, the library's examples, and models written in Python.

States are batch-major: z has shape (nb, D).  θ has shape (P,); the MLP's θ
holds, layer by layer from the input, W (out × in, row-major) then b.
"""
import ctypes

import numpy as np

from . import _structs as S
from ._arrays import as_input, result, view
from ._lib import double_ptr, lib, text
from .context import Handle


def activation_code(name):
    """The library's pn_activation for a name ("tanh", "softplus", ...)."""
    code = ctypes.c_int()
    if lib.pn_activation_from_name(str(name).encode(), ctypes.byref(code)) != 0:
        raise ValueError("unknown activation %r (identity, tanh, softplus, sigmoid, relu or silu)"
                         % (name,))
    return code.value


def activation_name(code):
    return text(lib.pn_activation_name(code))


class Model(Handle):
    """A right-hand side; made by MLP, UserModel, linear_model or
    lotka_volterra_model.  Not collective."""

    _destroy = lib.pn_model_destroy

    def __init__(self, ctx):
        super().__init__(ctx)
        self.ctx = ctx
        self._reserved = 0

    @property
    def dim(self):
        """The state dimension D."""
        return lib.pn_model_dim(self.handle)

    @property
    def nparam(self):
        """The number of parameters P."""
        return lib.pn_model_nparam(self.handle)

    def _reserve(self, nb):
        if nb > self._reserved:
            self.ctx.check(lib.pn_model_reserve(self.handle, nb), "pn_model_reserve")
            self._reserved = nb

    def _inputs(self, z, theta):
        z = as_input(z, (None, self.dim), "z")
        theta = as_input(theta, (self.nparam,), "theta")
        self._reserve(z.shape[0])
        return z, theta

    def rhs(self, t, z, theta):
        """f(t, z; θ) for the (nb, D) states z: an (nb, D) array."""
        z, theta = self._inputs(z, theta)
        f = np.empty_like(z)
        self.ctx.check(lib.pn_model_rhs(self.handle, float(t), z.shape[0], double_ptr(z),
                                        double_ptr(theta), double_ptr(f)), "pn_model_rhs")
        return f

    def vjp(self, t, z, theta, a):
        """The vector–Jacobian products at (t, z): ((∂f/∂z)ᵀ a, Σ_b (∂f_b/∂θ)ᵀ a_b)."""
        z, theta = self._inputs(z, theta)
        a = as_input(a, z.shape, "a")
        z_bar, theta_bar = np.empty_like(z), np.zeros(self.nparam)
        self.ctx.check(lib.pn_model_vjp(self.handle, float(t), z.shape[0], double_ptr(z),
                                        double_ptr(theta), double_ptr(a), double_ptr(z_bar),
                                        double_ptr(theta_bar)), "pn_model_vjp")
        return z_bar, theta_bar

    def check(self, theta, nb=4, seed=1):
        """The library's self-test of the VJPs against central differences of
        the right-hand side at nb random states: the worst relative mismatches
        (in z, in θ); expect ≲ 1e-7 for a correct smooth model."""
        theta = as_input(theta, (self.nparam,), "theta")
        self._reserve(nb)
        z_err, theta_err = ctypes.c_double(), ctypes.c_double()
        self.ctx.check(lib.pn_model_check(self.handle, double_ptr(theta), int(nb), int(seed),
                                          ctypes.byref(z_err), ctypes.byref(theta_err)),
                       "pn_model_check")
        return z_err.value, theta_err.value


class MLP(Model):
    """The built-in multilayer perceptron
    x_0 = z (or [z; t] with time_input), x_{l+1} = act_l(W_l x_l + b_l), f = W_L x_L + b_L.

    ``hidden``: the widths of the hidden layers; ``activation``: one name for
    all of them or one per layer.
    """

    def __init__(self, ctx, dim, hidden=(), activation="tanh", time_input=False):
        super().__init__(ctx)
        hidden = [int(w) for w in hidden]
        acts = [activation] * len(hidden) if isinstance(activation, str) else list(activation)
        if len(acts) != len(hidden):
            raise ValueError("%d activations for %d hidden layers" % (len(acts), len(hidden)))
        self.hidden = hidden
        self.activations = [activation_name(activation_code(a)) for a in acts]
        self.time_input = bool(time_input)
        widths = (ctypes.c_int * max(len(hidden), 1))(*hidden)
        codes = (ctypes.c_int * max(len(acts), 1))(*[activation_code(a) for a in acts])
        spec = S.MlpSpec(dim=int(dim), nhidden=len(hidden), widths=widths, acts=codes,
                         time_input=int(self.time_input))
        ctx.check(lib.pn_model_create_mlp(ctx.handle, ctypes.byref(spec),
                                          ctypes.byref(self._handle)), "pn_model_create_mlp")

    def init_params(self, seed=1):
        """Seeded Glorot-uniform weights and zero biases: a (P,) array, the
        same on every machine and rank for the same seed."""
        theta = np.empty(self.nparam)
        self.ctx.check(lib.pn_model_init_params(self.handle, int(seed), double_ptr(theta)),
                       "pn_model_init_params")
        return theta


class UserModel(Model):
    """A right-hand side written in Python (slow: one Python call per stage,
    step and micro-batch; vectorise over the batch).

    ``rhs(t, z, theta) -> f``: f(t, z; θ), shape (nb, D);
    ``vjp(t, z, theta, a) -> (z_bar, theta_bar)``: (∂f/∂z)ᵀ a, shape (nb, D),
      and Σ_b (∂f_b/∂θ)ᵀ a_b summed over the batch, shape (P,);
    ``jvp(t, z, theta, v) -> jv`` (optional, for Newton shooting): (∂f/∂z) v,
      one direction per state, shape (nb, D).

    z, theta, a and v are read-only views of the library's memory, valid
    only during the call; the results are copied into the library's buffers.
    An exception in a callback stops the computation: the call raises
    pinode.Error (PN_ERR_USER_CALLBACK, the library's message naming the
    time) with the callback's exception as its cause.
    """

    def __init__(self, ctx, dim, nparam, rhs, vjp, jvp=None):
        super().__init__(ctx)
        D, P = int(dim), int(nparam)
        self._functions = rhs, vjp, jvp

        def c_rhs(user, t, nb, z, theta, f_out):
            return ctx.callback(self._rhs, t, nb, z, theta, f_out, D, P)

        def c_vjp(user, t, nb, z, theta, a, z_bar, theta_bar):
            return ctx.callback(self._vjp, t, nb, z, theta, a, z_bar, theta_bar, D, P)

        def c_jvp(user, t, nb, z, theta, v, jv):
            return ctx.callback(self._jvp, t, nb, z, theta, v, jv, D, P)

        # The C function pointers live as long as the model (the library keeps them).
        self._ops = S.ModelOps(rhs=S.RHS_FN(c_rhs), vjp=S.VJP_FN(c_vjp), destroy=S.DESTROY_FN(),
                               jvp=S.JVP_FN(c_jvp) if jvp is not None else S.JVP_FN())
        ctx.check(lib.pn_model_create(ctx.handle, D, P, ctypes.byref(self._ops), None,
                                      ctypes.byref(self._handle)), "pn_model_create")

    def _rhs(self, t, nb, z, theta, f_out, D, P):
        f = self._functions[0](t, view(z, (nb, D)), view(theta, (P,)))
        view(f_out, (nb, D), writable=True)[...] = result(f, (nb, D), "rhs")

    def _vjp(self, t, nb, z, theta, a, z_bar, theta_bar, D, P):
        zb, tb = self._functions[1](t, view(z, (nb, D)), view(theta, (P,)), view(a, (nb, D)))
        view(z_bar, (nb, D), writable=True)[...] = result(zb, (nb, D), "vjp (z_bar)")
        view(theta_bar, (P,), writable=True)[...] += result(tb, (P,), "vjp (theta_bar)")

    def _jvp(self, t, nb, z, theta, v, jv, D, P):
        out = self._functions[2](t, view(z, (nb, D)), view(theta, (P,)), view(v, (nb, D)))
        view(jv, (nb, D), writable=True)[...] = result(out, (nb, D), "jvp")


class _BuiltinModel(Model):
    def __init__(self, ctx, create, *args):
        super().__init__(ctx)
        ctx.check(create(ctx.handle, *args, ctypes.byref(self._handle)), create.__name__)


def linear_model(ctx, dim):
    """dz/dt = A z with θ = A (D × D, row-major): exact solution exp(A t) z0."""
    return _BuiltinModel(ctx, lib.pn_model_create_linear, int(dim))


def lotka_volterra_model(ctx):
    """x' = αx − βxy, y' = δxy − γy with θ = (α, β, γ, δ)."""
    return _BuiltinModel(ctx, lib.pn_model_create_lotka_volterra)
