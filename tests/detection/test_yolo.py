"""The YOLO-style grid detector: target encoding and loss against slow, obvious versions."""

import math

import pytest
import torch

from course_utils.detection.yolo import (
    YOLODetector,
    cell_boxes,
    paired_iou,
    yolo_loss,
    yolo_targets,
)


def slow_targets(boxes, labels, grid_size, num_classes, image_size):
    targets = [[[0.0] * (5 + num_classes) for _ in range(grid_size)] for _ in range(grid_size)]
    cell = image_size / grid_size
    for (x1, y1, x2, y2), label in zip(boxes.tolist(), labels.tolist(), strict=True):
        cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
        i, j = min(math.floor(cy / cell), grid_size - 1), min(math.floor(cx / cell), grid_size - 1)
        if targets[i][j][4] == 1:
            continue
        targets[i][j][:5] = [cx / cell - j, cy / cell - i, math.sqrt((x2 - x1) / image_size),
                             math.sqrt((y2 - y1) / image_size), 1.0]
        targets[i][j][4 + label] = 1.0
    return torch.tensor(targets)


def slow_iou(a, b):
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - w * h
    return w * h / union if union > 0 else 0.0


def corners(x, y, sw, sh, i, j, grid_size):
    cx, cy, w, h = (j + x) / grid_size, (i + y) / grid_size, sw * sw, sh * sh
    return [cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2]


def slow_loss(predictions, targets, num_boxes, lambda_coord, lambda_noobj):
    n, s = predictions.shape[:2]
    total = 0.0
    for m in range(n):
        for i in range(s):
            for j in range(s):
                p, t = predictions[m, i, j].tolist(), targets[m, i, j].tolist()
                boxes = [p[5 * b:5 * b + 5] for b in range(num_boxes)]
                best = None
                if t[4] == 1:
                    truth = corners(*t[:4], i, j, s)
                    ious = [slow_iou(corners(*box[:4], i, j, s), truth) for box in boxes]
                    best = max(range(num_boxes), key=lambda b: (ious[b], -b))
                    box = boxes[best]
                    total += lambda_coord * sum((box[k] - t[k]) ** 2 for k in range(4))
                    total += (box[4] - ious[best]) ** 2
                    classes = zip(p[5 * num_boxes:], t[5:], strict=True)
                    total += sum((a - b) ** 2 for a, b in classes)
                total += lambda_noobj * sum(boxes[b][4] ** 2 for b in range(num_boxes) if b != best)
    return total / n


def random_boxes(generator, k, image_size):
    x1y1 = torch.rand(k, 2, generator=generator) * (image_size - 12)
    sizes = 4 + torch.rand(k, 2, generator=generator) * 20
    return torch.cat([x1y1, (x1y1 + sizes).clamp(max=image_size)], dim=1)


@pytest.mark.parametrize("seed", range(4))
def test_targets_match_the_slow_version(seed):
    generator = torch.Generator().manual_seed(seed)
    boxes = random_boxes(generator, 6, 64)
    labels = torch.randint(1, 7, (6,), generator=generator)
    expected = slow_targets(boxes, labels, 8, 6, 64)
    assert torch.allclose(yolo_targets(boxes, labels, 8, 6, 64), expected, atol=1e-6)


def test_targets_conventions():
    # centre (36, 20): cell row 20 // 8 = 2, column 36 // 8 = 4, offsets (0.5, 0.5)
    boxes = torch.tensor([[32.0, 16.0, 40.0, 24.0], [30.0, 14.0, 42.0, 26.0],
                          [56.0, 56.0, 64.0, 64.0]])
    targets = yolo_targets(boxes, torch.tensor([3, 1, 6]), 8, 6, 64)
    assert targets.shape == (8, 8, 11) and targets.dtype == torch.float32
    side = 0.125 ** 0.5   # the first object keeps the cell
    assert torch.allclose(targets[2, 4], torch.tensor([0.5, 0.5, side, side, 1, 0, 0, 1, 0, 0, 0]))
    assert targets[7, 7, 4] == 1 and targets[7, 7, 10] == 1
    assert targets[..., 4].sum() == 2 and torch.count_nonzero(targets[0, 0]) == 0
    assert torch.count_nonzero(yolo_targets(torch.zeros(0, 4), torch.zeros(0, dtype=torch.long),
                                            8, 6, 64)) == 0


@pytest.mark.parametrize("num_boxes", [1, 2, 3])
def test_loss_matches_the_slow_version(num_boxes):
    generator = torch.Generator().manual_seed(num_boxes)
    targets = torch.stack([yolo_targets(random_boxes(generator, 5, 64),
                                        torch.randint(1, 7, (5,), generator=generator), 4, 6, 64)
                           for _ in range(3)])
    predictions = torch.rand(3, 4, 4, 5 * num_boxes + 6, generator=generator, dtype=torch.double)
    loss = yolo_loss(predictions, targets.double(), num_boxes, lambda_coord=5.0, lambda_noobj=0.5)
    expected = slow_loss(predictions, targets.double(), num_boxes, 5.0, 0.5)
    assert loss.item() == pytest.approx(expected, rel=1e-9)
    other = yolo_loss(predictions, targets.double(), num_boxes, lambda_coord=2.0, lambda_noobj=0.1)
    expected = slow_loss(predictions, targets.double(), num_boxes, 2.0, 0.1)
    assert other.item() == pytest.approx(expected, rel=1e-9)


def test_loss_is_zero_for_perfect_predictions_and_has_no_gradient_through_the_iou():
    targets = yolo_targets(torch.tensor([[8.0, 8.0, 40.0, 24.0]]), torch.tensor([2]), 4, 6, 64)
    predictions = torch.cat([targets[..., :5], torch.zeros(4, 4, 5), targets[..., 5:]], dim=-1)
    assert yolo_loss(predictions[None], targets[None], 2).item() == pytest.approx(0.0, abs=1e-10)
    i, j = targets[..., 4].nonzero()[0].tolist()
    moved = predictions[None].clone()
    moved[0, i, j, 0] += 0.1
    moved.requires_grad_(True)
    yolo_loss(moved, targets[None], 2).backward()
    # only lambda_coord * (x - t_x)^2 depends on x when the IoU is a constant
    assert moved.grad[0, i, j, 0].item() == pytest.approx(5.0 * 2 * 0.1, rel=1e-5)


def test_paired_iou_and_cell_boxes():
    a = torch.tensor([[0.0, 0, 2, 2], [0, 0, 1, 1]])
    b = torch.tensor([[1.0, 1, 3, 3], [0, 0, 0, 0]])
    assert torch.allclose(paired_iou(a, b), torch.tensor([1 / 7, 0.0]))
    encoded = torch.zeros(2, 2, 4)
    encoded[1, 0] = torch.tensor([0.5, 0.5, 0.5, 0.5])   # cell row 1, column 0; w = h = 0.25
    assert torch.allclose(cell_boxes(encoded)[1, 0], torch.tensor([0.125, 0.625, 0.375, 0.875]))


def test_detector_trains_and_detects(trains_and_detects):
    torch.manual_seed(0)
    trains_and_detects(YOLODetector())
