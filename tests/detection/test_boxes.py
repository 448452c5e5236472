"""Box operations against slow, obvious Python versions, and their edge cases."""

import math

import pytest
import torch

from course_utils.detection.boxes import (
    batched_nms,
    box_area,
    box_iou,
    box_to_centers,
    centers_to_box,
    clip_boxes_to_image,
    decode_boxes,
    encode_boxes,
    nms,
    remove_small_boxes,
)


def random_boxes(n, seed, size=64.0, integer=False, dtype=torch.float32):
    """n boxes inside [0, size]^2 with sides in [2, size / 2]; integer corners make ties."""
    generator = torch.Generator().manual_seed(seed)
    corners = torch.rand(n, 2, generator=generator, dtype=torch.float64) * size * 0.75
    sides = 2 + torch.rand(n, 2, generator=generator, dtype=torch.float64) * (size / 2 - 2)
    boxes = torch.cat([corners, corners + sides], dim=1)
    return (boxes.round() if integer else boxes).to(dtype)


def slow_iou(a, b):
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    intersection = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - intersection
    return intersection / union


def slow_nms(boxes, scores, threshold, iou=None):
    """Visit by (-score, index); keep a box unless some kept box overlaps it > threshold.
    `iou(i, j)` defaults to slow_iou of the boxes."""
    rows, values = boxes.tolist(), scores.tolist()
    iou = iou or (lambda i, j: slow_iou(rows[i], rows[j]))
    kept = []
    for i in sorted(range(len(rows)), key=lambda i: (-values[i], i)):
        if all(iou(i, k) <= threshold for k in kept):
            kept.append(i)
    return kept


def slow_batched_nms(boxes, scores, idxs, threshold):
    kept = []
    for category in set(idxs.tolist()):
        members = [i for i in range(len(idxs)) if idxs[i] == category]
        kept += [members[k] for k in slow_nms(boxes[members], scores[members], threshold)]
    values = scores.tolist()
    return sorted(kept, key=lambda i: (-values[i], i))


def test_box_area():
    boxes = torch.tensor([[0.0, 0.0, 2.0, 3.0], [1.0, 1.0, 1.5, 5.0]])
    assert torch.equal(box_area(boxes), torch.tensor([6.0, 2.0]))


@pytest.mark.parametrize("seed", range(3))
def test_box_iou_equals_the_pairwise_loop(seed):
    boxes1, boxes2 = random_boxes(7, seed, dtype=torch.float64), random_boxes(5, seed + 10,
                                                                             dtype=torch.float64)
    expected = torch.tensor([[slow_iou(a, b) for b in boxes2.tolist()] for a in boxes1.tolist()],
                            dtype=torch.float64)
    iou = box_iou(boxes1, boxes2)
    assert iou.dtype == torch.float64 and iou.shape == (7, 5)
    assert torch.allclose(iou, expected, rtol=0, atol=1e-12)
    assert torch.allclose(box_iou(boxes2, boxes1), expected.T, rtol=0, atol=1e-12)


def test_box_iou_edge_cases():
    square = torch.tensor([[0.0, 0.0, 2.0, 2.0]])
    others = torch.tensor([[0.0, 0.0, 2.0, 2.0],     # identical
                           [2.0, 0.0, 4.0, 2.0],     # shares an edge
                           [2.0, 2.0, 3.0, 3.0],     # shares a corner
                           [5.0, 5.0, 6.0, 6.0],     # apart
                           [0.0, 0.0, 2.0, 1.0],     # half of it
                           [1.0, 1.0, 3.0, 3.0]])    # a quarter each
    assert torch.allclose(box_iou(square, others), torch.tensor([[1.0, 0, 0, 0, 0.5, 1 / 7]]))
    assert box_iou(square, others[:0]).shape == (1, 0)
    assert box_iou(others[:0], others).shape == (0, 6)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("threshold", [0.0, 0.3, 0.5, 0.7])
def test_nms_equals_the_loop(seed, threshold):
    boxes = random_boxes(60, seed, size=32.0, integer=seed % 2 == 1)
    scores = torch.rand(60, generator=torch.Generator().manual_seed(seed))
    if seed >= 2:                                    # many equal scores
        scores = (scores * 4).floor()
    kept = nms(boxes, scores, threshold)
    assert kept.dtype == torch.int64
    assert kept.tolist() == slow_nms(boxes, scores, threshold)


def test_nms_on_a_detectors_thousand_boxes():
    boxes, scores = random_boxes(1000, 5), torch.rand(1000, generator=torch.Generator()
                                                      .manual_seed(5))
    iou = box_iou(boxes, boxes).tolist()
    expected = slow_nms(boxes, scores, 0.5, iou=lambda i, j: iou[i][j])
    assert nms(boxes, scores, 0.5).tolist() == expected


def test_nms_edge_cases():
    empty = nms(torch.zeros(0, 4), torch.zeros(0), 0.5)
    assert empty.dtype == torch.int64 and empty.shape == (0,)
    box = [0.0, 0.0, 4.0, 4.0]
    # identical boxes with equal scores: the lowest index survives
    assert nms(torch.tensor([box] * 3), torch.tensor([1.0, 1.0, 1.0]), 0.5).tolist() == [0]
    assert nms(torch.tensor([box] * 3), torch.tensor([1.0, 2.0, 2.0]), 0.5).tolist() == [1]
    # identical boxes survive only a threshold of 1 (IoU 1 is not > 1)
    assert nms(torch.tensor([box] * 2), torch.tensor([0.2, 0.9]), 1.0).tolist() == [1, 0]
    # touching boxes do not overlap, even at threshold 0
    touching = torch.tensor([box, [4.0, 0.0, 8.0, 4.0], [4.0, 4.0, 5.0, 5.0]])
    assert nms(touching, torch.tensor([0.1, 0.3, 0.2]), 0.0).tolist() == [1, 2, 0]
    # IoU exactly at the threshold keeps the box (strictly greater drops it)
    halves = torch.tensor([[0.0, 0.0, 2.0, 2.0], [0.0, 0.0, 2.0, 1.0]])
    assert nms(halves, torch.tensor([0.9, 0.8]), 0.5).tolist() == [0, 1]
    assert nms(halves, torch.tensor([0.9, 0.8]), 0.49).tolist() == [0]
    # a single box
    assert nms(halves[:1], torch.tensor([0.3]), 0.5).tolist() == [0]


@pytest.mark.parametrize("seed", range(4))
def test_batched_nms_equals_per_category_loops(seed):
    generator = torch.Generator().manual_seed(seed)
    boxes = random_boxes(80, seed, size=32.0, integer=True)
    scores = (torch.rand(80, generator=generator) * 5).floor()    # many ties, across categories
    idxs = torch.randint(1, 5, (80,), generator=generator) * (3 if seed % 2 else 1)
    kept = batched_nms(boxes, scores, idxs, 0.4)
    assert kept.dtype == torch.int64
    assert kept.tolist() == slow_batched_nms(boxes, scores, idxs, 0.4)


def test_batched_nms_edge_cases():
    boxes = random_boxes(30, 1, size=20.0)
    scores = torch.rand(30, generator=torch.Generator().manual_seed(1))
    one_class = torch.full((30,), 2)
    assert torch.equal(batched_nms(boxes, scores, one_class, 0.5), nms(boxes, scores, 0.5))
    # identical boxes of different categories do not suppress each other
    same = torch.tensor([[0.0, 0.0, 4.0, 4.0]] * 3)
    assert batched_nms(same, torch.tensor([0.5, 0.5, 0.9]), torch.tensor([0, 1, 0]),
                       0.5).tolist() == [2, 1]
    empty = batched_nms(torch.zeros(0, 4), torch.zeros(0), torch.zeros(0, dtype=torch.int64), 0.5)
    assert empty.dtype == torch.int64 and empty.shape == (0,)


def test_centers_and_corners():
    boxes = torch.tensor([[1.0, 2.0, 5.0, 3.0]])
    assert torch.equal(box_to_centers(boxes), torch.tensor([[3.0, 2.5, 4.0, 1.0]]))
    random = random_boxes(20, 0, dtype=torch.float64)
    assert torch.allclose(centers_to_box(box_to_centers(random)), random)


def slow_encode(anchor, box):
    ax, ay, aw, ah = ((anchor[0] + anchor[2]) / 2, (anchor[1] + anchor[3]) / 2,
                      anchor[2] - anchor[0], anchor[3] - anchor[1])
    gx, gy, gw, gh = ((box[0] + box[2]) / 2, (box[1] + box[3]) / 2, box[2] - box[0],
                      box[3] - box[1])
    return [(gx - ax) / aw, (gy - ay) / ah, math.log(gw / aw), math.log(gh / ah)]


def test_encode_boxes_equals_the_formula_and_decode_inverts_it():
    anchors, boxes = random_boxes(25, 0, dtype=torch.float64), random_boxes(25, 1,
                                                                           dtype=torch.float64)
    deltas = encode_boxes(anchors, boxes)
    expected = [slow_encode(a, b) for a, b in zip(anchors.tolist(), boxes.tolist(), strict=True)]
    assert deltas.dtype == torch.float64
    assert torch.allclose(deltas, torch.tensor(expected, dtype=torch.float64))
    assert torch.allclose(decode_boxes(anchors, deltas), boxes)
    random_deltas = torch.randn(25, 4, dtype=torch.float64)
    assert torch.allclose(encode_boxes(anchors, decode_boxes(anchors, random_deltas)),
                          random_deltas)


def test_decode_boxes_edge_cases_and_gradient():
    anchors = random_boxes(6, 2, dtype=torch.float64)
    assert torch.equal(encode_boxes(anchors, anchors), torch.zeros(6, 4, dtype=torch.float64))
    assert torch.allclose(decode_boxes(anchors, torch.zeros(6, 4, dtype=torch.float64)), anchors)
    # (tx, ty) move the centre by that many anchor sides, (tw, th) scale the sides by exp
    anchor = torch.tensor([[0.0, 0.0, 4.0, 2.0]])
    assert torch.allclose(decode_boxes(anchor, torch.tensor([[0.5, -1.0, math.log(2), 0.0]])),
                          torch.tensor([[0.0, -2.0, 8.0, 0.0]]))
    assert decode_boxes(anchor, torch.tensor([[0.0, 0.0, 200.0, 0.0]]))[0, 2] == math.inf
    assert encode_boxes(torch.zeros(0, 4), torch.zeros(0, 4)).shape == (0, 4)
    assert decode_boxes(torch.zeros(0, 4), torch.zeros(0, 4)).shape == (0, 4)
    deltas = torch.randn(6, 4, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda d: decode_boxes(anchors, d), (deltas,))


def test_clip_boxes_to_image_takes_height_then_width():
    boxes = torch.tensor([[-3.0, -1.0, 70.0, 20.0], [10.0, 50.0, 30.0, 90.0],
                          [80.0, 5.0, 90.0, 8.0]])
    clipped = clip_boxes_to_image(boxes, (40, 64))
    assert torch.equal(clipped, torch.tensor([[0.0, 0.0, 64.0, 20.0], [10.0, 40.0, 30.0, 40.0],
                                              [64.0, 5.0, 64.0, 8.0]]))
    assert clip_boxes_to_image(torch.zeros(0, 4), (8, 8)).shape == (0, 4)


def test_remove_small_boxes_keeps_sides_at_least_min_size():
    boxes = torch.tensor([[0.0, 0.0, 2.0, 2.0], [0.0, 0.0, 1.0, 5.0], [0.0, 0.0, 5.0, 0.5],
                          [3.0, 3.0, 4.0, 4.0]])
    kept = remove_small_boxes(boxes, 1.0)
    assert kept.dtype == torch.int64 and kept.tolist() == [0, 1, 3]
    assert remove_small_boxes(boxes, 2.0).tolist() == [0]
    assert remove_small_boxes(torch.zeros(0, 4), 1.0).shape == (0,)
