"""The small CNN that every detector and segmentation network of the chapter starts from."""

from __future__ import annotations

from torch import nn


def conv_bn_relu(in_channels: int, out_channels: int, stride: int = 1) -> nn.Sequential:
    """3 x 3 convolution (padding 1, no bias), batch norm, ReLU."""
    return nn.Sequential(nn.Conv2d(in_channels, out_channels, 3, stride, 1, bias=False),
                         nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True))


class Backbone(nn.Module):
    """Images (N, 3, H, W) -> features (N, out_channels, H / 4, W / 4): two stride-2 stages
    of 3 x 3 convolutions, then `depth` more at stride 4 (receptive field 9 + 8 * depth px)."""

    stride = 4

    def __init__(self, width: int = 32, out_channels: int = 64, depth: int = 3) -> None:
        super().__init__()
        self.out_channels = out_channels
        layers = [conv_bn_relu(3, width), conv_bn_relu(width, width, stride=2),
                  conv_bn_relu(width, out_channels, stride=2)]
        layers += [conv_bn_relu(out_channels, out_channels) for _ in range(depth)]
        self.layers = nn.Sequential(*layers)

    def forward(self, images):
        return self.layers(images)
