"""Training data (include/pinode/data.h): the built-in generators
(``pinode train``'s data.source), CSV trajectories and the seeded split into
training and validation trajectories."""
import ctypes

import numpy as np

from . import _structs as S
from ._arrays import copy_out
from ._lib import lib, text
from ._options import fill
from .context import Context, Handle, local_context


def _generator(name, what="generator"):
    code = ctypes.c_int()
    if lib.pn_generator_from_name(str(name).encode(), ctypes.byref(code)) != 0:
        raise ValueError("%s %r: expected spiral, lotka_volterra, pendulum or lorenz"
                         % (what, name))
    return code.value


class Dataset(Handle):
    """Trajectories: trajectory j has the rows [offset[j], offset[j+1]) of
    ``time`` (nrows,) and ``z`` (nrows, D) (copies of the library's), its id
    ``traj_id[j]``; ``source`` names the file or generator, ``names`` the D
    states (the CSV header's or the generator's; z1..zD when it has none)."""

    _destroy = lib.pn_dataset_destroy

    def _load(self):
        ds = ctypes.cast(self._handle, ctypes.POINTER(S.Dataset)).contents
        self.dim, self.ntraj, self.source = ds.dim, ds.ntraj, ds.source.decode()
        longs = lambda ptr, n: np.ctypeslib.as_array(ptr, shape=(n,)).copy()  # noqa: E731
        self.traj_id = longs(ds.traj_id, ds.ntraj)
        self.offset = longs(ds.offset, ds.ntraj + 1)
        self.time = copy_out(ds.time, (ds.nrows,))
        self.z = copy_out(ds.z, (ds.nrows, ds.dim))
        self.names = ([ds.names[d].decode() for d in range(ds.dim)] if ds.names
                      else ["z%d" % (d + 1) for d in range(ds.dim)])
        return self

    def trajectory(self, j):
        """(times, states) of trajectory j."""
        lo, hi = self.offset[j], self.offset[j + 1]
        return self.time[lo:hi], self.z[lo:hi]

    def split(self, fraction, seed=1):
        """(train, validation): trajectory indices, as ``pinode train`` splits
        with data.validation = fraction and data.seed = seed."""
        train = np.empty(self.ntraj, dtype=np.intc)
        val = np.empty(self.ntraj, dtype=np.intc)
        ntrain, nval = ctypes.c_int(), ctypes.c_int()
        ctx = local_context()
        ctx.check(lib.pn_dataset_split(ctx.handle, self.handle, float(fraction), int(seed),
                                       train.ctypes.data_as(ctypes.POINTER(ctypes.c_int)),
                                       ctypes.byref(ntrain),
                                       val.ctypes.data_as(ctypes.POINTER(ctypes.c_int)),
                                       ctypes.byref(nval)), "pn_dataset_split")
        return train[:ntrain.value].copy(), val[:nval.value].copy()


def generator_options(kind="spiral"):
    """The defaults of a generator (pn_generator_opts_default) as a dict."""
    opts = S.GeneratorOpts()
    lib.pn_generator_opts_default(_generator(kind), ctypes.byref(opts))
    out = S.to_dict(opts)
    out["kind"] = text(lib.pn_generator_name(opts.kind))
    return out


def generate(kind="spiral", **options):
    """A built-in problem's trajectories: ``ntraj``, ``npoints``, ``t0``,
    ``t1``, ``noise``, ``seed``, ``substeps`` (defaults: generator_options).
    Bitwise the data ``pinode train`` generates with the same settings.
    Not collective."""
    opts = S.GeneratorOpts()
    lib.pn_generator_opts_default(_generator(kind), ctypes.byref(opts))
    fill(opts, options, "generator option")
    ctx = local_context()
    ds = Dataset()
    ctx.check(lib.pn_dataset_generate(ctx.handle, ctypes.byref(opts), ctypes.byref(ds._handle)),
              "pn_dataset_generate")
    return ds._load()


def read_csv(path, comm=None):
    """Trajectories from a CSV file (docs/formats.md); collective on comm
    (default MPI.COMM_WORLD): rank 0 reads, every rank parses."""
    with Context(comm) as ctx:
        ds = Dataset()
        ctx.check(lib.pn_dataset_read_csv(ctx.handle, str(path).encode(),
                                          ctypes.byref(ds._handle)), "pn_dataset_read_csv")
        return ds._load()
