"""Seeds, device choice, quick runs and a short report of the environment, for the setup cell
of a notebook."""

import os
import platform
import random
from importlib import metadata

import numpy as np
import torch

QUICK_VARIABLE = "COURSE_QUICK"
# Report name -> distribution name on PyPI.
PACKAGES = {
    "NumPy": "numpy",
    "PyTorch": "torch",
    "scikit-learn": "scikit-learn",
    "scikit-image": "scikit-image",
    "matplotlib": "matplotlib",
}


def seed_everything(seed: int) -> None:
    """Seed Python's `random`, NumPy's global generator and PyTorch (CPU and every GPU).

    Args:
        seed: an integer in [0, 2**32).
    """
    if not 0 <= seed < 2**32:
        raise ValueError(f"seed must be an integer in [0, 2**32), got {seed}")
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # seeds the CPU and all CUDA devices
    torch.cuda.manual_seed_all(seed)  # explicit, also for GPUs initialised later


def pick_device() -> torch.device:
    """The device to compute on: `cuda` when a GPU is available, else `cpu`."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def quick() -> bool:
    """Whether the notebook runs to be checked rather than read: while nbgrader grades or
    validates it (nbgrader then sets NBGRADER_EXECUTION, as its FAQ documents) or when
    COURSE_QUICK=1 (a smoke run, as the browser tests make). The notebooks' demo cells then
    train and measure at a size of seconds; no graded test uses what they compute."""
    return bool(os.environ.get("NBGRADER_EXECUTION")) or os.environ.get(QUICK_VARIABLE) == "1"


def cpu_count() -> int:
    """The number of CPU cores this process may use (fewer than the machine has in a container)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def environment_report() -> dict[str, str]:
    """Versions and hardware, to print at the top of a notebook or paste into a bug report.

    Returns:
        {"Python": ..., "NumPy": ..., "PyTorch": ..., "scikit-learn": ..., "scikit-image": ...,
        "matplotlib": ..., "device": ..., ["GPU": ...,] "torch threads": ..., "CPU count": ...}.
    """
    report = {"Python": platform.python_version()}
    for name, distribution in PACKAGES.items():
        try:
            report[name] = metadata.version(distribution)
        except metadata.PackageNotFoundError:
            report[name] = "not installed"
    device = pick_device()
    report["device"] = device.type
    if device.type == "cuda":
        report["GPU"] = torch.cuda.get_device_name(device)
    report["torch threads"] = str(torch.get_num_threads())
    report["CPU count"] = str(cpu_count())
    return report
