"""pinode.read_problem(DIR).gradient() is `pinode gradient DIR OUT` on the
same ranks, bitwise (the program writes decimals that round-trip), with the
default options and with options passed through."""
import numpy as np
import pytest

import pinode

from conftest import BENCH_DIR


def program_gradient(run_program, shared_tmp, name, *options):
    out = shared_tmp / ("gradient-%s%s" % (name, "".join(options).replace(":", "-")))
    run_program("gradient", "--quiet", "--force", *options, BENCH_DIR / name, out)
    return (float(np.loadtxt(out / "loss.txt")), np.loadtxt(out / "grad_theta.txt", ndmin=1),
            np.loadtxt(out / "grad_z0.txt", ndmin=1))


@pytest.mark.parametrize("name", ["small", "deep", "spiral"])
def test_gradient_is_the_programs_bitwise(comm, run_program, shared_tmp, name):
    problem = pinode.read_problem(BENCH_DIR / name, comm)
    L, d_theta, d_z0 = problem.gradient()
    ref = program_gradient(run_program, shared_tmp, name)
    assert d_z0.shape == problem.z0.shape and d_theta.shape == problem.theta.shape
    assert L == ref[0]
    assert np.array_equal(d_theta, ref[1])
    assert np.array_equal(d_z0.ravel(), ref[2])


def test_options_reach_the_library(comm, run_program, shared_tmp):
    """Micro-batches and binomial checkpointing, as the program's options."""
    L, d_theta, d_z0 = pinode.read_problem(BENCH_DIR / "spiral", comm).gradient(
        microbatches=3, storage="binomial", storage_param=4)
    ref = program_gradient(run_program, shared_tmp, "spiral", "--microbatches=3",
                           "--storage=binomial:4")
    assert L == ref[0] and np.array_equal(d_theta, ref[1]) and np.array_equal(d_z0.ravel(), ref[2])


def test_the_problem_as_arrays(comm):
    """The fields of tests/data/bench/deep (its README's table)."""
    p = pinode.read_problem(BENCH_DIR / "deep", comm)
    assert (p.dim, p.hidden, p.activations, p.time_input) == (3, [32, 32], ["softplus"] * 2, True)
    assert (p.batch, p.t0, p.t1, p.steps, p.scheme) == (5, 0.0, 2.0, 60, "rk38")
    assert p.z0.shape == (5, 3) and p.targets.shape == (6, 5, 3)
    assert np.array_equal(p.times, np.loadtxt(BENCH_DIR / "deep" / "times.txt"))
    assert np.array_equal(p.theta, np.loadtxt(BENCH_DIR / "deep" / "theta.txt"))


def test_reference_gradients(comm):
    """And the gradient is the PyTorch reference of the benchmark's README
    (≤ 1e-11), on any number of ranks."""
    L, d_theta, d_z0 = pinode.read_problem(BENCH_DIR / "deep", comm).gradient()
    ref = BENCH_DIR / "deep" / "ref"
    for x, name in ((d_theta, "grad_theta.txt"), (d_z0.ravel(), "grad_z0.txt")):
        r = np.loadtxt(ref / name)
        assert np.linalg.norm(x - r) <= 1e-11 * np.linalg.norm(r)
    assert abs(L - float(np.loadtxt(ref / "loss.txt"))) <= 1e-11 * abs(L)
