"""NumPy warm-ups that later chapters rely on: broadcasting, distances, one-hot codes,
per-channel normalization and counting with bincount. All vectorized, no Python loops over data.
"""

import numpy as np

from course_utils.graded import graded_in

Array = np.ndarray


def _check_labels(labels: Array, num_classes: int, name: str = "labels") -> Array:
    labels = np.asarray(labels)
    if num_classes < 1:
        raise ValueError(f"num_classes must be >= 1, got {num_classes}")
    if not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"{name} must be integers, got dtype {labels.dtype}; "
                         f"use {name}.astype(np.int64)")
    if labels.size and not 0 <= labels.min() <= labels.max() < num_classes:
        bad = labels.min() if labels.min() < 0 else labels.max()
        raise ValueError(f"{name} must lie in [0, {num_classes - 1}], "
                         f"got {bad} (pass a larger num_classes?)")
    return labels


@graded_in("ch01_introduction")
def broadcast_add(x: Array, per_row: Array, per_column: Array) -> Array:
    """Add one value per row and one per column: out[i, j] = x[i, j] + per_row[i] + per_column[j].

    Args:
        x: shape (M, N).
        per_row: shape (M,).
        per_column: shape (N,).

    Returns:
        out: shape (M, N).
    """
    x, per_row, per_column = np.asarray(x), np.asarray(per_row), np.asarray(per_column)
    if x.ndim != 2 or per_row.shape != (x.shape[0],) or per_column.shape != (x.shape[1],):
        raise ValueError(f"need x (M, N), per_row (M,), per_column (N,); got x {x.shape}, "
                         f"per_row {per_row.shape}, per_column {per_column.shape}")
    return x + per_row[:, None] + per_column[None, :]


@graded_in("ch01_introduction")
def pairwise_squared_distances(a: Array, b: Array) -> Array:
    """Squared Euclidean distance between every row of `a` and every row of `b`, without loops.

    Uses ||a_i - b_j||² = ||a_i||² + ||b_j||² - 2 a_i·b_j; tiny negative values from rounding
    are clipped to 0.

    Args:
        a: shape (M, D).
        b: shape (N, D).

    Returns:
        dists: float64, shape (M, N), dists[i, j] = ||a_i - b_j||².
    """
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise ValueError(f"need a (M, D) and b (N, D) with the same D, got {a.shape} and {b.shape}")
    a_norms = np.sum(a**2, axis=1)
    b_norms = np.sum(b**2, axis=1)
    dists = a_norms[:, None] + b_norms[None, :] - 2 * a @ b.T
    return np.maximum(dists, 0)


@graded_in("ch01_introduction")
def one_hot(labels: Array, num_classes: int) -> Array:
    """One-hot codes: out[i, labels[i]] = 1, zeros elsewhere.

    Args:
        labels: integers in [0, num_classes), shape (N,).
        num_classes: C.

    Returns:
        codes: float64, shape (N, C).

    Raises:
        ValueError: a label is outside [0, num_classes), or labels are not integers.
    """
    labels = _check_labels(labels, num_classes)
    if labels.ndim != 1:
        raise ValueError(f"labels must have shape (N,), got {labels.shape}")
    codes = np.zeros((labels.shape[0], num_classes))
    codes[np.arange(labels.shape[0]), labels] = 1.0
    return codes


@graded_in("ch01_introduction")
def normalize_per_channel(x: Array, eps: float = 1e-5) -> Array:
    """Give each channel zero mean and unit variance over the batch and all pixels.

    out[n, c, h, w] = (x[n, c, h, w] - mean_c) / sqrt(var_c + eps), where mean_c and var_c
    (biased) are taken over the axes N, H and W.

    Args:
        x: images, shape (N, C, H, W).
        eps: added to the variance, so that a constant channel does not divide by 0.

    Returns:
        out: float64, shape (N, C, H, W).
    """
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 4:
        raise ValueError(f"x must have shape (N, C, H, W), got {x.shape}")
    mean = x.mean(axis=(0, 2, 3), keepdims=True)
    var = x.var(axis=(0, 2, 3), keepdims=True)
    return (x - mean) / np.sqrt(var + eps)


@graded_in("ch01_introduction")
def confusion_matrix(y_true: Array, y_pred: Array, num_classes: int) -> Array:
    """Count how often each true class is predicted as each class, with one np.bincount.

    Args:
        y_true: true labels in [0, C), shape (N,).
        y_pred: predicted labels in [0, C), shape (N,).
        num_classes: C.

    Returns:
        counts: int64, shape (C, C); counts[t, p] = number of examples of class t predicted as p.
        The diagonal holds the correct predictions; row t sums to the number of examples of class t.
    """
    y_true = _check_labels(y_true, num_classes, "y_true")
    y_pred = _check_labels(y_pred, num_classes, "y_pred")
    if y_true.ndim != 1 or y_true.shape != y_pred.shape:
        raise ValueError(f"y_true and y_pred must have the same shape (N,), "
                         f"got {y_true.shape} and {y_pred.shape}")
    flat = num_classes * y_true.astype(np.int64) + y_pred
    return np.bincount(flat, minlength=num_classes**2).reshape(num_classes, num_classes)


@graded_in("ch01_introduction")
def majority_vote(labels: Array, num_classes: int) -> Array:
    """The most frequent label in each row; ties go to the smallest label.

    This is the vote of a k-nearest-neighbour classifier: row i holds the labels of the k
    nearest training examples of test example i.

    Args:
        labels: integers in [0, C), shape (N, k).
        num_classes: C.

    Returns:
        winners: int64, shape (N,).
    """
    labels = _check_labels(labels, num_classes)
    if labels.ndim != 2:
        raise ValueError(f"labels must have shape (N, k), got {labels.shape}")
    n = labels.shape[0]
    # Shift row i's labels by i * C so that one bincount counts every row separately.
    shifted = labels.astype(np.int64) + num_classes * np.arange(n)[:, None]
    counts = np.bincount(shifted.ravel(), minlength=n * num_classes).reshape(n, num_classes)
    return counts.argmax(axis=1)  # argmax returns the first maximum: the smallest label
