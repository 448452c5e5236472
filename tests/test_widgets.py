"""Widget functions without a browser: decision regions of k-nearest neighbours, the k/p widget."""

import ipywidgets
import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")  # no window, before pyplot is imported

import matplotlib.pyplot as plt  # noqa: E402

from course_utils import widgets  # noqa: E402
from course_utils.models.knn import compute_distances_no_loops, predict_labels  # noqa: E402

OURS = {"distances": compute_distances_no_loops, "predict": predict_labels}


@pytest.fixture
def lattice():
    """Training points on the nodes of a 10 x 10 grid of integers, with random labels."""
    rng = np.random.default_rng(0)
    nodes = np.array([(column, row) for row in range(10) for column in range(10)], dtype=float)
    chosen = rng.choice(100, size=40, replace=False)
    return nodes[chosen], rng.integers(0, 3, 40), chosen


def test_regions_cover_the_data_with_a_grid():
    x, y = widgets.toy_dataset(num_samples=60, seed=1)
    xx, yy, labels = widgets.knn_decision_regions(x, y, k=3, grid_size=25, margin=0.5)
    assert xx.shape == yy.shape == labels.shape == (25, 25)
    assert labels.dtype == np.int64 and set(np.unique(labels)) <= set(np.unique(y))
    np.testing.assert_allclose([xx.min(), yy.min()], x.min(axis=0) - 0.5)
    np.testing.assert_allclose([xx.max(), yy.max()], x.max(axis=0) + 0.5)
    assert np.all(np.diff(xx, axis=1) > 0) and np.all(np.diff(yy, axis=0) > 0)


@pytest.mark.parametrize("p", [1, 2, np.inf])
@pytest.mark.parametrize("functions", [{}, OURS], ids=["sklearn", "course_utils"])
def test_k1_reproduces_training_labels_at_training_points(lattice, p, functions):
    x, y, chosen = lattice
    _, _, labels = widgets.knn_decision_regions(x, y, k=1, p=p, grid_size=10, margin=0.0,
                                                **functions)
    # Node (column, row) is labels[row, column]: the training points sit exactly on nodes.
    np.testing.assert_array_equal(labels.ravel()[chosen], y)


def test_k_equal_to_n_predicts_the_majority_everywhere(lattice):
    x, y, _ = lattice
    _, _, labels = widgets.knn_decision_regions(x, y, k=len(x), grid_size=12, **OURS)
    assert np.all(labels == np.bincount(y).argmax())


@pytest.mark.parametrize("p", [1, 2, np.inf])
def test_sklearn_default_agrees_with_course_functions(p):
    x, y = widgets.toy_dataset(num_samples=80)
    _, _, by_sklearn = widgets.knn_decision_regions(x, y, k=5, p=p, grid_size=40)
    _, _, by_course = widgets.knn_decision_regions(x, y, k=5, p=p, grid_size=40, **OURS)
    assert np.mean(by_sklearn == by_course) > 0.99  # they may differ only on exact ties


def test_bad_region_arguments_raise():
    x, y = np.zeros((5, 2)), np.zeros(5, dtype=int)
    with pytest.raises(ValueError, match=r"\(N, 2\)"):
        widgets.knn_decision_regions(np.zeros((5, 3)), y, k=1)
    with pytest.raises(ValueError, match="k="):
        widgets.knn_decision_regions(x, y, k=6)
    with pytest.raises(ValueError, match="both"):
        widgets.knn_decision_regions(x, y, k=1, distances=compute_distances_no_loops)


def test_plot_draws_regions_and_points():
    x, y = widgets.toy_dataset(num_samples=30)
    figure = widgets.plot_knn_decision_regions(x, y, k=3, p=np.inf, grid_size=20)
    (ax,) = figure.axes
    assert ax.get_title() == "k = 3, p = ∞"
    assert len(ax.collections) == 2  # the region mesh and the scatter of training points
    plt.close(figure)


def test_widget_has_k_and_p_controls_that_redraw(monkeypatch):
    calls = []
    original = widgets.plot_knn_decision_regions

    def spy(x_train, y_train, k, p, grid_size, **functions):
        calls.append((k, p))
        return original(x_train, y_train, k, p, grid_size, **functions)

    monkeypatch.setattr(widgets, "plot_knn_decision_regions", spy)
    widget = widgets.knn_decision_region_widget(grid_size=10)
    assert isinstance(widget, ipywidgets.Widget)
    k_slider, p_picker = widget.children[0].children
    assert isinstance(k_slider, ipywidgets.IntSlider) and k_slider.min == 1
    assert [value for _, value in p_picker.options] == [1, 2, np.inf]
    k_slider.value = 7
    p_picker.value = np.inf
    assert calls == [(1, 2), (7, 2), (7, np.inf)]


def test_figure_widget_draws_once_and_again_on_every_change():
    slider = ipywidgets.IntSlider(value=1, min=0, max=5)
    drawn = []

    def draw():
        drawn.append(slider.value)
        return plt.figure()

    widget = widgets.figure_widget([slider], draw)
    slider.value = 3
    assert drawn == [1, 3]
    controls, output = widget.children
    assert list(controls.children) == [slider] and isinstance(output, ipywidgets.Output)
