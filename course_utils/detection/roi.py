"""RoI pooling and RoI Align: crop a fixed-size feature grid out of a feature map for each box.

Both follow torchvision.ops.roi_pool and roi_align exactly (the logic of its CPU kernels,
torchvision/csrc/ops/cpu/roi_pool_kernel.cpp and roi_align_kernel.cpp), vectorised over the
boxes and bins and differentiable by autograd with respect to the features (as in torchvision,
the boxes get no gradient).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from course_utils.graded import graded_in

Boxes = Tensor | Sequence[Tensor]


@graded_in("ch09_detection_segmentation")   # a part of roi_align / roi_pool
def _as_rois(boxes: Boxes, features: Tensor) -> Tensor:
    """Either box form -> (K, 5) (image index, x1, y1, x2, y2), detached, in features' dtype."""
    if not isinstance(boxes, Tensor):
        parts = [torch.cat([b.new_full((len(b), 1), i), b], dim=1) for i, b in enumerate(boxes)]
        boxes = torch.cat(parts) if parts else features.new_zeros(0, 5)
    if boxes.dim() != 2 or boxes.shape[1] != 5:
        raise ValueError(f"boxes must be (K, 5) or a list of (K_i, 4) tensors, got {boxes.shape}")
    return boxes.detach().to(features.dtype)


def _pair(output_size: int | Sequence[int]) -> tuple[int, int]:
    if isinstance(output_size, int):
        return output_size, output_size
    height, width = output_size
    return int(height), int(width)


@graded_in("ch09_detection_segmentation")   # a part of roi_align / roi_pool
def _axis_weights(start: Tensor, bin_size: Tensor, grid: Tensor, bins: int, size: int) -> Tensor:
    """RoI Align's bilinear weights along one axis, summed over each bin's samples.

    Bilinear interpolation is separable: the weight of pixel (r, c) for the sample (y, x) is
    w_y(r) * w_x(c), and the out-of-map rule (y < -1 or y > H, likewise x, gives 0) is a product
    too. So a box's output is Wy @ F @ Wx^T / count, with Wy and Wx from this function.

    Args:
        start, bin_size: per box (K,), in feature-map pixels.
        grid: samples per bin along this axis (K,) int64, >= 0.
        bins: the output size along this axis; size: the feature map's (H or W).
    Returns:
        (K, bins, size): row p holds the summed 1-D weights of the samples of bin p.
    """
    steps = torch.arange(int(grid.max()) if len(grid) else 0, dtype=start.dtype,
                         device=start.device)
    bin_index = torch.arange(bins, dtype=start.dtype, device=start.device)[:, None]
    start, bin_size, grid = start[:, None, None], bin_size[:, None, None], grid[:, None, None]
    # sample iy of bin p sits at the centre of the iy-th of `grid` sub-cells (kernel's order of ops)
    coords = start + bin_index * bin_size + (steps + 0.5) * bin_size / grid   # (K, bins, steps)
    used = (steps < grid) & (coords >= -1) & (coords <= size)   # also False for NaN
    coords = torch.where(used, coords, 0).clamp(min=0)
    # at or beyond the last row/column (coords >= size - 1) low = high: all the weight on it
    low = coords.long().clamp(max=size - 1)
    high = (low + 1).clamp(max=size - 1)
    fraction = coords - low
    weights = coords.new_zeros(len(coords), bins, size)
    weights.scatter_add_(2, low, torch.where(used, 1 - fraction, 0))
    weights.scatter_add_(2, high, torch.where(used, fraction, 0))
    return weights


@graded_in("ch09_detection_segmentation")
def roi_align(features: Tensor, boxes: Boxes, output_size: int | Sequence[int],
              spatial_scale: float = 1.0, sampling_ratio: int = -1,
              aligned: bool = False) -> Tensor:
    """RoI Align (He et al. 2017), torchvision.ops.roi_align's semantics.

    Each box is scaled by spatial_scale into feature-map coordinates, where interpolation places
    the value of pixel (r, c) at the point (x, y) = (c, r). aligned=True shifts the box by -0.5,
    so that in the course's convention (pixel (r, c) covers [c, c + 1) x [r, r + 1)) each value
    sits at its pixel's centre; aligned=False (the legacy default) does not shift, and raises the
    box's width and height to at least 1. The box is cut into h x w equal bins; each bin averages
    grid_h x grid_w bilinear samples at the centres of its equal sub-cells, grid = sampling_ratio
    along both axes, or ceil(box height / h) (width: ceil(box width / w)) when sampling_ratio <= 0
    (a bin without samples is 0). Boundary rule: a sample with y < -1 or y > H (or x < -1 or
    x > W) contributes 0 but still counts in the average; otherwise y is clamped to >= 0 and, at
    or beyond the last row (y >= H - 1), reads that row only; likewise x.

    Args:
        features: (N, C, H, W), float.
        boxes: (K, 5) rows (image index, x1, y1, x2, y2) in image pixels, or a list of N (K_i, 4)
            tensors (x1, y1, x2, y2), one per image (then K = sum K_i, in list order).
        output_size: h, or (h, w).
        spatial_scale: feature-map pixels per image pixel (1 / stride).
        sampling_ratio: samples per bin along each axis; <= 0 for the adaptive number above.
        aligned: shift the box by -0.5 pixel (Detectron2's and torchvision's aligned=True).
    Returns:
        (K, C, h, w), features' dtype; differentiable with respect to features (not boxes).
    """
    height, width = _pair(output_size)
    rois = _as_rois(boxes, features)
    offset = 0.5 if aligned else 0.0
    start_x, start_y, end_x, end_y = (rois[:, 1:] * spatial_scale - offset).unbind(1)
    box_width, box_height = end_x - start_x, end_y - start_y
    if not aligned:                     # malformed boxes become 1 x 1
        box_width, box_height = box_width.clamp(min=1), box_height.clamp(min=1)
    bin_height, bin_width = box_height / height, box_width / width
    if sampling_ratio > 0:
        grid_h = grid_w = torch.full((len(rois),), sampling_ratio, device=rois.device)
    else:
        grid_h = torch.ceil(box_height / height).long().clamp(min=0)
        grid_w = torch.ceil(box_width / width).long().clamp(min=0)
    count = (grid_h * grid_w).clamp(min=1).to(features.dtype)
    N, C, H, W = features.shape
    wy = _axis_weights(start_y, bin_height, grid_h, height, H)                      # (K, h, H)
    wx = _axis_weights(start_x, bin_width, grid_w, width, W) / count[:, None, None]  # (K, w, W)
    # out[k] = wy[k] @ F[image of k] @ wx[k]^T, per channel, as two batched matrix products
    rows = features.transpose(1, 2).reshape(N, H, C * W).index_select(0, rois[:, 0].long())
    pooled = (wy @ rows).view(len(rois), height * C, W)          # (K, h * C, W)
    pooled = wx @ pooled.transpose(1, 2)                          # (K, w, h * C)
    return pooled.view(len(rois), width, height, C).permute(0, 3, 2, 1).contiguous()


@graded_in("ch09_detection_segmentation")   # a part of roi_align / roi_pool
def _round_half_away(values: Tensor) -> Tensor:
    """C's round(): halves go away from zero (torch.round sends them to the even integer)."""
    magnitude = values.abs()
    rounded = torch.where(magnitude - magnitude.floor() >= 0.5, magnitude.ceil(), magnitude.floor())
    return rounded.copysign(values).long()


@graded_in("ch09_detection_segmentation")   # a part of roi_align / roi_pool
def _pool_bins(start: Tensor, length: Tensor, bins: int, size: int,
               dtype: torch.dtype) -> tuple[Tensor, Tensor]:
    """RoI pooling's bins along one axis: first and one-past-last index (K, bins), in [0, size].

    Bin p covers [floor(p * s), ceil((p + 1) * s)) from the box's start, s = length / bins.
    """
    bin_size = (length.to(dtype) / bins)[:, None]
    index = torch.arange(bins, dtype=dtype, device=start.device)
    first = torch.floor(index * bin_size).long() + start[:, None]
    end = torch.ceil((index + 1) * bin_size).long() + start[:, None]
    return first.clamp(0, size), end.clamp(0, size)


@graded_in("ch09_detection_segmentation")   # a part of roi_align / roi_pool
def _max_over_bins(values: Tensor, first: Tensor, end: Tensor) -> Tensor:
    """values (K, C, X, L), bins [first, end) (K, B) along L -> (K, C, X, B), the max over each
    bin, whose gradient goes to the bin's first maximum (torch.max's rule); empty bins: garbage."""
    K, C, X, length = values.shape
    span = max(int((end - first).max()), 1)
    # bin b reads first..end - 1, padded to `span` by repeating end - 1 (the max stays the same)
    index = first[:, :, None] + torch.arange(span, device=first.device)   # (K, B, span)
    index = torch.minimum(index, end[:, :, None] - 1).clamp(0, length - 1)
    taken = values.gather(3, index.view(K, 1, 1, -1).expand(K, C, X, -1))
    return taken.view(K, C, X, *index.shape[1:]).max(dim=4).values


@graded_in("ch09_detection_segmentation")
def roi_pool(features: Tensor, boxes: Boxes, output_size: int | Sequence[int],
             spatial_scale: float = 1.0) -> Tensor:
    """RoI pooling (Girshick 2015, Fast R-CNN), torchvision.ops.roi_pool's semantics.

    Each box corner is scaled by spatial_scale and rounded to the nearest integer, halves away
    from zero (C's round: 2.5 -> 3, -2.5 -> -3); the box then covers the pixels x1..x2 and
    y1..y2 inclusive, at least 1 x 1: width = max(x2 - x1 + 1, 1), likewise height. Bin (i, j) of
    h x w covers rows y1 + floor(i * height / h) up to (excluded) y1 + ceil((i + 1) * height / h)
    (so neighbouring bins may share a row), columns likewise, clipped to the feature map; its
    output is the maximum there, 0 for a bin left empty by the clipping. The gradient goes to
    the first maximum of each bin in row-major order (torchvision's argmax).

    Args:
        features: (N, C, H, W), float.
        boxes: (K, 5) rows (image index, x1, y1, x2, y2) in image pixels, or a list of N (K_i, 4)
            tensors, one per image.
        output_size: h, or (h, w).
        spatial_scale: feature-map pixels per image pixel (1 / stride).
    Returns:
        (K, C, h, w), features' dtype; differentiable with respect to features (not boxes).
    """
    height, width = _pair(output_size)
    rois = _as_rois(boxes, features)
    K, C, H, W = len(rois), features.shape[1], features.shape[2], features.shape[3]
    if K == 0:
        return features.new_zeros(0, C, height, width)
    x1, y1, x2, y2 = _round_half_away(rois[:, 1:] * spatial_scale).unbind(1)
    row_first, row_end = _pool_bins(y1, (y2 - y1 + 1).clamp(min=1), height, H, features.dtype)
    col_first, col_end = _pool_bins(x1, (x2 - x1 + 1).clamp(min=1), width, W, features.dtype)
    crops = features.index_select(0, rois[:, 0].long())                     # (K, C, H, W)
    pooled = _max_over_bins(crops, col_first, col_end)                      # (K, C, H, w)
    pooled = _max_over_bins(pooled.transpose(2, 3), row_first, row_end).transpose(2, 3)
    empty = (row_end <= row_first)[:, :, None] | (col_end <= col_first)[:, None, :]
    return torch.where(empty[:, None], 0, pooled)
