"""Images made from a layer's features: feature inversion with a total-variation prior
(Mahendran and Vedaldi 2015) and DeepDream (Mordvintsev et al. 2015)."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F
from tqdm.auto import tqdm

from course_utils.visualization.style import tv_loss


def invert_features(layers: nn.Sequential, image: torch.Tensor, tv_weight: float = 1e-3,
                    steps: int = 200, learning_rate: float = 0.05, seed: int = 0,
                    progress: bool = True) -> torch.Tensor:
    """The image, from uniform noise, whose output of `layers` is nearest `image`'s.

    Minimises ||phi(x) - phi(image)||^2 / ||phi(image)||^2 + tv_loss(x, tv_weight) with Adam,
    pixels clamped to [0, 1] after each step.

    Args:
        layers: the network up to the layer inverted; image: (1, C, H, W) in [0, 1].
    Returns:
        the reconstruction (1, C, H, W).
    """
    with torch.no_grad():
        target = layers(image)
    generator = torch.Generator().manual_seed(seed)
    x = torch.rand(image.shape, generator=generator).to(image.device).requires_grad_(True)
    optimizer = torch.optim.Adam([x], lr=learning_rate)
    for _ in tqdm(range(steps), desc="inversion", disable=not progress, leave=False):
        optimizer.zero_grad()
        loss = (layers(x) - target).pow(2).sum() / target.pow(2).sum() + tv_loss(x, tv_weight)
        loss.backward()
        optimizer.step()
        with torch.no_grad():
            x.clamp_(0, 1)
    return x.detach()


def relative_error(reconstruction: torch.Tensor, image: torch.Tensor) -> float:
    """||reconstruction - image||_2 / ||image||_2."""
    return ((reconstruction - image).norm() / image.norm()).item()


def deepdream(layers: nn.Sequential, image: torch.Tensor, steps: int = 10,
              learning_rate: float = 0.02, octaves: int = 3, octave_scale: float = 1.4,
              progress: bool = True) -> torch.Tensor:
    """Amplify what `layers` sees in `image`: gradient ascent on 1/2 ||a(x)||^2, whose gradient
    at the layer is the activation a(x) itself.

    The ascent runs at `octaves` sizes, smallest first (each octave_scale times the previous);
    the detail added at one size is carried, enlarged, to the next. Each step adds
    learning_rate * g / mean(|g|); pixels stay in [0, 1].

    Args:
        image: (1, C, H, W) in [0, 1].
    Returns:
        the dreamt image (1, C, H, W).
    """
    height, width = image.shape[2:]
    sizes = [(max(1, round(height / octave_scale ** k)), max(1, round(width / octave_scale ** k)))
             for k in reversed(range(octaves))]
    detail = image.new_zeros(1, image.shape[1], *sizes[0])
    for size in tqdm(sizes, desc="deepdream", disable=not progress, leave=False):
        base = F.interpolate(image, size=size, mode="bilinear", align_corners=False)
        detail = F.interpolate(detail, size=size, mode="bilinear", align_corners=False)
        x = (base + detail).clamp(0, 1)
        for _ in range(steps):
            x.requires_grad_(True)
            activation = layers(x)
            (gradient,) = torch.autograd.grad(activation.pow(2).sum() / 2, x)
            x = (x + learning_rate * gradient / gradient.abs().mean().clamp_min(1e-12))
            x = x.detach().clamp(0, 1)
        detail = x - base
    return x
