"""An autoencoder of MNIST whose codes classify digits from few labels, and the training loop
that the chapter's MNIST autoencoders share (this one and vae.VAE).

    model = autoencoder.load_mnist_autoencoder()          # or train_autoencoder(epochs=1)
    codes = autoencoder.encode(model, x_test)             # uint8 (N, 28, 28) -> (N, 32)
    autoencoder.few_label_accuracy(codes_train, y_train, codes_test, y_test, 10, seed=0)

The autoencoder never sees a label: it learns to squeeze each digit through a 32-number
bottleneck and back. A linear classifier fitted on a handful of labelled codes then shows how
much of the digit's identity the bottleneck kept, compared with the raw pixels and with PCA of
the same dimension (few_label_table).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from course_utils import data, pretrained, runtime, training

Tensor = torch.Tensor
# loss(model, batch of images (B, 1, 28, 28)) -> the scalar loss to minimise
BatchLoss = Callable[[nn.Module, Tensor], Tensor]

MNIST_AUTOENCODER_PATH = data.DATA_DIR / "mnist_autoencoder.pt"
MNIST_AUTOENCODER_SHA256 = "3701bebb99ca8c1bf14978bec5f2507c36f71290521508a826a114009a832a30"
# Mean squared error per pixel of the committed weights' reconstructions of the 10,000 MNIST
# test digits (grey levels in [0, 1]), and its PSNR, -10 log10(MSE), which the training command
# prints as its score (the command saves from a minimum up, so its score must grow).
MNIST_AUTOENCODER_TEST_MSE = 0.004564
MNIST_AUTOENCODER_TEST_PSNR = 23.4067
MNIST_AUTOENCODER_TRAIN_SECONDS = 130   # 1 CPU thread, shared machine


def as_images(images: np.ndarray | Tensor) -> Tensor:
    """MNIST digits as float32 (N, 1, 28, 28) in [0, 1]: uint8 (N, 28, 28) grey levels as
    load_mnist returns them, or float images (N, 1, 28, 28) or (N, 784) already in [0, 1]."""
    if isinstance(images, np.ndarray) and images.dtype == np.uint8:
        images = training.images_to_tensor(images)
    images = torch.as_tensor(images, dtype=torch.float32)
    if images.ndim == 2 and images.shape[1] == 28 * 28:
        images = images.reshape(-1, 1, 28, 28)
    if images.ndim != 4 or images.shape[1:] != (1, 28, 28):
        raise ValueError(f"expected MNIST images (N, 1, 28, 28) or (N, 784), or uint8 "
                         f"(N, 28, 28), got {tuple(images.shape)}")
    return images


def model_device(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


@contextmanager
def evaluating(model: nn.Module) -> Iterator[torch.device]:
    """Run `model` in eval mode without gradients, its mode restored after; yields its device."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            yield model_device(model)
    finally:
        model.train(was_training)


def fit_autoencoder(model: nn.Module, images: Tensor, batch_loss: BatchLoss, epochs: int,
                    lr: float = 1e-3, batch_size: int = 128, seed: int = 0,
                    max_steps: int | None = None, progress: bool = True,
                    device: torch.device | str | None = None, description: str = "autoencoder"
                    ) -> dict[str, list[float]]:
    """Train `model` in place with Adam on `images` (N, 1, 28, 28), without labels.

    Every epoch visits the images in a new order drawn from a generator seeded with `seed`;
    the global generators are seeded with `seed` too (for what the model draws, such as a VAE's
    noise). Stops after `max_steps` batches in all when given, even inside an epoch.

    Returns:
        history: "step_loss" (each batch's loss), and per epoch "train_loss" (the mean of the
        epoch's batch losses weighted by batch size) and "seconds" (since the start).
    """
    if epochs < 1:
        raise ValueError(f"epochs must be at least 1, got {epochs}")
    if max_steps is not None and max_steps < 1:
        raise ValueError(f"max_steps must be at least 1 (or None), got {max_steps}")
    runtime.seed_everything(seed)
    device = torch.device(device) if device is not None else runtime.pick_device()
    model.to(device).train()
    images = images.to(device)
    order_generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    total = epochs * math.ceil(len(images) / batch_size)
    total = total if max_steps is None else min(total, max_steps)
    history: dict[str, list[float]] = {"step_loss": [], "train_loss": [], "seconds": []}
    start = time.perf_counter()
    bar = tqdm(total=total, desc=description, disable=not progress, mininterval=1)
    while len(history["step_loss"]) < total:
        loss_sum, count = 0.0, 0
        for batch_indices in torch.randperm(len(images), generator=order_generator).split(
                batch_size):
            batch = images[batch_indices.to(device)]
            loss = batch_loss(model, batch)
            value = loss.item()
            if not math.isfinite(value):
                bar.close()
                raise FloatingPointError(f"the loss became {value} at step "
                                         f"{len(history['step_loss'])}: lower the learning rate")
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            history["step_loss"].append(value)
            loss_sum, count = loss_sum + value * len(batch), count + len(batch)
            bar.set_postfix(loss=f"{value:.4g}", refresh=False)   # drawn by update(), rate-limited
            bar.update()
            if len(history["step_loss"]) >= total:
                break
        history["train_loss"].append(loss_sum / count)
        history["seconds"].append(time.perf_counter() - start)
    bar.close()
    return history


class Autoencoder(nn.Module):
    """A small convolutional autoencoder of MNIST digits.

    Encoder: 3x3 stride-2 convolutions 1 -> 16 -> 32 channels (28 -> 14 -> 7) with ReLU, then a
    linear layer to the `bottleneck` code. Decoder: the mirror image, a linear layer back to
    32 x 7 x 7 and two 4x4 stride-2 transposed convolutions (7 -> 14 -> 28), a sigmoid last so
    that the reconstruction's grey levels are in [0, 1]. About 110,000 parameters at
    bottleneck 32.
    """

    def __init__(self, bottleneck: int = 32) -> None:
        super().__init__()
        if bottleneck < 1:
            raise ValueError(f"bottleneck must be at least 1, got {bottleneck}")
        self.bottleneck = bottleneck
        self.encoder = nn.Sequential(
            nn.Conv2d(1, 16, 3, stride=2, padding=1), nn.ReLU(),
            nn.Conv2d(16, 32, 3, stride=2, padding=1), nn.ReLU(),
            nn.Flatten(), nn.Linear(32 * 7 * 7, bottleneck))
        self.decoder = nn.Sequential(
            nn.Linear(bottleneck, 32 * 7 * 7), nn.ReLU(), nn.Unflatten(1, (32, 7, 7)),
            nn.ConvTranspose2d(32, 16, 4, stride=2, padding=1), nn.ReLU(),
            nn.ConvTranspose2d(16, 1, 4, stride=2, padding=1), nn.Sigmoid())

    def forward(self, x: Tensor) -> Tensor:
        """Images (N, 1, 28, 28) in [0, 1] -> reconstructions (N, 1, 28, 28) in [0, 1]."""
        return self.decoder(self.encoder(x))


def reconstruction_loss(model: nn.Module, batch: Tensor) -> Tensor:
    """The autoencoder's training loss: mean squared error per pixel."""
    return F.mse_loss(model(batch), batch)


def train_autoencoder(epochs: int = 8, seed: int = 0, progress: bool = True,
                      max_steps: int | None = None, bottleneck: int = 32, lr: float = 2e-3,
                      batch_size: int = 128, device: torch.device | str | None = None
                      ) -> tuple[Autoencoder, dict[str, list[float]]]:
    """An Autoencoder(bottleneck) trained on the 60,000 MNIST training digits, without their
    labels, to minimise the mean squared error per pixel (Adam, learning rate `lr`; see
    fit_autoencoder for the order, the seeds and `max_steps`).

    Returns:
        the model in eval mode, on `device` (runtime.pick_device() when None), and the history.
    """
    x_train, _, _, _ = data.load_mnist()
    runtime.seed_everything(seed)
    model = Autoencoder(bottleneck)
    history = fit_autoencoder(model, training.images_to_tensor(x_train), reconstruction_loss,
                              epochs, lr=lr, batch_size=batch_size, seed=seed,
                              max_steps=max_steps, progress=progress, device=device,
                              description="MNIST autoencoder")
    return model.eval(), history


def _batched(model: nn.Module, images: np.ndarray | Tensor, function: Callable[[Tensor], Tensor],
             batch_size: int = 1000) -> Tensor:
    """function(batch) over `images` in batches, in eval mode, concatenated on the CPU."""
    images = as_images(images)
    with evaluating(model) as device:
        return torch.cat([function(batch.to(device)).float().cpu()
                          for batch in images.split(batch_size)])


def encode(model: Autoencoder, images: np.ndarray | Tensor) -> Tensor:
    """The codes of `images` (see as_images for the layouts): float32 (N, bottleneck), CPU."""
    return _batched(model, images, model.encoder)


def reconstruct(model: Autoencoder, images: np.ndarray | Tensor) -> Tensor:
    """The model's reconstructions of `images`: float32 (N, 1, 28, 28) in [0, 1], CPU."""
    return _batched(model, images, model)


def reconstruction_mse(model: Autoencoder, images: np.ndarray | Tensor) -> float:
    """Mean squared error per pixel between `images` and their reconstructions, grey levels in
    [0, 1] (lower is better)."""
    return F.mse_loss(reconstruct(model, images), as_images(images)).item()


def psnr(mse: float) -> float:
    """Peak signal-to-noise ratio in dB of a mean squared error of images in [0, 1]:
    -10 log10(mse), higher is better."""
    if not mse > 0:
        raise ValueError(f"mse must be positive, got {mse}")
    return -10 * math.log10(mse)


def balanced_subset(labels: np.ndarray, labels_per_class: int, seed: int) -> np.ndarray:
    """Indices of `labels_per_class` examples of every class of `labels` (N,), drawn without
    replacement by np.random.default_rng(seed), class by class in increasing order."""
    labels = np.asarray(labels)
    if labels_per_class < 1:
        raise ValueError(f"labels_per_class must be at least 1, got {labels_per_class}")
    rng = np.random.default_rng(seed)
    chosen = []
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        if len(members) < labels_per_class:
            raise ValueError(f"class {label} has only {len(members)} examples, fewer than "
                             f"labels_per_class={labels_per_class}")
        chosen.append(rng.choice(members, labels_per_class, replace=False))
    return np.concatenate(chosen)


def _as_features(features: np.ndarray | Tensor) -> np.ndarray:
    if isinstance(features, Tensor):
        features = features.detach().cpu().numpy()
    features = np.asarray(features, dtype=np.float64)
    return features.reshape(len(features), -1)


def few_label_accuracy(features_train: np.ndarray | Tensor, y_train: np.ndarray,
                       features_test: np.ndarray | Tensor, y_test: np.ndarray,
                       labels_per_class: int, seed: int = 0) -> float:
    """Test accuracy of a logistic regression fitted on `labels_per_class` labelled examples
    per class only.

    The labelled examples are balanced_subset(y_train, labels_per_class, seed); every feature
    is standardised with the mean and standard deviation of those examples (so that codes of any
    scale and raw pixels are treated alike), then scikit-learn's LogisticRegression (L2, C=1,
    lbfgs) is fitted and scored on all of the test set.

    Args:
        features_train, features_test: (N, D) features (or images, flattened), e.g. codes.
        y_train, y_test: int labels (N,).
    """
    from sklearn.linear_model import LogisticRegression  # imported here: it takes a second
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    features_train, features_test = _as_features(features_train), _as_features(features_test)
    y_train, y_test = np.asarray(y_train), np.asarray(y_test)
    if len(features_train) != len(y_train) or len(features_test) != len(y_test):
        raise ValueError(f"features and labels differ in length: {len(features_train)} and "
                         f"{len(y_train)} (train), {len(features_test)} and {len(y_test)} (test)")
    if features_train.shape[1] != features_test.shape[1]:
        raise ValueError(f"train and test features differ in dimension: "
                         f"{features_train.shape[1]} and {features_test.shape[1]}")
    subset = balanced_subset(y_train, labels_per_class, seed)
    classifier = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=2000))
    classifier.fit(features_train[subset], y_train[subset])
    return float(classifier.score(features_test, y_test))


def pca_features(x_train: np.ndarray | Tensor, x_test: np.ndarray | Tensor, dim: int
                 ) -> tuple[np.ndarray, np.ndarray]:
    """The first `dim` principal components of the images, fitted on all of x_train without
    labels (scikit-learn's PCA from the eigenvectors of the pixels' covariance, exact and fast
    for many images of few pixels): ((N_train, dim), (N_test, dim)), float32."""
    from sklearn.decomposition import PCA

    train, test = (as_images(x).flatten(1).numpy() for x in (x_train, x_test))
    pca = PCA(dim, svd_solver="covariance_eigh").fit(train)
    return pca.transform(train), pca.transform(test)


def few_label_table(model: Autoencoder, x_train: np.ndarray, y_train: np.ndarray,
                    x_test: np.ndarray, y_test: np.ndarray,
                    labels_per_class: Sequence[int] = (10, 100), seeds: Sequence[int] = (0, 1, 2)
                    ) -> dict[str, dict[int, float]]:
    """few_label_accuracy of three features of the same digits, averaged over `seeds`:
    {"pixels": ..., f"PCA {D}": ..., f"codes {D}": ...}, each {labels_per_class: accuracy}, with D
    the model's bottleneck."""
    dim = model.bottleneck
    features = {"pixels": (as_images(x_train), as_images(x_test)),
                f"PCA {dim}": pca_features(x_train, x_test, dim),
                f"codes {dim}": (encode(model, x_train), encode(model, x_test))}
    return {name: {k: float(np.mean([few_label_accuracy(train, y_train, test, y_test, k, seed)
                                     for seed in seeds])) for k in labels_per_class}
            for name, (train, test) in features.items()}


def format_few_label_table(table: dict[str, dict[int, float]]) -> str:
    """few_label_table as aligned text, accuracies in per cent with one decimal."""
    counts = list(next(iter(table.values())))
    lines = [f"{'features':<12}" + "".join(f"{f'{k} labels/class':>18}" for k in counts)]
    lines += [f"{name:<12}" + "".join(f"{100 * row[k]:>17.1f}%" for k in counts)
              for name, row in table.items()]
    return "\n".join(lines)


def load_mnist_autoencoder(path: Path = MNIST_AUTOENCODER_PATH,
                           device: torch.device | str = "cpu") -> Autoencoder:
    """Autoencoder() with the weights that `python -m instructor.weights mnist_autoencoder`
    made (checked against their sha256), in eval mode: images (N, 1, 28, 28) in [0, 1] ->
    reconstructions, model.encoder -> codes (N, 32)."""
    model = pretrained.load_weights(Autoencoder(), path, committed=MNIST_AUTOENCODER_PATH,
                                    sha256=MNIST_AUTOENCODER_SHA256,
                                    what="MNIST autoencoder weights",
                                    remake="`python -m instructor.weights mnist_autoencoder` "
                                           "(a few CPU minutes)")
    return model.to(device).eval()
