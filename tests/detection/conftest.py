"""Checks that several detectors' tests share."""

import math

import pytest
import torch

from course_utils.synthetic.scenes import CLASSES, make_scenes


@pytest.fixture
def trains_and_detects():
    """check(model): six Adam steps on 8 scenes lower the summed loss, and in eval mode the
    model returns, per image, boxes inside the 64 x 64 image with positive sides, scores by
    decreasing value and int64 labels of foreground classes."""

    def check(model: torch.nn.Module) -> None:
        scenes = make_scenes(8, seed=0)
        optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
        model.train()
        losses = []
        for _ in range(6):
            loss = sum(model(scenes.images, [scenes.targets(i) for i in range(8)]).values())
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
        assert all(math.isfinite(value) for value in losses) and losses[-1] < losses[0]
        model.eval()
        detections = model(scenes.images[:3])
        assert len(detections) == 3
        for detection in detections:
            assert set(detection) == {"boxes", "scores", "labels"}
            boxes, scores, labels = detection["boxes"], detection["scores"], detection["labels"]
            assert ((boxes >= 0) & (boxes <= 64)).all() and (boxes[:, 2:] > boxes[:, :2]).all()
            assert torch.all(scores[:-1] >= scores[1:])
            assert labels.dtype == torch.int64
            assert ((labels >= 1) & (labels < len(CLASSES))).all()

    return check
