"""Anchors, matching and sampling, and FCOS's point targets against slow, obvious versions."""

import math

import pytest
import torch

from course_utils.detection.anchors import (
    centerness,
    generate_anchors,
    grid_points,
    ltrb_targets,
    match_anchors,
    match_points,
    sample_matches,
)
from course_utils.detection.boxes import box_area, box_iou


def random_boxes(n, seed, size=32, integer=True):
    generator = torch.Generator().manual_seed(seed)
    corners = torch.rand(n, 2, generator=generator) * size * 0.75
    sides = 2 + torch.rand(n, 2, generator=generator) * (size / 2 - 2)
    boxes = torch.cat([corners, corners + sides], dim=1)
    return boxes.round() if integer else boxes


def slow_anchors(feature_size, stride, sizes, ratios):
    anchors = []
    for i in range(feature_size[0]):
        for j in range(feature_size[1]):
            cx, cy = (j + 0.5) * stride, (i + 0.5) * stride
            for r in ratios:
                for s in sizes:
                    w, h = s / math.sqrt(r), s * math.sqrt(r)
                    anchors.append([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2])
    return torch.tensor(anchors, dtype=torch.float64).reshape(-1, 4)


def test_grid_points_are_cell_centres_row_major():
    points = grid_points((2, 3), 4)
    assert points.dtype == torch.float32
    assert points.tolist() == [[2, 2], [6, 2], [10, 2], [2, 6], [6, 6], [10, 6]]


@pytest.mark.parametrize("feature_size, stride, sizes, ratios", [
    ((3, 4), 4, (8.0, 16.0, 32.0), (0.5, 1.0, 2.0)),
    ((2, 5), 16, (32,), (1.0, 3.0)),
    ((1, 1), 8, (10.0, 20.0), (1.0,)),
])
def test_generate_anchors_equals_the_loops(feature_size, stride, sizes, ratios):
    anchors = generate_anchors(feature_size, stride, sizes, ratios)
    assert anchors.dtype == torch.float32
    assert anchors.shape == (feature_size[0] * feature_size[1] * len(sizes) * len(ratios), 4)
    expected = slow_anchors(feature_size, stride, sizes, ratios).float()
    assert torch.allclose(anchors, expected, rtol=1e-6, atol=1e-5)


def test_anchor_sizes_ratios_and_centres():
    sizes, ratios = (8.0, 16.0), (0.5, 1.0, 2.0)
    anchors = generate_anchors((2, 3), 4, sizes, ratios).view(6, 3, 2, 4)   # cell, ratio, size
    widths = anchors[..., 2] - anchors[..., 0]
    heights = anchors[..., 3] - anchors[..., 1]
    assert torch.allclose(widths * heights, torch.tensor(sizes).pow(2).expand(6, 3, 2))
    assert torch.allclose(heights / widths, torch.tensor(ratios)[:, None].expand(6, 3, 2))
    centres = (anchors[..., :2] + anchors[..., 2:]) / 2
    assert torch.allclose(centres, grid_points((2, 3), 4)[:, None, None, :].expand(6, 3, 2, 2))


def slow_match(iou, fg, bg, low_quality):
    """Matcher on a given IoU matrix (N, G), one anchor at a time."""
    n_anchors, n_gt = iou.shape
    rows = iou.tolist()
    matches, argbest = [], []
    for n in range(n_anchors):
        best = max(rows[n])
        argbest.append(rows[n].index(best))                 # the first maximum
        matches.append(argbest[n] if best >= fg else -1 if best < bg else -2)
    if low_quality:
        for g in range(n_gt):
            best_for_gt = max(rows[n][g] for n in range(n_anchors))
            for n in range(n_anchors):
                if best_for_gt > 0 and rows[n][g] == best_for_gt:
                    matches[n] = argbest[n]
    return matches


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("fg, bg, low_quality", [(0.7, 0.3, True), (0.5, 0.4, False),
                                                 (0.5, 0.5, False), (0.6, 0.2, True)])
def test_match_anchors_equals_the_loop(seed, fg, bg, low_quality):
    anchors = generate_anchors((4, 4), 8, (8.0, 16.0), (0.5, 1.0, 2.0))
    near_anchors = anchors[[5 + seed, 40 + seed, 70]] + torch.tensor([1.0, 0.0, 1.0, 2.0])
    gt_boxes = torch.cat([random_boxes(4, seed), near_anchors])
    gt_boxes = torch.cat([gt_boxes, gt_boxes[:1]])           # a duplicate gt: ties between gts
    matches = match_anchors(anchors, gt_boxes, fg, bg, low_quality)
    assert matches.dtype == torch.int64
    expected = slow_match(box_iou(anchors, gt_boxes), fg, bg, low_quality)
    assert matches.tolist() == expected
    assert (matches != len(gt_boxes) - 1).all()             # the duplicate never wins a tie


def test_match_anchors_rules():
    anchors = torch.tensor([[0.0, 0.0, 10.0, 10.0],     # IoU 1 with gt 0
                            [0.0, 0.0, 10.0, 5.0],      # 0.5 with gt 0: ignored
                            [0.0, 0.0, 10.0, 2.0],      # 0.2: background
                            [20.0, 20.0, 30.0, 25.0],   # gt 1's best, 0.5: low-quality match
                            [20.0, 20.0, 30.0, 22.0],   # 0.2 with gt 1: background
                            [50.0, 50.0, 60.0, 60.0]])  # nothing
    gt_boxes = torch.tensor([[0.0, 0.0, 10.0, 10.0], [20.0, 20.0, 30.0, 30.0]])
    assert match_anchors(anchors, gt_boxes, 0.7, 0.3, False).tolist() == [0, -2, -1, -2, -1, -1]
    assert match_anchors(anchors, gt_boxes, 0.7, 0.3, True).tolist() == [0, -2, -1, 1, -1, -1]
    # all anchors tied at a gt's highest IoU are matched
    tied = torch.tensor([[0.0, 0.0, 10.0, 5.0], [0.0, 5.0, 10.0, 10.0], [0.0, 0.0, 10.0, 2.0]])
    assert match_anchors(tied, gt_boxes[:1], 0.7, 0.3, True).tolist() == [0, 0, -1]
    # a gt's best anchor that overlaps another gt more goes to that other gt (torchvision)
    two = torch.tensor([[0.0, 0.0, 10.0, 10.0], [0.0, 0.0, 10.0, 30.0]])
    both_best = torch.tensor([[0.0, 0.0, 10.0, 12.0],     # IoU 0.83 with gt 0, 0.4 with gt 1
                              [0.0, 20.0, 10.0, 30.0]])   # 0 with gt 0, 0.33 with gt 1
    assert match_anchors(both_best, two, 0.9, 0.3, False).tolist() == [-2, -2]
    assert match_anchors(both_best, two, 0.9, 0.3, True).tolist() == [0, -2]
    # equal IoU with two gts: the lower gt index
    mirrored = torch.tensor([[0.0, 0.0, 10.0, 10.0], [10.0, 0.0, 20.0, 10.0]])
    between = torch.tensor([[5.0, 0.0, 15.0, 10.0]])
    assert match_anchors(between, mirrored, 0.3, 0.2, False).tolist() == [0]
    # a gt that overlaps no anchor matches none (not every anchor at IoU 0)
    assert match_anchors(anchors[:3], gt_boxes[1:], 0.7, 0.3, True).tolist() == [-1, -1, -1]


def test_match_anchors_empty_inputs():
    anchors = generate_anchors((2, 2), 8, (8.0,), (1.0,))
    none = match_anchors(anchors, torch.zeros(0, 4))
    assert none.dtype == torch.int64 and none.tolist() == [-1] * 4
    assert match_anchors(torch.zeros(0, 4), anchors).shape == (0,)
    with pytest.raises(ValueError):
        match_anchors(anchors, anchors, 0.3, 0.7)


def test_sample_matches_balances_and_follows_the_documented_draws():
    generator = torch.Generator().manual_seed(0)
    matches = torch.randint(-2, 3, (200,), generator=generator)
    matches[:150][matches[:150] >= 0] = -1                  # about 30 positives
    positive, negative = sample_matches(matches, 64, 0.25, torch.Generator().manual_seed(3))
    assert positive.dtype == negative.dtype == torch.int64
    assert len(positive) == 16 and len(negative) == 48
    assert (matches[positive] >= 0).all() and (matches[negative] == -1).all()
    assert len(set(positive.tolist())) == 16 and len(set(negative.tolist())) == 48
    replay = torch.Generator().manual_seed(3)
    positives, negatives = torch.nonzero(matches >= 0)[:, 0], torch.nonzero(matches == -1)[:, 0]
    assert torch.equal(positive, positives[torch.randperm(len(positives), generator=replay)[:16]])
    assert torch.equal(negative, negatives[torch.randperm(len(negatives), generator=replay)[:48]])


def test_sample_matches_fills_with_negatives_and_runs_short():
    matches = torch.tensor([0, -1, -1, -2, 1, -1, -1, -1, -2, -1])
    positive, negative = sample_matches(matches, 8, 0.5, torch.Generator().manual_seed(0))
    assert sorted(positive.tolist()) == [0, 4] and len(negative) == 6
    positive, negative = sample_matches(matches, 100, 0.5, torch.Generator().manual_seed(0))
    assert sorted(negative.tolist()) == [1, 2, 5, 6, 7, 9]            # -2 is never sampled
    positive, negative = sample_matches(torch.full((5,), -1), 4, 0.5,
                                        torch.Generator().manual_seed(0))
    assert len(positive) == 0 and len(negative) == 4
    first = sample_matches(matches, 4, 0.25, torch.Generator().manual_seed(7))
    second = sample_matches(matches, 4, 0.25, torch.Generator().manual_seed(7))
    assert all(torch.equal(a, b) for a, b in zip(first, second, strict=True))


def slow_match_points(points, boxes):
    matches = []
    for x, y in points.tolist():
        inside = [(float(box_area(boxes[g:g + 1])), g) for g, (x1, y1, x2, y2)
                  in enumerate(boxes.tolist()) if x1 < x < x2 and y1 < y < y2]
        matches.append(min(inside)[1] if inside else -1)
    return matches


@pytest.mark.parametrize("seed", range(3))
def test_match_points_equals_the_loop(seed):
    points = grid_points((8, 8), 4)
    boxes = random_boxes(6, seed)
    boxes = torch.cat([boxes, boxes[:2] + torch.tensor([1.0, 1.0, 1.0, 1.0])])  # equal areas
    matches = match_points(points, boxes)
    assert matches.dtype == torch.int64
    assert matches.tolist() == slow_match_points(points, boxes)


def test_match_points_rules():
    points = torch.tensor([[2.0, 2.0], [4.0, 2.0], [6.0, 6.0], [20.0, 20.0], [1.0, 1.0]])
    boxes = torch.tensor([[0.0, 0.0, 8.0, 8.0],      # contains points 0, 1, 2 and 4
                          [0.0, 0.0, 4.0, 4.0],      # smaller, contains 0 and 4; 1 on its edge
                          [0.5, 0.5, 4.5, 4.5]])     # same area as box 1, contains 0, 1, 4
    assert match_points(points, boxes).tolist() == [1, 2, 0, -1, 1]
    assert match_points(points, torch.zeros(0, 4)).tolist() == [-1] * 5
    assert match_points(torch.zeros(0, 2), boxes).shape == (0,)


def test_ltrb_targets_and_centerness():
    points = torch.tensor([[3.0, 4.0], [5.0, 5.0], [1.0, 9.0]])
    boxes = torch.tensor([[1.0, 2.0, 7.0, 6.0], [0.0, 0.0, 10.0, 10.0], [0.0, 0.0, 2.0, 10.0]])
    ltrb = ltrb_targets(points, boxes)
    expected = [[x - x1, y - y1, x2 - x, y2 - y] for (x, y), (x1, y1, x2, y2)
                in zip(points.tolist(), boxes.tolist(), strict=True)]
    assert ltrb.tolist() == expected
    slow = [math.sqrt(min(left, right) / max(left, right) * min(top, bottom) / max(top, bottom))
            for left, top, right, bottom in expected]
    assert torch.allclose(centerness(ltrb), torch.tensor(slow))
    assert centerness(ltrb)[1] == 1.0                        # the centre of its box
    assert ltrb_targets(torch.zeros(0, 2), torch.zeros(0, 4)).shape == (0, 4)
    assert centerness(torch.zeros(0, 4)).shape == (0,)
