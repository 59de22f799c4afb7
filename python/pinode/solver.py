"""The solver (include/pinode/solver.h): fixed-step Runge–Kutta solves of a
neural ODE, the loss and its exact discrete-adjoint gradient, split in time
across the context's ranks.  Every call is collective: make it on every rank
with the same θ and initial states."""
import ctypes

import numpy as np

from . import _structs as S
from ._arrays import as_input
from ._options import as_dict, fill
from ._lib import double_ptr, lib, long_ptr, text
from .context import Handle


def _parser(from_name, to_name, choices):
    def parse(name, what):
        code = ctypes.c_int()
        if from_name(str(name).encode(), ctypes.byref(code)) != 0:
            raise ValueError("%s = %r: expected one of %s" % (what, name, ", ".join(choices)))
        return code.value

    return parse, lambda code: text(to_name(code))


_method, _method_name = _parser(lib.pn_parallel_method_from_name, lib.pn_parallel_method_name,
                                ("pipeline", "parareal", "newton"))
_pr_adjoint, _pr_adjoint_name = _parser(lib.pn_parareal_adjoint_from_name,
                                        lib.pn_parareal_adjoint_name, ("iterate", "maps"))
_start, _start_name = _parser(lib.pn_newton_start_from_name, lib.pn_newton_start_name,
                              ("auto", "flat", "coarse", "coarse-newton"))
_adjoint, _adjoint_name = _parser(lib.pn_adjoint_kind_from_name, lib.pn_adjoint_kind_name,
                                  ("discrete", "continuous-backsolve", "continuous-interp"))
_sweep, _sweep_name = _parser(lib.pn_sweep_mode_from_name, lib.pn_sweep_mode_name,
                              ("multi", "single"))


def _storage(name, what):
    if name not in S.STORAGE:
        raise ValueError("%s = %r: expected one of %s" % (what, name, ", ".join(S.STORAGE)))
    return S.STORAGE[name]


# Option -> how its Python value becomes the C field's (the others are numbers).
_ENUMS = {"storage": (_storage, lambda c: S.name_of(S.STORAGE, c)),
          "method": (_method, _method_name),
          "parareal.adjoint": (_pr_adjoint, _pr_adjoint_name),
          "newton.start": (_start, _start_name)}
_FLAGS = {"check_finite", "newton.no_warm"}


def default_options():
    """pn_solver_opts_default() as a dict: the options Solver takes."""
    opts = S.SolverOpts()
    lib.pn_solver_opts_default(ctypes.byref(opts))
    return as_dict(opts, _ENUMS, _FLAGS)


class Solver(Handle):
    """A solver of ``model`` with ``tableau`` on the model's context.

    Options (keywords; each is the field of pn_solver_opts of that name,
    docs/library.md): ``t0``, ``t1``, ``nsteps``; ``storage`` ("all",
    "every", "binomial", "auto", "stages") and ``storage_param`` (k, c);
    ``memory_limit`` (bytes per rank, 0: none); ``microbatches`` (0: auto);
    ``batch_groups``; ``check_finite``; ``method`` ("pipeline", "parareal",
    "newton") with ``parareal={...}`` (max_iter, tol, coarse_steps,
    coarse_scheme, adjoint: "iterate" or "maps") and ``newton={...}``
    (max_iter, tol, growth_limit, start: "auto", "flat", "coarse",
    "coarse-newton", no_warm, coarse_steps, coarse_scheme).
    Collective on the context.
    """

    _destroy = lib.pn_solver_destroy

    def __init__(self, model, tableau, **options):
        super().__init__(model, tableau)
        self.model, self.tableau, self.ctx = model, tableau, model.ctx
        opts = S.SolverOpts()
        lib.pn_solver_opts_default(ctypes.byref(opts))
        fill(opts, options, "solver option", _ENUMS, _FLAGS)
        self.ctx.check(lib.pn_solver_create(self.ctx.handle, model.handle, tableau.handle,
                                            ctypes.byref(opts), ctypes.byref(self._handle)),
                       "pn_solver_create")
        o = self.options
        self.t0, self.t1, self.nsteps = o["t0"], o["t1"], o["nsteps"]
        self.h = (self.t1 - self.t0) / self.nsteps

    @property
    def options(self):
        """The options in use (after validation), as a dict."""
        return as_dict(lib.pn_solver_get_opts(self.handle).contents, _ENUMS, _FLAGS)

    def times(self, steps=None):
        """The grid times t0 + n·h of the grid indices @p steps (default all,
        0..N), computed as the library does, so they lie on its grid."""
        n = np.arange(self.nsteps + 1) if steps is None else np.asarray(steps)
        return self.t0 + n.astype(np.float64) * self.h

    def _inputs(self, theta, z0):
        self.handle  # noqa: B018 -- a closed solver says so first
        theta = as_input(theta, (self.model.nparam,), "theta")
        z0 = as_input(z0, (None, self.model.dim), "z0")
        return theta, z0

    def gradient(self, theta, z0, loss, adjoint="discrete", sweep="multi"):
        """(L, dL/dθ, dL/dz0) for the (nb, D) initial states z0: a float, a
        (P,) and an (nb, D) array, the same on every rank.  ``adjoint`` and
        ``sweep`` choose the method (docs/mathematics.md); the default is the
        exact discrete adjoint in one sweep."""
        theta, z0 = self._inputs(theta, z0)
        L = ctypes.c_double()
        d_theta, d_z0 = np.empty(theta.shape), np.empty(z0.shape)
        self.ctx.check(lib.pn_solver_gradient_method(
            self.handle, _adjoint(adjoint, "adjoint"), _sweep(sweep, "sweep"), double_ptr(theta),
            z0.shape[0], double_ptr(z0), loss.handle, ctypes.byref(L), double_ptr(d_theta),
            double_ptr(d_z0)), "pn_solver_gradient_method")
        return L.value, d_theta, d_z0

    def loss(self, theta, z0, loss):
        """The loss alone (a forward sweep; nothing stored)."""
        theta, z0 = self._inputs(theta, z0)
        L = ctypes.c_double()
        self.ctx.check(lib.pn_solver_loss(self.handle, double_ptr(theta), z0.shape[0],
                                          double_ptr(z0), loss.handle, ctypes.byref(L)),
                       "pn_solver_loss")
        return L.value

    def trajectory(self, theta, z0, steps=None):
        """The states at the grid indices @p steps (default every one, 0..N):
        an (nsave, nb, D) array, the same on every rank."""
        theta, z0 = self._inputs(theta, z0)
        steps = np.arange(self.nsteps + 1) if steps is None else steps
        steps = as_input(steps, (None,), "steps", dtype=np.dtype(ctypes.c_long))
        out = np.empty((steps.shape[0],) + z0.shape)
        self.ctx.check(lib.pn_solver_forward(self.handle, double_ptr(theta), z0.shape[0],
                                             double_ptr(z0), steps.shape[0], long_ptr(steps),
                                             double_ptr(out)), "pn_solver_forward")
        return out

    def stats(self):
        """Counters and timings of the last call on this rank (pn_stats) as a
        dict; enums by name, residual histories cut to the iterations done."""
        st = S.Stats()  # the library fills what this package's pn_stats holds
        self.ctx.check(lib.pn_solver_get_stats_sized(self.handle, ctypes.byref(st),
                                                     ctypes.sizeof(st)),
                       "pn_solver_get_stats_sized")
        out = S.to_dict(st)
        out["adjoint"] = _adjoint_name(st.adjoint)
        out["sweep"] = _sweep_name(st.sweep)
        out["storage"] = S.name_of(S.STORAGE, st.storage)
        out["newton_start"] = _start_name(st.newton_start)
        out["newton_fallback"] = S.name_of(S.NEWTON_FALLBACK, st.newton_fallback)
        out["newton_fallback_text"] = text(lib.pn_newton_fallback_text(st.newton_fallback))
        history = S.PARAREAL_HISTORY
        for key, count in (("parareal_residual", st.parareal_iterations),
                           ("parareal_adjoint_residual", st.parareal_adjoint_iterations),
                           ("newton_defect", st.newton_iterations)):
            out[key] = out[key][:min(count, history)]
        return out


def auto_microbatches(ranks, batch):
    """The pipeline's automatic micro-batch count for a batch on ranks."""
    return lib.pn_pipeline_auto_microbatches(int(ranks), int(batch))
