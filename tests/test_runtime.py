import platform
import random

import numpy as np
import pytest
import torch

from course_utils import runtime


def draw() -> tuple[float, float, list[float]]:
    return random.random(), float(np.random.rand()), torch.rand(3).tolist()


def test_seed_everything_makes_every_generator_repeat():
    runtime.seed_everything(123)
    first = draw()
    runtime.seed_everything(123)
    assert draw() == first
    runtime.seed_everything(124)
    assert draw() != first


@pytest.mark.parametrize("seed", [-1, 2**32])
def test_seed_everything_rejects_seeds_numpy_cannot_take(seed):
    with pytest.raises(ValueError, match="seed"):
        runtime.seed_everything(seed)


def test_pick_device_follows_cuda_availability(monkeypatch):
    assert runtime.pick_device() == torch.device("cuda" if torch.cuda.is_available() else "cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert runtime.pick_device() == torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert runtime.pick_device() == torch.device("cuda")


def test_environment_report_on_this_machine():
    report = runtime.environment_report()
    assert all(isinstance(value, str) for value in report.values())
    assert report["Python"] == platform.python_version()
    assert report["NumPy"] == np.__version__
    assert report["PyTorch"] == torch.__version__
    for name in ("scikit-learn", "scikit-image", "matplotlib"):
        assert report[name][0].isdigit(), (name, report[name])
    assert report["device"] == runtime.pick_device().type
    assert ("GPU" in report) == (report["device"] == "cuda")
    assert int(report["torch threads"]) == torch.get_num_threads()
    assert int(report["CPU count"]) >= 1


def test_environment_report_names_the_gpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: "Test GPU 9000")
    report = runtime.environment_report()
    assert report["device"] == "cuda"
    assert report["GPU"] == "Test GPU 9000"


@pytest.mark.parametrize("variables, expected", [
    ({}, False),
    ({"NBGRADER_EXECUTION": "autograde"}, True),
    ({"NBGRADER_EXECUTION": "validate"}, True),
    ({"COURSE_QUICK": "1"}, True),
    ({"COURSE_QUICK": "0"}, False),
])
def test_quick_runs_are_nbgraders_executions_and_smoke_runs(monkeypatch, variables, expected):
    monkeypatch.delenv("NBGRADER_EXECUTION", raising=False)
    monkeypatch.delenv("COURSE_QUICK", raising=False)
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    assert runtime.quick() is expected
