"""One train/evaluate loop for PyTorch classifiers, used by every chapter from 6 on.

    loader = training.make_loader(x_train, y_train, batch_size=128, shuffle=True, seed=0)
    history = training.train(model, loader, optimizer, epochs=2, val_loader=val_loader, seed=0)
    training.evaluate(model, test_loader)   # {"loss": ..., "accuracy": ...}

The model goes to `device` (cuda when present, else cpu); a tqdm bar shows the loss as it trains.
"""

import math
import time
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset
from tqdm.auto import tqdm

from course_utils import runtime

LossFunction = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def _as_tensor(array: np.ndarray | torch.Tensor) -> torch.Tensor:
    return array if isinstance(array, torch.Tensor) else torch.from_numpy(np.asarray(array))


def images_to_tensor(images: np.ndarray) -> torch.Tensor:
    """uint8 grey (N, H, W) or colour (N, H, W, C) images as float32 (N, C, H, W) in [0, 1]."""
    images = np.asarray(images)
    if images.dtype != np.uint8 or images.ndim not in (3, 4):
        raise ValueError(f"expected uint8 images (N, H, W) or (N, H, W, C), got {images.dtype} "
                         f"{images.shape}")
    tensor = torch.from_numpy(images).float().div_(255)
    return tensor.unsqueeze(1) if images.ndim == 3 else tensor.permute(0, 3, 1, 2).contiguous()


def make_loader(x: np.ndarray | torch.Tensor, y: np.ndarray | torch.Tensor, batch_size: int,
                shuffle: bool = False, seed: int | None = None) -> DataLoader:
    """A DataLoader over in-memory inputs x (N, ...) and labels y (N,).

    Args:
        shuffle: draw a new order every epoch, from a generator seeded with `seed`.
        seed: makes the order repeat between runs; None draws from torch's global generator.
    """
    x, y = _as_tensor(x), _as_tensor(y)
    if len(x) != len(y):
        raise ValueError(f"x and y must have the same length, got {len(x)} and {len(y)}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    generator = torch.Generator().manual_seed(seed) if seed is not None else None
    return DataLoader(TensorDataset(x, y), batch_size=batch_size, shuffle=shuffle,
                      generator=generator)


def accuracy(logits: torch.Tensor, labels: torch.Tensor) -> float:
    """Fraction of rows of logits (N, K) whose largest entry is at the label (N,)."""
    if logits.ndim != 2 or labels.shape != logits.shape[:1] or len(labels) == 0:
        raise ValueError(f"expected logits (N, K) and labels (N,) with N > 0, got "
                         f"{tuple(logits.shape)} and {tuple(labels.shape)}")
    return (logits.argmax(dim=1) == labels).sum().item() / len(labels)


def _model_device(model: nn.Module) -> torch.device:
    parameter = next(model.parameters(), None)
    return parameter.device if parameter is not None else torch.device("cpu")


@torch.no_grad()
def predict(model: nn.Module, x: np.ndarray | torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
    """Outputs of the model in eval mode for inputs x (N, ...), in batches, on the CPU.

    The model stays on its device and is put back into its previous mode.
    """
    x = _as_tensor(x)
    device, was_training = _model_device(model), model.training
    model.eval()
    try:
        outputs = [model(x[i:i + batch_size].to(device)).cpu()
                   for i in range(0, len(x), batch_size)]
    finally:
        model.train(was_training)
    return torch.cat(outputs)


@torch.no_grad()
def evaluate(model: nn.Module, loader: DataLoader,
             loss_fn: LossFunction = F.cross_entropy) -> dict[str, float]:
    """Mean loss and accuracy of the model in eval mode over a loader: {"loss", "accuracy"}."""
    device, was_training = _model_device(model), model.training
    model.eval()
    total_loss, correct, count = 0.0, 0, 0
    try:
        for x, y in loader:
            x, y = x.to(device), y.to(device)
            logits = model(x)
            total_loss += loss_fn(logits, y).item() * len(y)
            correct += (logits.argmax(dim=1) == y).sum().item()
            count += len(y)
    finally:
        model.train(was_training)
    if count == 0:
        raise ValueError("the loader is empty")
    return {"loss": total_loss / count, "accuracy": correct / count}


def train(model: nn.Module, train_loader: DataLoader, optimizer: torch.optim.Optimizer,
          epochs: int = 1, loss_fn: LossFunction = F.cross_entropy,
          val_loader: DataLoader | None = None,
          scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
          max_steps: int | None = None, device: torch.device | str | None = None,
          seed: int | None = None, progress: bool = True,
          description: str = "training") -> dict[str, list[float]]:
    """Train `model` in place with minibatch gradient descent.

    Args:
        model: maps a batch x to logits (N, K); moved to `device`.
        train_loader: yields (x, y) batches.
        optimizer: built on model.parameters() (moving a model keeps its parameter objects).
        epochs: passes over train_loader.
        loss_fn: loss_fn(logits, y) -> scalar, cross-entropy by default.
        val_loader: evaluated after every epoch when given.
        scheduler: stepped after every batch (e.g. OneCycleLR with steps_per_epoch=len(loader)).
        max_steps: stop after this many batches in all, even inside an epoch.
        device: where to compute; runtime.pick_device() when None.
        seed: seeds every generator first (dropout, augmentation), when given.
        progress: show a tqdm bar with the running loss.

    Returns:
        history: "step_loss" (each batch's loss), and per epoch "train_loss" (mean over the epoch's
        batches, measured while training), "train_accuracy", "val_loss" and "val_accuracy" (when
        val_loader is given), "seconds" (time since the start, at the end of each epoch).
    """
    if epochs < 1:
        raise ValueError(f"epochs must be at least 1, got {epochs}")
    if seed is not None:
        runtime.seed_everything(seed)
    device = torch.device(device) if device is not None else runtime.pick_device()
    model.to(device)
    total = len(train_loader) * epochs
    if max_steps is not None:
        total = min(total, max_steps)
    history: dict[str, list[float]] = {"step_loss": [], "train_loss": [], "train_accuracy": [],
                                       "seconds": []}
    if val_loader is not None:
        history.update(val_loss=[], val_accuracy=[])
    start = time.perf_counter()
    bar = tqdm(total=total, desc=description, disable=not progress)
    for _ in range(epochs):
        model.train()
        loss_sum, correct, count = 0.0, 0, 0
        for x, y in train_loader:
            x, y = x.to(device), y.to(device)
            logits = model(x)
            loss = loss_fn(logits, y)
            value = loss.item()
            if not math.isfinite(value):
                bar.close()
                step = len(history["step_loss"])
                raise FloatingPointError(f"the loss became {value} at step {step}: "
                                         "lower the learning rate")
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            if scheduler is not None:
                scheduler.step()
            history["step_loss"].append(value)
            loss_sum += value * len(y)
            correct += (logits.argmax(dim=1) == y).sum().item()
            count += len(y)
            bar.set_postfix(loss=f"{value:.3f}", refresh=False)  # redrawn by update(), rate-limited
            bar.update()
            if len(history["step_loss"]) >= total:
                break
        history["train_loss"].append(loss_sum / count)
        history["train_accuracy"].append(correct / count)
        if val_loader is not None:
            scores = evaluate(model, val_loader, loss_fn)
            history["val_loss"].append(scores["loss"])
            history["val_accuracy"].append(scores["accuracy"])
            bar.set_postfix(loss=f"{value:.3f}", val_accuracy=f"{scores['accuracy']:.3f}")
        history["seconds"].append(time.perf_counter() - start)
        if len(history["step_loss"]) >= total:
            break
    bar.close()
    return history
