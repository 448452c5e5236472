"""The scripts that train the course's committed weights, one module per model, one command line:

    python -m instructor.weights MODEL [--epochs N] [--seed S] [--threads T]
                                       [--minimum M] [--output PATH]

MODEL is a module of this package (mnist_resnet, mnist_vit, hubble_style, scenes_fcos, ...). Each
names its recipe (train a model from a seed), how to measure it on held-out data (a test
accuracy, for example), the file it writes and the score it must reach. The command trains,
prints the time, the last training loss and the score, and saves the state dict only when the
score reaches --minimum, printing the file's sha256 and the score to copy into the course_utils
module that loads it.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from course_utils import data

# (training length, seed) -> (model, history with its "train_loss" per epoch or step)
Recipe = Callable[[int, int], tuple[torch.nn.Module, dict]]


@dataclass(frozen=True)
class Weights:
    """How one committed weight file is made and checked."""

    description: str
    recipe: Recipe
    evaluate: Callable[[torch.nn.Module], float]   # the score on held-out data
    output: Path
    minimum: float   # the weights are saved only from this score up
    metric: str = "test accuracy"
    length: str = "epochs"   # the recipe's unit of training length, and its option's name
    default_length: int = 2


def train_and_save(weights: Weights, argv: list[str] | None = None, prog: str | None = None
                   ) -> None:
    """Train with `weights.recipe`, report, and save the state dict to --output."""
    parser = argparse.ArgumentParser(prog=prog, description=weights.description)
    parser.add_argument(f"--{weights.length}", type=int, default=weights.default_length,
                        dest="length", metavar="N")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads; 1 is fastest on a busy machine and repeats the "
                             "committed run")
    parser.add_argument("--minimum", type=float, default=weights.minimum,
                        help=f"the lowest {weights.metric} at which the weights are saved")
    parser.add_argument("--output", type=Path, default=weights.output)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    start = time.perf_counter()
    model, history = weights.recipe(args.length, args.seed)
    seconds = time.perf_counter() - start
    score = weights.evaluate(model)
    print(f"{args.length} {weights.length} in {seconds:.0f} s on {args.threads} thread(s); "
          f"last training loss {history['train_loss'][-1]:.4f}, {weights.metric} {score:.4f}")
    if score < args.minimum:
        raise SystemExit(f"{weights.metric} {score:.4f} < {args.minimum}: weights not saved")
    torch.save(model.state_dict(), args.output)
    print(f"saved {args.output} ({args.output.stat().st_size / 1024:.0f} KiB), "
          f"sha256 {data.file_digest(args.output, 'sha256')}")
