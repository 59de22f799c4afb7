"""Finding and loading libpinode, and the prototypes of the C functions the
package calls (include/pinode/*.h).  Everything else talks to the library
through ``lib`` below.

Where the library comes from, first match wins:
  1. the file the environment variable PINODE_LIBRARY names;
  2. the build tree of the source tree this package sits in
     (python/pinode/ -> build/src/libpinode.so*), for PYTHONPATH=python;
  3. the system's (ctypes.util.find_library("pinode")), after an install.
"""
import ctypes
import ctypes.util
import os
from ctypes import POINTER, c_char_p, c_double, c_int, c_long, c_size_t, c_uint64, c_void_p
from pathlib import Path

from mpi4py import MPI  # initialises MPI: pn_ctx_create needs it, and loads libmpi first

from . import _structs as S

# An MPI_Comm as the C library sees it: a pointer (Open MPI) or an int (MPICH).
_COMM_TYPES = {ctypes.sizeof(c_int): c_int, ctypes.sizeof(c_void_p): c_void_p}
if MPI._sizeof(MPI.Comm) not in _COMM_TYPES:
    raise ImportError("pinode: this MPI's MPI_Comm has %d bytes: neither an int nor a pointer"
                      % MPI._sizeof(MPI.Comm))
MPI_Comm = _COMM_TYPES[MPI._sizeof(MPI.Comm)]


def _source_build_library():
    """build/src/libpinode.so* of the source tree around this package, if any."""
    root = Path(os.path.abspath(__file__)).parent.parent.parent  # symbolic links kept
    if not (root / "include" / "pinode.h").is_file():
        return None
    libdir = root / "build" / "src"
    plain = libdir / "libpinode.so"
    if plain.exists():
        return str(plain)
    versioned = sorted(libdir.glob("libpinode.so.*"))
    return str(versioned[-1]) if versioned else None


def _find_library():
    env = os.environ.get("PINODE_LIBRARY")
    if env:
        if not os.path.exists(env):
            raise ImportError("pinode: PINODE_LIBRARY=%s does not exist" % env)
        return os.path.abspath(env)
    found = _source_build_library() or ctypes.util.find_library("pinode")
    if not found:
        raise ImportError("pinode: libpinode not found: build it (cmake --build build), set "
                          "PINODE_LIBRARY to its path, or install it where the linker finds it")
    return found


_PATH = _find_library()
lib = ctypes.CDLL(_PATH)


def library_path():
    """The path (or, from the system's, the name) of the libpinode this
    package loaded (see the module's comment)."""
    return _PATH

_P = POINTER
_PTR = c_void_p  # an opaque handle (pn_ctx *, pn_model *, ...)
_PPTR = _P(c_void_p)  # its address, for create/destroy
_D = _P(c_double)
_L = _P(c_long)
_I = _P(c_int)

_PROTOTYPES = {
    # error.h, ctx.h
    "pn_strerror": (c_char_p, [c_int]),
    "pn_ctx_create": (c_int, [MPI_Comm, _PPTR]),
    "pn_ctx_destroy": (c_int, [_PPTR]),
    "pn_ctx_rank": (c_int, [_PTR]),
    "pn_ctx_size": (c_int, [_PTR]),
    "pn_ctx_last_error": (c_char_p, [_PTR]),
    "pn_ctx_last_code": (c_int, [_PTR]),
    "pn_ctx_clear_error": (None, [_PTR]),
    # model.h
    "pn_model_create": (c_int, [_PTR, c_int, c_int, _P(S.ModelOps), c_void_p, _PPTR]),
    "pn_model_create_mlp": (c_int, [_PTR, _P(S.MlpSpec), _PPTR]),
    "pn_model_create_linear": (c_int, [_PTR, c_int, _PPTR]),
    "pn_model_create_lotka_volterra": (c_int, [_PTR, _PPTR]),
    "pn_model_destroy": (c_int, [_PPTR]),
    "pn_model_dim": (c_int, [_PTR]),
    "pn_model_nparam": (c_int, [_PTR]),
    "pn_model_init_params": (c_int, [_PTR, c_uint64, _D]),
    "pn_model_reserve": (c_int, [_PTR, c_int]),
    "pn_model_rhs": (c_int, [_PTR, c_double, c_int, _D, _D, _D]),
    "pn_model_vjp": (c_int, [_PTR, c_double, c_int, _D, _D, _D, _D, _D]),
    "pn_model_check": (c_int, [_PTR, _D, c_int, c_uint64, _D, _D]),
    "pn_activation_from_name": (c_int, [c_char_p, _I]),
    "pn_activation_name": (c_char_p, [c_int]),
    # tableau.h
    "pn_tableau_create": (c_int, [_PTR, c_char_p, _PPTR]),
    "pn_tableau_create_custom": (c_int, [_PTR, c_char_p, c_int, _D, _D, _D, c_int, _PPTR]),
    "pn_tableau_destroy": (c_int, [_PPTR]),
    "pn_tableau_stages": (c_int, [_PTR]),
    "pn_tableau_order": (c_int, [_PTR]),
    "pn_tableau_name": (c_char_p, [_PTR]),
    "pn_tableau_a": (_D, [_PTR]),
    "pn_tableau_b": (_D, [_PTR]),
    "pn_tableau_c": (_D, [_PTR]),
    "pn_tableau_names": (_P(c_char_p), [_I]),
    # loss.h
    "pn_loss_create_mse": (c_int, [_PTR, c_int, _D, _D, _D, c_int, c_int, _PPTR]),
    "pn_loss_create_custom": (c_int, [_PTR, c_int, _D, c_int, c_int, S.LOSS_FN, c_void_p, _PPTR]),
    "pn_loss_destroy": (c_int, [_PPTR]),
    "pn_loss_nlabels": (c_int, [_PTR]),
    # solver.h
    "pn_solver_opts_default": (None, [_P(S.SolverOpts)]),
    "pn_solver_create": (c_int, [_PTR, _PTR, _PTR, _P(S.SolverOpts), _PPTR]),
    "pn_solver_destroy": (c_int, [_PPTR]),
    "pn_solver_get_opts": (_P(S.SolverOpts), [_PTR]),
    "pn_solver_gradient_method": (c_int, [_PTR, c_int, c_int, _D, c_int, _D, _PTR, _D, _D, _D]),
    "pn_solver_loss": (c_int, [_PTR, _D, c_int, _D, _PTR, _D]),
    "pn_solver_forward": (c_int, [_PTR, _D, c_int, _D, c_int, _L, _D]),
    "pn_solver_get_stats_sized": (c_int, [_PTR, _P(S.Stats), c_size_t]),
    "pn_pipeline_auto_microbatches": (c_int, [c_int, c_int]),
    "pn_parallel_method_from_name": (c_int, [c_char_p, _I]),
    "pn_parallel_method_name": (c_char_p, [c_int]),
    "pn_parareal_adjoint_from_name": (c_int, [c_char_p, _I]),
    "pn_parareal_adjoint_name": (c_char_p, [c_int]),
    "pn_newton_start_from_name": (c_int, [c_char_p, _I]),
    "pn_newton_start_name": (c_char_p, [c_int]),
    "pn_newton_fallback_text": (c_char_p, [c_int]),
    "pn_adjoint_kind_from_name": (c_int, [c_char_p, _I]),
    "pn_adjoint_kind_name": (c_char_p, [c_int]),
    "pn_sweep_mode_from_name": (c_int, [c_char_p, _I]),
    "pn_sweep_mode_name": (c_char_p, [c_int]),
    # io.h
    "pn_problem_read": (c_int, [_PTR, c_char_p, _P(_P(S.Problem))]),
    "pn_problem_destroy": (None, [_P(_P(S.Problem))]),
    # data.h
    "pn_generator_opts_default": (None, [c_int, _P(S.GeneratorOpts)]),
    "pn_generator_from_name": (c_int, [c_char_p, _I]),
    "pn_generator_name": (c_char_p, [c_int]),
    "pn_dataset_generate": (c_int, [_PTR, _P(S.GeneratorOpts), _PPTR]),
    "pn_dataset_read_csv": (c_int, [_PTR, c_char_p, _PPTR]),
    "pn_dataset_split": (c_int, [_PTR, _PTR, c_double, c_uint64, _I, _I, _I, _I]),
    "pn_dataset_destroy": (None, [_PPTR]),
}

for _name, (_restype, _argtypes) in _PROTOTYPES.items():
    _fn = getattr(lib, _name)
    _fn.restype = _restype
    _fn.argtypes = _argtypes


def _check_struct_size(struct, fill):
    """Refuse a library whose struct is larger or smaller than this package's
    mirror (another version of libpinode): @p fill writes a whole struct
    (it memsets it), so the bytes after our size must stay untouched and our
    last byte must have been written."""
    canary = 0xA5
    size = ctypes.sizeof(struct)
    buf = (ctypes.c_ubyte * (size + 256))(*([canary] * (size + 256)))
    fill(ctypes.cast(buf, POINTER(struct)))
    if buf[size] != canary or buf[size - 1] == canary:
        raise ImportError("pinode: %s of the library at %s is not the size this package expects "
                          "(%d bytes): the package and libpinode come from different versions"
                          % (struct.__name__, library_path(), size))


_check_struct_size(S.SolverOpts, lib.pn_solver_opts_default)
_check_struct_size(S.GeneratorOpts, lambda p: lib.pn_generator_opts_default(0, p))


def text(raw):
    """A C string (bytes or None) as str."""
    return raw.decode("utf-8", "replace") if raw is not None else ""


def double_ptr(array):
    """The address of a float64 C-contiguous NumPy array as double * (no copy)."""
    return array.ctypes.data_as(_D)


def long_ptr(array):
    return array.ctypes.data_as(_L)


def int_ptr(array):
    return array.ctypes.data_as(_I)
