"""ctypes mirrors of libpinode's public structs and callback types.

Each class lists the C struct's fields in order with the C types of
include/pinode/*.h; C enums are ints.  python/tests/test_layout.py compiles a
C program that prints every field's offset and size and the struct's size,
parses the headers for the field names, and compares both with these classes:
a field added, removed, reordered or retyped in C fails that test.  At import
the package also checks the size of the option structs the library fills
(_lib._check_struct_size), so a package and a library of different versions
refuse to work together instead of corrupting memory; pn_stats is read with
pn_solver_get_stats_sized, which fills only what this package's mirror holds.
"""
import ctypes
from ctypes import (CFUNCTYPE, POINTER, Structure, c_char, c_char_p, c_double, c_int, c_long,
                    c_size_t, c_uint64, c_void_p)

PARAREAL_HISTORY = 64  # PN_PARAREAL_HISTORY


class MlpSpec(Structure):
    """pn_mlp_spec (model.h)."""
    _fields_ = [("dim", c_int), ("nhidden", c_int), ("widths", POINTER(c_int)),
                ("acts", POINTER(c_int)), ("time_input", c_int)]


# Callbacks of pn_model_ops and pn_loss_fn: pointers are passed as addresses
# (c_void_p) and viewed as NumPy arrays without a copy (model.py, loss.py).
RHS_FN = CFUNCTYPE(c_int, c_void_p, c_double, c_int, c_void_p, c_void_p, c_void_p)
VJP_FN = CFUNCTYPE(c_int, c_void_p, c_double, c_int, c_void_p, c_void_p, c_void_p, c_void_p,
                   c_void_p)
JVP_FN = CFUNCTYPE(c_int, c_void_p, c_double, c_int, c_void_p, c_void_p, c_void_p, c_void_p)
DESTROY_FN = CFUNCTYPE(None, c_void_p)
LOSS_FN = CFUNCTYPE(c_int, c_void_p, c_int, c_double, c_int, c_int, c_void_p, c_void_p,
                    c_void_p)


class ModelOps(Structure):
    """pn_model_ops (model.h)."""
    _fields_ = [("rhs", RHS_FN), ("vjp", VJP_FN), ("destroy", DESTROY_FN), ("jvp", JVP_FN)]


class PararealOpts(Structure):
    """pn_parareal_opts (solver.h)."""
    _fields_ = [("max_iter", c_int), ("tol", c_double), ("coarse_steps", c_long),
                ("coarse_scheme", c_char * 16), ("adjoint", c_int)]


class NewtonOpts(Structure):
    """pn_newton_opts (solver.h)."""
    _fields_ = [("max_iter", c_int), ("tol", c_double), ("growth_limit", c_double),
                ("start", c_int), ("no_warm", c_int), ("coarse_steps", c_long),
                ("coarse_scheme", c_char * 16)]


class SolverOpts(Structure):
    """pn_solver_opts (solver.h)."""
    _fields_ = [("t0", c_double), ("t1", c_double), ("nsteps", c_long), ("storage", c_int),
                ("storage_param", c_long), ("memory_limit", c_size_t), ("microbatches", c_int),
                ("check_finite", c_int), ("method", c_int), ("parareal", PararealOpts),
                ("batch_groups", c_int), ("newton", NewtonOpts)]


class Stats(Structure):
    """pn_stats (solver.h)."""
    _fields_ = [
        ("rhs_evals", c_long), ("vjp_evals", c_long), ("steps_forward", c_long),
        ("steps_recomputed", c_long), ("states_stored", c_long),
        ("time_forward", c_double), ("time_backward", c_double), ("time_wait", c_double),
        ("time_mpi", c_double), ("bytes_solver", c_size_t), ("peak_rss_kb", c_long),
        ("block_lo", c_long), ("block_hi", c_long), ("microbatches", c_int),
        ("adjoint", c_int), ("sweep", c_int), ("sweeps_backward", c_long),
        ("rhs_evals_backward", c_long), ("backsolve_z_err", c_double),
        ("storage", c_int), ("storage_param", c_long), ("steps_recompute_min", c_long),
        ("bytes_limit", c_size_t),
        ("parareal_iterations", c_int), ("parareal_adjoint_iterations", c_int),
        ("parareal_residual", c_double * PARAREAL_HISTORY),
        ("parareal_adjoint_residual", c_double * PARAREAL_HISTORY),
        ("coarse_steps", c_long), ("fine_sweeps_skipped", c_long),
        ("adjoint_map_steps", c_long), ("time_coarse", c_double),
        ("time_adjoint_map", c_double),
        ("batch_group", c_int), ("batch_lo", c_int), ("batch_hi", c_int),
        ("newton_iterations", c_int), ("newton_warm", c_int), ("newton_start", c_int),
        ("newton_coarse_iterations", c_int),
        ("newton_defect", c_double * PARAREAL_HISTORY), ("newton_growth", c_double),
        ("newton_fallback", c_int), ("newton_sweeps_skipped", c_long),
        ("time_scan", c_double),
    ]


class Problem(Structure):
    """pn_problem (io.h)."""
    _fields_ = [("spec", MlpSpec), ("batch", c_int), ("t0", c_double), ("t1", c_double),
                ("steps", c_long), ("scheme", c_char * 32), ("nparam", c_int),
                ("theta", POINTER(c_double)), ("z0", POINTER(c_double)), ("nlabels", c_int),
                ("times", POINTER(c_double)), ("targets", POINTER(c_double))]


class GeneratorOpts(Structure):
    """pn_generator_opts (data.h)."""
    _fields_ = [("kind", c_int), ("ntraj", c_int), ("npoints", c_int), ("t0", c_double),
                ("t1", c_double), ("noise", c_double), ("seed", c_uint64), ("substeps", c_int)]


class Dataset(Structure):
    """pn_dataset (data.h)."""
    _fields_ = [("dim", c_int), ("ntraj", c_int), ("nrows", c_long),
                ("traj_id", POINTER(c_long)), ("offset", POINTER(c_long)),
                ("time", POINTER(c_double)), ("z", POINTER(c_double)),
                ("line", POINTER(c_long)), ("source", c_char * 512),
                ("names", POINTER(c_char_p))]


# The C name of each mirror, for the layout test.
C_NAMES = {MlpSpec: "pn_mlp_spec", ModelOps: "pn_model_ops", PararealOpts: "pn_parareal_opts",
           NewtonOpts: "pn_newton_opts", SolverOpts: "pn_solver_opts", Stats: "pn_stats",
           Problem: "pn_problem", GeneratorOpts: "pn_generator_opts", Dataset: "pn_dataset"}

# Enum values this package names itself (the others it asks the library's
# *_from_name parsers for); the layout test checks them against the headers.
STORAGE = {"all": 0, "every": 1, "binomial": 2, "auto": 3, "stages": 4}
STORAGE_C = {"all": "PN_STORE_ALL", "every": "PN_STORE_EVERY", "binomial": "PN_STORE_BINOMIAL",
             "auto": "PN_STORE_AUTO", "stages": "PN_STORE_STAGES"}
NEWTON_FALLBACK = {"none": 0, "growth": 1, "diverged": 2, "nonfinite": 3, "max_iter": 4}
NEWTON_FALLBACK_C = {"none": "PN_NEWTON_NO_FALLBACK", "growth": "PN_NEWTON_GROWTH",
                     "diverged": "PN_NEWTON_DIVERGED", "nonfinite": "PN_NEWTON_NONFINITE",
                     "max_iter": "PN_NEWTON_MAX_ITER"}


def name_of(table, value):
    """The name of an enum value in one of the tables above."""
    for name, v in table.items():
        if v == value:
            return name
    return str(value)


def to_dict(struct):
    """A ctypes struct as a dict of Python values (nested structs as dicts,
    char arrays as str, number arrays as lists)."""
    out = {}
    for name, ctype in struct._fields_:
        value = getattr(struct, name)
        if isinstance(value, Structure):
            value = to_dict(value)
        elif isinstance(value, bytes):
            value = value.decode("utf-8", "replace")
        elif isinstance(value, ctypes.Array):
            value = list(value)
        out[name] = value
    return out
