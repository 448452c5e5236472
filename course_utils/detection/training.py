"""Training and evaluating the chapter's detectors, which follow torchvision's interface:

    model.train(); losses = model(images, targets)    # {"name": scalar loss}
    model.eval();  detections = model(images)          # [{"boxes", "scores", "labels"[, "masks"]}]

images (N, 3, H, W) float in [0, 1]; targets one dict per image ({"boxes" (K, 4) x1 y1 x2 y2,
"labels" (K,) int64[, "masks" (K, H, W) bool]}, as synthetic.scenes.Scenes.targets gives).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import torch
from torch import nn
from tqdm.auto import tqdm

from course_utils import runtime
from course_utils.detection import metrics
from course_utils.synthetic.scenes import CLASSES, Scenes, make_scenes

TRAINING_SEED, TEST_SEED = 1, 2
# OneCycleLR divides by zero when pct_start * steps == 1 (5 steps at pct_start 0.2)
ONE_CYCLE_MIN_STEPS = 10


def training_scenes(n: int = 4000) -> Scenes:
    """The scenes every committed detector and segmentation network trained on."""
    return make_scenes(n, seed=TRAINING_SEED, split="train")


def test_scenes(n: int = 500) -> Scenes:
    """Held-out scenes (MNIST test digits, the other half of each texture) to measure them on."""
    return make_scenes(n, seed=TEST_SEED, split="test")


def per_image_targets(scenes: Scenes, batch: list[int]) -> list[dict]:
    """What a detector trains on: the targets dict of each image of the batch."""
    return [scenes.targets(i) for i in batch]


def train_detector(model: nn.Module, scenes: Scenes, steps: int, batch_size: int = 32,
                   lr: float = 3e-3, weight_decay: float = 1e-4, seed: int = 0,
                   progress: bool = True, description: str = "detector",
                   targets: Callable[[Scenes, list[int]], object] = per_image_targets
                   ) -> dict[str, list]:
    """Train `model` in place with AdamW and a one-cycle learning rate (constant `lr` for runs
    shorter than ONE_CYCLE_MIN_STEPS, too short for a cycle) on random minibatches of `scenes`
    (drawn with `seed`), on the CPU: losses = model(images, targets(scenes, batch)).

    Returns:
        history: "train_loss" (the summed loss of each step) and each named loss per step.
    """
    if steps < 1:
        raise ValueError(f"steps must be at least 1, got {steps}")
    runtime.seed_everything(seed)
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    if steps >= ONE_CYCLE_MIN_STEPS:
        scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, total_steps=steps,
                                                        pct_start=0.2)
    else:
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)
    history: dict[str, list] = {"train_loss": []}
    model.train()
    bar = tqdm(range(steps), desc=description, disable=not progress)
    for step in bar:
        batch = torch.randint(len(scenes), (batch_size,), generator=generator).tolist()
        losses = model(scenes.images[batch], targets(scenes, batch))
        loss = sum(losses.values())
        value = loss.item()
        if not math.isfinite(value):
            bar.close()
            raise FloatingPointError(f"the loss became {value} at step {step}: lower the "
                                     "learning rate")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        scheduler.step()
        history["train_loss"].append(value)
        for name, part in losses.items():
            history.setdefault(name, []).append(part.item())
        bar.set_postfix(loss=f"{value:.3f}", refresh=False)   # redrawn by the rate-limited bar
    model.eval()
    return history


@torch.no_grad()
def detect(model: nn.Module, images: torch.Tensor, batch_size: int = 64) -> list[dict]:
    """model's detections on images (N, 3, H, W), in eval mode, batch by batch."""
    was_training = model.training
    model.eval()
    try:
        return [detection for start in range(0, len(images), batch_size)
                for detection in model(images[start:start + batch_size])]
    finally:
        model.train(was_training)


def evaluate_detector(model: nn.Module, scenes: Scenes) -> dict:
    """On `scenes`: box mAP@0.5 and COCO-style mAP@[0.5:0.95], the box AP of each class at IoU
    0.5, the CPU milliseconds per image, and, when the model predicts "masks", "mask mAP@0.5"
    and "mask mAP@[0.5:0.95]" (mask IoU in place of box IoU) from the same detections."""
    start = time.perf_counter()
    predictions = detect(model, scenes.images)
    milliseconds = 1000 * (time.perf_counter() - start) / len(scenes)
    targets = [scenes.targets(i) for i in range(len(scenes))]
    map50, per_class = metrics.mean_average_precision(predictions, targets, len(CLASSES))
    result = {"mAP@0.5": map50,
              "mAP@[0.5:0.95]": metrics.coco_map(predictions, targets, len(CLASSES)),
              "AP per class": dict(zip(CLASSES[1:], per_class, strict=True)),
              "ms per image": milliseconds}
    if predictions and "masks" in predictions[0]:
        result["mask mAP@0.5"] = metrics.mean_average_precision(
            predictions, targets, len(CLASSES), use_masks=True)[0]
        result["mask mAP@[0.5:0.95]"] = metrics.coco_map(predictions, targets, len(CLASSES),
                                                         use_masks=True)
    return result
