"""The generators and the split from Python are the program's: bitwise the
data `pinode train` trained on (its data.csv, decimals that round-trip) and the same
validation trajectories."""
import json

import numpy as np
import pytest

import pinode


def test_generated_data_and_split_are_the_programs(comm, spiral_run):
    data = pinode.generate("spiral", ntraj=24, npoints=21)
    written = pinode.read_csv(spiral_run / "data.csv", comm)
    assert (data.dim, data.ntraj, data.source) == (2, 24, "generator 'spiral'")
    assert data.names == written.names == ["x", "y"]
    assert np.array_equal(data.offset, written.offset)
    assert np.array_equal(data.traj_id, written.traj_id)
    assert np.array_equal(data.time, written.time) and np.array_equal(data.z, written.z)
    _, val = data.split(0.25, seed=1)
    summary = json.loads((spiral_run / "summary.json").read_text())
    assert list(data.traj_id[val]) == summary["validation_ids"]


def test_generator_options():
    opts = pinode.generator_options("lorenz")
    assert (opts["kind"], opts["ntraj"], opts["npoints"], opts["t1"]) == ("lorenz", 16, 21, 1.0)
    data = pinode.generate("pendulum", ntraj=3, npoints=5, noise=0.1, seed=9)
    times, states = data.trajectory(2)
    assert np.array_equal(times, np.linspace(0.0, 5.0, 5)) and states.shape == (5, 2)
    same = pinode.generate("pendulum", ntraj=3, npoints=5, noise=0.1, seed=9)
    assert np.array_equal(data.z, same.z)
    with pytest.raises(ValueError, match="generator 'spiro'"):
        pinode.generate("spiro")
    with pytest.raises(TypeError, match="unknown generator option 'points'"):
        pinode.generate("spiral", points=5)
    with pytest.raises(pinode.Error) as info:
        pinode.generate("spiral", npoints=1)
    assert info.value.code == pinode.ErrorCode.ARG
