"""python -m instructor.weights MODEL [options]: see the package's docstring."""

import importlib
import pkgutil
import sys

import instructor.weights
from instructor.weights import train_and_save

MODELS = sorted(info.name for info in pkgutil.iter_modules(instructor.weights.__path__)
                if not info.name.startswith("_"))

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in MODELS:
        raise SystemExit(f"usage: python -m instructor.weights MODEL [options], MODEL one of "
                         f"{', '.join(MODELS)} (--help after MODEL for the options)")
    module = importlib.import_module(f"instructor.weights.{sys.argv[1]}")
    train_and_save(module.WEIGHTS, sys.argv[2:], prog=f"python -m instructor.weights {sys.argv[1]}")
