"""The command line shared by the scripts that train the course's committed weights.

Each script names a recipe (train a model from a seed) and how to measure it on held-out data;
`train_and_save` parses --epochs, --seed, --threads, --min-accuracy and --output, trains, prints
the time, the last training loss and the test accuracy, and saves the state dict only when the
accuracy reaches --min-accuracy, printing the file's sha256 to copy into course_utils.
"""

import argparse
import time
from collections.abc import Callable
from pathlib import Path

import torch

from course_utils import data

Recipe = Callable[[int, int], tuple[torch.nn.Module, dict]]  # (epochs, seed) -> (model, history)


def train_and_save(description: str, recipe: Recipe,
                   test_accuracy: Callable[[torch.nn.Module], float], output: Path,
                   min_accuracy: float, argv: list[str] | None = None) -> None:
    """Train with `recipe`, report, and save the weights to --output (default `output`)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads; 1 is fastest on a busy machine and repeats the "
                             "committed run")
    parser.add_argument("--min-accuracy", type=float, default=min_accuracy)
    parser.add_argument("--output", type=Path, default=output)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    start = time.perf_counter()
    model, history = recipe(args.epochs, args.seed)
    seconds = time.perf_counter() - start
    accuracy = test_accuracy(model)
    print(f"{args.epochs} epochs in {seconds:.0f} s on {args.threads} thread(s); "
          f"last epoch's training loss {history['train_loss'][-1]:.4f}, "
          f"test accuracy {accuracy:.4f}")
    if accuracy < args.min_accuracy:
        raise SystemExit(f"test accuracy {accuracy:.4f} < {args.min_accuracy}: weights not saved")
    torch.save(model.state_dict(), args.output)
    print(f"saved {args.output} ({args.output.stat().st_size / 1024:.0f} KiB), "
          f"sha256 {data.file_digest(args.output, 'sha256')}")
