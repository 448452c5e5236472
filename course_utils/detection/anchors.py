"""Anchors and the assignment of ground truth to them: anchor-based (Faster R-CNN's anchors,
torchvision's Matcher and balanced sampler) and anchor-free (FCOS's points and targets).

A feature map of size (H, W) with stride s has one cell per feature; cell (i, j) (row i, column
j) is centred on the image point ((j + 0.5) * s, (i + 0.5) * s), the centre of the s x s pixels it
summarises. Boxes are (x1, y1, x2, y2) in pixels as in boxes.py.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from course_utils.detection.boxes import box_area, box_iou
from course_utils.graded import graded_in


def grid_points(feature_size: tuple[int, int], stride: int) -> Tensor:
    """The cell centres (x, y) = ((j + 0.5) * stride, (i + 0.5) * stride) of an (H, W) feature
    map, float32 (H * W, 2), row-major: point i * W + j is cell (i, j)."""
    height, width = feature_size
    ys = (torch.arange(height, dtype=torch.float32) + 0.5) * stride
    xs = (torch.arange(width, dtype=torch.float32) + 0.5) * stride
    y, x = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack([x.reshape(-1), y.reshape(-1)], dim=1)


@graded_in("ch09_detection_segmentation")
def generate_anchors(feature_size: tuple[int, int], stride: int, sizes: Sequence[float],
                     aspect_ratios: Sequence[float]) -> Tensor:
    """The anchors of every cell of a feature map, vectorised.

    An anchor of size s and aspect ratio r (height / width, as torchvision) has width
    w = s / sqrt(r) and height h = s * sqrt(r), so area s^2; centred on cell (i, j)'s centre
    (cx, cy) = ((j + 0.5) * stride, (i + 0.5) * stride) it is (cx - w/2, cy - h/2, cx + w/2,
    cy + h/2). Unlike torchvision's AnchorGenerator, the centres are the cells' centres (not
    their top-left corners) and the sides are not rounded to integers.

    Args:
        feature_size: (H, W).
        stride: pixels per cell.
        sizes: the anchor sizes s (side of the square of the same area), in pixels.
        aspect_ratios: the ratios r = h / w.
    Returns:
        float32 (H * W * A, 4), A = len(sizes) * len(aspect_ratios). Order (torchvision's):
        cells row-major (i outer, j inner); within a cell, ratios outer, sizes inner, so anchor
        (i * W + j) * A + k * len(sizes) + m has ratio aspect_ratios[k] and size sizes[m].
    """
    scales = torch.as_tensor(sizes, dtype=torch.float32)
    root_ratios = torch.as_tensor(aspect_ratios, dtype=torch.float32).sqrt()
    widths = (scales[None, :] / root_ratios[:, None]).reshape(-1)     # (A,), ratios outer
    heights = (scales[None, :] * root_ratios[:, None]).reshape(-1)
    half_sides = torch.stack([-widths, -heights, widths, heights], dim=1) / 2   # (A, 4)
    centres = grid_points(feature_size, stride).repeat(1, 2)                  # (H * W, 4)
    return (centres[:, None, :] + half_sides[None, :, :]).reshape(-1, 4)


@graded_in("ch09_detection_segmentation")
def match_anchors(anchors: Tensor, gt_boxes: Tensor, fg_iou_threshold: float = 0.7,
                  bg_iou_threshold: float = 0.3, allow_low_quality_matches: bool = True
                  ) -> Tensor:
    """Assign each anchor a ground-truth box or a label, torchvision's Matcher.

    With best[n] = max over gts of IoU(anchors[n], gt) and argbest[n] the gt reaching it (the
    lowest gt index among ties):
    - best >= fg_iou_threshold: matched, matches[n] = argbest[n];
    - best < bg_iou_threshold: background, -1;
    - in between: ignored, -2.
    Low-quality matches (allow_low_quality_matches, Faster R-CNN's rule that every gt gets an
    anchor): for each gt, the anchors whose IoU with it equals its highest IoU over all anchors
    (every tied anchor) are matched even below fg_iou_threshold, to their own argbest (that gt,
    unless the anchor overlaps another gt more; as torchvision). A gt that overlaps no anchor
    (highest IoU 0) gets none (torchvision would match every anchor).

    Args:
        anchors: (N, 4) float boxes with positive area (also proposals in a second stage).
        gt_boxes: (G, 4) float boxes with positive area.
        fg_iou_threshold, bg_iou_threshold: bg_iou_threshold <= fg_iou_threshold.
    Returns:
        int64 (N,) on anchors' device: a gt index in 0..G-1, -1 or -2. No gt (G = 0): all -1.
    """
    if bg_iou_threshold > fg_iou_threshold:
        raise ValueError("bg_iou_threshold must be <= fg_iou_threshold")
    if len(gt_boxes) == 0 or len(anchors) == 0:
        return torch.full((len(anchors),), -1, dtype=torch.int64, device=anchors.device)
    iou = box_iou(anchors, gt_boxes)                                      # (N, G)
    best, argbest = iou.max(dim=1).values, iou.argmax(dim=1)           # argmax: first maximum
    matches = torch.where(best >= fg_iou_threshold, argbest, -2)
    matches = torch.where(best < bg_iou_threshold, -1, matches)
    if allow_low_quality_matches:
        best_per_gt = iou.max(dim=0).values                                # (G,)
        is_best = ((iou == best_per_gt[None, :]) & (best_per_gt[None, :] > 0)).any(dim=1)
        matches = torch.where(is_best, argbest, matches)
    return matches


def sample_matches(matches: Tensor, num_samples: int, positive_fraction: float,
                   generator: torch.Generator) -> tuple[Tensor, Tensor]:
    """Balanced sampling of matched and background anchors (Faster R-CNN; torchvision's
    BalancedPositiveNegativeSampler).

    positives = indices with matches >= 0, negatives = indices with matches == -1 (both
    increasing; -2 is never sampled). Take num_positive = min(len(positives),
    int(num_samples * positive_fraction)) and num_negative = min(len(negatives), num_samples -
    num_positive), drawn in this order on `generator` (a CPU generator):
        positives[torch.randperm(len(positives), generator=generator)[:num_positive]],
        negatives[torch.randperm(len(negatives), generator=generator)[:num_negative]].
    So when positives are few the negatives fill the sample up to num_samples.

    Args:
        matches: int64 (N,), match_anchors' output.
        num_samples: the sample size per image (at most; fewer when there are not enough).
        positive_fraction: the largest share of positives.
        generator: a torch.Generator, the only source of randomness.
    Returns:
        (positive indices (P,), negative indices (Q,)), int64 on matches' device, in the random
        order drawn; P + Q <= num_samples.
    """
    positives = torch.nonzero(matches >= 0)[:, 0]
    negatives = torch.nonzero(matches == -1)[:, 0]
    num_positive = min(len(positives), int(num_samples * positive_fraction))
    num_negative = min(len(negatives), num_samples - num_positive)
    take_positive = torch.randperm(len(positives), generator=generator)[:num_positive]
    take_negative = torch.randperm(len(negatives), generator=generator)[:num_negative]
    device = matches.device
    return positives[take_positive.to(device)], negatives[take_negative.to(device)]


def match_points(points: Tensor, gt_boxes: Tensor) -> Tensor:
    """FCOS's assignment: each point to the gt box that strictly contains it.

    Args:
        points: (P, 2) float (x, y), as grid_points.
        gt_boxes: (G, 4) float (x1, y1, x2, y2).
    Returns:
        int64 (P,): the index of the gt with x1 < x < x2 and y1 < y < y2 (a point on an edge is
        outside); inside several, the one of smallest area, then the lowest index; inside none
        (or G = 0), -1.
    """
    if len(gt_boxes) == 0:
        return torch.full((len(points),), -1, dtype=torch.int64, device=points.device)
    x, y = points[:, 0:1], points[:, 1:2]                                 # (P, 1)
    inside = ((gt_boxes[:, 0] < x) & (x < gt_boxes[:, 2])
              & (gt_boxes[:, 1] < y) & (y < gt_boxes[:, 3]))                # (P, G)
    areas = torch.where(inside, box_area(gt_boxes)[None, :], torch.inf)
    smallest = areas.argmin(dim=1)                                       # argmin: first minimum
    return torch.where(inside.any(dim=1), smallest, -1)


def ltrb_targets(points: Tensor, boxes: Tensor) -> Tensor:
    """FCOS's regression targets: the distances (l, t, r, b) = (x - x1, y - y1, x2 - x, y2 - y)
    from each point (P, 2) to the sides of its box (P, 4), row by row; (P, 4). All positive when
    the point lies strictly inside its box."""
    x, y = points[:, 0], points[:, 1]
    return torch.stack([x - boxes[:, 0], y - boxes[:, 1], boxes[:, 2] - x, boxes[:, 3] - y],
                       dim=1)


def centerness(ltrb: Tensor) -> Tensor:
    """FCOS's centre-ness sqrt(min(l, r) / max(l, r) * min(t, b) / max(t, b)) of distances ltrb
    (P, 4) (all positive: points inside their boxes); (P,), 1 at a box's centre, towards 0 at its
    edges."""
    left_right, top_bottom = ltrb[:, 0::2], ltrb[:, 1::2]
    ratio = (left_right.min(dim=1).values / left_right.max(dim=1).values
             * top_bottom.min(dim=1).values / top_bottom.max(dim=1).values)
    return ratio.sqrt()
