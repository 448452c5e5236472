"""AlexNet (2012) and VGG (2014): stacks of convolutions and pools, then fully connected layers.
At their ImageNet sizes, without weights."""

from torch import nn


def alexnet(num_classes: int = 1000, groups: int = 2) -> nn.Sequential:
    """AlexNet for images (N, 3, 227, 227); logits (N, num_classes).

    The paper says 224 x 224 inputs, but an 11 x 11 stride-4 convolution without padding needs 227
    to give its 55 x 55 maps. With groups=2 conv2, conv4 and conv5 are split in two halves, one per
    GPU, as in the paper (about 61 M parameters); groups=1 gives the single-GPU variant (62 M).

    Args:
        num_classes: size of the last layer.
        groups: 2 for the paper's two-GPU split, 1 for full connections between all channels.
    """
    if groups not in (1, 2):
        raise ValueError(f"groups must be 1 or 2, got {groups}")
    return nn.Sequential(
        nn.Conv2d(3, 96, 11, stride=4), nn.ReLU(inplace=True),                    # 55 x 55 x 96
        nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=2.0),
        nn.MaxPool2d(3, stride=2),                                                 # 27 x 27 x 96
        nn.Conv2d(96, 256, 5, padding=2, groups=groups), nn.ReLU(inplace=True),    # 27 x 27 x 256
        nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=2.0),
        nn.MaxPool2d(3, stride=2),                                                 # 13 x 13 x 256
        nn.Conv2d(256, 384, 3, padding=1), nn.ReLU(inplace=True),                  # 13 x 13 x 384
        nn.Conv2d(384, 384, 3, padding=1, groups=groups), nn.ReLU(inplace=True),   # 13 x 13 x 384
        nn.Conv2d(384, 256, 3, padding=1, groups=groups), nn.ReLU(inplace=True),   # 13 x 13 x 256
        nn.MaxPool2d(3, stride=2),                                                 # 6 x 6 x 256
        nn.Flatten(),
        nn.Dropout(0.5), nn.Linear(256 * 6 * 6, 4096), nn.ReLU(inplace=True),
        nn.Dropout(0.5), nn.Linear(4096, 4096), nn.ReLU(inplace=True),
        nn.Linear(4096, num_classes),
    )


# Output channels of the 3x3 convolutions (stride 1, pad 1), "M" for a 2x2 stride-2 max pool.
CONFIGS = {
    16: [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],
    19: [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M",
         512, 512, 512, 512, "M"],
}


def vgg(depth: int = 16, num_classes: int = 1000) -> nn.Sequential:
    """VGG-16 or VGG-19 (configurations D and E of the paper) for images (N, 3, 224, 224).

    Only 3x3 convolutions and 2x2 pools: five pools take 224 to 7, then three fully connected
    layers, the first with 7 * 7 * 512 = 25088 inputs. Returns logits (N, num_classes).
    """
    if depth not in CONFIGS:
        raise ValueError(f"depth must be one of {sorted(CONFIGS)}, got {depth}")
    layers: list[nn.Module] = []
    channels = 3
    for item in CONFIGS[depth]:
        if item == "M":
            layers.append(nn.MaxPool2d(2, stride=2))
        else:
            layers += [nn.Conv2d(channels, item, 3, padding=1), nn.ReLU(inplace=True)]
            channels = item
    layers += [
        nn.Flatten(),
        nn.Linear(512 * 7 * 7, 4096), nn.ReLU(inplace=True), nn.Dropout(0.5),
        nn.Linear(4096, 4096), nn.ReLU(inplace=True), nn.Dropout(0.5),
        nn.Linear(4096, num_classes),
    ]
    return nn.Sequential(*layers)


def vgg16(num_classes: int = 1000) -> nn.Sequential:
    """VGG-16: 13 convolutions and 3 fully connected layers, 138,357,544 parameters."""
    return vgg(16, num_classes)


def vgg19(num_classes: int = 1000) -> nn.Sequential:
    """VGG-19: 16 convolutions and 3 fully connected layers, 143,667,240 parameters."""
    return vgg(19, num_classes)
