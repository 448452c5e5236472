import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from matplotlib.collections import PolyCollection  # noqa: E402
from matplotlib.container import ErrorbarContainer  # noqa: E402

from course_utils import plotting  # noqa: E402


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def shown(ax) -> np.ndarray:
    return ax.get_images()[0].get_array()


@pytest.mark.parametrize("shape, shown_shape", [
    ((5, 8, 9), (8, 9)),
    ((5, 8, 9, 3), (8, 9, 3)),
    ((5, 3, 8, 9), (8, 9, 3)),
    ((5, 1, 8, 9), (8, 9)),
    ((5, 8, 9, 1), (8, 9)),
])
def test_image_grid_accepts_every_layout(shape, shown_shape):
    images = np.random.default_rng(0).integers(0, 256, size=shape, dtype=np.uint8)
    fig = plotting.show_image_grid(images, ncols=3)
    assert len(fig.axes) == 5  # 2 rows of 3, the empty sixth cell removed
    assert shown(fig.axes[0]).shape == shown_shape


def test_image_grid_captions_and_title():
    images = np.zeros((4, 6, 6))
    fig = plotting.show_image_grid(images, labels=[0, 1, 2, 1], title="Samples",
                                   class_names=["cat", "dog", "frog"])
    assert [ax.get_title() for ax in fig.axes] == ["cat", "dog", "frog", "dog"]
    assert fig._suptitle.get_text() == "Samples"


def test_image_grid_marks_wrong_predictions_in_red():
    fig = plotting.show_image_grid(torch.rand(3, 1, 5, 5), labels=torch.tensor([1, 2, 3]),
                                   predictions=np.array([1, 0, 3]))
    titles = [ax.title for ax in fig.axes]
    assert [title.get_text() for title in titles] == ["1 (1)", "0 (2)", "3 (3)"]
    assert [title.get_color() for title in titles] == ["green", "red", "green"]


def test_image_grid_rescales_floats_image_by_image():
    images = np.stack([np.linspace(-5, 5, 16).reshape(4, 4), np.full((4, 4), 3.0)])
    shown_images = plotting.as_displayable(images)
    assert shown_images.min() == 0 and shown_images[0].max() == 1
    np.testing.assert_array_equal(shown_images[1], 0)  # constant image: no division by zero
    in_range = np.random.default_rng(0).uniform(0.2, 0.8, size=(2, 4, 4))
    np.testing.assert_array_equal(plotting.as_displayable(in_range), in_range)  # left as it is


@pytest.mark.parametrize("shape", [(8, 9), (2, 5, 8, 9), (1, 2, 3, 4, 5)])
def test_image_grid_rejects_unknown_layouts(shape):
    with pytest.raises(ValueError, match="pass"):
        plotting.show_image_grid(np.zeros(shape))


def test_image_grid_rejects_the_wrong_number_of_labels():
    with pytest.raises(ValueError, match="2 labels for 3 images"):
        plotting.show_image_grid(np.zeros((3, 4, 4)), labels=[1, 2])


def test_plot_curves():
    fig = plotting.plot_curves({"train": [1.0, 0.5, 0.3], "val": [1.1, 0.7, 0.6]},
                               xlabel="epoch", ylabel="loss", title="Loss", logy=True)
    (ax,) = fig.axes
    assert ax.get_title() == "Loss" and ax.get_xlabel() == "epoch" and ax.get_ylabel() == "loss"
    assert ax.get_yscale() == "log"
    assert [line.get_label() for line in ax.get_lines()] == ["train", "val"]
    np.testing.assert_array_equal(ax.get_lines()[0].get_xdata(), [1, 2, 3])
    assert [text.get_text() for text in ax.get_legend().get_texts()] == ["train", "val"]
    with pytest.raises(ValueError, match="no curves"):
        plotting.plot_curves({})


@pytest.mark.parametrize("errorbars", [False, True])
def test_plot_mean_std(errorbars):
    k = [1, 3, 5, 10]
    fig = plotting.plot_mean_std(k, [0.2, 0.3, 0.28, 0.25], [0.01, 0.02, 0.02, 0.03], xlabel="k",
                                 ylabel="accuracy", title="Cross-validation", label="kNN",
                                 errorbars=errorbars, logx=True)
    (ax,) = fig.axes
    assert ax.get_title() == "Cross-validation" and ax.get_xscale() == "log"
    np.testing.assert_array_equal(ax.get_lines()[0].get_xdata(), k)
    if errorbars:
        (container,) = ax.containers
        assert isinstance(container, ErrorbarContainer) and container.has_yerr
    else:
        (band,) = ax.collections
        assert isinstance(band, PolyCollection) and not ax.containers
        np.testing.assert_allclose(band.get_paths()[0].vertices[:, 1].max(), 0.32)  # 0.3 + 0.02
    assert "kNN" in [text.get_text() for text in ax.get_legend().get_texts()]


def test_plot_mean_std_rejects_mismatched_lengths():
    with pytest.raises(ValueError, match="same length"):
        plotting.plot_mean_std([1, 2, 3], [0.1, 0.2], [0.01, 0.02, 0.03])
