"""The NMS explorer's suppression, its figure and its widget; the scene drawings."""

import ipywidgets
import matplotlib
import matplotlib.pyplot as plt
import pytest
import torch

from course_utils.detection import nms_explorer, plotting
from course_utils.synthetic.scenes import make_scenes

matplotlib.use("Agg")


@pytest.fixture(scope="module")
def candidates():
    # two overlapping boxes of class 1 (IoU 81/100), one of class 2 on the first
    return {"boxes": torch.tensor([[0.0, 0, 10, 10], [1, 1, 10, 10], [0, 0, 10, 10]]),
            "scores": torch.tensor([0.6, 0.9, 0.2]), "labels": torch.tensor([1, 1, 2])}


def test_suppress_thresholds_sorts_and_suppresses_per_class(candidates):
    before, after = nms_explorer.suppress(candidates, iou_threshold=0.5, score_threshold=0.1)
    assert before["scores"].tolist() == pytest.approx([0.9, 0.6, 0.2])
    assert after["scores"].tolist() == pytest.approx([0.9, 0.2])   # 0.6 overlaps 0.9 too much
    _, kept = nms_explorer.suppress(candidates, iou_threshold=0.85, score_threshold=0.1)
    assert len(kept["boxes"]) == 3                                   # IoU 0.81 < 0.85
    before, after = nms_explorer.suppress(candidates, iou_threshold=0.5, score_threshold=0.5)
    assert before["labels"].tolist() == [1, 1] and after["labels"].tolist() == [1]


def test_the_figure_and_the_widget(candidates):
    scenes = make_scenes(2, seed=0)
    truth = scenes.targets(0)
    fig = nms_explorer.plot_suppression(scenes.images[0], candidates, 0.5, 0.1, truth)
    titles = [ax.get_title() for ax in fig.axes]
    assert titles == ["score >= 0.10: 3 boxes", "after NMS at IoU 0.50: 2", "ground truth"]
    assert len(fig.axes[2].patches) == len(truth["boxes"])
    widget = nms_explorer.nms_explorer_widget(scenes.images, [candidates, candidates])
    assert isinstance(widget, ipywidgets.VBox)
    sliders = widget.children[0].children
    assert [s.description for s in sliders] == ["image", "IoU thr.", "score thr."]
    sliders[0].value = 1   # redraws without error


def test_draw_scene_and_semantic():
    scenes = make_scenes(1, seed=1)
    target = scenes.targets(0)
    _, (ax, semantic_ax) = plt.subplots(1, 2)
    plotting.draw_scene(scenes.images[0], target["boxes"], target["labels"],
                        torch.ones(len(target["labels"])), target["masks"], ax=ax, title="t")
    assert len(ax.patches) == len(target["boxes"]) and len(ax.texts) == len(target["boxes"])
    assert len(ax.images) == 1 + len(target["boxes"])   # the scene and one overlay per mask
    plotting.draw_semantic(scenes.semantic[0], ax=semantic_ax)
    assert semantic_ax.images[0].get_array().shape == (64, 64, 3)
