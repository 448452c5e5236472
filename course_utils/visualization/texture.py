"""Texture synthesis, old and neural: nearest-neighbour scanline synthesis (Efros and Leung
1999; Wei and Levoy 2000) and Gram-matrix matching (Gatys et al. 2015); and style transfer
(Gatys et al. 2016), by optimisation of the image's pixels."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from course_utils.visualization.style import (
    content_loss,
    extract_features,
    gram_matrix,
    style_loss,
    tv_loss,
)


def causal_offsets(window: int) -> list[tuple[int, int]]:
    """The (row, column) offsets of an L-shaped neighbourhood of a window x window square: the
    rows above and the pixels to the left, all generated before the centre in raster order."""
    half = window // 2
    return [(dr, dc) for dr in range(-half, 1) for dc in range(-half, half + 1)
            if dr < 0 or dc < 0]


def scanline_texture(sample: np.ndarray, shape: tuple[int, int], window: int = 5,
                     seed: int = 0) -> np.ndarray:
    """A texture of `shape` grown pixel by pixel in raster order: each pixel copies the sample
    pixel whose causal neighbourhood is nearest (sum of squared differences) to its own.

    The output starts as random sample pixels; its border (window // 2 wide, discarded) gives
    the first rows their neighbours.

    Args:
        sample: the example texture (H, W) or (H, W, C), float.
        shape: (rows, columns) of the result.
    Returns:
        the texture, (rows, columns) or (rows, columns, C).
    """
    rng = np.random.default_rng(seed)
    pixels = sample.reshape(sample.shape[0], sample.shape[1], -1).astype(np.float64)
    height, width, channels = pixels.shape
    half = window // 2
    offsets = causal_offsets(window)
    rows, cols = np.mgrid[half:height, half:width - half]
    rows, cols = rows.ravel(), cols.ravel()
    neighbours = np.stack([pixels[rows + dr, cols + dc] for dr, dc in offsets], axis=1)
    neighbours = neighbours.reshape(len(rows), -1)          # (candidates, offsets * C)

    out_rows, out_cols = shape[0] + half, shape[1] + 2 * half
    out = pixels[rng.integers(0, height, (out_rows, out_cols)),
                 rng.integers(0, width, (out_rows, out_cols))]
    for r in range(half, out_rows):
        for c in range(half, out_cols - half):
            own = np.concatenate([out[r + dr, c + dc] for dr, dc in offsets])
            best = np.argmin(((neighbours - own) ** 2).sum(axis=1))
            out[r, c] = pixels[rows[best], cols[best]]
    result = out[half:, half:out_cols - half]
    return result[..., 0] if sample.ndim == 2 else result


def _optimise(image: torch.Tensor, loss_of, steps: int, learning_rate: float,
              description: str, progress: bool) -> torch.Tensor:
    """Adam on the pixels of `image` (1, C, H, W) for `steps`, clamped to [0, 1] after each."""
    image = image.clone().requires_grad_(True)
    optimizer = torch.optim.Adam([image], lr=learning_rate)
    for _ in tqdm(range(steps), desc=description, disable=not progress, leave=False):
        optimizer.zero_grad()
        loss_of(image).backward()
        optimizer.step()
        with torch.no_grad():
            image.clamp_(0, 1)
    return image.detach()


def synthesize_texture(cnn: nn.Sequential, texture: torch.Tensor, style_layers: list[int],
                       style_weights: list[float], shape: tuple[int, int] | None = None,
                       steps: int = 200, learning_rate: float = 0.05, seed: int = 0,
                       progress: bool = True) -> torch.Tensor:
    """An image whose normalised Gram matrices at `style_layers` of `cnn` match `texture`'s,
    optimised from uniform noise.

    Args:
        texture: (1, C, H, W) in [0, 1]; shape: (H', W') of the result (default the texture's).
    Returns:
        (1, C, H', W') in [0, 1].
    """
    with torch.no_grad():
        features = extract_features(texture, cnn)
        targets = [gram_matrix(features[layer]) for layer in style_layers]
    generator = torch.Generator().manual_seed(seed)
    height, width = shape or texture.shape[2:]
    start = torch.rand(1, texture.shape[1], height, width, generator=generator).to(texture.device)
    return _optimise(start, lambda image: style_loss(extract_features(image, cnn), style_layers,
                                                     targets, style_weights),
                     steps, learning_rate, "texture", progress)


def style_transfer(cnn: nn.Sequential, content: torch.Tensor, style: torch.Tensor,
                   content_layer: int, content_weight: float, style_layers: list[int],
                   style_weights: list[float], tv_weight: float, steps: int = 200,
                   learning_rate: float = 0.05, progress: bool = True) -> torch.Tensor:
    """The content image redrawn with the style image's Gram matrices (CS231n's losses), from
    the content image itself.

    Args:
        content: (1, C, H, W) and style: (1, C, H', W'), both in [0, 1].
    Returns:
        (1, C, H, W) in [0, 1].
    """
    with torch.no_grad():
        content_target = extract_features(content, cnn)[content_layer]
        style_features = extract_features(style, cnn)
        targets = [gram_matrix(style_features[layer]) for layer in style_layers]

    def loss_of(image):
        features = extract_features(image, cnn)
        return (content_loss(content_weight, features[content_layer], content_target)
                + style_loss(features, style_layers, targets, style_weights)
                + tv_loss(image, tv_weight))

    return _optimise(content, loss_of, steps, learning_rate, "style transfer", progress)
