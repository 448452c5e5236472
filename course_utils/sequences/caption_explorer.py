"""Caption explorer: a scene, the caption a CaptioningRNN writes for it greedily, word by word,
and the five likeliest words at each step.

`caption_steps` is the plain function (tests call it); `caption_explorer_widget` wraps it in
ipywidgets. The steps call this module's names for the recurrent steps, which the chapter's
notebook points at the student's functions.
"""

from __future__ import annotations

import ipywidgets
import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure

from course_utils.sequences.lstm_layers import lstm_step_forward
from course_utils.sequences.rnn_layers import rnn_step_forward
from course_utils.widgets import figure_widget

TOP = 5


def caption_steps(model, features: np.ndarray, max_length: int = 12
                  ) -> list[tuple[str, list[tuple[str, float]]]]:
    """Greedy decoding of one image's caption, step by step.

    Args:
        model: a CaptioningRNN (its params, cell_type and word_to_idx; "<START>" and "<END>"
            in the vocabulary).
        features: (D,) the image's feature vector.
        max_length: most words written.
    Returns:
        one (word, top) per step until "<END>" (included) or max_length: the word written (the
        likeliest) and the TOP likeliest words with their softmax probabilities, best first.
    """
    p = model.params
    idx_to_word = {index: word for word, index in model.word_to_idx.items()}
    h = features[None].astype(p["W_proj"].dtype) @ p["W_proj"] + p["b_proj"]   # (1, H)
    c = np.zeros_like(h)
    word = model.word_to_idx["<START>"]
    steps = []
    for _ in range(max_length):
        x = p["W_embed"][[word]]                                                 # (1, W)
        if model.cell_type == "lstm":
            h, c, _ = lstm_step_forward(x, h, c, p["Wx"], p["Wh"], p["b"])
        else:
            h, _ = rnn_step_forward(x, h, p["Wx"], p["Wh"], p["b"])
        scores = (h @ p["W_vocab"] + p["b_vocab"])[0]
        probabilities = np.exp(scores - scores.max())
        probabilities /= probabilities.sum()
        best = np.argsort(-probabilities, kind="stable")[:TOP]
        word = int(best[0])
        steps.append((idx_to_word[word],
                      [(idx_to_word[int(k)], float(probabilities[k])) for k in best]))
        if idx_to_word[word] == "<END>":
            break
    return steps


def plot_caption_step(image: torch.Tensor, steps: list, step: int, references: list[str]
                      ) -> Figure:
    """The image with the caption up to `step` (0-based), and the TOP words of that step."""
    fig, (picture, bars) = plt.subplots(1, 2, figsize=(8, 3), width_ratios=(1, 1.6))
    picture.imshow(image.permute(1, 2, 0).clamp(0, 1).cpu().numpy())
    picture.axis("off")
    written = " ".join(word for word, _ in steps[:step + 1])
    picture.set_title(f"{written}\n(reference: {references[0]})", fontsize=8)
    words, probabilities = zip(*steps[step][1], strict=True)
    bars.barh(range(len(words))[::-1], probabilities, color=["tab:orange"] + ["tab:blue"] * 4)
    bars.set_yticks(range(len(words))[::-1], words)
    bars.set_xlim(0, 1)
    bars.set_title(f"step {step + 1}: the {TOP} likeliest words", fontsize=9)
    fig.tight_layout()
    return fig


def caption_explorer_widget(model, images: torch.Tensor, features: np.ndarray,
                            references: list[list[str]], max_length: int = 12
                            ) -> ipywidgets.Widget:
    """Sliders for the scene and the step around plot_caption_step; images (N, 3, S, S),
    features (N, D), references[i] the true captions of image i."""
    scene = ipywidgets.IntSlider(value=0, min=0, max=len(images) - 1, description="scene")
    step = ipywidgets.IntSlider(value=0, min=0, max=max_length - 1, description="step")

    def draw() -> Figure:
        steps = caption_steps(model, features[scene.value], max_length)
        step.max = len(steps) - 1
        return plot_caption_step(images[scene.value], steps, min(step.value, step.max),
                                 references[scene.value])

    return figure_widget([scene, step], draw)
