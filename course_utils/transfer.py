"""Transfer learning, measured: a small CNN pretrained on MNIST digits 0-4 learns digits 5-9.

    source = transfer.load_digits_cnn()     # trained on digits 0-4, eval mode, on the CPU
    x_new, y_new = transfer.select_digits(x_train, y_train, transfer.TARGET_DIGITS)  # 5..9 -> 0..4
    x_new_test, y_new_test = transfer.select_digits(x_test, y_test, transfer.TARGET_DIGITS)
    table = transfer.transfer_table(source, x_new, y_new, x_new_test, y_new_test,
                                    {"few": 50, "many": 2000})
    print(table.format())

The three strategies of the CS231n notes ("Transfer Learning"), on a copy of the source model whose
last layer is replaced by a fresh one with as many outputs as the target task has classes:

- "linear": every pretrained layer frozen, only the new last layer trains (a linear classifier
  on the frozen top-layer features);
- "last layers": conv3, fc1 and the new fc2 train, conv1 and conv2 stay frozen;
- "all": every layer trains, starting from the pretrained weights;

and, for reference, "scratch": the same network trained from a random initialization.
"""

import copy
import math
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from course_utils import data, pretrained, runtime, training

SOURCE_DIGITS = (0, 1, 2, 3, 4)
TARGET_DIGITS = (5, 6, 7, 8, 9)
# Which layers train in each strategy (None: all of them).
STRATEGIES: dict[str, tuple[str, ...] | None] = {
    "linear": ("fc2",),
    "last layers": ("conv3", "fc1", "fc2"),
    "all": None,
    "scratch": None,   # not transfer: the same network from a random initialization, for reference
}
# Adam learning rates: a fresh linear layer alone takes a larger step than pretrained weights do.
LEARNING_RATES = {"linear": 1e-2, "last layers": 1e-3, "all": 1e-3, "scratch": 1e-3}
DIGITS_CNN_PATH = data.DATA_DIR / "mnist_0to4_cnn.pt"
DIGITS_CNN_SHA256 = "9b74b3b40d776220d531d741c0343337ff2f9f1ef97f455ce5abf093b1eb71eb"
# Accuracy of the committed weights on the MNIST test digits 0-4.
DIGITS_CNN_ACCURACY = 0.9969


def select_digits(x: np.ndarray, y: np.ndarray,
                  digits: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """The samples whose label is one of `digits`, relabelled 0 .. len(digits) - 1.

    Args:
        x: images, shape (N, ...); y: labels, shape (N,).
        digits: the labels to keep, distinct; digits[k] becomes label k.

    Returns:
        x_kept (M, ...) and y_kept (M,) int64, in their original order.
    """
    if len(x) != len(y):
        raise ValueError(f"x has {len(x)} samples but y has {len(y)}: pass matching arrays")
    if len(set(digits)) != len(digits) or not digits:
        raise ValueError(f"digits must be distinct and not empty, got {digits}")
    lookup = np.full(max(int(np.max(y)), max(digits)) + 1, -1, dtype=np.int64)
    lookup[list(digits)] = np.arange(len(digits))
    new_labels = lookup[np.asarray(y)]
    keep = new_labels >= 0
    return x[keep], new_labels[keep]


def digits_cnn(num_classes: int = 5) -> nn.Sequential:
    """A small CNN: images (N, 1, 28, 28) in [0, 1] -> logits (N, num_classes).

    conv1 (16) -> pool -> conv2 (32) -> pool -> conv3 (32) -> pool, all 3x3 with ReLU, then
    fc1 (288 -> 64, ReLU) and fc2 (64 -> num_classes); 33 k parameters. The 64 outputs of fc1's
    ReLU are the "top-layer features" of the notes. No batch norm or dropout, so a frozen layer
    computes the same thing in training and eval mode.
    """
    layers: list[tuple[str, nn.Module]] = []
    for index, (c_in, c_out) in enumerate([(1, 16), (16, 32), (32, 32)], start=1):
        layers += [(f"conv{index}", nn.Conv2d(c_in, c_out, 3, padding=1)),
                   (f"relu{index}", nn.ReLU()), (f"pool{index}", nn.MaxPool2d(2))]
    return nn.Sequential(OrderedDict(layers + [
        ("flatten", nn.Flatten()),
        ("fc1", nn.Linear(32 * 3 * 3, 64)), ("relu4", nn.ReLU()),
        ("fc2", nn.Linear(64, num_classes)),
    ]))


def train_digits_cnn(epochs: int = 2, batch_size: int = 64, lr: float = 2e-3, seed: int = 0,
                     device: torch.device | str = "cpu",
                     progress: bool = True) -> tuple[nn.Sequential, dict[str, list[float]]]:
    """Pretrain digits_cnn() on the MNIST training digits 0-4 (30,596 images) with Adam.

    Returns:
        the trained model (eval mode) and training.train's history.
    """
    x_train, y_train, _, _ = data.load_mnist()
    x_source, y_source = select_digits(x_train, y_train, SOURCE_DIGITS)
    runtime.seed_everything(seed)
    model = digits_cnn(len(SOURCE_DIGITS))
    loader = training.make_loader(training.images_to_tensor(x_source), y_source, batch_size,
                                  shuffle=True, seed=seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    history = training.train(model, loader, optimizer, epochs=epochs, device=device, seed=seed,
                             progress=progress, description="pretraining on 0-4")
    return model.cpu().eval(), history


def load_digits_cnn(path: Path = DIGITS_CNN_PATH,
                    device: torch.device | str = "cpu") -> nn.Sequential:
    """digits_cnn() with the weights that `python -m instructor.weights mnist_0to4` made, in
    eval mode.

    Offline: the weights ship with the course; the committed file is checked against its sha256.
    """
    model = pretrained.load_weights(
        digits_cnn(len(SOURCE_DIGITS)), path, committed=DIGITS_CNN_PATH, sha256=DIGITS_CNN_SHA256,
        what="digits 0-4 CNN weights",
        remake="`python -m instructor.weights mnist_0to4` (under a minute on a CPU)")
    return model.to(device).eval()


def prepare_transfer(source: nn.Sequential, strategy: str, num_classes: int,
                     seed: int) -> nn.Sequential:
    """A copy of `source` with a fresh last layer (fc2) and only the strategy's layers trainable.

    Args:
        source: a digits_cnn(); left unchanged.
        strategy: a key of STRATEGIES.
        num_classes: outputs of the new fc2.
        seed: seeds the new fc2's initial weights.

    Returns:
        the model, in training mode; frozen parameters have requires_grad False.
    """
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown strategy {strategy!r}: pass one of {list(STRATEGIES)}")
    device = next(source.parameters()).device
    if strategy == "scratch":
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            return digits_cnn(num_classes).to(device)
    model = copy.deepcopy(source).train()
    with torch.random.fork_rng(devices=[]):   # seeded, without touching the global generator
        torch.manual_seed(seed)
        fresh = nn.Linear(model.fc2.in_features, num_classes)
    model.fc2 = fresh.to(device)
    trainable = STRATEGIES[strategy]
    for name, layer in model.named_children():
        for parameter in layer.parameters():
            parameter.requires_grad_(trainable is None or name in trainable)
    return model


def trainable_parameter_names(model: nn.Module) -> list[str]:
    """Names of the parameters that require gradients, e.g. ["fc2.weight", "fc2.bias"]."""
    return [name for name, parameter in model.named_parameters() if parameter.requires_grad]


def split_frozen_prefix(model: nn.Sequential) -> tuple[nn.Sequential, nn.Sequential]:
    """(frozen, rest): the leading layers that have no trainable parameter, and the others.

    Both share their layers with `model`, and rest(frozen(x)) == model(x). Outputs of the frozen
    layers never change while training, so they can be computed once and cached.
    """
    cut = 0
    for layer in model:
        if any(parameter.requires_grad for parameter in layer.parameters()):
            break
        cut += 1
    return model[:cut], model[cut:]


def fine_tune(model: nn.Sequential, x: torch.Tensor, y: torch.Tensor, steps: int,
              batch_size: int = 64, lr: float = 1e-3, seed: int = 0,
              device: torch.device | str | None = None,
              progress: bool = False) -> dict[str, list[float]]:
    """Train the trainable parameters of `model` with Adam for `steps` minibatches.

    The frozen leading layers run once over x (split_frozen_prefix); only the rest trains, on
    their cached outputs. That is exact here because the model has no batch norm or dropout.

    Args:
        model: a digits_cnn() prepared by prepare_transfer.
        x: images, shape (N, 1, 28, 28) float32 in [0, 1]; y: labels (N,) int64.
        steps: optimizer steps (batches), however many epochs that takes.

    Returns:
        training.train's history.
    """
    device = torch.device(device) if device is not None else runtime.pick_device()
    frozen, trainable = split_frozen_prefix(model.to(device))
    if len(trainable) == 0:
        raise ValueError("the model has no trainable layer: pass one from prepare_transfer")
    features = training.predict(frozen, x) if len(frozen) else x
    loader = training.make_loader(features, y, min(batch_size, len(y)), shuffle=True, seed=seed)
    optimizer = torch.optim.Adam([p for p in trainable.parameters() if p.requires_grad], lr=lr)
    return training.train(trainable, loader, optimizer, epochs=math.ceil(steps / len(loader)),
                          max_steps=steps, device=device, seed=seed, progress=progress,
                          description="fine-tuning")


@dataclass
class TransferTable:
    """Test accuracies of each strategy (column) after training on each label budget (row).

    runs[i, j, k]: row i, column j, seed k; accuracy: their mean over seeds, shape (rows, columns).
    """

    rows: list[str]
    columns: list[str]
    label_counts: list[int]
    runs: np.ndarray

    @property
    def accuracy(self) -> np.ndarray:
        return self.runs.mean(axis=2)

    def format(self) -> str:
        """The table as aligned text, mean accuracies to 3 decimals."""
        width = max(len(c) for c in self.columns) + 2
        lines = [f"{'labels':>14}" + "".join(f"{c:>{width}}" for c in self.columns)]
        for row, count, values in zip(self.rows, self.label_counts, self.accuracy, strict=True):
            lines.append(f"{f'{row} ({count})':>14}" + "".join(f"{v:>{width}.3f}" for v in values))
        return "\n".join(lines)


def transfer_table(source: nn.Sequential, x_train: np.ndarray, y_train: np.ndarray,
                   x_test: np.ndarray, y_test: np.ndarray, label_counts: dict[str, int],
                   steps: dict[str, int] | None = None,
                   strategies: tuple[str, ...] = ("linear", "last layers", "all"),
                   learning_rates: dict[str, float] | None = None, seeds: tuple[int, ...] = (0,),
                   device: torch.device | str | None = None,
                   progress: bool = True) -> TransferTable:
    """Fine-tune `source` with each strategy on each label budget and measure test accuracy.

    Args:
        source: the pretrained digits_cnn(); left unchanged.
        x_train, x_test: uint8 images (N, 28, 28) of the target task; y_train, y_test: labels
            (N,) in 0 .. K-1.
        label_counts: row name -> number of training labels, drawn stratified with each seed.
        steps: row name -> optimizer steps (default 200 for every row).
        strategies: columns, keys of STRATEGIES.
        learning_rates: strategy -> Adam learning rate (default LEARNING_RATES).
        seeds: one run per seed (the label draw, the new layers, the batch order).

    Returns:
        a TransferTable with runs of shape (len(label_counts), len(strategies), len(seeds)).
    """
    device = torch.device(device) if device is not None else runtime.pick_device()
    learning_rates = {**LEARNING_RATES, **(learning_rates or {})}
    num_classes = int(max(y_train.max(), y_test.max())) + 1
    x_test_tensor, y_test_tensor = training.images_to_tensor(x_test), torch.from_numpy(y_test)
    runs = np.zeros((len(label_counts), len(strategies), len(seeds)))
    bar = tqdm(total=runs.size, desc="transfer table", disable=not progress)
    for i, (row, count) in enumerate(label_counts.items()):
        for k, seed in enumerate(seeds):
            x_labelled, y_labelled = data.subsample(x_train, y_train, count, seed=seed)
            x_labelled = training.images_to_tensor(x_labelled)
            y_labelled = torch.from_numpy(y_labelled)
            for j, strategy in enumerate(strategies):
                model = prepare_transfer(source, strategy, num_classes, seed)
                fine_tune(model, x_labelled, y_labelled, (steps or {}).get(row, 200),
                          lr=learning_rates[strategy], seed=seed, device=device)
                logits = training.predict(model, x_test_tensor)
                runs[i, j, k] = training.accuracy(logits, y_test_tensor)
                bar.update()
                bar.set_postfix(labels=count, strategy=strategy)
    bar.close()
    return TransferTable(list(label_counts), list(strategies), list(label_counts.values()), runs)
