"""Building blocks of the classic CNNs: Inception modules, residual blocks, SE, depthwise convs.

Every block maps images (N, C_in, H, W) to (N, C_out, H', W'). The names of the sub-modules are
part of the interface: the exercises of chapter 6 ask for the same names, so that a state dict
moves between a student's block and these.
"""

import torch
from torch import nn


def conv_bn_relu(in_channels: int, out_channels: int, kernel_size: int, stride: int = 1,
                 groups: int = 1) -> nn.Sequential:
    """Convolution ("same" padding, no bias: BatchNorm has one), BatchNorm, ReLU."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding=kernel_size // 2,
                  groups=groups, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


def conv_relu(in_channels: int, out_channels: int, kernel_size: int,
              stride: int = 1) -> nn.Sequential:
    """Convolution with bias and "same" padding, then ReLU: the pre-BatchNorm style of 2014."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding=kernel_size // 2),
        nn.ReLU(inplace=True),
    )


class InceptionNaive(nn.Module):
    """1x1, 3x3 and 5x5 convolutions and a 3x3 max pool side by side, concatenated on channels.

    Output channels: conv1x1 + conv3x3 + conv5x5 + in_channels (the pool keeps its input's depth,
    so stacked naive modules grow deeper and deeper). H and W are kept.
    """

    def __init__(self, in_channels: int, conv1x1: int, conv3x3: int, conv5x5: int):
        super().__init__()
        self.branch1 = conv_relu(in_channels, conv1x1, 1)
        self.branch3 = conv_relu(in_channels, conv3x3, 3)
        self.branch5 = conv_relu(in_channels, conv5x5, 5)
        self.pool = nn.MaxPool2d(3, stride=1, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.branch1(x), self.branch3(x), self.branch5(x), self.pool(x)], dim=1)


class InceptionBottleneck(nn.Module):
    """GoogLeNet's Inception module: 1x1 "bottleneck" convolutions before the 3x3 and 5x5 ones
    and after the pool cut the depth, and with it the cost.

    Output channels: conv1x1 + conv3x3 + conv5x5 + pool_proj. H and W are kept.
    """

    def __init__(self, in_channels: int, conv1x1: int, reduce3x3: int, conv3x3: int,
                 reduce5x5: int, conv5x5: int, pool_proj: int):
        super().__init__()
        self.branch1 = conv_relu(in_channels, conv1x1, 1)
        self.branch3 = nn.Sequential(conv_relu(in_channels, reduce3x3, 1),
                                     conv_relu(reduce3x3, conv3x3, 3))
        self.branch5 = nn.Sequential(conv_relu(in_channels, reduce5x5, 1),
                                     conv_relu(reduce5x5, conv5x5, 5))
        self.branch_pool = nn.Sequential(nn.MaxPool2d(3, stride=1, padding=1),
                                         conv_relu(in_channels, pool_proj, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        branches = [self.branch1, self.branch3, self.branch5, self.branch_pool]
        return torch.cat([branch(x) for branch in branches], dim=1)


def shortcut(in_channels: int, out_channels: int, stride: int) -> nn.Module:
    """Identity when the shape is kept, else the projection: a strided 1x1 conv and BatchNorm."""
    if stride == 1 and in_channels == out_channels:
        return nn.Identity()
    return nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, stride, bias=False),
                         nn.BatchNorm2d(out_channels))


class BasicBlock(nn.Module):
    """ResNet-18/34's residual block: relu(F(x) + shortcut(x)), F = conv3x3-BN-ReLU-conv3x3-BN.

    The first convolution carries the stride; the shortcut projects (1x1 conv, BN) when the stride
    or the number of channels changes. Output (N, out_channels, H / stride, W / stride).
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, 1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.shortcut = shortcut(in_channels, out_channels, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return torch.relu(out + self.shortcut(x))


class PlainBlock(nn.Module):
    """BasicBlock without the shortcut: the "plain" network of the ResNet paper's experiments."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, 1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.bn2(self.conv2(torch.relu(self.bn1(self.conv1(x))))))


class SEBlock(nn.Module):
    """Squeeze-and-excitation: rescale each channel by a gate computed from all channels' means.

    s = sigmoid(fc2(relu(fc1(mean over H, W of x)))), shape (N, C); output x * s[:, :, None, None].
    """

    def __init__(self, channels: int, reduction: int = 16):
        super().__init__()
        if channels % reduction:
            raise ValueError(f"channels ({channels}) must be divisible by reduction ({reduction})")
        self.squeeze = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Linear(channels, channels // reduction)
        self.fc2 = nn.Linear(channels // reduction, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate = torch.sigmoid(self.fc2(torch.relu(self.fc1(self.squeeze(x).flatten(1)))))
        return x * gate[:, :, None, None]


class Bottleneck(nn.Module):
    """ResNet-50+'s residual block, 1x1 (reduce) - 3x3 - 1x1 (expand), each followed by BN.

    With groups > 1 the 3x3 convolution is grouped: ResNeXt's "cardinality". With se_reduction
    the residual branch passes an SEBlock before the addition (SE-ResNet / SE-ResNeXt). The stride
    sits on the 3x3 convolution (torchvision's "ResNet v1.5"; the paper put it on the first 1x1).
    """

    def __init__(self, in_channels: int, width: int, out_channels: int, stride: int = 1,
                 groups: int = 1, se_reduction: int | None = None):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride, padding=1, groups=groups, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, out_channels, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_channels)
        self.se = SEBlock(out_channels, se_reduction) if se_reduction else nn.Identity()
        self.shortcut = shortcut(in_channels, out_channels, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.relu(self.bn1(self.conv1(x)))
        out = torch.relu(self.bn2(self.conv2(out)))
        out = self.se(self.bn3(self.conv3(out)))
        return torch.relu(out + self.shortcut(x))


class DepthwiseSeparableConv(nn.Module):
    """MobileNet's factorised convolution: a 3x3 depthwise conv (one filter per channel, groups =
    channels) then a 1x1 pointwise conv that mixes channels, each followed by BN and ReLU.

    Output (N, out_channels, H / stride, W / stride).
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1):
        super().__init__()
        self.depthwise = nn.Conv2d(in_channels, in_channels, 3, stride, padding=1,
                                   groups=in_channels, bias=False)
        self.bn1 = nn.BatchNorm2d(in_channels)
        self.pointwise = nn.Conv2d(in_channels, out_channels, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.bn2(self.pointwise(torch.relu(self.bn1(self.depthwise(x))))))


class DenseBlock(nn.Module):
    """DenseNet's block: each layer (BN-ReLU-conv3x3, growth_rate channels) sees the concatenation
    of the block's input and every earlier layer's output.

    Output channels: in_channels + num_layers * growth_rate. H and W are kept.
    """

    def __init__(self, in_channels: int, growth_rate: int, num_layers: int):
        super().__init__()
        self.layers = nn.ModuleList(
            nn.Sequential(nn.BatchNorm2d(channels), nn.ReLU(inplace=True),
                          nn.Conv2d(channels, growth_rate, 3, padding=1, bias=False))
            for channels in range(in_channels, in_channels + num_layers * growth_rate, growth_rate))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = [x]
        for layer in self.layers:
            features.append(layer(torch.cat(features, dim=1)))
        return torch.cat(features, dim=1)
