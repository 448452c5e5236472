"""Which input pixels a unit of an intermediate layer sees, computed from the layers' geometry,
and the input patches that activate a channel most.

For a chain of layers with kernel k, stride s and padding p each, output unit i of the chain
sees input pixels left + i * jump ... left + i * jump + size - 1 along each axis, where, layer
by layer, size += (k - 1) * jump, left -= p * jump, jump *= s (starting from 1, 0, 1).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from course_utils.architectures.small import Normalize

GEOMETRIC = (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d)


@dataclass(frozen=True)
class ReceptiveField:
    """Where output unit i of a chain of layers looks, along one axis (square layers)."""

    size: int   # pixels seen
    jump: int   # input pixels between neighbouring units
    left: int   # first pixel seen by unit 0 (negative: in the padding)

    def span(self, index: int) -> tuple[int, int]:
        """The input pixels [start, stop) that unit `index` sees."""
        start = self.left + index * self.jump
        return start, start + self.size


def _square(value) -> int:
    if isinstance(value, tuple):
        if len(set(value)) != 1:
            raise ValueError(f"only square kernels, strides and paddings are supported: {value}")
        return value[0]
    return value


def receptive_field_of(layers: list[nn.Module]) -> ReceptiveField:
    """The receptive field of the output of `layers`, applied in order.

    Convolutions and max/average pooling change it (dilation 1); element-wise layers (ReLU,
    BatchNorm, Dropout, the input's Normalize...) do not; anything else (Linear, Flatten, global
    pooling) raises.
    """
    size, jump, left = 1, 1, 0
    for layer in layers:
        if isinstance(layer, GEOMETRIC):
            if _square(getattr(layer, "dilation", 1)) != 1:
                raise ValueError(f"{layer}: dilated layers are not supported")
            kernel, stride = _square(layer.kernel_size), _square(layer.stride)
            padding = _square(layer.padding)
            size += (kernel - 1) * jump
            left -= padding * jump
            jump *= stride
        elif isinstance(layer, (nn.Sequential, nn.ModuleList)):
            inner = receptive_field_of(list(layer))
            size += (inner.size - 1) * jump
            left += inner.left * jump
            jump *= inner.jump
        elif not isinstance(layer, (nn.ReLU, nn.LeakyReLU, nn.BatchNorm2d, nn.Dropout,
                                    nn.Dropout2d, nn.Identity, nn.Tanh, nn.Sigmoid, Normalize)):
            raise ValueError(f"{type(layer).__name__} has no receptive field of its own")
    return ReceptiveField(size, jump, left)


def top_patches(layers: nn.Sequential, channel: int, images: torch.Tensor,
                count: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The `count` input patches that activate `channel` of the output of `layers` most.

    Each unit's patch is its receptive field in the input, zero where that lies in the padding;
    a unit is counted once (the same image may give several patches).

    Args:
        layers: the network up to the layer of interest, (N, C, H, W) -> (N, C', H', W').
        images: (N, C, H, W).
    Returns:
        patches (count, C, size, size) and their activations (count,), largest first.
    """
    field = receptive_field_of(list(layers))
    with torch.no_grad():
        activation = layers(images)[:, channel]
    values, flat = activation.flatten().topk(count)
    height, width = activation.shape[1:]
    margin = field.size   # enough zeros around the images for any field
    padded = F.pad(images, (margin, margin, margin, margin))
    patches = []
    for index in flat.tolist():
        n, rest = divmod(index, height * width)
        row, col = divmod(rest, width)
        (top, bottom), (start, stop) = field.span(row), field.span(col)
        patches.append(padded[n, :, top + margin:bottom + margin, start + margin:stop + margin])
    return torch.stack(patches), values
