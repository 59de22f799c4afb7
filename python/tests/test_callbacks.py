"""Right-hand sides, JVPs and losses written in Python: what the library
computes with them, and what happens when they fail."""
import numpy as np
import pytest

import pinode

D, P, B = 2, 2, 3


def oscillator(counts=None):
    """x' = v, v' = −k x − c v with θ = (k, c) (the example of docs/library.md)."""
    counts = {} if counts is None else counts

    def count(name):
        counts[name] = counts.get(name, 0) + 1

    def rhs(t, z, theta):
        count("rhs")
        return np.stack([z[:, 1], -theta[0] * z[:, 0] - theta[1] * z[:, 1]], axis=1)

    def vjp(t, z, theta, a):
        count("vjp")
        z_bar = np.stack([-theta[0] * a[:, 1], a[:, 0] - theta[1] * a[:, 1]], axis=1)
        return z_bar, np.array([-(z[:, 0] * a[:, 1]).sum(), -(z[:, 1] * a[:, 1]).sum()])

    def jvp(t, z, theta, v):
        count("jvp")
        return np.stack([v[:, 1], -theta[0] * v[:, 0] - theta[1] * v[:, 1]], axis=1)

    return rhs, vjp, jvp


THETA = np.array([4.0, 0.3])
Z0 = np.array([[1.0, 0.0], [0.5, 0.5], [-1.0, 1.0]])
TIMES = np.array([1.0, 2.0])
TARGETS = np.array([[[0.2, 0.0]] * B, [[-0.3, 0.1]] * B])


def oscillator_solver(ctx, jvp=False, counts=None, **options):
    rhs, vjp, jvp_fn = oscillator(counts)
    model = pinode.UserModel(ctx, D, P, rhs, vjp, jvp_fn if jvp else None)
    return pinode.Solver(model, pinode.Tableau(ctx, "rk4"), t1=2.0, nsteps=200, **options)


def test_user_model_gradient_is_the_central_difference(ctx):
    solver = oscillator_solver(ctx)
    z_err, theta_err = solver.model.check(THETA, nb=B, seed=7)
    assert z_err < 1e-7 and theta_err < 1e-7  # the library's self-test of the VJPs
    loss = pinode.MSELoss(ctx, TIMES, TARGETS)
    L, d_theta, d_z0 = solver.gradient(THETA, Z0, loss)
    h = 1e-6  # central differences: error O(h²) ≈ 1e-12 plus rounding L·ε/h ≈ 1e-10
    for i in range(P):
        e = np.eye(P)[i] * h
        fd = (solver.loss(THETA + e, Z0, loss) - solver.loss(THETA - e, Z0, loss)) / (2 * h)
        assert abs(fd - d_theta[i]) <= 1e-8 * max(1.0, abs(d_theta[i]))
    e = np.zeros_like(Z0)
    e[1, 0] = h
    fd = (solver.loss(THETA, Z0 + e, loss) - solver.loss(THETA, Z0 - e, loss)) / (2 * h)
    assert abs(fd - d_z0[1, 0]) <= 1e-8


def test_python_model_equals_the_librarys_linear_model(ctx):
    """f = A z written in Python and pinode's built-in linear model give the
    same gradient up to the order of two sums (1e-14)."""
    A = np.array([[-0.1, 2.0], [-2.0, -0.1]])
    model = pinode.UserModel(ctx, D, D * D, lambda t, z, th: z @ th.reshape(D, D).T,
                             lambda t, z, th, a: (a @ th.reshape(D, D), (a.T @ z).ravel()))
    loss = pinode.MSELoss(ctx, TIMES, TARGETS)
    mine = pinode.Solver(model, pinode.Tableau(ctx, "rk4"), t1=2.0, nsteps=50)
    builtin = pinode.Solver(pinode.linear_model(ctx, D), pinode.Tableau(ctx, "rk4"), t1=2.0,
                            nsteps=50)
    for x, y in zip(mine.gradient(A.ravel(), Z0, loss), builtin.gradient(A.ravel(), Z0, loss)):
        assert np.allclose(x, y, rtol=1e-14, atol=1e-14 * np.max(np.abs(y)))


def test_newton_shooting_uses_the_jvp(ctx):
    """With and without a jvp, Newton shooting converges to the pipeline's
    gradient (1e-12, pn_newton_opts.tol = 1e-13 by default); the jvp is
    called when the time is split."""
    loss = pinode.MSELoss(ctx, TIMES, TARGETS)
    ref = oscillator_solver(ctx).gradient(THETA, Z0, loss)
    for jvp in (False, True):
        counts = {}
        solver = oscillator_solver(ctx, jvp=jvp, counts=counts, method="newton")
        L, d_theta, d_z0 = solver.gradient(THETA, Z0, loss)
        assert abs(L - ref[0]) <= 1e-12 * ref[0]
        assert np.linalg.norm(d_theta - ref[1]) <= 1e-12 * np.linalg.norm(ref[1])
        assert np.linalg.norm(d_z0 - ref[2]) <= 1e-12 * np.linalg.norm(ref[2])
        stats = solver.stats()
        assert stats["newton_fallback"] == "none"
        if ctx.size > 1:
            assert stats["newton_iterations"] >= 1
            assert (counts.get("jvp", 0) > 0) == jvp


def test_custom_loss_equals_the_mse(ctx):
    """The weighted MSE written as a Python loss gives the library's MSE
    gradient up to rounding."""
    weights = np.array([0.5, 2.0])
    calls = []

    def mse(label, t, b0, z):
        calls.append((label, b0, z.shape[0]))
        r = z - TARGETS[label, b0:b0 + z.shape[0]]
        scale = weights[label] / (B * D)
        return scale * (r * r).sum(), 2 * scale * r

    solver = oscillator_solver(ctx, microbatches=2)
    ref = solver.gradient(THETA, Z0, pinode.MSELoss(ctx, TIMES, TARGETS, weights))
    mine = solver.gradient(THETA, Z0, pinode.CustomLoss(ctx, TIMES, B, D, mse))
    for x, y in zip(mine, ref):
        assert np.allclose(x, y, rtol=1e-14, atol=1e-15)
    # Each label on the rank that owns its time, once per micro-batch: samples 0-1 and 2.
    owned = {(label, b0, nb) for label, b0, nb in calls}
    every = ctx.comm.allgather(owned)
    assert set().union(*every) == {(k, b0, nb) for k in (0, 1) for b0, nb in ((0, 2), (2, 1))}


def failing_solver(ctx, fail_after, error):
    rhs, vjp, _ = oscillator()

    def failing_rhs(t, z, theta):
        if t > fail_after:
            raise error
        return rhs(t, z, theta)

    model = pinode.UserModel(ctx, D, P, failing_rhs, vjp)
    return pinode.Solver(model, pinode.Tableau(ctx, "rk4"), t1=2.0, nsteps=200)


def raised(fn):
    try:
        fn()
    except BaseException as exc:  # noqa: B902 -- what is raised is the subject
        return exc
    return None


def test_an_exception_in_a_callback_becomes_an_error_with_its_cause(ctx):
    solver = failing_solver(ctx, 1.5, ZeroDivisionError("the user's bug"))
    loss = pinode.MSELoss(ctx, TIMES, TARGETS)
    exc = raised(lambda: solver.gradient(THETA, Z0, loss))
    assert isinstance(exc, pinode.Error) and exc.code == pinode.ErrorCode.USER_CALLBACK
    assert "user model right-hand side returned -1 at t = 1.5" in exc.message
    mine = isinstance(exc.__cause__, ZeroDivisionError)
    if mine:
        assert "ZeroDivisionError: the user's bug" in exc.message
    assert any(ctx.comm.allgather(mine))  # the rank whose callback raised it


def test_a_callback_result_of_the_wrong_shape_is_an_error(ctx):
    model = pinode.UserModel(ctx, D, P, lambda t, z, th: z[0], oscillator()[1])
    solver = pinode.Solver(model, pinode.Tableau(ctx, "euler"), t1=1.0, nsteps=4)
    exc = raised(lambda: solver.loss(THETA, Z0, pinode.MSELoss(ctx, TIMES / 2, TARGETS)))
    assert isinstance(exc, pinode.Error) and exc.code == pinode.ErrorCode.USER_CALLBACK
    mine = isinstance(exc.__cause__, ValueError)
    if mine:
        assert "rhs returned shape (2,), expected (3, 2)" in str(exc.__cause__)
    assert any(ctx.comm.allgather(mine))


def test_a_failing_loss_is_an_error_and_the_next_call_works(ctx):
    solver = oscillator_solver(ctx)
    good = pinode.MSELoss(ctx, TIMES, TARGETS)
    before = solver.gradient(THETA, Z0, good)

    def bad(label, t, b0, z):
        raise RuntimeError("no loss today")

    exc = raised(lambda: solver.gradient(THETA, Z0, pinode.CustomLoss(ctx, TIMES, B, D, bad)))
    assert isinstance(exc, pinode.Error) and exc.code == pinode.ErrorCode.USER_CALLBACK
    assert "user loss returned -1 for label" in exc.message
    after = solver.gradient(THETA, Z0, good)
    assert after[0] == before[0] and np.array_equal(after[1], before[1])


def test_keyboard_interrupt_in_a_callback_is_raised_as_it_is(ctx):
    """Ctrl-C inside a callback stops the call and is re-raised on that
    rank; the other ranks get the library's Error."""
    solver = failing_solver(ctx, -1.0, KeyboardInterrupt())
    exc = raised(lambda: solver.loss(THETA, Z0, pinode.MSELoss(ctx, TIMES, TARGETS)))
    assert isinstance(exc, (KeyboardInterrupt, pinode.Error))
    assert any(ctx.comm.allgather(isinstance(exc, KeyboardInterrupt)))


def test_model_rhs_and_vjp_of_a_network_without_hidden_layers(ctx):
    """f = W z + b: the MLP's rhs and vjp called from Python."""
    model = pinode.MLP(ctx, D, [])
    theta = np.array([1.0, 2.0, 3.0, 4.0, 0.5, -0.5])  # W (2 × 2, row-major), then b
    W, b = theta[:4].reshape(2, 2), theta[4:]
    a = np.array([[1.0, -1.0], [0.5, 2.0], [0.0, 1.0]])
    assert np.allclose(model.rhs(0.0, Z0, theta), Z0 @ W.T + b, rtol=1e-15)
    z_bar, theta_bar = model.vjp(0.0, Z0, theta, a)
    assert np.allclose(z_bar, a @ W, rtol=1e-15)
    assert np.allclose(theta_bar, np.concatenate([(a.T @ Z0).ravel(), a.sum(0)]), rtol=1e-15)
    with pytest.raises(ValueError, match=r"z: expected an array of shape \(any, 2\)"):
        model.rhs(0.0, np.zeros((3, 3)), theta)


def test_theta_reaches_the_callbacks_without_a_copy(ctx):
    """A float64 C-contiguous θ is passed as it is: the right-hand side sees
    the caller's memory; a float32 θ is converted once, into a temporary."""
    addresses = set()
    rhs, vjp, _ = oscillator()

    def watching_rhs(t, z, theta):
        addresses.add(theta.__array_interface__["data"][0])
        assert not theta.flags.writeable
        return rhs(t, z, theta)

    model = pinode.UserModel(ctx, D, P, watching_rhs, vjp)
    solver = pinode.Solver(model, pinode.Tableau(ctx, "rk4"), t1=2.0, nsteps=20)
    loss = pinode.MSELoss(ctx, TIMES, TARGETS)
    theta = THETA.copy()
    solver.gradient(theta, Z0, loss)
    assert addresses == {theta.__array_interface__["data"][0]}
    addresses.clear()
    solver.gradient(theta.astype(np.float32), Z0, loss)
    assert theta.__array_interface__["data"][0] not in addresses
