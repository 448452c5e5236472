"""The shared training loop and the detectors' evaluation, on stand-in models."""

import math

import pytest
import torch
from torch import nn

from course_utils.detection.training import detect, evaluate_detector, train_detector
from course_utils.synthetic.scenes import CLASSES, make_scenes


@pytest.fixture(scope="module")
def scenes():
    return make_scenes(10, seed=3)


class Oracle(nn.Module):
    """Detects exactly the ground truth of `scenes` (whose images it is given in order),
    scored 1, with masks when `masks`; `shift` moves every box right by that many pixels."""

    def __init__(self, scenes, masks: bool, shift: float = 0.0) -> None:
        super().__init__()
        self.scenes, self.masks, self.shift = scenes, masks, shift
        self.scale = nn.Parameter(torch.ones(()))

    def forward(self, images):
        assert torch.equal(images, self.scenes.images)
        detections = []
        for i in range(len(images)):
            target = self.scenes.targets(i)
            detection = {"boxes": target["boxes"] + torch.tensor([self.shift, 0, self.shift, 0]),
                         "scores": torch.ones(len(target["labels"])),
                         "labels": target["labels"]}
            if self.masks:
                detection["masks"] = target["masks"]
            detections.append(detection)
        return detections


def test_the_ground_truth_scores_full_marks(scenes):
    result = evaluate_detector(Oracle(scenes, masks=True), scenes)
    assert result["mAP@0.5"] == result["mAP@[0.5:0.95]"] == 1.0
    assert result["mask mAP@0.5"] == result["mask mAP@[0.5:0.95]"] == 1.0
    assert set(result["AP per class"]) == set(CLASSES[1:])
    assert result["ms per image"] > 0


def test_mask_metrics_only_for_models_that_predict_masks(scenes):
    result = evaluate_detector(Oracle(scenes, masks=False), scenes)
    assert set(result) == {"mAP@0.5", "mAP@[0.5:0.95]", "AP per class", "ms per image"}


def test_shifted_boxes_pass_at_iou_half_but_not_all_coco_thresholds(scenes):
    # a 2-pixel shift keeps IoU >= 0.5 for objects at least ~8 px wide, not >= 0.95
    result = evaluate_detector(Oracle(scenes, masks=False, shift=2.0), scenes)
    assert result["mAP@[0.5:0.95]"] < result["mAP@0.5"]
    assert result["mAP@[0.5:0.95]"] < 0.9


def test_detect_keeps_the_mode(scenes):
    model = Oracle(scenes, masks=False).train()
    assert len(detect(model, scenes.images)) == len(scenes)
    assert model.training


class CountingLoss(nn.Module):
    """A model whose one loss is (scale - 3)^2: the loop must drive scale to 3."""

    def __init__(self) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.zeros(()))
        self.batches = []

    def forward(self, images, targets):
        self.batches.append(len(targets))
        return {"loss_a": (self.scale - 3) ** 2, "loss_b": 0 * self.scale}


def test_train_detector_sums_the_named_losses_and_records_them(scenes):
    model = CountingLoss()
    history = train_detector(model, scenes, steps=100, batch_size=4, lr=0.5, progress=False)
    assert model.batches == [4] * 100
    assert history["train_loss"] == [a + b for a, b in zip(history["loss_a"], history["loss_b"],
                                                                   strict=True)]
    assert history["train_loss"][-1] < 0.01 * history["train_loss"][0]
    assert not model.training


@pytest.mark.parametrize("steps", range(1, 11))
def test_short_runs_train_at_a_constant_rate(scenes, steps):
    history = train_detector(CountingLoss(), scenes, steps=steps, batch_size=2, lr=0.1,
                             progress=False)
    assert len(history["train_loss"]) == steps
    assert history["train_loss"][-1] < history["train_loss"][0] or steps == 1


def test_train_detector_stops_on_a_non_finite_loss(scenes):
    class Exploding(CountingLoss):
        def forward(self, images, targets):
            return {"loss": self.scale * math.inf}

    with pytest.raises(FloatingPointError, match="learning rate"):
        train_detector(Exploding(), scenes, steps=3, progress=False)
    with pytest.raises(ValueError, match="steps"):
        train_detector(CountingLoss(), scenes, steps=0)
