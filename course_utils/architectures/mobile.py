"""MobileNet v1 (Howard et al. 2017) at its ImageNet size, without weights."""

from torch import nn

from course_utils.architectures.blocks import DepthwiseSeparableConv, conv_bn_relu

# (output channels, stride) of the 13 depthwise-separable layers of Table 1.
LAYERS = [(64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2),
          (512, 1), (512, 1), (512, 1), (512, 1), (512, 1), (1024, 2), (1024, 1)]


def mobilenet(num_classes: int = 1000, width_multiplier: float = 1.0) -> nn.Sequential:
    """MobileNet v1 for images (N, 3, 224, 224): a 3x3/2 convolution, 13 depthwise-separable
    layers, global average pooling, one fully connected layer. Returns logits (N, num_classes).

    Args:
        width_multiplier: the paper's alpha, scales every layer's channels (1.0, 0.75, 0.5, 0.25).
    """
    if not 0 < width_multiplier <= 4:
        raise ValueError(f"width_multiplier must be in (0, 4], got {width_multiplier}")
    channels = int(32 * width_multiplier)
    layers: list[nn.Module] = [conv_bn_relu(3, channels, 3, stride=2)]
    for out_channels, stride in LAYERS:
        out_channels = int(out_channels * width_multiplier)
        layers.append(DepthwiseSeparableConv(channels, out_channels, stride))
        channels = out_channels
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(channels, num_classes)]
    return nn.Sequential(*layers)
