"""Every failure of the library is a pinode.Error carrying the library's
message (what and where) and code, on every rank; objects stay usable
after an error, and a closed object is never used."""
import numpy as np
import pytest

import pinode
from pinode import ErrorCode

from conftest import BENCH_DIR


def solver_of(ctx, **options):
    model = pinode.MLP(ctx, 2, [4], "tanh")
    return pinode.Solver(model, pinode.Tableau(ctx, "rk4"), **options), model.init_params(1)


def test_the_error_carries_code_message_and_call(ctx):
    with pytest.raises(pinode.Error) as info:
        pinode.Tableau(ctx, "rk5")
    err = info.value
    assert err.code == ErrorCode.ARG and err.call == "pn_tableau_create"
    assert "rk5" in err.message and "rk4" in err.message  # the message lists the known names
    assert str(err).endswith("(ARG: invalid argument)")
    assert pinode.strerror(ErrorCode.NONFINITE) == "non-finite value (NaN or Inf)"


def test_bad_solver_options_are_the_librarys_errors(ctx):
    with pytest.raises(pinode.Error, match=r"time interval \[1, 0\] is invalid") as info:
        solver_of(ctx, t0=1.0, t1=0.0, nsteps=10)
    assert info.value.code == ErrorCode.ARG
    with pytest.raises(pinode.Error, match="batch groups") as info:
        solver_of(ctx, nsteps=10, batch_groups=ctx.size + 1)


def test_a_label_off_the_grid_names_a_step_count_that_fits(ctx):
    solver, theta = solver_of(ctx, nsteps=10)
    loss = pinode.MSELoss(ctx, [0.25], np.zeros((1, 1, 2)))
    with pytest.raises(pinode.Error, match="t = 0.25.*steps") as info:
        solver.gradient(theta, np.ones((1, 2)), loss)
    assert info.value.code == ErrorCode.GRID


def test_non_finite_inputs_and_states(ctx):
    solver, theta = solver_of(ctx, nsteps=10)
    loss = pinode.MSELoss(ctx, [1.0], np.zeros((1, 2, 2)))
    z0 = np.array([[1.0, 0.0], [np.nan, 0.0]])
    with pytest.raises(pinode.Error, match="initial state of sample 1, component 0 is nan") as info:
        solver.gradient(theta, z0, loss)
    assert info.value.code == ErrorCode.NONFINITE
    L = solver.loss(theta, np.ones((2, 2)), loss)
    growth = pinode.Solver(pinode.linear_model(ctx, 2), pinode.Tableau(ctx, "euler"), nsteps=10)
    huge = np.diag([1e100, 1.0]).ravel()  # z' = 1e100 z: the first component overflows at step 4
    with pytest.raises(pinode.Error, match="step 4.*sample 0, component 0") as info:
        growth.loss(huge, np.ones((2, 2)), loss)
    assert info.value.code == ErrorCode.NONFINITE
    assert solver.loss(theta, np.ones((2, 2)), loss) == L  # everything still works


def test_a_batch_the_loss_was_not_made_for(ctx):
    solver, theta = solver_of(ctx, nsteps=10)
    loss = pinode.MSELoss(ctx, [1.0], np.zeros((1, 3, 2)))
    with pytest.raises(pinode.Error) as info:
        solver.gradient(theta, np.ones((2, 2)), loss)
    assert info.value.code == ErrorCode.ARG


def test_a_custom_tableau_that_is_not_what_it_claims(ctx):
    A = np.zeros((2, 2))
    A[1, 0] = 1.0
    with pytest.raises(pinode.Error, match="order") as info:
        pinode.Tableau.custom(ctx, "not-heun", A, [0.6, 0.4], [0.0, 1.0], 2)
    assert info.value.code == ErrorCode.ARG
    heun = pinode.Tableau.custom(ctx, "heun2", A, [0.5, 0.5], [0.0, 1.0], 2)
    assert (heun.name, heun.stages, heun.order) == ("heun2", 2, 2)
    assert np.array_equal(heun.A, A) and np.array_equal(heun.b, [0.5, 0.5])
    assert "dopri5" in pinode.tableau_names()


def test_problem_directories(comm, shared_tmp):
    with pytest.raises(pinode.Error, match="no-such-problem") as info:
        pinode.read_problem(BENCH_DIR / "no-such-problem", comm)
    assert info.value.code == ErrorCode.IO
    bad = shared_tmp / "bad-problem"
    if comm.rank == 0:
        bad.mkdir()
        for name in ("theta.txt", "z0.txt", "times.txt", "targets.txt"):
            (bad / name).write_text((BENCH_DIR / "small" / name).read_text())
        (bad / "meta.txt").write_text("dim 2\nhidden 8\nactivation tanh\nbatch one\n")
    comm.Barrier()
    with pytest.raises(pinode.Error, match="meta.txt:4: key 'batch'") as info:
        pinode.read_problem(bad, comm)
    assert info.value.code == ErrorCode.PARSE


def test_shapes_are_checked_before_the_library_sees_them(ctx):
    solver, theta = solver_of(ctx, nsteps=10)
    loss = pinode.MSELoss(ctx, [1.0], np.zeros((1, 2, 2)))
    with pytest.raises(ValueError, match=r"theta: expected an array of shape \(22,\), got \(21,\)"):
        solver.gradient(theta[:-1], np.ones((2, 2)), loss)  # 2·4 + 4 + 4·2 + 2 parameters
    with pytest.raises(ValueError, match=r"z0: expected an array of shape \(any, 2\)"):
        solver.gradient(theta, np.ones(4), loss)
    with pytest.raises(ValueError, match=r"targets: expected an array of shape \(2, any, any\)"):
        pinode.MSELoss(ctx, [1.0, 2.0], np.zeros((1, 2, 2)))


def test_closing_closes_what_depends_on_it(comm):
    ctx = pinode.Context(comm)
    solver, theta = solver_of(ctx, nsteps=10)
    model = solver.model
    model.close()  # the solver borrowed it: it goes first
    assert solver.closed and not solver.tableau.closed
    with pytest.raises(ValueError, match="this Solver is closed"):
        solver.loss(theta, np.ones((1, 2)), None)
    ctx.close()
    assert solver.tableau.closed and ctx.closed
    ctx.close()  # twice is harmless
    with pytest.raises(TypeError, match="mpi4py communicator"):
        pinode.Context(0)
