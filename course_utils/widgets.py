"""Interactive demos. Each widget is built on a plain function that tests call without a browser.

- figure_widget: controls above a figure that is drawn again whenever one of them changes (the
  mechanism of every plotting widget of the course).
- knn_decision_regions: the label k-nearest neighbours gives each point of a grid over a 2-D set;
  plot_knn_decision_regions draws it; knn_decision_region_widget adds sliders for k and p.
"""

from collections.abc import Callable, Sequence

import ipywidgets
import matplotlib.pyplot as plt
import numpy as np
from IPython.display import display
from matplotlib.axes import Axes
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure

# distances(x_test, x_train, p) -> (num_test, num_train) and predict(dists, y_train, k) -> labels,
# as in course_utils.models.knn.
DistanceFunction = Callable[..., np.ndarray]
PredictFunction = Callable[[np.ndarray, np.ndarray, int], np.ndarray]

P_CHOICES = (1, 2, np.inf)
CLASS_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
                 "#7f7f7f", "#bcbd22", "#17becf")


def figure_widget(controls: Sequence[ipywidgets.ValueWidget], draw: Callable[[], Figure]
                  ) -> ipywidgets.VBox:
    """A row of `controls` above the figure that draw() returns (reading the controls' values),
    drawn now and again whenever a control's value changes."""
    output = ipywidgets.Output()

    def redraw(_change: object = None) -> None:
        with output:   # what draw() prints or raises shows in the widget
            output.clear_output(wait=True)
            figure = draw()
            display(figure)
            plt.close(figure)

    for control in controls:
        control.observe(redraw, names="value")
    redraw()
    return ipywidgets.VBox([ipywidgets.HBox(list(controls)), output])


def toy_dataset(num_samples: int = 150, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Three overlapping Gaussian blobs in 2-D, a set where the choice of k shows.

    Returns:
        x: float64, shape (num_samples, 2); y: int64 labels 0-2, shape (num_samples,).
    """
    from sklearn.datasets import make_blobs  # imported here: scikit-learn takes a second

    x, y = make_blobs(n_samples=num_samples, centers=3, cluster_std=1.6, random_state=seed)
    return x.astype(np.float64), y.astype(np.int64)


def _library_knn(x_query: np.ndarray, x_train: np.ndarray, y_train: np.ndarray, k: int,
                 p: float) -> np.ndarray:
    """k-nearest-neighbour labels from scikit-learn (the default when no functions are passed)."""
    from sklearn.neighbors import KNeighborsClassifier

    metric = {"metric": "chebyshev"} if p == np.inf else {"metric": "minkowski", "p": p}
    model = KNeighborsClassifier(n_neighbors=k, algorithm="brute", **metric)
    return model.fit(x_train, y_train).predict(x_query).astype(np.int64)


def knn_decision_regions(x_train, y_train, k: int, p: float = 2, grid_size: int = 100,
                         margin: float = 0.5, distances: DistanceFunction | None = None,
                         predict: PredictFunction | None = None
                         ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The label k-nearest neighbours predicts at each point of a grid covering a 2-D set.

    Args:
        x_train: training points, shape (N, 2).
        y_train: their integer labels, shape (N,).
        k: number of neighbours that vote, 1 <= k <= N.
        p: order of the distance norm: 1, 2, any p >= 1 or np.inf.
        grid_size: grid points along each axis.
        margin: how far the grid reaches beyond the data, in the data's units.
        distances, predict: your own functions, e.g. compute_distances_no_loops and
            predict_labels; both or neither. By default scikit-learn's KNeighborsClassifier.

    Returns:
        xx, yy: grid coordinates, shape (grid_size, grid_size) each (np.meshgrid, "xy" indexing).
        labels: predicted label at each grid point, int64, shape (grid_size, grid_size).
    """
    x_train, y_train = np.asarray(x_train, dtype=np.float64), np.asarray(y_train)
    if x_train.ndim != 2 or x_train.shape[1] != 2 or y_train.shape != (len(x_train),):
        raise ValueError(f"x_train {x_train.shape} must be (N, 2) and y_train {y_train.shape} (N,)")
    if not 1 <= k <= len(x_train):
        raise ValueError(f"k={k}: pass 1 <= k <= {len(x_train)} (the number of training points)")
    if grid_size < 2:
        raise ValueError(f"grid_size={grid_size}: pass at least 2 points per axis")
    if (distances is None) != (predict is None):
        raise ValueError("pass both distances and predict, or neither")
    low, high = x_train.min(axis=0) - margin, x_train.max(axis=0) + margin
    xx, yy = np.meshgrid(np.linspace(low[0], high[0], grid_size),
                         np.linspace(low[1], high[1], grid_size))
    grid = np.column_stack([xx.ravel(), yy.ravel()])
    if distances is None:
        labels = _library_knn(grid, x_train, y_train, k, p)
    else:
        labels = np.asarray(predict(distances(grid, x_train, p=p), y_train, k))
    return xx, yy, labels.reshape(xx.shape).astype(np.int64)


def _p_name(p: float) -> str:
    return "∞" if p == np.inf else f"{p:g}"


def plot_knn_decision_regions(x_train, y_train, k: int, p: float = 2, grid_size: int = 100,
                              ax: Axes | None = None, **knn_functions) -> Figure:
    """Coloured decision regions of k-nearest neighbours with the training points on top.

    Args:
        x_train, y_train, k, p, grid_size: as knn_decision_regions; knn_functions may pass its
            `distances` and `predict`.
        ax: the Axes to draw on; a new figure when None.

    Returns:
        The figure drawn on.
    """
    xx, yy, labels = knn_decision_regions(x_train, y_train, k, p, grid_size, **knn_functions)
    if ax is None:
        _, ax = plt.subplots(figsize=(4.5, 4))
    num_classes = int(max(labels.max(), np.max(y_train))) + 1
    colours = ListedColormap(CLASS_COLOURS[:num_classes])
    ax.pcolormesh(xx, yy, labels, cmap=colours, vmin=-0.5, vmax=num_classes - 0.5, alpha=0.35,
                  shading="auto")
    ax.scatter(*np.asarray(x_train).T, c=y_train, cmap=colours, vmin=-0.5,
               vmax=num_classes - 0.5, edgecolors="k", linewidths=0.5, s=18)
    ax.set(title=f"k = {k}, p = {_p_name(p)}", xticks=[], yticks=[])
    return ax.figure


def knn_decision_region_widget(x_train=None, y_train=None, k_max: int = 30,
                               p_choices: Sequence[float] = P_CHOICES, grid_size: int = 80,
                               **knn_functions) -> ipywidgets.Widget:
    """Sliders for k and p that redraw the k-nearest-neighbour decision regions of a 2-D set.

    Args:
        x_train, y_train: a 2-D training set; by default toy_dataset().
        k_max: largest k on the slider.
        p_choices: norms to choose from (1, 2 and inf by default).
        grid_size: grid points along each axis.
        knn_functions: optional `distances` and `predict`, as in knn_decision_regions.

    Returns:
        A VBox with the two controls above the plot; show it by making it a cell's last value.
    """
    if x_train is None:
        x_train, y_train = toy_dataset()
    k_slider = ipywidgets.IntSlider(value=1, min=1, max=min(k_max, len(x_train)), description="k")
    p_picker = ipywidgets.ToggleButtons(options=[(_p_name(p), p) for p in p_choices],
                                        value=p_choices[min(1, len(p_choices) - 1)],
                                        description="p")
    return figure_widget([k_slider, p_picker], lambda: plot_knn_decision_regions(
        x_train, y_train, k_slider.value, p_picker.value, grid_size, **knn_functions))
