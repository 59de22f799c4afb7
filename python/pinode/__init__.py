"""pinode from Python: NumPy and mpi4py bindings of libpinode.

Parallel-in-time neural ODEs with exact discrete-adjoint gradients: a
solve's gradient is the discrete adjoint of its Runge–Kutta scheme, split in
time across the ranks of an MPI communicator.  Launch scripts like any mpi4py
program (``mpiexec -n 4 python3 train.py``, ``srun python3 train.py``).

    import pinode
    grad = pinode.read_problem("tests/data/bench/spiral").gradient()

    ctx = pinode.Context()                       # MPI.COMM_WORLD
    model = pinode.MLP(ctx, 2, hidden=[16], activation="tanh")
    solver = pinode.Solver(model, pinode.Tableau(ctx, "rk4"), t1=1.0, nsteps=100)
    loss = pinode.MSELoss(ctx, times, targets)   # targets: (K, B, D)
    L, d_theta, d_z0 = solver.gradient(model.init_params(42), z0, loss)

The manual: docs/python.md; pinode.torch has a PyTorch autograd function.
"""
__version__ = "0.2.0"

from ._lib import library_path
from .context import Context
from .data import Dataset, generate, generator_options, read_csv
from .errors import Error, ErrorCode, strerror
from .loss import CustomLoss, Loss, MSELoss
from .model import MLP, Model, UserModel, linear_model, lotka_volterra_model
from .problem import Problem, read_problem
from .solver import Solver, auto_microbatches, default_options
from .tableau import Tableau, tableau_names

__all__ = ["Context", "CustomLoss", "Dataset", "Error", "ErrorCode", "Loss", "MLP", "MSELoss",
           "Model", "Problem", "Solver", "Tableau", "UserModel", "auto_microbatches",
           "default_options", "generate", "generator_options", "library_path", "linear_model",
           "lotka_volterra_model", "read_csv", "read_problem", "strerror", "tableau_names"]
