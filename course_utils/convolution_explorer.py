"""Convolution explorer: filter a scikit-image photo with a chosen kernel, stride and padding.

`explore_convolution` is the plain function (tests call it); `convolution_explorer_widget`
wraps it in ipywidgets and shows the feature map and the output-size formula live.
"""

import ipywidgets
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from course_utils import data
from course_utils.fast_layers import conv_forward_fast
from course_utils.widgets import figure_widget

FILTERS = {
    "edge": np.array([[-1, -1, -1], [-1, 8, -1], [-1, -1, -1]], dtype=np.float64),
    "blur": np.full((3, 3), 1 / 9),
    "sharpen": np.array([[0, -1, 0], [-1, 5, -1], [0, -1, 0]], dtype=np.float64),
}


def make_filter(name: str, size: int = 3, seed: int = 0) -> np.ndarray:
    """A (size, size) kernel: "edge", "blur", "sharpen" (size 3) or "random" (any odd size)."""
    if name == "random":
        return np.random.default_rng(seed).normal(size=(size, size)) / size
    if name not in FILTERS:
        raise ValueError(f"unknown filter {name!r}; choose one of {sorted(FILTERS) + ['random']}")
    return FILTERS[name]


def grey_image(name: str = "camera", size: int = 128) -> np.ndarray:
    """A scikit-image sample photo as grey float64 in [0, 1], centre-cropped and subsampled to
    (size, size)."""
    image = data.load_sample_images()[name].astype(np.float64) / 255
    if image.ndim == 3:
        image = image[..., :3].mean(axis=2)
    side = min(image.shape)
    image = image[:side, :side]
    return image[::max(1, side // size), ::max(1, side // size)][:size, :size]


def explore_convolution(image: np.ndarray, kernel: np.ndarray, stride: int = 1,
                        pad: int = 0) -> tuple[np.ndarray, str]:
    """Convolve a grey image (H, W) with kernel (K, K).

    Returns:
        feature_map: shape (H', W') with H' = (H - K + 2P) / S + 1.
        formula: that formula with the numbers filled in, e.g. "(128 - 3 + 2*1)/1 + 1 = 128".
    Raises:
        ValueError: when the configuration does not tile the input.
    """
    out, _ = conv_forward_fast(image[None, None], kernel[None, None], np.zeros(1),
                               {"stride": stride, "pad": pad})
    feature_map = out[0, 0]
    formula = (f"(W1 - F + 2P)/S + 1 = ({image.shape[1]} - {kernel.shape[1]} + 2*{pad})/{stride}"
               f" + 1 = {feature_map.shape[1]}")
    return feature_map, formula


def plot_convolution(image: np.ndarray, kernel: np.ndarray, stride: int = 1,
                     pad: int = 0) -> Figure:
    """Input, kernel and feature map side by side; the title shows the size formula or the error."""
    fig, axes = plt.subplots(1, 3, figsize=(10, 3.5), gridspec_kw={"width_ratios": [3, 1, 3]})
    axes[0].imshow(image, cmap="gray")
    axes[0].set_title(f"input {image.shape[0]}x{image.shape[1]}")
    axes[1].imshow(kernel, cmap="RdBu_r")
    axes[1].set_title(f"filter {kernel.shape[0]}x{kernel.shape[1]}")
    try:
        feature_map, formula = explore_convolution(image, kernel, stride, pad)
        axes[2].imshow(feature_map, cmap="gray")
        axes[2].set_title(f"feature map {feature_map.shape[0]}x{feature_map.shape[1]}")
        fig.suptitle(formula)
    except ValueError as error:
        fig.suptitle(str(error), fontsize=8, color="crimson")
    for ax in axes:
        ax.axis("off")
    return fig


def convolution_explorer_widget(image_name: str = "camera") -> ipywidgets.Widget:
    """Dropdowns and sliders for filter, size, stride and padding around plot_convolution."""
    image = grey_image(image_name)
    controls = {
        "name": ipywidgets.Dropdown(options=sorted(FILTERS) + ["random"], value="edge",
                                    description="filter"),
        "stride": ipywidgets.IntSlider(value=1, min=1, max=5, description="stride S"),
        "pad": ipywidgets.IntSlider(value=0, min=0, max=4, description="padding P"),
    }

    def draw() -> Figure:
        kernel = make_filter(controls["name"].value)
        return plot_convolution(image, kernel, controls["stride"].value, controls["pad"].value)

    return figure_widget(list(controls.values()), draw)
