"""The scripts that train the course's committed weights, one module per model, one command line:

    python -m instructor.weights MODEL [--epochs N] [--seed S] [--threads T]
                                       [--min-accuracy A] [--output PATH]

MODEL is a module of this package (mnist_resnet, mnist_0to4, mnist_vgg). Each names its recipe
(train a model from a seed), how to measure it on held-out data, the file it writes and the
accuracy it must reach. The command trains, prints the time, the last training loss and the test
accuracy, and saves the state dict only when the accuracy reaches --min-accuracy, printing the
file's sha256 and the accuracy to copy into the course_utils module that loads it.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from course_utils import data

Recipe = Callable[[int, int], tuple[torch.nn.Module, dict]]  # (epochs, seed) -> (model, history)


@dataclass(frozen=True)
class Weights:
    """How one committed weight file is made and checked."""

    description: str
    recipe: Recipe
    test_accuracy: Callable[[torch.nn.Module], float]
    output: Path
    min_accuracy: float
    epochs: int = 2


def train_and_save(weights: Weights, argv: list[str] | None = None, prog: str | None = None
                   ) -> None:
    """Train with `weights.recipe`, report, and save the state dict to --output."""
    parser = argparse.ArgumentParser(prog=prog, description=weights.description)
    parser.add_argument("--epochs", type=int, default=weights.epochs)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads; 1 is fastest on a busy machine and repeats the "
                             "committed run")
    parser.add_argument("--min-accuracy", type=float, default=weights.min_accuracy)
    parser.add_argument("--output", type=Path, default=weights.output)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    start = time.perf_counter()
    model, history = weights.recipe(args.epochs, args.seed)
    seconds = time.perf_counter() - start
    accuracy = weights.test_accuracy(model)
    print(f"{args.epochs} epochs in {seconds:.0f} s on {args.threads} thread(s); "
          f"last epoch's training loss {history['train_loss'][-1]:.4f}, "
          f"test accuracy {accuracy:.4f}")
    if accuracy < args.min_accuracy:
        raise SystemExit(f"test accuracy {accuracy:.4f} < {args.min_accuracy}: weights not saved")
    torch.save(model.state_dict(), args.output)
    print(f"saved {args.output} ({args.output.stat().st_size / 1024:.0f} KiB), "
          f"sha256 {data.file_digest(args.output, 'sha256')}")
