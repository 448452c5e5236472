"""ResNets (He et al. 2015), ResNeXt and SE-ResNeXt at their ImageNet size, without weights."""

from torch import nn

from course_utils.architectures.blocks import BasicBlock, Bottleneck

# Blocks per stage for each depth, and whether the depth uses bottleneck blocks.
STAGES = {18: [2, 2, 2, 2], 34: [3, 4, 6, 3], 50: [3, 4, 6, 3], 101: [3, 4, 23, 3],
          152: [3, 8, 36, 3]}
STAGE_WIDTHS = [64, 128, 256, 512]
EXPANSION = 4  # a bottleneck stage outputs 4x its 3x3 width


def stem() -> nn.Sequential:
    """7x7/2 convolution, BN, ReLU, 3x3/2 max pool: (N, 3, 224, 224) -> (N, 64, 56, 56)."""
    return nn.Sequential(nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False), nn.BatchNorm2d(64),
                         nn.ReLU(inplace=True), nn.MaxPool2d(3, stride=2, padding=1))


def head(channels: int, num_classes: int) -> nn.Sequential:
    """Global average pooling and one fully connected layer."""
    return nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(channels, num_classes))


def resnet(depth: int = 50, num_classes: int = 1000) -> nn.Sequential:
    """ResNet-18/34 (basic blocks) or ResNet-50/101/152 (bottleneck blocks) for (N, 3, 224, 224).

    Four stages at 56, 28, 14 and 7 pixels; the first block of stages 2-4 halves H and W with
    stride 2 and doubles the channels, with a projection shortcut. Returns logits (N, num_classes).
    """
    if depth not in STAGES:
        raise ValueError(f"depth must be one of {sorted(STAGES)}, got {depth}")
    layers: list[nn.Module] = [stem()]
    channels = 64
    for stage, (blocks, width) in enumerate(zip(STAGES[depth], STAGE_WIDTHS, strict=True)):
        for index in range(blocks):
            stride = 2 if stage > 0 and index == 0 else 1
            if depth < 50:
                layers.append(BasicBlock(channels, width, stride))
                channels = width
            else:
                layers.append(Bottleneck(channels, width, width * EXPANSION, stride))
                channels = width * EXPANSION
    layers.append(head(channels, num_classes))
    return nn.Sequential(*layers)


def resnext50(cardinality: int = 32, group_width: int = 4, se_reduction: int | None = None,
              num_classes: int = 1000) -> nn.Sequential:
    """ResNeXt-50 (32x4d by default): ResNet-50 whose 3x3 convolutions are split in `cardinality`
    groups of `group_width` channels in the first stage (doubling per stage).

    With se_reduction=16 every block ends with an SE block: SE-ResNeXt-50.
    """
    layers: list[nn.Module] = [stem()]
    channels = 64
    for stage, blocks in enumerate(STAGES[50]):
        width = cardinality * group_width * 2**stage
        out_channels = STAGE_WIDTHS[stage] * EXPANSION
        for index in range(blocks):
            stride = 2 if stage > 0 and index == 0 else 1
            layers.append(Bottleneck(channels, width, out_channels, stride, cardinality,
                                     se_reduction))
            channels = out_channels
    layers.append(head(channels, num_classes))
    return nn.Sequential(*layers)
