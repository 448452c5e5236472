"""k-nearest neighbours: distances between flattened images, then a majority vote.

Every distance function takes test rows and training rows and returns the matrix of p-norm
distances between them, shape (num_test, num_train), float64:

    dists[i, j] = ||x_test[i] - x_train[j]||_p = (sum_d |x_test[i, d] - x_train[j, d]|**p)**(1/p)

for p = 1 (Manhattan), p = 2 (Euclidean), any other p >= 1, and p = inf (the largest absolute
difference). The three versions differ only in how much work NumPy does per Python step.
"""

import numpy as np

from course_utils.graded import graded_in

# Largest number of float64 elements the broadcast difference in compute_distances_no_loops may
# hold at once (64 MiB) when p != 2.
BLOCK_ELEMENTS = 2**23


def check_distance_inputs(x_test, x_train, p: float) -> tuple[np.ndarray, np.ndarray]:
    """Both inputs as float64 arrays of rows, after checking shapes and p.

    Converting first matters: uint8 pixels wrap around when subtracted (3 - 5 == 254).

    Args:
        x_test: shape (num_test, D).
        x_train: shape (num_train, D).
        p: the order of the norm, a number >= 1 or np.inf.

    Returns:
        x_test, x_train as float64 arrays.
    """
    x_test, x_train = np.asarray(x_test, dtype=np.float64), np.asarray(x_train, dtype=np.float64)
    if x_test.ndim != 2 or x_train.ndim != 2:
        raise ValueError(f"x_test {x_test.shape} and x_train {x_train.shape} must be 2-D (rows of "
                         "features): flatten images with x.reshape(len(x), -1)")
    if x_test.shape[1] != x_train.shape[1]:
        raise ValueError(f"x_test has {x_test.shape[1]} features per row but x_train has "
                         f"{x_train.shape[1]}: pass rows of the same length")
    if not p >= 1:  # also rejects nan
        raise ValueError(f"p={p} is not a norm: pass p >= 1 or p=np.inf")
    return x_test, x_train


@graded_in("ch02_image_classification")  # students write the norm inside their distances
def minkowski_norm(diff: np.ndarray, p: float, axis: int = -1) -> np.ndarray:
    """The p-norm of `diff` along `axis`: (sum |diff|**p)**(1/p), or max |diff| for p = inf.

    For p other than 1, 2 and inf the values are divided by their largest absolute value first,
    so that |diff|**p cannot overflow.

    Args:
        diff: differences, any shape.
        p: order of the norm, >= 1 or np.inf.
        axis: the axis to reduce.

    Returns:
        diff's shape without `axis`.
    """
    if p == 2:
        return np.sqrt(np.sum(diff * diff, axis=axis))
    magnitude = np.abs(diff)
    if p == 1:
        return magnitude.sum(axis=axis)
    if p == np.inf:
        return magnitude.max(axis=axis, initial=0.0)
    scale = magnitude.max(axis=axis, keepdims=True, initial=0.0)
    safe_scale = np.where(scale > 0, scale, 1.0)
    total = ((magnitude / safe_scale) ** p).sum(axis=axis)
    return np.squeeze(scale, axis=axis) * total ** (1.0 / p)


@graded_in("ch02_image_classification")
def compute_distances_two_loops(x_test, x_train, p: float = 2) -> np.ndarray:
    """p-norm distances with a Python loop over test rows and one over training rows.

    Args:
        x_test: test points, shape (num_test, D).
        x_train: training points, shape (num_train, D).
        p: order of the norm, >= 1 or np.inf.

    Returns:
        dists: shape (num_test, num_train), float64; dists[i, j] = ||x_test[i] - x_train[j]||_p.
    """
    x_test, x_train = check_distance_inputs(x_test, x_train, p)
    dists = np.zeros((len(x_test), len(x_train)))
    for i in range(len(x_test)):
        for j in range(len(x_train)):
            dists[i, j] = minkowski_norm(x_test[i] - x_train[j], p)
    return dists


@graded_in("ch02_image_classification")
def compute_distances_one_loop(x_test, x_train, p: float = 2) -> np.ndarray:
    """p-norm distances with one Python loop over test rows; each row against all training rows.

    Args and Returns as compute_distances_two_loops.
    """
    x_test, x_train = check_distance_inputs(x_test, x_train, p)
    dists = np.zeros((len(x_test), len(x_train)))
    for i in range(len(x_test)):
        dists[i] = minkowski_norm(x_test[i] - x_train, p, axis=1)  # (num_train, D) by broadcasting
    return dists


@graded_in("ch02_image_classification")
def compute_distances_no_loops(x_test, x_train, p: float = 2) -> np.ndarray:
    """p-norm distances without a Python loop over points.

    p = 2 uses ||a - b||^2 = ||a||^2 + ||b||^2 - 2 a.b, one matrix product; rounding can make
    the right side slightly negative for nearly equal rows, so it is clipped at 0 before the
    square root. Other p have no such identity: they broadcast the differences, shape
    (rows, num_train, D), over blocks of test rows that keep that array under BLOCK_ELEMENTS.

    Args and Returns as compute_distances_two_loops.
    """
    x_test, x_train = check_distance_inputs(x_test, x_train, p)
    if p == 2:
        test_sq = np.sum(x_test**2, axis=1, keepdims=True)  # (num_test, 1)
        train_sq = np.sum(x_train**2, axis=1)  # (num_train,)
        squared = test_sq + train_sq - 2.0 * x_test @ x_train.T
        return np.sqrt(np.maximum(squared, 0.0))
    rows = max(1, BLOCK_ELEMENTS // max(1, x_train.size))
    blocks = [minkowski_norm(x_test[start:start + rows, None, :] - x_train[None, :, :], p, axis=2)
              for start in range(0, len(x_test), rows)]
    return np.concatenate(blocks) if blocks else np.zeros((0, len(x_train)))


@graded_in("ch02_image_classification")
def predict_labels(dists: np.ndarray, y_train: np.ndarray, k: int = 1) -> np.ndarray:
    """Majority vote among the k nearest training points of each test point.

    Tie rules: neighbours at equal distance count in training order (a stable sort), and when
    several labels get the most votes the smallest of them wins, as np.argmax(np.bincount(votes))
    does.

    Args:
        dists: distances, shape (num_test, num_train).
        y_train: labels of the training points, non-negative integers, shape (num_train,).
        k: number of neighbours that vote, 1 <= k <= num_train.

    Returns:
        y_pred: predicted labels, int64, shape (num_test,).
    """
    dists, y_train = np.asarray(dists), np.asarray(y_train)
    if dists.ndim != 2 or y_train.shape != (dists.shape[1],):
        raise ValueError(f"dists {dists.shape} must be (num_test, num_train) and y_train "
                         f"{y_train.shape} must be (num_train,) with the same num_train")
    if not np.issubdtype(y_train.dtype, np.integer) or (y_train.size and y_train.min() < 0):
        raise ValueError("y_train must hold non-negative integer labels (0, 1, 2, ...)")
    if not 1 <= k <= len(y_train):
        raise ValueError(f"k={k}: pass 1 <= k <= {len(y_train)} (the number of training points)")
    nearest = np.argsort(dists, axis=1, kind="stable")[:, :k]
    votes = y_train[nearest]  # (num_test, k)
    counts = np.zeros((len(dists), int(y_train.max()) + 1), dtype=np.int64)
    np.add.at(counts, (np.arange(len(dists))[:, None], votes), 1)
    return counts.argmax(axis=1).astype(np.int64)  # argmax: the first (smallest) label of the ties
