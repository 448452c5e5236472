"""Mask R-CNN's mask head (He et al. 2017): from the RoI-aligned features of a box to a 28 x 28
mask per class, its training target and loss, and pasting a predicted mask back into the image.

The RoI Align calls (14 x 14 features, 28 x 28 targets) live in two_stage.py, so that all the
graded building blocks go through that one module's names.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional as F


class MaskHead(nn.Module):
    """RoI features (R, C, 14, 14) -> mask logits (R, num_classes, 28, 28): 3 x 3 convolutions
    with ReLU, a stride-2 transposed convolution to 28 x 28, and a 1 x 1 convolution to one
    logit per class and pixel (channel 0, the background's, is never trained or used)."""

    def __init__(self, in_channels: int, num_classes: int, width: int = 16, convs: int = 3
                 ) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for k in range(convs):
            layers += [nn.Conv2d(in_channels if k == 0 else width, width, 3, padding=1),
                       nn.ReLU(inplace=True)]
        layers += [nn.ConvTranspose2d(width, width, 2, stride=2), nn.ReLU(inplace=True),
                   nn.Conv2d(width, num_classes, 1)]
        self.layers = nn.Sequential(*layers)

    def forward(self, features: Tensor) -> Tensor:
        return self.layers(features)


def class_mask_logits(logits: Tensor, labels: Tensor) -> Tensor:
    """The channel of each RoI's class: logits (R, K, M, M), labels (R,) int64 -> (R, M, M)."""
    return logits[torch.arange(len(labels)), labels]


def mask_loss(logits: Tensor, labels: Tensor, targets: Tensor) -> Tensor:
    """Binary cross-entropy, averaged over pixels and RoIs, of the gt class's channel.

    Args:
        logits: (R, K, M, M) mask logits of the positive proposals.
        labels: (R,) int64, the class of each one's gt object.
        targets: (R, M, M) bool, each gt mask cropped to its proposal (two_stage.mask_targets).
    Returns:
        scalar; 0 (still attached to the graph) when R = 0.
    """
    if len(labels) == 0:
        return logits.sum() * 0
    return F.binary_cross_entropy_with_logits(class_mask_logits(logits, labels),
                                              targets.to(logits.dtype))


def paste_masks(probabilities: Tensor, boxes: Tensor, image_size: tuple[int, int],
                threshold: float = 0.5) -> Tensor:
    """Resize each box's mask probabilities bilinearly to its box and paste it into the image.

    A pixel (row r, column c) takes the mask's value at its centre (c + 0.5, r + 0.5): mask cell
    (u, v) of an M x M mask covers [x1 + u w / M, x1 + (u + 1) w / M) (likewise v), and between
    cell centres the value is bilinear, clamped to the border cells (F.interpolate's
    align_corners=False). For a box with integer corners this is F.interpolate(mask, (h, w),
    mode="bilinear") pasted at (y1, x1), as torchvision pastes it. Pixels whose centre lies
    outside the box are False.

    Args:
        probabilities: (K, M, M) float in [0, 1].
        boxes: (K, 4) (x1, y1, x2, y2) in pixels.
        image_size: (height, width).
    Returns:
        (K, height, width) bool: the probability > threshold.
    """
    height, width = image_size
    if len(boxes) == 0:
        return torch.zeros(0, height, width, dtype=torch.bool)
    x1, y1, x2, y2 = (boxes[:, k, None] for k in range(4))                     # (K, 1) each
    xs = torch.arange(width, dtype=boxes.dtype) + 0.5
    ys = torch.arange(height, dtype=boxes.dtype) + 0.5
    gx = 2 * (xs - x1) / (x2 - x1).clamp(min=1e-6) - 1                         # (K, W) in [-1, 1]
    gy = 2 * (ys - y1) / (y2 - y1).clamp(min=1e-6) - 1                         # (K, H)
    grid = torch.stack(torch.broadcast_tensors(gx[:, None, :], gy[:, :, None]), dim=-1)
    pasted = F.grid_sample(probabilities[:, None], grid, mode="bilinear",
                           padding_mode="border", align_corners=False)[:, 0]  # (K, H, W)
    inside = (gx.abs() <= 1)[:, None, :] & (gy.abs() <= 1)[:, :, None]
    return (pasted > threshold) & inside
