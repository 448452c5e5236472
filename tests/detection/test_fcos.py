"""The FCOS detector: its losses and targets against slow, obvious versions; the model's outputs."""

import math

import pytest
import torch

from course_utils.detection import fcos
from course_utils.detection.fcos import (
    FCOSDetector,
    fcos_targets,
    generalized_box_iou_loss,
    ltrb_to_boxes,
    sigmoid_focal_loss,
)
from course_utils.synthetic.scenes import make_scenes


def slow_focal(logit, target, alpha, gamma):
    p = 1 / (1 + math.exp(-logit))
    p_t = p * target + (1 - p) * (1 - target)
    cross_entropy = -(target * math.log(p) + (1 - target) * math.log(1 - p))
    weight = alpha * target + (1 - alpha) * (1 - target) if alpha >= 0 else 1.0
    return weight * (1 - p_t) ** gamma * cross_entropy


def slow_giou_loss(a, b):
    area = lambda box: (box[2] - box[0]) * (box[3] - box[1])   # noqa: E731
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    union = area(a) + area(b) - w * h
    enclosing = (max(a[2], b[2]) - min(a[0], b[0])) * (max(a[3], b[3]) - min(a[1], b[1]))
    return 1 - (w * h / union - (enclosing - union) / enclosing)


def random_boxes(generator, k, image_size=64, dtype=torch.float32):
    x1y1 = torch.rand(k, 2, generator=generator, dtype=dtype) * (image_size - 12)
    sizes = 2 + torch.rand(k, 2, generator=generator, dtype=dtype) * 30
    return torch.cat([x1y1, x1y1 + sizes], dim=1)


@pytest.mark.parametrize(("alpha", "gamma"), [(0.25, 2.0), (0.5, 1.0), (-1.0, 0.0), (0.9, 3.5)])
def test_focal_loss_matches_the_slow_version(alpha, gamma):
    generator = torch.Generator().manual_seed(int(10 * gamma))
    logits = 6 * torch.randn(5, 7, generator=generator, dtype=torch.double)
    targets = (torch.rand(5, 7, generator=generator) < 0.3).double()
    targets[0, :3] = torch.tensor([0.2, 0.5, 0.8])   # soft targets follow the same formula
    loss = sigmoid_focal_loss(logits, targets, alpha=alpha, gamma=gamma)
    expected = torch.tensor([[slow_focal(x, t, alpha, gamma)
                              for x, t in zip(row, target_row, strict=True)]
                             for row, target_row in zip(logits.tolist(), targets.tolist(),
                                                        strict=True)], dtype=torch.double)
    assert loss.shape == logits.shape and loss.dtype == torch.double
    assert torch.allclose(loss, expected, rtol=1e-10, atol=1e-12)
    assert sigmoid_focal_loss(logits, targets, alpha, gamma, "sum").item() == pytest.approx(
        expected.sum().item(), rel=1e-10)
    assert sigmoid_focal_loss(logits, targets, alpha, gamma, "mean").item() == pytest.approx(
        expected.mean().item(), rel=1e-10)


def test_focal_loss_conventions():
    logits = torch.tensor([-200.0, 200.0, 0.0, 3.0])
    targets = torch.tensor([1.0, 0.0, 1.0, 0.0])
    loss = sigmoid_focal_loss(logits, targets)
    assert torch.isfinite(loss).all()   # computed from the logits: no log(0)
    assert loss[0].item() == pytest.approx(0.25 * 200.0)
    assert loss[1].item() == pytest.approx(0.75 * 200.0)
    assert loss[2].item() == pytest.approx(0.25 * 0.25 * math.log(2))
    plain = torch.nn.functional.binary_cross_entropy_with_logits(logits, targets, reduction="none")
    assert torch.allclose(sigmoid_focal_loss(logits, targets, alpha=-1, gamma=0), plain)
    assert sigmoid_focal_loss(torch.zeros(0, 6), torch.zeros(0, 6), reduction="sum").item() == 0
    with pytest.raises(ValueError):
        sigmoid_focal_loss(logits, targets, reduction="average")
    logits = logits.double().requires_grad_(True)
    assert torch.autograd.gradcheck(lambda x: sigmoid_focal_loss(x / 50, targets.double()),
                                    (logits,))


def test_giou_loss_matches_the_slow_version():
    generator = torch.Generator().manual_seed(0)
    boxes1 = random_boxes(generator, 40, dtype=torch.double)
    boxes2 = torch.cat([random_boxes(generator, 30, dtype=torch.double),   # mostly apart
                        boxes1[30:] + torch.rand(10, 4, generator=generator, dtype=torch.double)])
    expected = torch.tensor([slow_giou_loss(a, b) for a, b in zip(boxes1.tolist(),
                                                                  boxes2.tolist(), strict=True)],
                            dtype=torch.double)
    loss = generalized_box_iou_loss(boxes1, boxes2)
    assert loss.shape == (40,) and loss.dtype == torch.double
    assert torch.allclose(loss, expected, rtol=1e-6, atol=1e-7)
    assert generalized_box_iou_loss(boxes1, boxes2, "sum").item() == pytest.approx(
        expected.sum().item(), rel=1e-6)
    assert generalized_box_iou_loss(boxes1, boxes2, "mean").item() == pytest.approx(
        expected.mean().item(), rel=1e-6)
    batched = generalized_box_iou_loss(boxes1.reshape(4, 10, 4), boxes2.reshape(4, 10, 4))
    assert torch.allclose(batched, loss.reshape(4, 10))


def test_giou_loss_conventions():
    a = torch.tensor([[0.0, 0, 2, 2], [0, 0, 1, 1], [0, 0, 2, 2], [1, 1, 3, 4]])
    b = torch.tensor([[1.0, 1, 3, 3], [2, 0, 3, 1], [0, 0, 2, 2], [0, 0, 5, 5]])
    # I = 1, U = 7, C = 9; apart: I = 0, U = 2, C = 3; identical; inside: I = 6, U = C = 25
    expected = torch.tensor([1 - (1 / 7 - 2 / 9), 1 + 1 / 3, 0.0, 1 - 6 / 25])
    assert torch.allclose(generalized_box_iou_loss(a, b), expected, atol=1e-6)
    empty = torch.zeros(0, 4, requires_grad=True)
    assert generalized_box_iou_loss(empty, empty, reduction="mean").item() == 0.0
    with pytest.raises(ValueError):
        generalized_box_iou_loss(a, b, reduction="max")
    boxes = torch.tensor([[0.5, 0.2, 2.2, 2.5], [3.0, 0.3, 4.0, 1.5]], dtype=torch.double,
                         requires_grad=True)
    target = torch.tensor([[0.0, 0.0, 2.0, 2.0], [0.0, 0.0, 1.0, 1.0]], dtype=torch.double)
    assert torch.autograd.gradcheck(lambda x: generalized_box_iou_loss(x, target), (boxes,))


def slow_targets(points, boxes, labels, num_classes):
    matches, classes, ltrb = [], [], []
    for x, y in points.tolist():
        inside = [k for k, (x1, y1, x2, y2) in enumerate(boxes.tolist())
                  if x1 < x < x2 and y1 < y < y2]
        area = lambda k: (boxes[k, 2] - boxes[k, 0]) * (boxes[k, 3] - boxes[k, 1])   # noqa: E731
        best = min(inside, key=lambda k: (area(k).item(), k)) if inside else -1
        matches.append(best)
        one_hot = [0.0] * num_classes
        distances = [0.0] * 4
        if best >= 0:
            one_hot[labels[best] - 1] = 1.0
            x1, y1, x2, y2 = boxes[best].tolist()
            distances = [x - x1, y - y1, x2 - x, y2 - y]
        classes.append(one_hot)
        ltrb.append(distances)
    return torch.tensor(matches), torch.tensor(classes), torch.tensor(ltrb)


@pytest.mark.parametrize("seed", range(3))
def test_targets_match_the_slow_version(seed):
    generator = torch.Generator().manual_seed(seed)
    points = fcos.grid_points((16, 16), 4)
    boxes = random_boxes(generator, 5)
    boxes[4] = torch.tensor([8.0, 8.0, 16.0, 16.0])   # points on its edges are outside
    labels = torch.randint(1, 7, (5,), generator=generator)
    for got, expected in zip(fcos_targets(points, boxes, labels, 6),
                             slow_targets(points, boxes, labels, 6), strict=True):
        assert torch.allclose(got.to(expected.dtype), expected, atol=1e-5)
    matches, classes, ltrb = fcos_targets(points, torch.zeros(0, 4),
                                          torch.zeros(0, dtype=torch.long), 6)
    assert (matches == -1).all() and classes.sum() == 0 and ltrb.sum() == 0


def test_ltrb_to_boxes_inverts_ltrb_targets():
    points = torch.tensor([[10.0, 6.0]])
    boxes = torch.tensor([[4.0, 2.0, 20.0, 9.0]])
    assert torch.equal(ltrb_to_boxes(points, fcos.ltrb_targets(points, boxes)), boxes)


def test_head_shapes_and_loss_names():
    torch.manual_seed(0)
    model = FCOSDetector()
    points, classes, ltrb, centerness_logits = model.head(torch.rand(2, 3, 64, 64))
    assert points.shape == (256, 2) and classes.shape == (2, 256, 6)
    assert ltrb.shape == (2, 256, 4) and (ltrb > 0).all() and centerness_logits.shape == (2, 256)
    # the prior initialisation: every class starts near probability 0.01
    assert torch.sigmoid(classes).mean().item() == pytest.approx(0.01, rel=0.5)
    scenes = make_scenes(2, seed=0)
    model.train()
    losses = model(scenes.images, [scenes.targets(i) for i in range(2)])
    assert set(losses) == {"loss_classifier", "loss_box_giou", "loss_centerness"}
    assert all(loss.ndim == 0 and math.isfinite(loss.item()) for loss in losses.values())
    empty = {"boxes": torch.zeros(0, 4), "labels": torch.zeros(0, dtype=torch.long)}
    losses = model(scenes.images[:1], [empty])
    assert losses["loss_box_giou"].item() == 0 and math.isfinite(losses["loss_classifier"].item())


def test_decode_scores_and_boxes():
    model = FCOSDetector(score_threshold=0.3).eval()
    points = fcos.grid_points((2, 2), 4)
    classes = torch.full((4, 6), -20.0)
    classes[1, 2] = 2.0    # point (6, 2), class 3
    classes[3, 0] = 0.0    # point (6, 6), class 1: sqrt(0.5 * 0.5) = 0.5
    classes[2, 5] = 0.0    # below the threshold with its centre-ness: sqrt(0.5 * sigmoid(-4))
    ltrb = torch.tensor([[1.0, 1, 1, 1], [2, 1, 3, 4], [1, 1, 1, 1], [6, 6, 70, 1]])
    centerness_logits = torch.tensor([0.0, 1.0, -4.0, 0.0])
    detections = model.decode(points, classes, ltrb, centerness_logits)
    score = math.sqrt(torch.sigmoid(torch.tensor(2.0)) * torch.sigmoid(torch.tensor(1.0)))
    assert torch.allclose(detections["scores"], torch.tensor([score, 0.5]))
    assert detections["labels"].tolist() == [3, 1]
    assert torch.allclose(detections["boxes"], torch.tensor([[4.0, 1, 9, 6], [0, 0, 64, 7]]))


def test_the_building_blocks_are_looked_up_in_the_module(monkeypatch):
    calls, batched_nms = [], fcos.batched_nms

    def recording_nms(*args):
        calls.append(len(args[0]))
        return batched_nms(*args)

    monkeypatch.setattr(fcos, "batched_nms", recording_nms)   # as the notebook points it
    torch.manual_seed(0)
    FCOSDetector(score_threshold=0.0).eval()(torch.rand(2, 3, 64, 64))
    assert len(calls) == 2


def test_detector_trains_and_detects(trains_and_detects):
    torch.manual_seed(0)
    trains_and_detects(FCOSDetector())


def test_seeded_models_are_identical():
    images = torch.rand(2, 3, 64, 64)
    outputs = []
    for _ in range(2):
        torch.manual_seed(3)
        outputs.append(FCOSDetector().eval().head(images)[1])
    assert torch.equal(*outputs)
