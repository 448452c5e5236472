"""Small CNNs that train on a CPU: the plain and residual nets of the degradation experiment, and
the MNIST nets that later chapters load with trained weights (a ResNet; a plain VGG-style net
whose ReLUs are modules, for the hooks of chapter 8)."""

from collections import OrderedDict

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


def mnist_vgg() -> nn.Sequential:
    """A plain VGG-style MNIST net: images (N, 1, 28, 28) in [0, 1] -> logits (N, 10).

    `normalize`, then `features`: two 3x3 convolutions with 16 channels, a 2x2 max pool (14
    pixels), two with 32 (7 pixels), one with 64 and a pool (3 pixels), each convolution followed
    by an nn.ReLU module (not in place), so that hooks can see and change every ReLU; then
    `classifier`: flatten and one linear layer. 40,634 parameters;
    `course_utils.pretrained.load_mnist_vgg()` returns it trained.
    """
    def conv(in_channels: int, out_channels: int) -> list[nn.Module]:
        return [nn.Conv2d(in_channels, out_channels, 3, padding=1), nn.ReLU()]

    features = nn.Sequential(*conv(1, 16), *conv(16, 16), nn.MaxPool2d(2),
                             *conv(16, 32), *conv(32, 32), nn.MaxPool2d(2),
                             *conv(32, 64), nn.MaxPool2d(2))
    return nn.Sequential(OrderedDict(
        normalize=Normalize([MNIST_MEAN], [MNIST_STD]), features=features,
        classifier=nn.Sequential(nn.Flatten(), nn.Linear(64 * 3 * 3, 10))))
