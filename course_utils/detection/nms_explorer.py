"""NMS explorer: a detector's raw boxes on one scene, before and after non-maximum suppression,
as the IoU and score thresholds change.

`suppress` is the plain function (tests call it); `nms_explorer_widget` wraps it in ipywidgets.
"""

from __future__ import annotations

import ipywidgets
import matplotlib.pyplot as plt
import torch
from matplotlib.figure import Figure

from course_utils.detection import plotting
from course_utils.detection.boxes import batched_nms
from course_utils.widgets import figure_widget


def suppress(candidates: dict[str, torch.Tensor], iou_threshold: float, score_threshold: float
             ) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """candidates {"boxes" (D, 4), "scores" (D,), "labels" (D,)} -> (those scoring at least
    score_threshold, those left after per-class NMS at iou_threshold), both by decreasing
    score."""
    keep = candidates["scores"] >= score_threshold
    before = {name: value[keep] for name, value in candidates.items()}
    order = before["scores"].argsort(descending=True, stable=True)
    before = {name: value[order] for name, value in before.items()}
    kept = batched_nms(before["boxes"], before["scores"], before["labels"], iou_threshold)
    return before, {name: value[kept] for name, value in before.items()}


def plot_suppression(image: torch.Tensor, candidates: dict[str, torch.Tensor],
                     iou_threshold: float, score_threshold: float,
                     truth: dict[str, torch.Tensor] | None = None) -> Figure:
    """The scene with the thresholded boxes, with the boxes NMS keeps, and with the ground truth."""
    before, after = suppress(candidates, iou_threshold, score_threshold)
    panels = 3 if truth is not None else 2
    fig, axes = plt.subplots(1, panels, figsize=(3.3 * panels, 3.5))
    plotting.draw_scene(image, before["boxes"], before["labels"], ax=axes[0],
                        title=f"score >= {score_threshold:.2f}: {len(before['boxes'])} boxes")
    plotting.draw_scene(image, after["boxes"], after["labels"], after["scores"], ax=axes[1],
                        title=f"after NMS at IoU {iou_threshold:.2f}: {len(after['boxes'])}")
    if truth is not None:
        plotting.draw_scene(image, truth["boxes"], truth["labels"], ax=axes[2],
                            title="ground truth")
    fig.tight_layout()
    return fig


def nms_explorer_widget(images: torch.Tensor, candidates: list[dict[str, torch.Tensor]],
                        truths: list[dict[str, torch.Tensor]] | None = None
                        ) -> ipywidgets.Widget:
    """Sliders for the image, the IoU threshold and the score threshold around
    plot_suppression; candidates[i] are image i's boxes before NMS."""
    controls = {
        "index": ipywidgets.IntSlider(value=0, min=0, max=len(images) - 1, description="image"),
        "iou": ipywidgets.FloatSlider(value=0.5, min=0.05, max=1.0, step=0.05,
                                      description="IoU thr."),
        "score": ipywidgets.FloatSlider(value=0.3, min=0.0, max=0.95, step=0.05,
                                        description="score thr."),
    }

    def draw() -> Figure:
        index = controls["index"].value
        return plot_suppression(images[index], candidates[index], controls["iou"].value,
                                controls["score"].value,
                                truths[index] if truths is not None else None)

    return figure_widget(list(controls.values()), draw)
