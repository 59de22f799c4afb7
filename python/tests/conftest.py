"""Fixtures of pinode's Python tests.  Run them on any number of ranks:

    PYTHONPATH=python mpiexec -n 2 python3 -m pytest python/tests

Every rank runs every test; tests call the library collectively and assert
on numbers that are the same on every rank.  The program comparisons run
``pinode`` (PINODE_PROGRAM, or build/bin/pinode of the source tree) on as
many ranks as the test has, from rank 0, with mpiexec (PINODE_MPIEXEC,
default mpiexec).
"""
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
from mpi4py import MPI

import pinode

SOURCE_DIR = Path(__file__).resolve().parent.parent.parent
BENCH_DIR = SOURCE_DIR / "tests" / "data" / "bench"


def pytest_configure(config):
    """One temporary base directory per run and rank: several ranks (and
    several runs at once under ctest -j) never share one."""
    comm = MPI.COMM_WORLD
    if config.option.basetemp is None:
        base = tempfile.mkdtemp(prefix="pinode-pytest-") if comm.rank == 0 else None
        base = comm.bcast(base, root=0)
        config.option.basetemp = os.path.join(base, "rank%d" % comm.rank)
        config._pinode_basetemp = base
    if comm.rank != 0:  # one full report, rank 0's; the others say which tests failed
        config.option.verbose = -2
        config.option.tbstyle = "no"


def pytest_unconfigure(config):
    base = getattr(config, "_pinode_basetemp", None)
    MPI.COMM_WORLD.Barrier()
    if base and MPI.COMM_WORLD.rank == 0:
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(autouse=True)
def _ranks_in_step():
    """Every rank starts every test together."""
    MPI.COMM_WORLD.Barrier()
    yield


@pytest.fixture(scope="session")
def comm():
    return MPI.COMM_WORLD


@pytest.fixture
def ctx(comm):
    with pinode.Context(comm) as c:
        yield c


@pytest.fixture(scope="session")
def shared_tmp(tmp_path_factory, comm):
    """A directory every rank sees (rank 0's), for the program's outputs."""
    return Path(comm.bcast(str(tmp_path_factory.mktemp("shared")), root=0))


def _program():
    env = os.environ.get("PINODE_PROGRAM")
    if env:
        return env  # given: it must work (a missing file fails the tests)
    built = SOURCE_DIR / "build" / "bin" / "pinode"
    return str(built) if built.exists() else shutil.which("pinode")


def child_environment():
    """This environment without the variables of our own MPI launch, so that
    a child mpiexec starts a job of its own."""
    launch = ("OMPI_", "PMIX_", "OPAL_", "PRTE_", "ORTE_", "HYDRA_", "PMI_")
    keep = ("OMPI_ALLOW_RUN_AS_ROOT", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM")
    return {k: v for k, v in os.environ.items() if not k.startswith(launch) or k in keep}


@pytest.fixture(scope="session")
def run_program(comm):
    """run_program(args...): ``mpiexec -n <ranks of this test> pinode args``,
    started by rank 0 while the other ranks wait without spinning; raises on
    every rank if it fails.  Skips the test when no program is found."""
    program = _program()
    if not program:
        pytest.skip("no pinode program: build it, or set PINODE_PROGRAM")

    def run(*args):
        outcome = None
        if comm.rank == 0:
            mpiexec = os.environ.get("PINODE_MPIEXEC", "mpiexec")
            cmd = [mpiexec, "-n", str(comm.size), "--oversubscribe", program] + [str(a) for a in args]
            p = subprocess.run(cmd, env=child_environment(), capture_output=True, text=True)
            outcome = (p.returncode, " ".join(cmd), p.stdout + p.stderr)
        request = comm.Ibarrier()
        while not request.Test():
            time.sleep(0.005)
        code, cmd, output = comm.bcast(outcome, root=0)
        if code != 0:
            raise RuntimeError("%s exited with %d:\n%s" % (cmd, code, output))
        return output

    return run


# `pinode train scripts/configs/spiral.ini`, shortened to this many iterations.
SPIRAL_ITERATIONS = 200


@pytest.fixture(scope="session")
def spiral_run(run_program, shared_tmp):
    """The run directory of the spiral example trained by the program."""
    out = shared_tmp / "train-spiral"
    run_program("train", SOURCE_DIR / "scripts" / "configs" / "spiral.ini", "--quiet",
                "--set", "optimizer.iterations=%d" % SPIRAL_ITERATIONS, "--set",
                "output.dir=%s" % out)
    return out
