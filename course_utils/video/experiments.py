"""Training the chapter's video models on motion clips side by side, and what the notes' big
models cost.

    train = clips.make_motion_clips(2000, seed=0)
    test = clips.make_motion_clips(500, seed=1, split="test")
    results = experiments.compare_video_models(train, test)      # about half a minute, 1 thread
    print(experiments.format_comparison(results))
    print(experiments.format_cost_table(experiments.notes_cost_table()))

Every model sees the same clips in the same order, with the same optimiser and steps.
"""

import time
from collections.abc import Callable
from typing import Protocol

import numpy as np
import torch
from torch import nn

from course_utils import model_stats, runtime, training
from course_utils.architectures import stacks
from course_utils.video import models, space_time


class ClipSet(Protocol):
    """What course_utils.synthetic.clips.MotionClips provides: clips (N, 1, T, H, W) float32 in
    [0, 1], labels (N,) int64, and the class names."""

    clips: np.ndarray | torch.Tensor
    labels: np.ndarray | torch.Tensor
    class_names: tuple[str, ...] | list[str]


ModelBuilder = Callable[[int, int, int], nn.Module]

# name -> builder(num_classes, frames, size), in the lecture's order.
VIDEO_MODELS: dict[str, ModelBuilder] = {
    "single frame": lambda k, t, s: models.SingleFrameCNN(k),
    "late fusion (average)": lambda k, t, s: models.LateFusion(k, "average", t),
    "late fusion (MLP)": lambda k, t, s: models.LateFusion(k, "mlp", t),
    "early fusion": lambda k, t, s: models.EarlyFusion(k, t),
    "C3D": lambda k, t, s: models.C3D(k),
    "two-stream": lambda k, t, s: models.TwoStream(k, t),
    "ConvGRU": lambda k, t, s: models.RecurrentConvNet(k),
    "transformer (joint)": lambda k, t, s: space_time.SpaceTimeTransformer(k, "joint", t, s),
    "transformer (factorised)":
        lambda k, t, s: space_time.SpaceTimeTransformer(k, "factorised", t, s),
}

# Clips and epochs of the default comparison (about 30 s on one CPU thread) and of FULL = True.
SETTINGS = {
    "default": {"train_clips": 2000, "test_clips": 500, "epochs": 2},
    "full": {"train_clips": 4000, "test_clips": 1000, "epochs": 4},
}


def comparison_settings(full: bool = False) -> dict[str, int]:
    """{"train_clips", "test_clips", "epochs"} of the default or the FULL comparison."""
    return dict(SETTINGS["full" if full else "default"])


def build_video_model(name: str, num_classes: int, frames: int = 8, size: int = 32) -> nn.Module:
    """The model VIDEO_MODELS[name] for clips (N, 1, frames, size, size) and num_classes."""
    if name not in VIDEO_MODELS:
        raise ValueError(f"unknown model {name!r}; choose from {list(VIDEO_MODELS)}")
    return VIDEO_MODELS[name](num_classes, frames, size)


def _tensors(data: ClipSet) -> tuple[torch.Tensor, torch.Tensor]:
    clips = torch.as_tensor(np.asarray(data.clips), dtype=torch.float32)
    labels = torch.as_tensor(np.asarray(data.labels), dtype=torch.int64)
    if clips.ndim != 5 or labels.shape != clips.shape[:1]:
        raise ValueError(f"expected clips (N, C, T, H, W) and labels (N,), got "
                         f"{tuple(clips.shape)} and {tuple(labels.shape)}")
    return clips, labels


def train_video_model(model: nn.Module, train: ClipSet, epochs: int = 2, lr: float = 3e-3,
                      batch_size: int = 32, seed: int = 0, max_steps: int | None = None,
                      device: torch.device | str | None = None, progress: bool = True,
                      description: str = "training") -> dict[str, list[float]]:
    """Train a clip classifier in place with AdamW and a cosine-decaying learning rate.

    Args:
        model: maps clips (N, 1, T, H, W) to logits (N, K).
        train: clips and labels (a MotionClips).
        epochs: passes over the clips, in an order drawn from `seed`.
        lr: the peak learning rate.
        max_steps: stop after this many batches, even inside an epoch.
        device: where to train; runtime.pick_device() when None.
        progress: a rate-limited tqdm bar with the loss.

    Returns:
        training.train's history ("step_loss", "train_loss", "train_accuracy", "seconds").
    """
    clips, labels = _tensors(train)
    loader = training.make_loader(clips, labels, batch_size, shuffle=True, seed=seed)
    steps = len(loader) * epochs if max_steps is None else min(max_steps, len(loader) * epochs)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, total_steps=steps,
                                                    pct_start=0.1)
    return training.train(model, loader, optimizer, epochs=epochs, scheduler=scheduler,
                          max_steps=steps, device=device, seed=seed, progress=progress,
                          description=description)


def model_cost(model: nn.Module, clip_shape: tuple[int, ...]) -> dict[str, int]:
    """{"parameters", "macs"} of one clip of shape (C, T, H, W): model_stats' counts (convs and
    linear layers), plus a transformer's attention products, which model_stats does not see."""
    total = model_stats.totals(model_stats.layer_stats(model, clip_shape))
    macs = total["macs"]
    if isinstance(model, space_time.SpaceTimeTransformer):
        macs += model.attention_macs()
    return {"parameters": total["parameters"], "macs": macs}


def compare_video_models(train: ClipSet, test: ClipSet, epochs: int = 2, lr: float = 3e-3,
                         batch_size: int = 32, seed: int = 0, names: list[str] | None = None,
                         device: torch.device | str | None = None,
                         progress: bool = True) -> dict[str, dict[str, float]]:
    """Train every model of VIDEO_MODELS (or those in `names`) on the same clips and test them.

    Each model is made after seeding with `seed`, trained by train_video_model with the same
    settings, and evaluated on `test`.

    Returns:
        name -> {"accuracy" (on test), "parameters", "macs" (for one clip, model_cost),
        "train_seconds", "ms_per_clip" (inference in eval mode over the test clips, per clip),
        "final_loss" (mean training loss of the last epoch), "model" (the trained model, in
        eval mode)}.
    """
    train_clips, _ = _tensors(train)
    test_clips, test_labels = _tensors(test)
    _, _, frames, size, _ = train_clips.shape
    num_classes = len(train.class_names)
    results = {}
    for name in names if names is not None else list(VIDEO_MODELS):
        runtime.seed_everything(seed)
        model = build_video_model(name, num_classes, frames, size)
        cost = model_cost(model, tuple(train_clips.shape[1:]))
        start = time.perf_counter()
        history = train_video_model(model, train, epochs, lr, batch_size, seed, device=device,
                                    progress=progress, description=name)
        train_seconds = time.perf_counter() - start
        start = time.perf_counter()
        logits = training.predict(model, test_clips, batch_size=250)
        ms_per_clip = (time.perf_counter() - start) * 1000 / len(test_clips)
        results[name] = {"accuracy": training.accuracy(logits, test_labels), **cost,
                         "train_seconds": train_seconds, "ms_per_clip": ms_per_clip,
                         "final_loss": history["train_loss"][-1], "model": model.eval()}
    return results


def format_comparison(results: dict[str, dict[str, float]]) -> str:
    """A text table of compare_video_models' results."""
    lines = [f"{'model':<26}{'accuracy':>9}{'params':>9}{'MMACs':>8}{'train s':>9}"
             f"{'ms/clip':>9}"]
    for name, row in results.items():
        lines.append(f"{name:<26}{row['accuracy']:>9.3f}{row['parameters']:>9,}"
                     f"{row['macs'] / 1e6:>8.2f}{row['train_seconds']:>9.1f}"
                     f"{row['ms_per_clip']:>9.3f}")
    return "\n".join(lines)


# The notes' costs (lecture 12), in "GFLOP", with the input sizes of the models' papers.
NOTES_GFLOP = {"AlexNet": 0.7, "VGG-16": 13.6, "C3D": 39.5}


def notes_cost_table() -> dict[str, dict[str, object]]:
    """Parameters and multiply-accumulates of AlexNet (3 x 227 x 227, the paper's two-GPU
    grouping), VGG-16 (3 x 224 x 224) and C3D (3 x 16 x 112 x 112, Tran et al.'s eight convs),
    built on the meta device (no memory) and counted by model_stats.

    Returns:
        name -> {"input_size", "parameters", "gmacs" (10^9 MACs), "gflops" (2 FLOPs per MAC),
        "notes_gflop" (the notes' figure)}.
    """
    builders = {"AlexNet": (stacks.alexnet, (3, 227, 227)),
                "VGG-16": (stacks.vgg16, (3, 224, 224)),
                "C3D": (models.c3d_original, (3, 16, 112, 112))}
    table = {}
    for name, (builder, input_size) in builders.items():
        total = model_stats.totals(model_stats.layer_stats(model_stats.build_on_meta(builder),
                                                           input_size))
        table[name] = {"input_size": input_size, "parameters": total["parameters"],
                       "gmacs": total["macs"] / 1e9, "gflops": 2 * total["macs"] / 1e9,
                       "notes_gflop": NOTES_GFLOP[name]}
    return table


def format_cost_table(table: dict[str, dict[str, object]]) -> str:
    """A text table of notes_cost_table()."""
    lines = [f"{'model':<10}{'input':>18}{'params (M)':>12}{'GMACs':>8}{'GFLOPs':>8}"
             f"{'notes':>8}"]
    for name, row in table.items():
        size = " x ".join(str(s) for s in row["input_size"])
        lines.append(f"{name:<10}{size:>18}{row['parameters'] / 1e6:>12.1f}{row['gmacs']:>8.2f}"
                     f"{row['gflops']:>8.2f}{row['notes_gflop']:>8.1f}")
    return "\n".join(lines)
