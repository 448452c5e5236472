"""Matplotlib helpers: image grids, training curves, cross-validation plots.

Each returns its Figure. In a notebook, end the call with `;` (or assign the figure) so that
Jupyter does not show it twice.
"""

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure


def as_displayable(images) -> np.ndarray:
    """Images in a layout and range that imshow takes.

    Args:
        images: shape (N, H, W), (N, H, W, C) or (N, C, H, W) with C in {1, 3}; NumPy arrays or
            PyTorch tensors. Channels first wins when both readings are possible.

    Returns:
        shape (N, H, W) or (N, H, W, 3); floats outside [0, 1] rescaled to [0, 1] image by image.
    """
    if hasattr(images, "detach"):  # a PyTorch tensor
        images = images.detach().cpu().numpy()
    images = np.asarray(images)
    if images.ndim == 4:
        if images.shape[1] in (1, 3):
            images = images.transpose(0, 2, 3, 1)
        elif images.shape[-1] not in (1, 3):
            raise ValueError(f"images of shape {images.shape} have no channel axis of size 1 or 3: "
                             "pass (N, H, W), (N, H, W, C) or (N, C, H, W)")
        if images.shape[-1] == 1:
            images = images[..., 0]
    elif images.ndim != 3:
        raise ValueError(f"images of shape {images.shape}: pass a batch (N, H, W), (N, H, W, C) or "
                         "(N, C, H, W); for one image use image[None]")
    if images.dtype == bool or np.issubdtype(images.dtype, np.floating):
        images = images.astype(np.float64)
        if images.size and (images.min() < 0 or images.max() > 1):
            axes = tuple(range(1, images.ndim))
            low = images.min(axis=axes, keepdims=True)
            span = images.max(axis=axes, keepdims=True) - low
            images = (images - low) / np.where(span > 0, span, 1)
    return images


def _as_list(values) -> list | None:
    """Labels as plain Python values (from a list, NumPy array or PyTorch tensor)."""
    if values is None:
        return None
    if hasattr(values, "detach"):
        values = values.detach().cpu()
    return np.asarray(values).tolist()


def show_image_grid(images, labels: Sequence | None = None, ncols: int = 10,
                    title: str | None = None, cmap: str = "gray",
                    predictions: Sequence | None = None,
                    class_names: Sequence[str] | None = None) -> Figure:
    """A grid of images, optionally captioned with labels and predictions.

    Args:
        images: shape (N, H, W), (N, H, W, 3) or (N, C, H, W) with C in {1, 3}.
        labels: N true labels shown above the images.
        ncols: images per row.
        title: title of the whole figure.
        cmap: colour map for grey images.
        predictions: N predicted labels; captions read "predicted (true)", green when right,
            red when wrong.
        class_names: names to show instead of integer labels.

    Returns:
        The figure, one Axes per image.
    """
    images = as_displayable(images)
    count = len(images)
    labels, predictions = _as_list(labels), _as_list(predictions)
    for name, values in (("labels", labels), ("predictions", predictions)):
        if values is not None and len(values) != count:
            raise ValueError(f"{len(values)} {name} for {count} images: pass one per image")
    if count == 0:
        raise ValueError("no images to show")
    ncols = min(ncols, count)
    nrows = -(-count // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(1.3 * ncols, 1.4 * nrows + 0.4 * bool(title)),
                             squeeze=False)
    name = (lambda label: class_names[label]) if class_names is not None else str
    grey_range = (0, 255) if images.dtype == np.uint8 else (0, 1)
    for index, ax in enumerate(axes.flat):
        if index >= count:
            fig.delaxes(ax)
            continue
        vmin, vmax = grey_range if images.ndim == 3 else (None, None)
        ax.imshow(images[index], cmap=cmap, vmin=vmin, vmax=vmax)
        ax.set_axis_off()
        if predictions is not None:
            right = labels is None or predictions[index] == labels[index]
            caption = name(predictions[index])
            if labels is not None:
                caption += f" ({name(labels[index])})"
            ax.set_title(caption, fontsize=8, color="green" if right else "red")
        elif labels is not None:
            ax.set_title(name(labels[index]), fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_curves(curves: Mapping[str, Sequence[float]], xlabel: str = "epoch", ylabel: str = "",
                title: str | None = None, logy: bool = False) -> Figure:
    """One line per named curve, e.g. {"train": train_losses, "val": val_losses}.

    Args:
        curves: name -> values; value k is plotted at x = k + 1 (epochs and steps count from 1).
        xlabel, ylabel, title: axis labels and title.
        logy: logarithmic y axis (losses that fall over orders of magnitude).
    """
    if not curves:
        raise ValueError("no curves to plot: pass {name: values}")
    fig, ax = plt.subplots(figsize=(6, 4))
    for name, values in curves.items():
        ax.plot(np.arange(1, len(values) + 1), values, label=name)
    ax.set(xlabel=xlabel, ylabel=ylabel, title=title or "", yscale="log" if logy else "linear")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def plot_mean_std(x: Sequence[float], mean: Sequence[float], std: Sequence[float],
                  xlabel: str = "", ylabel: str = "", title: str | None = None,
                  label: str | None = None, errorbars: bool = False, logx: bool = False) -> Figure:
    """Mean ± one standard deviation against x, as in a cross-validation plot.

    Args:
        x, mean, std: shape (K,) each, e.g. K values of a hyperparameter and the mean and std of
            the validation accuracy over the folds.
        xlabel, ylabel, title: axis labels and title.
        label: legend entry for the mean.
        errorbars: error bars at each x instead of a shaded band.
        logx: logarithmic x axis (learning rates, regularization strengths).
    """
    x, mean, std = (np.asarray(values, dtype=np.float64) for values in (x, mean, std))
    if not x.ndim == 1 or x.shape != mean.shape or x.shape != std.shape:
        raise ValueError(f"x {x.shape}, mean {mean.shape} and std {std.shape} must be 1-D arrays "
                         "of the same length")
    fig, ax = plt.subplots(figsize=(6, 4))
    if errorbars:
        ax.errorbar(x, mean, yerr=std, marker="o", capsize=4, label=label)
    else:
        (line,) = ax.plot(x, mean, marker="o", label=label)
        ax.fill_between(x, mean - std, mean + std, color=line.get_color(), alpha=0.25,
                        label="± 1 std")
    ax.set(xlabel=xlabel, ylabel=ylabel, title=title or "", xscale="log" if logx else "linear")
    if label is not None:
        ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig
