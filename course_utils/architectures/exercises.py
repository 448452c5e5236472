"""Reference answers to the exercises of chapter 6 (CNN architectures).

The student bundle hides these bodies while the chapter is open for grading (for the three
modules, the bodies of __init__ and forward), so nothing else in course_utils calls them:
blocks.py has its own BasicBlock, SEBlock and DepthwiseSeparableConv, with the same sub-module
names, and the tests check that the two versions agree.
"""

import torch
from torch import nn

from course_utils.graded import graded_in


@graded_in("ch06_architectures")
def receptive_field(kernel_sizes: list[int], strides: list[int] | None = None) -> int:
    """Side of the input region that one output value of a stack of conv/pool layers sees.

    Each layer adds (k - 1) times the distance, in input pixels, between neighbouring positions of
    its own input (the product of the earlier strides): r = 1 + sum_l (k_l - 1) * prod_{m<l} s_m.

    Args:
        kernel_sizes: k_l of each layer, first layer first.
        strides: s_l of each layer; all 1 when None.

    Returns:
        the receptive field r, e.g. 7 for three 3x3 stride-1 convolutions.
    """
    strides = [1] * len(kernel_sizes) if strides is None else strides
    if len(strides) != len(kernel_sizes):
        raise ValueError(f"give one stride per layer: {len(kernel_sizes)} kernel sizes, "
                         f"{len(strides)} strides")
    field, jump = 1, 1
    for kernel_size, stride in zip(kernel_sizes, strides, strict=True):
        field += (kernel_size - 1) * jump
        jump *= stride
    return field


@graded_in("ch06_architectures")
def conv_parameter_count(in_channels: int, out_channels: int, kernel_size: int,
                         bias: bool = True) -> int:
    """Parameters of a conv layer with out_channels filters of shape (in_channels, k, k), plus
    one bias per filter when bias is True."""
    return out_channels * in_channels * kernel_size * kernel_size + (out_channels if bias else 0)


@graded_in("ch06_architectures")
def count_parameters(model: nn.Module) -> int:
    """All parameters of a model (trainable or frozen), not its buffers (BatchNorm statistics)."""
    return sum(parameter.numel() for parameter in model.parameters())


@graded_in("ch06_architectures")
def inception_output_channels(in_channels: int, conv1x1: int, conv3x3: int, conv5x5: int,
                              pool_proj: int | None = None) -> int:
    """Output depth of an Inception module: the branches are concatenated on channels.

    The pool branch keeps its input's in_channels, unless pool_proj (the bottleneck module's 1x1
    convolution after the pool) sets it; pool_proj=None is the naive module.
    """
    return conv1x1 + conv3x3 + conv5x5 + (in_channels if pool_proj is None else pool_proj)


class ResidualBlock(nn.Module):
    """relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x)) with 3x3 convs without bias; conv1
    carries the stride; shortcut is nn.Identity() when the shape is kept, else a 1x1 convolution
    with the stride and no bias followed by BatchNorm, as nn.Sequential(conv, bn)."""

    @graded_in("ch06_architectures")
    def __init__(self, in_channels: int, out_channels: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        if stride == 1 and in_channels == out_channels:
            self.shortcut = nn.Identity()
        else:
            projection = nn.Conv2d(in_channels, out_channels, 1, stride, bias=False)
            self.shortcut = nn.Sequential(projection, nn.BatchNorm2d(out_channels))

    @graded_in("ch06_architectures")
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(self.bn2(self.conv2(out)) + self.shortcut(x))


class SqueezeExcitation(nn.Module):
    """x * sigmoid(fc2(relu(fc1(mean of x over H and W)))) per channel; fc1: C -> C // reduction,
    fc2: C // reduction -> C, both nn.Linear with bias."""

    @graded_in("ch06_architectures")
    def __init__(self, channels: int, reduction: int = 16):
        super().__init__()
        self.fc1 = nn.Linear(channels, channels // reduction)
        self.fc2 = nn.Linear(channels // reduction, channels)

    @graded_in("ch06_architectures")
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate = torch.sigmoid(self.fc2(torch.relu(self.fc1(x.mean(dim=(2, 3))))))
        return x * gate[:, :, None, None]


class DepthwiseSeparableConv(nn.Module):
    """relu(bn2(pointwise(relu(bn1(depthwise(x)))))): depthwise a 3x3 conv with groups=in_channels,
    padding 1 and the stride, pointwise a 1x1 conv to out_channels; no biases."""

    @graded_in("ch06_architectures")
    def __init__(self, in_channels: int, out_channels: int, stride: int = 1):
        super().__init__()
        self.depthwise = nn.Conv2d(in_channels, in_channels, 3, stride, padding=1,
                                   groups=in_channels, bias=False)
        self.bn1 = nn.BatchNorm2d(in_channels)
        self.pointwise = nn.Conv2d(in_channels, out_channels, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)

    @graded_in("ch06_architectures")
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.bn2(self.pointwise(torch.relu(self.bn1(self.depthwise(x))))))


@graded_in("ch06_architectures")
def depthwise_separable_costs(in_channels: int, out_channels: int, kernel_size: int,
                              out_height: int, out_width: int) -> dict[str, int]:
    """Weights and multiply-accumulates of a k x k convolution (no bias) from in_channels to
    out_channels on an out_height x out_width output, standard versus depthwise-separable.

    Standard: C_out * C_in * k^2 weights, each used at every output position.
    Separable: C_in * k^2 depthwise weights plus C_in * C_out pointwise weights, likewise; the
    ratio separable / standard is 1 / C_out + 1 / k^2.

    Returns:
        {"standard_params", "separable_params", "standard_macs", "separable_macs"}.
    """
    positions = out_height * out_width
    standard = out_channels * in_channels * kernel_size**2
    separable = in_channels * kernel_size**2 + in_channels * out_channels
    return {"standard_params": standard, "separable_params": separable,
            "standard_macs": standard * positions, "separable_macs": separable * positions}
