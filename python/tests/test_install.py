"""`pip install` of python/ works offline (no index, no build isolation:
Debian's setuptools builds it) into a virtual environment that sees
Debian's NumPy and mpi4py, and the installed package computes a gradient
with the library PINODE_LIBRARY names."""
import os
import shutil
import subprocess
import sys

import pytest

import pinode

from conftest import BENCH_DIR, SOURCE_DIR, child_environment


def test_pip_installs_the_package_offline(comm, tmp_path):
    if comm.size > 1:
        pytest.skip("installs once, on one rank")
    pytest.importorskip("ensurepip", reason="no venv module (Debian: python3-venv)")
    source = tmp_path / "python"  # a copy: the build writes build/ and *.egg-info/ beside it
    shutil.copytree(SOURCE_DIR / "python", source,
                    ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__", "tests"))
    venv = tmp_path / "venv"
    env = child_environment()
    env.pop("PYTHONPATH", None)
    env.update(PIP_NO_INDEX="1", PIP_FIND_LINKS="", PINODE_LIBRARY=pinode.library_path())
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip",
                    str(venv)], check=True)
    python = str(venv / "bin" / "python")
    subprocess.run([python, "-m", "pip", "install", "--no-build-isolation", "--quiet",
                    str(source)], check=True, env=env, cwd=tmp_path)
    script = ("import pinode, sys; L, g, gz = pinode.read_problem(sys.argv[1]).gradient(); "
              "print(pinode.__file__); print(repr(L))")
    out = subprocess.run([python, "-c", script, str(BENCH_DIR / "small")], check=True, env=env,
                         cwd=tmp_path, capture_output=True, text=True).stdout.split()
    assert out[0].startswith(str(venv)) and os.path.exists(out[0])
    assert float(out[1]) == pinode.read_problem(BENCH_DIR / "small", comm).gradient()[0]
