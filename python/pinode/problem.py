"""Problem directories (docs/formats.md, include/pinode/io.h): what
``pinode gradient DIR OUTDIR`` reads, as NumPy arrays."""
import ctypes

from . import _structs as S
from ._arrays import copy_out
from ._lib import lib
from .context import Context
from .loss import MSELoss
from .model import MLP, activation_name
from .solver import Solver
from .tableau import Tableau


class Problem:
    """A parsed problem directory: the network (``dim``, ``hidden``,
    ``activations``, ``time_input``), ``batch``, ``t0``, ``t1``, ``steps``,
    ``scheme``, and the arrays ``theta`` (P,), ``z0`` (B, D), ``times`` (K,)
    and ``targets`` (K, B, D) (copies of what the library read)."""

    def __init__(self, p, path, comm):
        spec = p.spec
        self.path, self.comm = path, comm
        self.dim, self.time_input = spec.dim, bool(spec.time_input)
        self.hidden = [spec.widths[i] for i in range(spec.nhidden)]
        self.activations = [activation_name(spec.acts[i]) for i in range(spec.nhidden)]
        self.batch, self.t0, self.t1, self.steps = p.batch, p.t0, p.t1, p.steps
        self.scheme = p.scheme.decode()
        self.theta = copy_out(p.theta, (p.nparam,))
        self.z0 = copy_out(p.z0, (p.batch, spec.dim))
        self.times = copy_out(p.times, (p.nlabels,))
        self.targets = copy_out(p.targets, (p.nlabels, p.batch, spec.dim))

    def __repr__(self):
        return ("pinode.Problem(%r: D = %d, hidden %s, B = %d, [%g, %g] in %d %s steps, %d labels)"
                % (self.path, self.dim, self.hidden, self.batch, self.t0, self.t1, self.steps,
                   self.scheme, len(self.times)))

    def gradient(self, comm=None, **options):
        """(loss, dL/dθ, dL/dz0) of the problem on the ranks of ``comm``
        (default: those that read it), as ``pinode gradient`` computes them:
        the same objects, so bitwise the same numbers on the same ranks.
        ``options``: solver options (Solver) other than t0, t1 and nsteps.
        Collective on comm."""
        with Context(self.comm if comm is None else comm) as ctx:
            model = MLP(ctx, self.dim, self.hidden, self.activations, self.time_input)
            loss = MSELoss(ctx, self.times, self.targets)
            solver = Solver(model, Tableau(ctx, self.scheme), t0=self.t0, t1=self.t1,
                            nsteps=self.steps, **options)
            return solver.gradient(self.theta, self.z0, loss)


def read_problem(path, comm=None):
    """Read the problem directory @p path (rank 0 reads, every rank parses:
    every rank returns the same problem or raises the same Error naming the
    file, line and key).  Collective on comm (default MPI.COMM_WORLD)."""
    from mpi4py import MPI
    comm = MPI.COMM_WORLD if comm is None else comm
    with Context(comm) as ctx:
        p = ctypes.POINTER(S.Problem)()
        ctx.check(lib.pn_problem_read(ctx.handle, str(path).encode(), ctypes.byref(p)),
                  "pn_problem_read")
        try:
            return Problem(p.contents, str(path), comm)
        finally:
            lib.pn_problem_destroy(ctypes.byref(p))
