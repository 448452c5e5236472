"""GoogLeNet (Szegedy et al. 2014, "Going deeper with convolutions"), without weights.

As in Table 1 of the paper: convolutions with bias and ReLU (no BatchNorm yet), 5x5 convolutions
in the Inception modules, and no auxiliary classifiers (they only help training).
"""

from collections import OrderedDict

from torch import nn

from course_utils.architectures.blocks import InceptionBottleneck, conv_relu

# Inception modules of Table 1: (name, #1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj).
INCEPTION = [
    ("3a", 64, 96, 128, 16, 32, 32), ("3b", 128, 128, 192, 32, 96, 64),
    ("4a", 192, 96, 208, 16, 48, 64), ("4b", 160, 112, 224, 24, 64, 64),
    ("4c", 128, 128, 256, 24, 64, 64), ("4d", 112, 144, 288, 32, 64, 64),
    ("4e", 256, 160, 320, 32, 128, 128),
    ("5a", 256, 160, 320, 32, 128, 128), ("5b", 384, 192, 384, 48, 128, 128),
]


def googlenet(num_classes: int = 1000) -> nn.Sequential:
    """GoogLeNet for images (N, 3, 224, 224); logits (N, num_classes).

    Stem (7x7/2 conv, pool, 1x1 and 3x3 convs, pool) to 28 x 28 x 192, nine Inception modules
    with pools after 3b and 4e, global average pooling instead of large fully connected layers.
    """
    pool = dict(kernel_size=3, stride=2, ceil_mode=True)
    layers: OrderedDict[str, nn.Module] = OrderedDict({
        "conv1": conv_relu(3, 64, 7, stride=2), "pool1": nn.MaxPool2d(**pool),
        "norm1": nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=2.0),
        "conv2_reduce": conv_relu(64, 64, 1), "conv2": conv_relu(64, 192, 3),
        "norm2": nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=2.0),
        "pool2": nn.MaxPool2d(**pool),
    })
    channels = 192
    for name, conv1x1, reduce3x3, conv3x3, reduce5x5, conv5x5, pool_proj in INCEPTION:
        layers[f"inception{name}"] = InceptionBottleneck(channels, conv1x1, reduce3x3, conv3x3,
                                                         reduce5x5, conv5x5, pool_proj)
        channels = conv1x1 + conv3x3 + conv5x5 + pool_proj
        if name in ("3b", "4e"):
            layers[f"pool{name[0]}"] = nn.MaxPool2d(**pool)
    layers.update(avgpool=nn.AdaptiveAvgPool2d(1), flatten=nn.Flatten(), dropout=nn.Dropout(0.4),
                  fc=nn.Linear(channels, num_classes))
    return nn.Sequential(layers)
