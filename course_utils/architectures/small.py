"""Small CNNs that train on a CPU: the plain and residual nets of the degradation experiment and
the MNIST ResNet that later chapters load with trained weights."""

import torch
from torch import nn

from course_utils.architectures.blocks import BasicBlock, PlainBlock


class Normalize(nn.Module):
    """(x - mean) / std with fixed per-channel constants, so a model takes images in [0, 1]."""

    def __init__(self, mean: list[float], std: list[float]):
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std).view(1, -1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


def staged_cnn(blocks_per_stage: int, residual: bool, widths: tuple[int, ...] = (16, 32, 64),
               in_channels: int = 1, num_classes: int = 10,
               pool_stem: bool = False) -> nn.Sequential:
    """The CIFAR networks of the ResNet paper (section 4.2), with 6n + 2 weight layers for n blocks
    per stage and three stages: a 3x3 convolution, the stages (the first block of stages 2 and 3
    halves H and W), global average pooling and a linear layer.

    Args:
        blocks_per_stage: n; each block has two 3x3 convolutions.
        residual: BasicBlocks (with shortcuts) when True, PlainBlocks (the same layers without
            shortcuts) when False.
        widths: channels of the stages.
        pool_stem: a 2x2 max pool after the first convolution, for a quarter of the arithmetic.

    Returns:
        a model mapping (N, in_channels, H, W) to logits (N, num_classes).
    """
    if blocks_per_stage < 1:
        raise ValueError(f"blocks_per_stage must be at least 1, got {blocks_per_stage}")
    block = BasicBlock if residual else PlainBlock
    layers: list[nn.Module] = [nn.Conv2d(in_channels, widths[0], 3, padding=1, bias=False),
                               nn.BatchNorm2d(widths[0]), nn.ReLU(inplace=True)]
    if pool_stem:
        layers.append(nn.MaxPool2d(2))
    channels = widths[0]
    for stage, width in enumerate(widths):
        for index in range(blocks_per_stage):
            layers.append(block(channels, width, 2 if stage > 0 and index == 0 else 1))
            channels = width
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(channels, num_classes)]
    return nn.Sequential(*layers)


MNIST_MEAN, MNIST_STD = 0.1307, 0.3081


def mnist_resnet() -> nn.Sequential:
    """The course's MNIST ResNet: images (N, 1, 28, 28) in [0, 1] -> logits (N, 10).

    An 8-layer ResNet (a 3x3 convolution and a 2x2 pool, then one BasicBlock per stage at 14, 7
    and 4 pixels with 16, 32, 64 channels; 78 k parameters) behind a normalisation layer;
    `course_utils.pretrained.load_mnist_resnet()` returns it trained.
    """
    return nn.Sequential(Normalize([MNIST_MEAN], [MNIST_STD]),
                         staged_cnn(1, residual=True, pool_stem=True))
