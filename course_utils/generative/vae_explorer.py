"""Pictures of a VAE's latent space: the digits a 2-D latent space decodes to on a grid, where
the test digits' codes fall in it, and a widget that walks one latent coordinate at a time.

The figures are plain functions that tests call (plot_latent_grid, plot_latent_codes,
plot_traversal); latent_traversal_widget wraps plot_traversal in ipywidgets through
figure_widget. Everything decodes through course_utils.generative.vae (decode, traverse,
latent_grid), looked up at call time.
"""

from __future__ import annotations

import ipywidgets
import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure

from course_utils.generative import vae
from course_utils.widgets import CLASS_COLOURS, figure_widget

Tensor = torch.Tensor


def mosaic(images: Tensor, ncols: int) -> np.ndarray:
    """Images (N, 1, H, W) with N a multiple of ncols as one (rows * H, ncols * W) array,
    row-major."""
    n, _, height, width = images.shape
    if n % ncols:
        raise ValueError(f"{n} images do not fill rows of {ncols}")
    grid = images[:, 0].reshape(n // ncols, ncols, height, width)
    return grid.permute(0, 2, 1, 3).reshape(n // ncols * height, ncols * width).numpy()


def plot_latent_grid(model2d: vae.VAE, n: int = 15, span: float = 0.9) -> Figure:
    """vae.latent_grid(model2d, n, span) as one picture, the axes marked with the codes
    (z1 to the right, z2 upwards), as Kingma & Welling's figure of the MNIST manifold."""
    images = vae.latent_grid(model2d, n, span)
    points = vae.latent_grid_points(n, span)
    size = images.shape[-1]
    fig, ax = plt.subplots(figsize=(7, 7))
    ax.imshow(mosaic(images, n), cmap="gray", vmin=0, vmax=1)
    centres = size * np.arange(n) + (size - 1) / 2
    shown = range(0, n, max(1, n // 5))
    ax.set_xticks(centres[shown], [f"{points[c, 0]:.2f}" for c in shown])
    ax.set_yticks(centres[shown], [f"{points[r * n, 1]:.2f}" for r in shown])
    ax.set(xlabel="z1", ylabel="z2",
           title=f"decoded codes at normal quantiles {(1 - span) / 2:.2f} to {(1 + span) / 2:.2f}")
    fig.tight_layout()
    return fig


def plot_latent_codes(model2d: vae.VAE, images, labels) -> Figure:
    """Where a 2-D VAE puts digits: each image's posterior mean mu, coloured by its label (which
    the VAE never saw), over the prior's 1- and 2-sigma circles."""
    if model2d.latent_size != 2:
        raise ValueError(f"plot_latent_codes needs latent_size 2, got {model2d.latent_size}")
    codes = vae.posterior_means(model2d, images).numpy()
    labels = np.asarray(labels)
    fig, ax = plt.subplots(figsize=(6, 6))
    for digit in np.unique(labels):
        chosen = labels == digit
        ax.scatter(codes[chosen, 0], codes[chosen, 1], s=4, alpha=0.6,
                   color=CLASS_COLOURS[int(digit) % len(CLASS_COLOURS)], label=str(digit))
    angles = np.linspace(0, 2 * np.pi, 200)
    for radius in (1, 2):
        ax.plot(radius * np.cos(angles), radius * np.sin(angles), "k--", linewidth=0.8)
    ax.set(xlabel="mu_1", ylabel="mu_2", aspect="equal",
           title="posterior means of the digits; dashed: 1 and 2 sigma of p(z)")
    ax.legend(markerscale=4, fontsize=8, loc="upper right", title="label")
    fig.tight_layout()
    return fig


def plot_traversal(model: vae.VAE, z: Tensor, dim: int, value: float, values) -> Figure:
    """One latent traversal: the start code z (Z,) decoded, the same code with z[dim] = value
    decoded, the code's coordinates, and below the strip vae.traverse(model, z, dim, values)."""
    z = torch.as_tensor(z, dtype=torch.float32).reshape(-1)
    values = np.asarray(values, dtype=np.float64)
    start, moved = vae.traverse(model, z, dim, [z[dim].item(), value])
    strip = vae.traverse(model, z, dim, values)
    fig = plt.figure(figsize=(max(8.0, 0.9 * len(values)), 5))
    grid = fig.add_gridspec(2, 3, height_ratios=(1.6, 1))
    left, middle, right = (fig.add_subplot(grid[0, column]) for column in range(3))
    left.imshow(start[0].numpy(), cmap="gray", vmin=0, vmax=1)
    left.set_title(f"start, z[{dim}] = {z[dim].item():.2f}", fontsize=9)
    middle.imshow(moved[0].numpy(), cmap="gray", vmin=0, vmax=1)
    middle.set_title(f"z[{dim}] = {value:.2f}", fontsize=9)
    for ax in (left, middle):
        ax.set(xticks=[], yticks=[])
    coordinates = z.clone()
    coordinates[dim] = value
    colours = ["crimson" if d == dim else "tab:blue" for d in range(len(z))]
    right.bar(range(len(z)), coordinates.numpy(), color=colours)
    right.set(xlabel="latent dimension", title="the code z", xticks=range(len(z)))
    right.tick_params(axis="x", labelsize=7)
    below = fig.add_subplot(grid[1, :])
    below.imshow(mosaic(strip, len(values)), cmap="gray", vmin=0, vmax=1)
    size = strip.shape[-1]
    below.set_xticks(size * np.arange(len(values)) + (size - 1) / 2,
                     [f"{v:.1f}" for v in values], fontsize=8)
    below.set(yticks=[], xlabel=f"z[{dim}], the other coordinates kept")
    fig.tight_layout()
    return fig


def latent_traversal_widget(model: vae.VAE, images=None, span: float = 3.0, steps: int = 9
                            ) -> ipywidgets.Widget:
    """Controls around plot_traversal: the start code, the latent dimension to move and its value.

    Args:
        model: a VAE; read in eval mode, its own mode is kept.
        images: digits to start from (see autoencoder.as_images for the layouts); the start
            code is the chosen image's posterior mean mu, and the dimensions are offered in
            decreasing order of their mean KL on these images (vae.kl_per_dimension: those near 0
            nats are unused). Without images the start is z = 0, the prior's mean.
        span, steps: the value slider and the strip cover -span..span, the strip in `steps`
            values.

    Returns:
        A VBox with the controls above the figure; make it a cell's last value to show it.
    """
    if span <= 0 or steps < 2:
        raise ValueError(f"need span > 0 and steps >= 2, got span={span}, steps={steps}")
    dims = range(model.latent_size)
    if images is None:
        starts = torch.zeros(1, model.latent_size)
        options = [(f"z[{d}]", d) for d in dims]
    else:
        starts = vae.posterior_means(model, images)
        kl = vae.kl_per_dimension(model, images)
        options = [(f"z[{d}] (KL {kl[d]:.2f} nats)", d)
                   for d in sorted(dims, key=lambda d: -kl[d].item())]
    image = ipywidgets.IntSlider(value=0, min=0, max=len(starts) - 1, description="image",
                                 disabled=len(starts) == 1)
    dim = ipywidgets.Dropdown(options=options, value=options[0][1], description="dimension")
    value = ipywidgets.FloatSlider(value=0.0, min=-span, max=span, step=span / 30,
                                   description="value", continuous_update=False)
    values = np.linspace(-span, span, steps)
    return figure_widget([image, dim, value], lambda: plot_traversal(
        model, starts[image.value], dim.value, value.value, values))
