"""Generative adversarial networks with CS231n's names (2022 assignment 3, GANs-PyTorch): the
noise, the fully connected discriminator and generator, the losses of the original GAN (with the
non-saturating generator loss), of the least-squares GAN, and the DCGAN's convolutional pair.

    D, G = discriminator(seed=0), generator(seed=0)
    z = sample_noise(128, NOISE_DIM)                       # (128, 96), uniform in [-1, 1)
    fake = G(z)                                            # (128, 784) in (-1, 1)
    d_loss = discriminator_loss(D(real), D(fake.detach()))  # real: (128, 784) in [-1, 1]
    g_loss = generator_loss(D(fake))

Images go in and out flat, (N, 784) = (N, 28 * 28), scaled to [-1, 1] (the generators end with
tanh); the discriminators also take (N, 1, 28, 28). The training loop is in gan_training.py.

Why the generator maximises log D(G(z)) instead of minimising log(1 - D(G(z))): early in
training D rejects the fakes, D(G(z)) ~ 0, where log(1 - D) is flat (its gradient with respect
to D's logit is -D(G(z)) ~ 0), while -log D still pulls with a gradient near -1. See
generator_loss_curves and plot_generator_losses.
"""

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F
from matplotlib.figure import Figure
from torch import nn

from course_utils.graded import graded_in

Tensor = torch.Tensor

NOISE_DIM = 96
IMAGE_SIZE = 28
IMAGE_PIXELS = IMAGE_SIZE * IMAGE_SIZE


class Unflatten(nn.Module):
    """CS231n's Unflatten: reshape rows to (N, C, H, W); N = -1 takes any batch size."""

    def __init__(self, N: int = -1, C: int = 128, H: int = 7, W: int = 7) -> None:
        super().__init__()
        self.N, self.C, self.H, self.W = N, C, H, W

    def forward(self, x: Tensor) -> Tensor:
        return x.reshape(self.N, self.C, self.H, self.W)

    def extra_repr(self) -> str:
        return f"N={self.N}, C={self.C}, H={self.H}, W={self.W}"


def initialize_weights(m: nn.Module) -> None:
    """CS231n's initialisation, for `model.apply(initialize_weights)`: Xavier-uniform weights of
    every nn.Linear and nn.ConvTranspose2d (biases and other layers keep PyTorch's defaults)."""
    if isinstance(m, (nn.Linear, nn.ConvTranspose2d)):
        nn.init.xavier_uniform_(m.weight.data)


def count_params(model: nn.Module) -> int:
    """The number of trainable parameters (CS231n's count_params)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


@graded_in("ch13_generative")
def sample_noise(batch_size: int, dim: int, seed: int | None = None) -> Tensor:
    """Uniform noise in [-1, 1).

    Args:
        batch_size, dim: the shape (batch_size, dim) of the noise.
        seed: when given, torch.manual_seed(seed) first (this seeds PyTorch's global generator).

    Returns:
        float32 (batch_size, dim) on the CPU, drawn as torch.rand(batch_size, dim) * 2 - 1: one
        call to torch.rand from the global generator, in row-major order.
    """
    if seed is not None:
        torch.manual_seed(seed)
    return torch.rand(batch_size, dim) * 2 - 1


@graded_in("ch13_generative")
def discriminator(seed: int | None = None) -> nn.Sequential:
    """CS231n's fully connected discriminator, 267,009 parameters: images (N, 784) or
    (N, 1, 28, 28) -> logits (N, 1) (a real image should score high).

    Flatten, Linear(784, 256), LeakyReLU(0.01), Linear(256, 256), LeakyReLU(0.01),
    Linear(256, 1), with PyTorch's default initialisation after torch.manual_seed(seed) when a
    seed is given.
    """
    if seed is not None:
        torch.manual_seed(seed)
    return nn.Sequential(
        nn.Flatten(),
        nn.Linear(784, 256), nn.LeakyReLU(0.01),
        nn.Linear(256, 256), nn.LeakyReLU(0.01),
        nn.Linear(256, 1))


@graded_in("ch13_generative")
def generator(noise_dim: int = NOISE_DIM, seed: int | None = None, *,
              hidden_dim: int = 1024) -> nn.Sequential:
    """CS231n's fully connected generator: noise (N, noise_dim) -> images (N, 784) in (-1, 1).

    Linear(noise_dim, hidden_dim), ReLU, Linear(hidden_dim, hidden_dim), ReLU,
    Linear(hidden_dim, 784), Tanh; with hidden_dim 1024, 1,952,528 parameters for noise_dim 96
    and 1,858,320 for noise_dim 4 (the count CS231n's test checks). PyTorch's default
    initialisation after torch.manual_seed(seed) when a seed is given. (hidden_dim, not in
    CS231n, makes the smaller generator of the committed weights.)
    """
    if seed is not None:
        torch.manual_seed(seed)
    return nn.Sequential(
        nn.Linear(noise_dim, hidden_dim), nn.ReLU(),
        nn.Linear(hidden_dim, hidden_dim), nn.ReLU(),
        nn.Linear(hidden_dim, 784), nn.Tanh())


@graded_in("ch13_generative")
def discriminator_loss(logits_real: Tensor, logits_fake: Tensor) -> Tensor:
    """The discriminator's loss: binary cross-entropy of its logits with label 1 for the real
    images and 0 for the fakes, each averaged over its batch, then added:

        -mean(log sigmoid(logits_real)) - mean(log(1 - sigmoid(logits_fake)))

    computed stably from the logits (F.binary_cross_entropy_with_logits).

    Args:
        logits_real: (N,) or (N, 1) logits of real images.
        logits_fake: (M,) or (M, 1) logits of generated images.

    Returns:
        a scalar tensor.
    """
    real_loss = F.binary_cross_entropy_with_logits(logits_real, torch.ones_like(logits_real))
    fake_loss = F.binary_cross_entropy_with_logits(logits_fake, torch.zeros_like(logits_fake))
    return real_loss + fake_loss


@graded_in("ch13_generative")
def generator_loss(logits_fake: Tensor) -> Tensor:
    """The non-saturating generator loss: binary cross-entropy of the fakes' logits with label 1,
    -mean(log sigmoid(logits_fake)), averaged over the batch (computed stably from the logits).

    Args:
        logits_fake: (N,) or (N, 1) discriminator logits of generated images.

    Returns:
        a scalar tensor.
    """
    return F.binary_cross_entropy_with_logits(logits_fake, torch.ones_like(logits_fake))


def minimax_generator_loss(logits_fake: Tensor) -> Tensor:
    """The saturating generator loss of the original minimax game, mean(log(1 - D(G(z)))) with
    D = sigmoid(logits): minus the BCE of the fakes with label 0. log(1 - sigmoid(x)) =
    -softplus(x), which stays finite for large logits. (N,) or (N, 1) -> scalar."""
    return -F.softplus(logits_fake).mean()


@graded_in("ch13_generative")
def ls_discriminator_loss(scores_real: Tensor, scores_fake: Tensor) -> Tensor:
    """The least-squares GAN's discriminator loss (Mao et al. 2017, CS231n's constants):

        0.5 * mean((scores_real - 1) ** 2) + 0.5 * mean(scores_fake ** 2)

    Args:
        scores_real: (N,) or (N, 1) raw discriminator outputs of real images (no sigmoid).
        scores_fake: (M,) or (M, 1) outputs of generated images.

    Returns:
        a scalar tensor; each mean over its own batch.
    """
    return 0.5 * torch.mean((scores_real - 1) ** 2) + 0.5 * torch.mean(scores_fake ** 2)


@graded_in("ch13_generative")
def ls_generator_loss(scores_fake: Tensor) -> Tensor:
    """The least-squares GAN's generator loss, 0.5 * mean((scores_fake - 1) ** 2).

    Args:
        scores_fake: (N,) or (N, 1) raw discriminator outputs of generated images.

    Returns:
        a scalar tensor.
    """
    return 0.5 * torch.mean((scores_fake - 1) ** 2)


@graded_in("ch13_generative")
def build_dc_classifier(batch_size: int) -> nn.Sequential:
    """CS231n's DCGAN discriminator, 1,102,721 parameters: images (N, 784) or (N, 1, 28, 28) ->
    logits (N, 1).

    Unflatten to (N, 1, 28, 28), Conv2d(1, 32, 5, stride 1), LeakyReLU(0.01), MaxPool2d(2, 2),
    Conv2d(32, 64, 5, stride 1), LeakyReLU(0.01), MaxPool2d(2, 2), Flatten (64 x 4 x 4),
    Linear(1024, 1024), LeakyReLU(0.01), Linear(1024, 1). No padding: 28 -> 24 -> 12 -> 8 -> 4.

    Args:
        batch_size: CS231n's argument; here the Unflatten infers N (N = -1), so the classifier
            takes batches of any size.
    """
    return nn.Sequential(
        Unflatten(-1, 1, 28, 28),
        nn.Conv2d(1, 32, 5, 1), nn.LeakyReLU(0.01), nn.MaxPool2d(2, 2),
        nn.Conv2d(32, 64, 5, 1), nn.LeakyReLU(0.01), nn.MaxPool2d(2, 2),
        nn.Flatten(),
        nn.Linear(4 * 4 * 64, 4 * 4 * 64), nn.LeakyReLU(0.01),
        nn.Linear(4 * 4 * 64, 1))


@graded_in("ch13_generative")
def build_dc_generator(noise_dim: int = NOISE_DIM, *, hidden_dim: int = 1024,
                       channels: int = 128) -> nn.Sequential:
    """CS231n's DCGAN generator: noise (N, noise_dim) -> images (N, 784) in (-1, 1), flat as
    CS231n's (view them as (N, 1, 28, 28)).

    Linear(noise_dim, 1024), ReLU, BatchNorm1d(1024), Linear(1024, 7 * 7 * 128), ReLU,
    BatchNorm1d(7 * 7 * 128), Unflatten to (N, 128, 7, 7), ConvTranspose2d(128, 64, 4, stride 2,
    padding 1) (7 -> 14), ReLU, BatchNorm2d(64), ConvTranspose2d(64, 1, 4, 2, 1) (14 -> 28),
    Tanh, Flatten; with CS231n's sizes 6,675,009 parameters for noise_dim 96 and 6,580,801 for
    noise_dim 4 (the count CS231n's test checks). Batch norm counts its weight and bias; its
    running statistics are buffers. (hidden_dim and channels, not in
    CS231n, replace the 1024 and the 128; the middle layer has channels // 2.)
    """
    return nn.Sequential(
        nn.Linear(noise_dim, hidden_dim), nn.ReLU(), nn.BatchNorm1d(hidden_dim),
        nn.Linear(hidden_dim, 7 * 7 * channels), nn.ReLU(), nn.BatchNorm1d(7 * 7 * channels),
        Unflatten(-1, channels, 7, 7),
        nn.ConvTranspose2d(channels, channels // 2, 4, 2, 1), nn.ReLU(),
        nn.BatchNorm2d(channels // 2),
        nn.ConvTranspose2d(channels // 2, 1, 4, 2, 1), nn.Tanh(),
        nn.Flatten())


def generator_loss_curves(num_points: int = 199) -> dict[str, np.ndarray]:
    """Both generator losses of one fake, and their gradients with respect to D's logit, as
    functions of D(G(z)) in (0, 1): what the non-saturating loss is for.

    Returns:
        "d_fake": D(G(z)) on an even grid of num_points in [0.005, 0.995];
        "minimax_loss", "minimax_grad": log(1 - D) and d/dlogit = -D, flat where D ~ 0;
        "non_saturating_loss", "non_saturating_grad": -log D and d/dlogit = -(1 - D), steep
        there. Computed with autograd through minimax_generator_loss and generator_loss.
    """
    if num_points < 2:
        raise ValueError(f"num_points must be at least 2, got {num_points}")
    d_fake = torch.linspace(0.005, 0.995, num_points, dtype=torch.float64)
    curves = {"d_fake": d_fake.numpy()}
    for name, loss in (("minimax", minimax_generator_loss),
                       ("non_saturating", generator_loss)):
        logits = torch.logit(d_fake).requires_grad_()
        per_fake = [loss(logit.reshape(1)) for logit in logits]   # one fake at a time
        torch.stack(per_fake).sum().backward()
        curves[f"{name}_loss"] = torch.stack(per_fake).detach().numpy()
        curves[f"{name}_grad"] = logits.grad.numpy()
    return curves


def plot_generator_losses(num_points: int = 199) -> Figure:
    """Two panels over D(G(z)): the saturating log(1 - D) and non-saturating -log D generator
    losses, and their gradients with respect to D's logit."""
    curves = generator_loss_curves(num_points)
    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 3.6))
    labels = {"minimax": "saturating: log(1 - D(G(z)))",
              "non_saturating": "non-saturating: -log D(G(z))"}
    for name, label in labels.items():
        left.plot(curves["d_fake"], curves[f"{name}_loss"], label=label)
        right.plot(curves["d_fake"], curves[f"{name}_grad"], label=label)
    left.set(xlabel="D(G(z))", ylabel="generator loss (minimised)", title="loss")
    right.set(xlabel="D(G(z))", ylabel="d loss / d logit",
              title="gradient: early in training D(G(z)) ~ 0")
    right.axvspan(0, 0.1, color="0.9")
    for axes in (left, right):
        axes.axhline(0, color="0.6", linewidth=0.8)
        axes.legend(fontsize=8)
    figure.tight_layout()
    return figure
