"""Classification plus localisation: the multi-task loss against a slow version, the model's
two modes, a few training steps and the evaluation's format."""

import math

import pytest
import torch
from torch import nn

from course_utils.detection import training
from course_utils.detection.localization import (
    Localizer,
    evaluate_localizer,
    localization_loss,
)
from course_utils.synthetic.scenes import CLASSES, single_object_scenes


@pytest.fixture(scope="module")
def scenes():
    return single_object_scenes(8, seed=0)


def slow_loss(class_scores, box_predictions, labels, boxes, box_weight, beta):
    total = 0.0
    for scores, predicted, label, box in zip(class_scores.tolist(), box_predictions.tolist(),
                                             labels.tolist(), boxes.tolist(), strict=True):
        cross_entropy = math.log(sum(math.exp(s) for s in scores)) - scores[label - 1]
        smooth_l1 = 0.0
        for p, t in zip(predicted, box, strict=True):
            error = abs(p - t)
            smooth_l1 += 0.5 * error**2 / beta if error < beta else error - 0.5 * beta
        total += cross_entropy + box_weight * smooth_l1 / 4
    return total / len(labels)


@pytest.mark.parametrize("seed", range(4))
def test_loss_matches_the_slow_version(seed):
    generator = torch.Generator().manual_seed(seed)
    n = 5
    class_scores = 3 * torch.randn(n, 6, generator=generator, dtype=torch.float64)
    box_predictions = torch.rand(n, 4, generator=generator, dtype=torch.float64)
    boxes = box_predictions + 0.1 * torch.randn(n, 4, generator=generator, dtype=torch.float64)
    labels = torch.randint(1, 7, (n,), generator=generator)
    for box_weight, beta in ((0.0, 0.05), (1.0, 0.05), (7.5, 0.2), (2.0, 1.0)):
        loss = localization_loss(class_scores, box_predictions, labels, boxes, box_weight,
                                 beta=beta)
        expected = slow_loss(class_scores, box_predictions, labels, boxes, box_weight, beta)
        assert loss.shape == () and loss.item() == pytest.approx(expected, rel=1e-10)
    default = localization_loss(class_scores, box_predictions, labels, boxes, 1.0)
    assert default.item() == pytest.approx(
        slow_loss(class_scores, box_predictions, labels, boxes, 1.0, 0.05), rel=1e-10)


def test_loss_is_zero_only_when_both_tasks_are_right():
    scores = torch.tensor([[50.0, 0, 0, 0, 0, 0], [0, 0, 0, 0, 0, 50.0]])
    boxes = torch.tensor([[0.1, 0.2, 0.5, 0.6], [0.0, 0.0, 1.0, 1.0]])
    labels = torch.tensor([1, 6])
    assert localization_loss(scores, boxes, labels, boxes, 1.0).item() < 1e-12
    assert localization_loss(scores, boxes.flip(0), labels, boxes, 1.0).item() > 0.01
    assert localization_loss(scores, boxes, labels.flip(0), boxes, 1.0).item() > 10


def test_predictions_shapes():
    model = Localizer().eval()
    class_scores, boxes = model.predictions(torch.rand(3, 3, 64, 64))
    assert class_scores.shape == (3, len(CLASSES) - 1) and boxes.shape == (3, 4)
    assert 0 <= boxes.min() and boxes.max() <= 1


def test_train_mode_returns_the_loss(scenes):
    torch.manual_seed(0)
    model = Localizer(box_weight=2.0).train()
    targets = [scenes.targets(i) for i in range(4)]
    losses = model(scenes.images[:4], targets)
    assert list(losses) == ["loss_localization"]
    class_scores, boxes = model.predictions(scenes.images[:4])
    expected = localization_loss(class_scores, boxes, torch.cat(scenes.labels[:4]),
                                 torch.cat(scenes.boxes[:4]) / 64, 2.0)
    assert torch.allclose(losses["loss_localization"], expected)
    two_objects = [{"boxes": torch.cat([t["boxes"]] * 2), "labels": torch.cat([t["labels"]] * 2)}
                   for t in targets]
    with pytest.raises(ValueError, match="one object"):
        model(scenes.images[:4], two_objects)


def test_eval_mode_gives_one_detection_per_image(scenes):
    torch.manual_seed(0)
    detections = training.detect(Localizer(), scenes.images)
    assert len(detections) == len(scenes)
    for detection in detections:
        boxes, scores, labels = detection["boxes"], detection["scores"], detection["labels"]
        assert boxes.shape == (1, 4) and scores.shape == (1,) and labels.shape == (1,)
        assert labels.dtype == torch.int64 and 1 <= labels.item() <= len(CLASSES) - 1
        assert 0 <= boxes.min() and boxes.max() <= 64
        assert (boxes[:, 2:] >= boxes[:, :2]).all()
        assert 1 / (len(CLASSES) - 1) <= scores.item() <= 1


def test_the_loss_falls_and_training_repeats(scenes):
    histories = []
    for _ in range(2):
        torch.manual_seed(0)
        model = Localizer()
        histories.append(training.train_detector(model, scenes, steps=20, batch_size=8,
                                                 lr=3e-3, progress=False)["train_loss"])
    losses = histories[0]
    assert all(math.isfinite(loss) for loss in losses)
    assert sum(losses[-5:]) < 0.7 * sum(losses[:5])
    assert histories[0] == histories[1]


class Oracle(nn.Module):
    """The true class and box of each image, looked up in `scenes`."""

    def __init__(self, scenes):
        super().__init__()
        self.scenes = scenes

    def forward(self, images):
        same = (images[:, None] == self.scenes.images[None]).flatten(2).all(dim=2)
        return [{"boxes": self.scenes.boxes[i], "scores": torch.ones(1),
                 "labels": self.scenes.labels[i]} for i in same.float().argmax(dim=1).tolist()]


def test_evaluation_format_and_a_perfect_score(scenes):
    result = evaluate_localizer(Oracle(scenes), scenes)
    assert set(result) == {"accuracy", "mean IoU", "IoU >= 0.5 fraction", "ms per image"}
    assert result["accuracy"] == 1.0 and result["IoU >= 0.5 fraction"] == 1.0
    assert result["mean IoU"] == pytest.approx(1.0)
    untrained = evaluate_localizer(Localizer(), scenes)
    for key in ("accuracy", "mean IoU", "IoU >= 0.5 fraction"):
        assert 0 <= untrained[key] <= 1
