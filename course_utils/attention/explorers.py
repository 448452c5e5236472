"""Two explorers of chapter 11: where a VisionTransformer's heads look, and what the sinusoidal
positional encoding looks like.

The plain functions (`attention_matrix`, `token_names`, `positional_encoding_table`,
`wavelength`, `distances_from`) and the plots are what tests call; `attention_explorer_widget`
and `positional_encoding_widget` wrap them in ipywidgets through figure_widget. The encoding is
built through `multi_head.PositionalEncoding`, looked up at call time, so the notebook's swap to
the student's class shows here.
"""

from __future__ import annotations

import math

import ipywidgets
import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure

from course_utils.attention import multi_head
from course_utils.attention.vit import VisionTransformer
from course_utils.training import predict
from course_utils.widgets import figure_widget

MEAN = "mean"   # the head choice that averages the heads
MAX_TICKS = 20  # token labels on an axis of the attention matrix, at most


def attention_matrix(maps: torch.Tensor, image: int, layer: int, head: int | str
                     ) -> np.ndarray:
    """One image's token-to-token attention in one layer, of one head or the heads' mean.

    Args:
        maps: VisionTransformer.attention_maps, shape (N, num_layers, num_heads, T, T).
        image, layer: indices into N and num_layers.
        head: an index into num_heads, or MEAN.

    Returns:
        shape (T, T); row s is how token s spreads its attention, summing to 1.
    """
    weights = maps[image, layer]                                       # (H, T, T)
    weights = weights.mean(dim=0) if head == MEAN else weights[head]
    return weights.cpu().numpy()


def token_names(num_tokens: int) -> list[str]:
    """["cls", "p1", "p2", ...]: the class token, then the patches in row-major order."""
    return ["cls"] + [f"p{t}" for t in range(1, num_tokens)]


def _displayable(image: torch.Tensor) -> tuple[np.ndarray, str | None]:
    """(C, H, W) -> an (H, W) grey or (H, W, 3) colour array in [0, 1], and its colour map."""
    pixels = image.detach().cpu().float()
    pixels = (pixels - pixels.min()) / (pixels.max() - pixels.min()).clamp_min(1e-8)
    if len(pixels) == 1:
        return pixels[0].numpy(), "gray"
    return pixels.permute(1, 2, 0).numpy(), None


def plot_attention(image: torch.Tensor, matrix: np.ndarray, title: str, head_name: str
                   ) -> Figure:
    """The image under the class token's attention over the patch grid, beside the whole
    attention matrix.

    Args:
        image: shape (C, H, W), cut into a g x g grid of patches with g * g = T - 1.
        matrix: attention_matrix, shape (T, T).
        title: what the figure says on top (the prediction and the true label).
        head_name: which layer and head the matrix is, added to the title.
    """
    num_tokens = len(matrix)
    grid = math.isqrt(num_tokens - 1)
    fig, (picture, heatmap) = plt.subplots(1, 2, figsize=(9, 4), width_ratios=(1, 1.25))
    pixels, cmap = _displayable(image)
    height, width = pixels.shape[:2]
    picture.imshow(pixels, cmap=cmap)
    picture.imshow(matrix[0, 1:].reshape(grid, grid), cmap="inferno", alpha=0.55,
                   interpolation="nearest", extent=(-0.5, width - 0.5, height - 0.5, -0.5))
    picture.set(xticks=[], yticks=[])
    picture.set_title("the class token's attention over patches", fontsize=9)
    shown = heatmap.imshow(matrix, cmap="viridis", vmin=0)
    step = math.ceil(num_tokens / MAX_TICKS)
    names = token_names(num_tokens)
    ticks = range(0, num_tokens, step)
    heatmap.set_xticks(ticks, [names[t] for t in ticks], rotation=90, fontsize=7)
    heatmap.set_yticks(ticks, [names[t] for t in ticks], fontsize=7)
    heatmap.set(xlabel="attended to (key)", ylabel="attending (query)")
    heatmap.set_title("token-to-token attention", fontsize=9)
    fig.colorbar(shown, ax=heatmap, fraction=0.046)
    fig.suptitle(f"{title}; {head_name}")
    fig.tight_layout()
    return fig


def attention_explorer_widget(model: VisionTransformer, images: torch.Tensor,
                              labels: torch.Tensor | np.ndarray) -> ipywidgets.Widget:
    """Controls for the image, the layer and the head (or their mean) around plot_attention.

    Args:
        model: a VisionTransformer; read in eval mode, its own mode is kept.
        images: shape (N, C, H, W), the images to choose from.
        labels: their true classes, shape (N,).

    Returns:
        A VBox with the controls above the figure; make it a cell's last value to show it.
    """
    device = next(model.parameters()).device
    maps = model.attention_maps(images.to(device)).cpu()          # (N, L, H, T, T), once
    predictions = predict(model, images).argmax(dim=1)
    labels = torch.as_tensor(labels)
    num_layers, num_heads = maps.shape[1:3]
    image = ipywidgets.IntSlider(value=0, min=0, max=len(images) - 1, description="image")
    layer = ipywidgets.IntSlider(value=num_layers - 1, min=0, max=num_layers - 1,
                                 description="layer")
    head = ipywidgets.Dropdown(options=[("mean of heads", MEAN)]
                               + [(f"head {h}", h) for h in range(num_heads)],
                               value=MEAN, description="head")

    def draw() -> Figure:
        n = image.value
        predicted, true = int(predictions[n]), int(labels[n])
        verdict = "right" if predicted == true else "wrong"
        return plot_attention(images[n], attention_matrix(maps, n, layer.value, head.value),
                              f"predicted {predicted}, true {true} ({verdict})",
                              f"layer {layer.value}, {head.label}")

    return figure_widget([image, layer, head], draw)


def positional_encoding_table(embed_dim: int, max_len: int) -> np.ndarray:
    """multi_head.PositionalEncoding(embed_dim, dropout=0.0, max_len=max_len).pe as an array of
    shape (max_len, embed_dim): row p encodes position p."""
    encoding = multi_head.PositionalEncoding(embed_dim, dropout=0.0, max_len=max_len)
    return encoding.pe[0].detach().cpu().numpy().astype(np.float64)


def wavelength(dimension: int, embed_dim: int) -> float:
    """2π / ω_i, the positions one turn of dimension 2i or 2i + 1 takes, ω_i = 10000^(-2i / D).

    (Not 1 / ω_i, as the lecture notes have it: sin(p ω) repeats when p ω grows by 2π.)
    """
    i = dimension // 2
    return 2 * math.pi * 10000.0 ** (2 * i / embed_dim)


def distances_from(table: np.ndarray, position: int) -> np.ndarray:
    """‖pe[position] - pe[q]‖ for every position q: table (max_len, D) -> shape (max_len,)."""
    return np.linalg.norm(table - table[position], axis=1)


def plot_positional_encoding(table: np.ndarray, position: int, dimension: int) -> Figure:
    """The encoding as an image with the chosen row and column marked; the chosen dimension
    over positions with its wavelength; the distance from the chosen position to every other,
    beside the distance from position 0 at the same offset |p - q|.

    Args:
        table: positional_encoding_table, shape (max_len, D).
        position, dimension: the row and the column to follow.
    """
    max_len, embed_dim = table.shape
    positions = np.arange(max_len)
    fig, (image, curve, distance) = plt.subplots(1, 3, figsize=(13, 3.6))
    image.imshow(table, cmap="RdBu_r", vmin=-1, vmax=1, aspect="auto", interpolation="nearest")
    image.axhline(position, color="gold", linewidth=1.5)
    image.axvline(dimension, color="gold", linewidth=1.5)
    image.set(title="pe[p, d]", xlabel="dimension d", ylabel="position p")

    i, function = dimension // 2, "sin" if dimension % 2 == 0 else "cos"
    period = wavelength(dimension, embed_dim)
    curve.plot(positions, table[:, dimension], color="tab:blue")
    curve.plot(position, table[position, dimension], "o", color="crimson", markersize=7,
               zorder=3)
    curve.axvline(period, color="tab:orange", linestyle="--",
                  label=f"2π/ω_{i} = {period:,.1f}" + (" (off the plot)" if period >= max_len
                                                       else ""))
    curve.set(xlim=(0, max_len - 1), ylim=(-1.1, 1.7), xlabel="position p",
              title=f"d = {dimension}: {function}(p ω_{i})")
    curve.legend(loc="upper right", fontsize=8)

    offsets = np.abs(positions - position)
    distance.plot(positions, distances_from(table, position), color="tab:blue",
                  label=f"‖pe[{position}] - pe[q]‖")
    distance.plot(positions, distances_from(table, 0)[offsets], color="tab:orange",
                  linestyle="--", label="‖pe[0] - pe[|p - q|]‖")
    distance.set(xlabel="position q", title="distance depends only on |p - q|")
    distance.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    return fig


def positional_encoding_widget(embed_dim: int = 64, max_len: int = 100) -> ipywidgets.Widget:
    """Sliders for the position and the dimension around plot_positional_encoding, for
    multi_head.PositionalEncoding(embed_dim, dropout=0.0, max_len=max_len)."""
    table = positional_encoding_table(embed_dim, max_len)
    position = ipywidgets.IntSlider(value=max_len // 2, min=0, max=max_len - 1,
                                    description="position")
    dimension = ipywidgets.IntSlider(value=0, min=0, max=embed_dim - 1, description="dimension")
    return figure_widget([position, dimension], lambda: plot_positional_encoding(
        table, position.value, dimension.value))
