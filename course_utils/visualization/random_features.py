"""A CNN with random weights whose features describe natural textures.

Texture synthesis and style transfer need features of natural images; the usual ones come from
VGG trained on ImageNet, which cannot be downloaded here. Random convolutional features at
several scales synthesise textures well too (Ustyuzhaninov et al. 2017, "What does it take to
generate natural textures?"; He et al. 2016 on random-weight VGG features), so the course uses a
seeded, randomly initialised multi-scale CNN and compares it with the one it trained.
"""

from __future__ import annotations

import torch
from torch import nn


def random_texture_cnn(in_channels: int = 3, widths: tuple[int, ...] = (32, 64, 128, 128),
                       seed: int = 0) -> nn.Sequential:
    """Per scale: a 3x3 convolution ("same" padding), ReLU, then 2x2 average pooling (none after
    the last scale), Kaiming-normal weights from `seed`, zero biases, in eval mode without
    gradients for its parameters.

    The ReLU outputs are the features: their indices in the Sequential are
    `relu_indices(cnn)`. Input (N, in_channels, H, W) in [0, 1].
    """
    generator = torch.Generator().manual_seed(seed)
    layers: list[nn.Module] = []
    channels = in_channels
    for scale, width in enumerate(widths):
        conv = nn.Conv2d(channels, width, 3, padding=1)
        nn.init.kaiming_normal_(conv.weight, nonlinearity="relu", generator=generator)
        nn.init.zeros_(conv.bias)
        layers += [conv, nn.ReLU()]
        if scale < len(widths) - 1:
            layers.append(nn.AvgPool2d(2))
        channels = width
    cnn = nn.Sequential(*layers).eval()
    cnn.requires_grad_(False)
    return cnn


def relu_indices(cnn: nn.Sequential) -> list[int]:
    """Indices of the ReLU modules of `cnn`, shallow first."""
    return [index for index, module in enumerate(cnn) if isinstance(module, nn.ReLU)]
