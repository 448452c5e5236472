"""The chapter's closing table: every model measured the same way, next to real digits.

    rows = [comparison.measure("VAE", lambda: vae.sample(model, 256), train_seconds=...), ...]
    rows += comparison.floors(256)         # real digits at 28 x 28, at 14 x 14, binarised
    print(comparison.format_table(rows)); comparison.plot_table(rows)

Each row holds the Fréchet distance to the MNIST test digits (quality.fd_to_test_digits, the
same number of samples for every row), the MNIST ResNet's accuracy on class-conditional samples,
a likelihood figure where the model has one, the training time of its committed weights and the
sampling time per image measured here.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import matplotlib.pyplot as plt
import torch
from matplotlib.figure import Figure

from course_utils.generative import quality


@dataclass(frozen=True)
class Row:
    """One line of the table; None where a figure does not apply."""

    name: str
    fd: float
    accuracy: float | None = None        # of the class asked for, conditional models only
    likelihood: str | None = None        # e.g. "0.150 bits/dim" or "ELBO -110.5 nats"
    train_seconds: float | None = None   # of the committed weights (instructor.weights)
    sample_seconds: float | None = None  # per image, measured by measure()
    size: int = quality.MNIST_SIZE


def measure(name: str, sample: Callable[[], torch.Tensor], labels: torch.Tensor | None = None,
            likelihood: str | None = None, train_seconds: float | None = None) -> Row:
    """Time `sample()` (images (N, 1, H, W) in [0, 1]) and score what it returns.

    labels: the class asked for of each image, for a conditional model's accuracy.
    """
    start = time.perf_counter()
    images = sample()
    seconds = (time.perf_counter() - start) / len(images)
    accuracy = None if labels is None else quality.class_accuracy(images, labels)
    return Row(name, quality.fd_to_test_digits(images), accuracy, likelihood, train_seconds,
               seconds, images.shape[-1])


def floors(n: int, seed: int = 0) -> list[Row]:
    """n real training digits scored like the models' samples: at 28 x 28, and sent through
    14 x 14 (grey, and binarised as the PixelCNN's data): what a perfect model of that data
    would reach with n samples."""
    settings = [("real digits 28 x 28", 28, False), ("real digits 14 x 14", 14, False),
                ("real digits 14 x 14 binary", 14, True)]
    return [Row(name, quality.fd_to_test_digits(quality.real_digits(n, seed, size, binary)),
                size=size) for name, size, binary in settings]


def _figure(value: float | None, pattern: str) -> str:
    return "-" if value is None else pattern.format(value)


def format_table(rows: list[Row]) -> str:
    """The rows as a fixed-width text table."""
    header = (f"{'model':<28}{'size':>5}{'FD':>8}{'accuracy':>10}  {'likelihood':<22}"
              f"{'train s':>8}{'ms/image':>10}")
    lines = [header, "-" * len(header)]
    for row in rows:
        sample_ms = None if row.sample_seconds is None else 1000 * row.sample_seconds
        lines.append(f"{row.name:<28}{row.size:>5}{row.fd:>8.2f}"
                     f"{_figure(row.accuracy, '{:.3f}'):>10}  {row.likelihood or '-':<22}"
                     f"{_figure(row.train_seconds, '{:.0f}'):>8}{_figure(sample_ms, '{:.2f}'):>10}")
    return "\n".join(lines)


def plot_table(rows: list[Row]) -> Figure:
    """Horizontal bars of FD (log scale), real digits in grey, models in colour."""
    fig, ax = plt.subplots(figsize=(7, 0.35 * len(rows) + 1))
    names = [row.name for row in rows][::-1]
    values = [row.fd for row in rows][::-1]
    colours = ["0.6" if name.startswith("real") else "C0" for name in names]
    ax.barh(names, values, color=colours)
    ax.set_xscale("log")
    ax.set_xlabel("Fréchet distance to the MNIST test digits (ResNet features, log scale)")
    ax.set_title("Lower is better; grey bars: real digits, the floor at this sample size")
    fig.tight_layout()
    return fig
