"""A clip player for a video classifier: pick a clip, scrub or play its frames, and see the
model's probabilities, the frame's saliency map and how the saliency spreads over the frames.

`player_data` (what the model says about one clip) and `plot_player_frame` (one frame of the
display) are what tests call; `clip_player_widget` wraps them in ipywidgets through
figure_widget, with an ipywidgets.Play linked to the frame slider.
"""

from __future__ import annotations

from collections.abc import Sequence

import ipywidgets
import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure
from torch import Tensor, nn

from course_utils.training import predict
from course_utils.video.visualization import temporal_saliency
from course_utils.widgets import figure_widget

PREDICTED, TRUE = "predicted", "true"   # whose score the saliency differentiates


def player_data(model: nn.Module, clip: Tensor, target: int) -> dict[str, np.ndarray]:
    """What the player shows of one clip (C, T, H, W): "saliency" (T, H, W) and "per_frame"
    (T,) of temporal_saliency(model, clip, target), as NumPy arrays."""
    saliency, per_frame = temporal_saliency(model, clip, target)
    return {"saliency": saliency.cpu().numpy(), "per_frame": per_frame.cpu().numpy()}


def plot_player_frame(clip: Tensor, frame: int, saliency: np.ndarray, per_frame: np.ndarray,
                      probabilities: np.ndarray, class_names: Sequence[str], label: int,
                      title: str) -> Figure:
    """Frame `frame` of a clip, its saliency map, the class probabilities and the per-frame
    saliency curve with the frame marked.

    Args:
        clip: (C, T, H, W), values in [0, 1].
        saliency: (T, H, W), drawn on one colour scale for the whole clip (0 to its maximum),
            so that frames the score depends on less look darker.
        per_frame: (T,), saliency summed per frame.
        probabilities: (K,) the model's softmax; the true class's bar is outlined.
        label: the true class.
        title: the figure's title.
    """
    pixels = clip.detach().cpu().float()[:, frame]
    fig, (image, heat, bars, curve) = plt.subplots(1, 4, figsize=(13, 3.2),
                                                   width_ratios=(1, 1, 1.3, 1.5))
    if len(pixels) == 1:
        image.imshow(pixels[0].numpy(), cmap="gray", vmin=0, vmax=1)
    else:
        image.imshow(pixels.permute(1, 2, 0).clamp(0, 1).numpy())
    image.set(xticks=[], yticks=[], title=f"frame {frame} of {clip.shape[1]}")
    heat.imshow(saliency[frame], cmap="hot", vmin=0, vmax=max(float(saliency.max()), 1e-12))
    heat.set(xticks=[], yticks=[], title="saliency |∂S/∂x| of this frame")
    positions = np.arange(len(probabilities))
    colours = ["tab:blue"] * len(probabilities)
    colours[int(np.argmax(probabilities))] = "tab:orange"
    drawn = bars.barh(positions, probabilities, color=colours)
    drawn[label].set_edgecolor("k")
    drawn[label].set_linewidth(2)
    bars.set_yticks(positions, list(class_names), fontsize=8)
    bars.invert_yaxis()
    bars.set(xlim=(0, 1), xlabel="probability", title="prediction (outlined: true)")
    frames = np.arange(len(per_frame))
    curve.plot(frames, per_frame, "o-", color="tab:red")
    curve.axvline(frame, color="k", linestyle="--")
    curve.set(xlabel="frame", ylabel="Σ saliency", title="which frames matter", ylim=(0, None))
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def clip_player_widget(model: nn.Module, clips: Tensor | np.ndarray,
                       labels: Tensor | np.ndarray, class_names: Sequence[str],
                       interval: int = 400) -> ipywidgets.Widget:
    """Controls for the clip, the frame (a slider and a Play button that steps it every
    `interval` ms) and whose score the saliency follows (the predicted or the true class),
    around plot_player_frame.

    Args:
        model: a clip classifier, clips (N, C, T, H, W) -> logits (N, K); run in eval mode, its
            own mode is kept.
        clips: (N, C, T, H, W) in [0, 1]; labels: (N,) their true classes.
        class_names: the K class names.
    Returns:
        A VBox with the controls above the figure; make it a cell's last value to show it.
    """
    clips = torch.as_tensor(np.asarray(clips) if not isinstance(clips, Tensor) else clips)
    clips = clips.float()
    labels = torch.as_tensor(np.asarray(labels)).long()
    device = next(model.parameters()).device
    probabilities = predict(model, clips).softmax(dim=1).numpy()     # (N, K), once
    predictions = probabilities.argmax(axis=1)
    num_frames = clips.shape[2]
    cache: dict[tuple[int, int], dict[str, np.ndarray]] = {}

    clip = ipywidgets.IntSlider(value=0, min=0, max=len(clips) - 1, description="clip")
    frame = ipywidgets.IntSlider(value=0, min=0, max=num_frames - 1, description="frame")
    play = ipywidgets.Play(value=0, min=0, max=num_frames - 1, interval=interval,
                           description="play")
    ipywidgets.link((play, "value"), (frame, "value"))
    whose = ipywidgets.ToggleButtons(options=[PREDICTED, TRUE], value=PREDICTED,
                                     description="saliency of")

    def draw() -> Figure:
        n, t = clip.value, frame.value
        predicted, true = int(predictions[n]), int(labels[n])
        target = predicted if whose.value == PREDICTED else true
        if (n, target) not in cache:
            cache[(n, target)] = player_data(model, clips[n].to(device), target)
        data = cache[(n, target)]
        verdict = "right" if predicted == true else "wrong"
        title = (f"predicted {class_names[predicted]}, true {class_names[true]} ({verdict}); "
                 f"saliency of {class_names[target]}")
        return plot_player_frame(clips[n], t, data["saliency"], data["per_frame"],
                                 probabilities[n], class_names, true, title)

    box = figure_widget([clip, frame, whose], draw)
    box.children[0].children = (clip, play, frame, whose)
    return box
