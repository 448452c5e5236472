"""Drawing scenes with their boxes, labels, scores and masks."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.patches import Rectangle

from course_utils.synthetic.scenes import CLASSES

COLOURS = plt.get_cmap("tab10").colors


def draw_scene(image: torch.Tensor, boxes: torch.Tensor | None = None,
               labels: torch.Tensor | None = None, scores: torch.Tensor | None = None,
               masks: torch.Tensor | None = None, ax: Axes | None = None, title: str = "",
               colour: tuple | None = None) -> Axes:
    """Draw image (3, H, W) in [0, 1] and, when given, boxes (K, 4) x1 y1 x2 y2 in pixels
    labelled by class name (and score), masks (K, H, W) as translucent overlays. One colour per
    class unless `colour` is given."""
    ax = ax if ax is not None else plt.gca()
    ax.imshow(image.permute(1, 2, 0).clamp(0, 1).cpu().numpy())
    count = 0 if boxes is None else len(boxes)
    for k in range(count):
        label = int(labels[k]) if labels is not None else 0
        edge = colour if colour is not None else COLOURS[label % len(COLOURS)]
        if masks is not None:
            overlay = np.zeros((*masks.shape[1:], 4))
            overlay[masks[k].cpu().numpy()] = (*edge[:3], 0.45)
            ax.imshow(overlay)
        x1, y1, x2, y2 = boxes[k].tolist()
        ax.add_patch(Rectangle((x1 - 0.5, y1 - 0.5), x2 - x1, y2 - y1, fill=False,
                               edgecolor=edge, linewidth=1.5))
        text = CLASSES[label] if labels is not None else ""
        if scores is not None:
            text = f"{text} {float(scores[k]):.2f}".strip()
        if text:
            ax.text(x1 - 0.5, y1 - 1.5, text, color="white", fontsize=7,
                    bbox={"facecolor": edge, "alpha": 0.8, "pad": 1, "linewidth": 0})
    ax.set_title(title, fontsize=9)
    ax.axis("off")
    return ax


def draw_semantic(labels: torch.Tensor, ax: Axes | None = None, title: str = "") -> Axes:
    """A semantic map (H, W) of class indices, background black, one colour per class."""
    ax = ax if ax is not None else plt.gca()
    palette = np.array([(0.0, 0.0, 0.0), *[COLOURS[c][:3] for c in range(1, len(CLASSES))]])
    ax.imshow(palette[labels.cpu().numpy()])
    ax.set_title(title, fontsize=9)
    ax.axis("off")
    return ax
