"""Operations on boxes: areas and IoU, non-maximum suppression, the R-CNN box deltas, clipping.

Boxes are float tensors (N, 4) of corners (x1, y1, x2, y2) in pixels, torchvision's convention:
pixel (row r, column c) covers [c, c + 1) x [r, r + 1), so the box of the pixels in columns
c0..c1 and rows r0..r1 is (c0, r0, c1 + 1, r1 + 1), and its width x2 - x1 counts pixels.
Every function keeps its input's dtype and device and follows torchvision.ops where it has the
function (box_area, box_iou, nms, batched_nms, clip_boxes_to_image, remove_small_boxes).
"""

from __future__ import annotations

import torch
from torch import Tensor

from course_utils.graded import graded_in


def box_area(boxes: Tensor) -> Tensor:
    """(x2 - x1) * (y2 - y1) of boxes (N, 4); (N,)."""
    return (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])


@graded_in("ch09_detection_segmentation")
def box_iou(boxes1: Tensor, boxes2: Tensor) -> Tensor:
    """Intersection over union of every pair of boxes, vectorised (no Python loop).

    Args:
        boxes1: (N, 4) float, (x1, y1, x2, y2) with x1 < x2 and y1 < y2 (positive area).
        boxes2: (M, 4) float, the same.
    Returns:
        (N, M) in boxes1's dtype: iou[i, j] = area(boxes1[i] & boxes2[j]) / area of their union,
        in [0, 1]. Boxes that only touch (share an edge or a corner) or are apart have IoU 0;
        identical boxes have IoU 1. N = 0 or M = 0 gives an empty (N, M) tensor.
    """
    top_left = torch.maximum(boxes1[:, None, :2], boxes2[None, :, :2])       # (N, M, 2)
    bottom_right = torch.minimum(boxes1[:, None, 2:], boxes2[None, :, 2:])
    sides = (bottom_right - top_left).clamp(min=0)
    intersection = sides[..., 0] * sides[..., 1]
    union = box_area(boxes1)[:, None] + box_area(boxes2)[None, :] - intersection
    return intersection / union


@graded_in("ch09_detection_segmentation")
def nms(boxes: Tensor, scores: Tensor, iou_threshold: float) -> Tensor:
    """Non-maximum suppression, torchvision.ops.nms's rule.

    Visit the boxes by decreasing score; keep a box unless its IoU with a box already kept is
    strictly greater than iou_threshold (IoU == iou_threshold keeps it).

    Args:
        boxes: (N, 4) float, (x1, y1, x2, y2) with positive area.
        scores: (N,) float.
        iou_threshold: in [0, 1].
    Returns:
        int64 (K,) on boxes' device, the indices into boxes of the kept boxes by decreasing
        score. Equal scores: the lower index ranks first, as torch.argsort(scores,
        descending=True, stable=True) orders them. Empty input (N = 0) gives an empty int64
        tensor.
    """
    remaining = torch.argsort(scores, descending=True, stable=True)
    kept = []
    while len(remaining) > 0:
        best, rest = remaining[:1], remaining[1:]
        kept.append(best)
        overlap = box_iou(boxes[best], boxes[rest])[0]
        remaining = rest[~(overlap > iou_threshold)]
    return torch.cat(kept) if kept else remaining   # remaining: empty int64


@graded_in("ch09_detection_segmentation")
def batched_nms(boxes: Tensor, scores: Tensor, idxs: Tensor, iou_threshold: float) -> Tensor:
    """nms within each category separately, torchvision.ops.batched_nms: boxes of different
    categories never suppress each other.

    Args:
        boxes: (N, 4) float, (x1, y1, x2, y2) with positive area.
        scores: (N,) float.
        idxs: (N,) int64, the category of each box (any integers).
        iou_threshold: in [0, 1]; within a category a box is dropped when its IoU with a kept,
            higher-ranked box of the same category is > iou_threshold.
    Returns:
        int64 (K,), the indices of the boxes that nms keeps in their category, all categories
        together by decreasing score; equal scores (also across categories): the lower index
        first. Empty input gives an empty int64 tensor.
    """
    keep = torch.zeros(len(boxes), dtype=torch.bool, device=boxes.device)
    for category in torch.unique(idxs):
        members = torch.nonzero(idxs == category)[:, 0]
        keep[members[nms(boxes[members], scores[members], iou_threshold)]] = True
    kept = torch.nonzero(keep)[:, 0]                                     # increasing index
    return kept[torch.argsort(scores[kept], descending=True, stable=True)]


def box_to_centers(boxes: Tensor) -> Tensor:
    """(x1, y1, x2, y2) -> (cx, cy, w, h) = ((x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1);
    (N, 4) -> (N, 4)."""
    x1, y1, x2, y2 = boxes.unbind(-1)
    return torch.stack([(x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1], dim=-1)


def centers_to_box(centers: Tensor) -> Tensor:
    """The inverse of box_to_centers: (cx, cy, w, h) -> (cx - w/2, cy - h/2, cx + w/2, cy + h/2);
    (N, 4) -> (N, 4)."""
    cx, cy, w, h = centers.unbind(-1)
    return torch.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], dim=-1)


@graded_in("ch09_detection_segmentation")
def encode_boxes(anchors: Tensor, boxes: Tensor) -> Tensor:
    """The deltas that move each anchor onto its box: the R-CNN parameterisation (Girshick et al.
    2014) on centres and sizes, without torchvision's scaling weights.

    With (ax, ay, aw, ah) = box_to_centers(anchors) and (gx, gy, gw, gh) = box_to_centers(boxes):
        (tx, ty, tw, th) = ((gx - ax) / aw, (gy - ay) / ah, log(gw / aw), log(gh / ah)).

    Args:
        anchors: (N, 4) float, (x1, y1, x2, y2) with positive area.
        boxes: (N, 4) float, the box matched to each anchor (row by row), positive area.
    Returns:
        deltas (N, 4), (tx, ty, tw, th), in the inputs' dtype; N = 0 gives (0, 4).
    """
    ax, ay, aw, ah = box_to_centers(anchors).unbind(-1)
    gx, gy, gw, gh = box_to_centers(boxes).unbind(-1)
    return torch.stack([(gx - ax) / aw, (gy - ay) / ah, torch.log(gw / aw),
                        torch.log(gh / ah)], dim=-1)


@graded_in("ch09_detection_segmentation")
def decode_boxes(anchors: Tensor, deltas: Tensor) -> Tensor:
    """The inverse of encode_boxes: the boxes that deltas (tx, ty, tw, th) make of the anchors.

    With (ax, ay, aw, ah) = box_to_centers(anchors):
        (cx, cy, w, h) = (ax + tx * aw, ay + ty * ah, aw * exp(tw), ah * exp(th)),
    returned as corners (centers_to_box). No clamping of tw, th (a large delta overflows to inf)
    and no clipping to the image.

    Args:
        anchors: (N, 4) float, (x1, y1, x2, y2) with positive area.
        deltas: (N, 4) float.
    Returns:
        boxes (N, 4), (x1, y1, x2, y2), in the inputs' dtype; N = 0 gives (0, 4).
        decode_boxes(a, encode_boxes(a, b)) == b up to rounding.
    """
    ax, ay, aw, ah = box_to_centers(anchors).unbind(-1)
    tx, ty, tw, th = deltas.unbind(-1)
    centers = torch.stack([ax + tx * aw, ay + ty * ah, aw * torch.exp(tw), ah * torch.exp(th)],
                          dim=-1)
    return centers_to_box(centers)


def clip_boxes_to_image(boxes: Tensor, size: tuple[int, int]) -> Tensor:
    """Clamp x to [0, width] and y to [0, height], size = (height, width) as torchvision;
    (N, 4) -> (N, 4). A box entirely outside ends up with zero width or height."""
    height, width = size
    x = boxes[:, 0::2].clamp(0, width)
    y = boxes[:, 1::2].clamp(0, height)
    return torch.stack([x[:, 0], y[:, 0], x[:, 1], y[:, 1]], dim=1)


def remove_small_boxes(boxes: Tensor, min_size: float) -> Tensor:
    """int64 indices, increasing, of the boxes (N, 4) with width >= min_size and height >=
    min_size."""
    width, height = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    return torch.nonzero((width >= min_size) & (height >= min_size))[:, 0]
