"""The solver's calls and every option of pn_solver_opts, from Python: each
option reaches the library (its effect shows in the result or in the
stats) and gives the gradient the library promises for it."""
import numpy as np
import pytest

import pinode

D, B, N = 2, 6, 60


@pytest.fixture
def setup(ctx):
    """An MLP, labels at four grid points (t0 among them), and a helper
    making solvers of it."""
    model = pinode.MLP(ctx, D, [16], "tanh")
    rk4 = pinode.Tableau(ctx, "rk4")
    rng = np.random.default_rng(5)
    theta = model.init_params(3)
    z0 = rng.normal(size=(B, D))
    steps = np.array([0, 20, 45, 60])
    times = 0.0 + steps * (3.0 / N)
    loss = pinode.MSELoss(ctx, times, rng.normal(size=(len(steps), B, D)))

    def solver(**options):
        return pinode.Solver(model, rk4, t1=3.0, nsteps=N, **options)

    return solver, theta, z0, loss, steps


def rel(x, y):
    return np.linalg.norm(np.asarray(x) - y) / np.linalg.norm(y)


def test_trajectory_loss_and_gradient_agree(setup):
    make, theta, z0, loss, steps = setup
    solver = make()
    Z = solver.trajectory(theta, z0)
    assert Z.shape == (N + 1, B, D) and np.array_equal(Z[0], z0)
    assert np.array_equal(solver.trajectory(theta, z0, steps[::-1]), Z[steps[::-1]])
    L, d_theta, d_z0 = solver.gradient(theta, z0, loss)
    assert solver.loss(theta, z0, loss) == L
    targets = np.stack([np.zeros((B, D))] * len(steps))  # the same loss in NumPy:
    mse = pinode.MSELoss(solver.ctx, solver.times(steps), targets)
    assert abs(solver.loss(theta, z0, mse) - (Z[steps] ** 2).sum() / (B * D)) <= 1e-14 * L
    assert d_theta.shape == theta.shape and d_z0.shape == z0.shape


@pytest.mark.parametrize("storage,param", [("every", 7), ("binomial", 3), ("stages", 0),
                                           ("auto", 0)])
def test_storage_gives_the_same_gradient_bitwise(setup, storage, param):
    """Checkpointing recomputes the same steps and the stage tape stores
    what the recomputation would give: the same bits as storing every state."""
    make, theta, z0, loss, _ = setup
    ref = make().gradient(theta, z0, loss)
    solver = make(storage=storage, storage_param=param)
    got = solver.gradient(theta, z0, loss)
    assert got[0] == ref[0] and np.array_equal(got[1], ref[1]) and np.array_equal(got[2], ref[2])
    stats = solver.stats()
    assert stats["storage"] == ("all" if storage == "auto" else storage)
    if storage in ("every", "binomial"):
        assert stats["storage_param"] == param and stats["steps_recomputed"] > 0


def test_memory_limit(ctx):
    """A budget too small for every state is refused before anything is
    allocated, naming a storage that fits; auto storage fits into it."""
    model = pinode.MLP(ctx, D, [16], "tanh")
    theta, z0 = model.init_params(3), np.ones((B, D))
    loss = pinode.MSELoss(ctx, [1.0, 3.0], np.zeros((2, B, D)))

    def solver(**options):  # 3000 steps: 0.3 MB of states on one rank
        return pinode.Solver(model, pinode.Tableau(ctx), t1=3.0, nsteps=3000,
                             memory_limit=100000 // ctx.size, **options)

    with pytest.raises(pinode.Error, match="more than the memory limit.*storage binomial:") as info:
        solver().gradient(theta, z0, loss)
    assert info.value.code == pinode.ErrorCode.LIMIT
    fitted = solver(storage="auto")
    fitted.gradient(theta, z0, loss)
    stats = fitted.stats()
    assert stats["storage"] == "binomial" and stats["bytes_limit"] == 100000 // ctx.size
    assert stats["bytes_solver"] <= stats["bytes_limit"]


@pytest.mark.parametrize("method,options,tol", [
    ("parareal", {}, 1e-13),  # P iterations: the pipeline's gradient (pn_parareal_opts)
    ("parareal", {"parareal": {"adjoint": "maps", "coarse_steps": 3, "coarse_scheme": "euler"}},
     1e-13),
    ("newton", {}, 1e-12),  # converged to tol = 1e-13: the exact gradient
    ("newton", {"newton": {"start": "flat", "no_warm": True, "growth_limit": 1e8}}, 1e-12)])
def test_parallel_methods_give_the_pipelines_gradient(setup, method, options, tol):
    make, theta, z0, loss, _ = setup
    ref = make().gradient(theta, z0, loss)
    solver = make(method=method, **options)
    got = solver.gradient(theta, z0, loss)
    assert abs(got[0] - ref[0]) <= tol * ref[0]
    assert rel(got[1], ref[1]) <= tol and rel(got[2], ref[2]) <= tol
    stats, opts = solver.stats(), solver.options
    assert opts["method"] == method
    for key, value in options.get(method, {}).items():
        assert opts[method][key] == value
    if method == "parareal":
        assert 1 <= stats["parareal_iterations"] <= solver.ctx.size
        assert len(stats["parareal_residual"]) == stats["parareal_iterations"]
    else:
        assert stats["newton_fallback"] == "none"
        assert len(stats["newton_defect"]) == stats["newton_iterations"]


def test_batch_groups_and_microbatches(setup):
    """G = all ranks: each rank solves its share of the batch on its own
    (the shares cover the batch); micro-batches as asked."""
    make, theta, z0, loss, _ = setup
    ref = make().gradient(theta, z0, loss)
    ctx = make().ctx
    solver = make(batch_groups=ctx.size, microbatches=2)
    got = solver.gradient(theta, z0, loss)
    assert abs(got[0] - ref[0]) <= 1e-14 * ref[0]
    assert rel(got[1], ref[1]) <= 1e-14 and np.array_equal(got[2], ref[2])
    stats = solver.stats()
    shares = ctx.comm.allgather((stats["batch_lo"], stats["batch_hi"]))
    assert [lo for lo, _ in shares] == [0] + [hi for _, hi in shares[:-1]] and shares[-1][1] == B
    assert stats["batch_group"] == ctx.rank and stats["microbatches"] == 2


def test_gradient_methods(setup):
    """Single-point sweeps give the multi-point gradient (to rounding); the
    continuous adjoint is an O(h⁴) approximation of it."""
    make, theta, z0, loss, _ = setup
    solver = make()
    ref = solver.gradient(theta, z0, loss)
    single = solver.gradient(theta, z0, loss, sweep="single")
    assert rel(single[1], ref[1]) <= 1e-13
    interp = solver.gradient(theta, z0, loss, adjoint="continuous-interp")
    assert 0 < rel(interp[1], ref[1]) <= 1e-3
    assert solver.stats()["adjoint"] == "continuous-interp"


def test_options_round_trip(setup):
    make, _, _, _, _ = setup
    opts = make(storage="every", storage_param=5, microbatches=3, check_finite=False,
                newton={"coarse_scheme": "heun", "coarse_steps": 4}).options
    assert (opts["t0"], opts["t1"], opts["nsteps"]) == (0.0, 3.0, N)
    assert (opts["storage"], opts["storage_param"], opts["microbatches"]) == ("every", 5, 3)
    assert opts["check_finite"] is False
    assert opts["newton"]["coarse_scheme"] == "heun" and opts["newton"]["coarse_steps"] == 4
    assert set(pinode.default_options()) == set(opts)


@pytest.mark.parametrize("options,error,match", [
    ({"steps": 10}, TypeError, "unknown solver option 'steps'"),
    ({"storage": "some"}, ValueError, "storage = 'some': expected one of all, every"),
    ({"method": "multigrid"}, ValueError, "method = 'multigrid'"),
    ({"parareal": {"adjoint": "guess"}}, ValueError, "parareal.adjoint = 'guess'"),
    ({"newton": {"start": "warm"}}, ValueError, "newton.start = 'warm'"),
    ({"newton": 3}, TypeError, "takes a dict"),
    ({"microbatches": 2 ** 40}, ValueError, "microbatches = 1099511627776 is out of range"),
    ({"memory_limit": -1}, ValueError, "memory_limit = -1 is out of range"),
    ({"microbatches": 1.5}, TypeError, "microbatches = 1.5: expected an integer"),
    ({"parareal": {"coarse_scheme": "x" * 16}}, ValueError, "at most 15 characters")])
def test_bad_options_are_refused_by_name(setup, options, error, match):
    make, _, _, _, _ = setup
    with pytest.raises(error, match=match):
        make(**options)


def test_auto_microbatches():
    assert pinode.auto_microbatches(1, 16) == 1
    assert pinode.auto_microbatches(4, 16) == 4  # round(√(3·16/3))
