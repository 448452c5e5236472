"""Classification plus localisation: one object per image (synthetic.scenes.single_object_scenes),
its class and its box from one network with two heads.

The box is regressed like any other four numbers: the corners (x1, y1, x2, y2) as fractions of
the image size, through a sigmoid. One multi-task loss trains both heads,

    cross_entropy(class scores, class) + box_weight * smooth_l1(box, true box),

and box_weight sets how much box error (in fractions of the image size) is worth against a nat
of classification loss. The network follows training.py's interface (a detector that always
finds one object); evaluate_localizer measures it with box_iou, called through this module's
name so that the chapter's notebook can point it at the student's.
"""

from __future__ import annotations

import time

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from course_utils.detection import training
from course_utils.detection.backbone import Backbone
from course_utils.detection.boxes import box_iou
from course_utils.synthetic.scenes import CLASSES, Scenes, single_object_scenes

TRAINING_SEED, TEST_SEED = 1, 2


def localization_loss(class_scores: Tensor, box_predictions: Tensor, labels: Tensor,
                      boxes: Tensor, box_weight: float, beta: float = 0.05) -> Tensor:
    """The multi-task loss of classification plus localisation, averaged over the batch.

    Args:
        class_scores: (N, C) logits over the foreground classes; column k is class k + 1 of
            synthetic.scenes.CLASSES.
        box_predictions: (N, 4) predicted (x1, y1, x2, y2) as fractions of the image size.
        labels: (N,) int64 in 1..C (0 is the background and never a label).
        boxes: (N, 4) the true boxes, as fractions of the image size.
        box_weight: the weight of the box term.
        beta: where smooth L1 turns from quadratic (|error| < beta) to linear, in fractions of
            the image size (0.05 is 3.2 pixels of a 64-pixel image).
    Returns:
        scalar: F.cross_entropy(class_scores, labels - 1) + box_weight * F.smooth_l1_loss(
        box_predictions, boxes, beta=beta), both means (over N images, over 4N coordinates).
    """
    return (F.cross_entropy(class_scores, labels - 1)
            + box_weight * F.smooth_l1_loss(box_predictions, boxes, beta=beta))


class Localizer(nn.Module):
    """Images (N, 3, S, S) -> class scores (N, num_classes) and boxes (N, 4) in [0, 1].

    The Backbone's features (N, 64, S/4, S/4) go two ways. The class head averages them over
    the whole image (global average pooling: the class does not depend on where the object is)
    and applies one linear layer. The box head must know where the object is, which a global
    average forgets, so it averages them to a 4 x 4 grid instead, flattens it and applies one
    linear layer and a sigmoid (as AlexNet's fully connected layers see the whole grid). With
    the global average for both heads, 600 training steps reached a mean box IoU of 0.58 instead
    of 0.74.

    Train mode: model(images, targets) with one box and label per target dict ->
    {"loss_localization": localization_loss}. Eval mode: model(images) -> one dict per image,
    {"boxes" (1, 4) in pixels, "scores" (1,) the class's softmax probability, "labels" (1,)}.
    """

    def __init__(self, num_classes: int = len(CLASSES) - 1, image_size: int = 64,
                 box_weight: float = 5.0, box_grid: int = 4) -> None:
        super().__init__()
        self.image_size, self.box_weight = image_size, box_weight
        self.backbone = Backbone()
        channels = self.backbone.out_channels
        self.class_head = nn.Linear(channels, num_classes)
        self.box_pool = nn.AdaptiveAvgPool2d(box_grid)
        self.box_head = nn.Linear(channels * box_grid**2, 4)

    def predictions(self, images: Tensor) -> tuple[Tensor, Tensor]:
        """images (N, 3, S, S) -> (class scores (N, num_classes), boxes (N, 4) fractions)."""
        features = self.backbone(images)                                 # (N, 64, S/4, S/4)
        class_scores = self.class_head(features.mean(dim=(2, 3)))
        boxes = self.box_head(self.box_pool(features).flatten(1)).sigmoid()
        return class_scores, boxes

    def forward(self, images: Tensor, targets: list[dict] | None = None):
        class_scores, box_predictions = self.predictions(images)
        if self.training:
            labels = torch.cat([t["labels"] for t in targets])
            boxes = torch.cat([t["boxes"] for t in targets]) / self.image_size
            if len(labels) != len(images):
                raise ValueError("each image must hold exactly one object")
            return {"loss_localization": localization_loss(class_scores, box_predictions,
                                                           labels, boxes, self.box_weight)}
        probabilities, labels = class_scores.softmax(dim=1).max(dim=1)
        corners = box_predictions * self.image_size
        corners = torch.cat([torch.minimum(corners[:, :2], corners[:, 2:]),   # x1 <= x2,
                             torch.maximum(corners[:, :2], corners[:, 2:])], dim=1)   # y1 <= y2
        return [{"boxes": box[None], "scores": score[None], "labels": label[None] + 1}
                for box, score, label in zip(corners, probabilities, labels, strict=True)]


def training_scenes(n: int = 4000) -> Scenes:
    """The single-object scenes the localiser trains on."""
    return single_object_scenes(n, seed=TRAINING_SEED, split="train")


def test_scenes(n: int = 500) -> Scenes:
    """Held-out single-object scenes (MNIST test digits, the other half of each texture)."""
    return single_object_scenes(n, seed=TEST_SEED, split="test")


def train_localizer(steps: int = 1000, seed: int = 0, progress: bool = True
                    ) -> tuple[Localizer, dict]:
    """The recipe of the committed weights: Localizer trained from scratch on training_scenes()
    with training.train_detector (batch 32; 157 s on one CPU thread)."""
    torch.manual_seed(seed)
    model = Localizer()
    history = training.train_detector(model, training_scenes(), steps, seed=seed,
                                      progress=progress, description="localizer")
    return model, history


def evaluate_localizer(model: nn.Module, scenes: Scenes) -> dict:
    """On single-object `scenes`: the fraction of images whose class is right, the mean IoU of
    the predicted box with the true one, the fraction with IoU >= 0.5, and the CPU milliseconds
    per image."""
    start = time.perf_counter()
    predictions = training.detect(model, scenes.images)
    milliseconds = 1000 * (time.perf_counter() - start) / len(scenes)
    labels = torch.cat([p["labels"] for p in predictions])
    boxes = torch.cat([p["boxes"] for p in predictions])
    ious = box_iou(boxes, torch.cat(scenes.boxes)).diagonal()
    return {"accuracy": (labels == torch.cat(scenes.labels)).float().mean().item(),
            "mean IoU": ious.mean().item(),
            "IoU >= 0.5 fraction": (ious >= 0.5).float().mean().item(),
            "ms per image": milliseconds}
