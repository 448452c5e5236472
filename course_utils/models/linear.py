"""Linear classifiers: the score function f(x; W, b) = W x + b and templates fit in closed form.

Shapes follow the CS231n notes: W has one row per class, shape (C, D), b has shape (C,), and a
batch of rows x, shape (N, D), gets the scores x @ W.T + b, shape (N, C).
"""

import numpy as np

from course_utils.array_basics import one_hot  # re-exported: targets for the templates


def _check_rows(x, name: str = "x") -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"{name} has shape {x.shape}: pass rows of features, shape (N, D); "
                         "flatten images with x.reshape(len(x), -1)")
    return x


def append_bias_column(x) -> np.ndarray:
    """The bias trick: a column of ones after the features, so that W x + b = [W b] [x; 1].

    Args:
        x: shape (N, D).

    Returns:
        float64, shape (N, D + 1), last column all ones.
    """
    x = _check_rows(x)
    return np.hstack([x, np.ones((len(x), 1))])


def merge_bias(W: np.ndarray, b: np.ndarray) -> np.ndarray:
    """[W b]: the weights of the bias trick, shape (C, D + 1), from W (C, D) and b (C,)."""
    W, b = np.asarray(W, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if W.ndim != 2 or b.shape != (W.shape[0],):
        raise ValueError(f"W {W.shape} must be (C, D) and b {b.shape} must be (C,)")
    return np.hstack([W, b[:, None]])


def linear_scores(x, W: np.ndarray, b: np.ndarray | None = None) -> np.ndarray:
    """Class scores f(x; W, b) = W x + b for each row of x.

    Args:
        x: shape (N, D), or (N, D + 1) with the bias column when b is None (the bias trick).
        W: one row per class, shape (C, D), or (C, D + 1) with the bias trick.
        b: biases, shape (C,), or None.

    Returns:
        scores: float64, shape (N, C).
    """
    x, W = _check_rows(x), _check_rows(W, "W")
    if x.shape[1] != W.shape[1]:
        raise ValueError(f"x has {x.shape[1]} features but W {W.shape} expects {W.shape[1]}: "
                         "with the bias trick, append the bias column to x and merge b into W")
    scores = x @ W.T
    if b is not None:
        b = np.asarray(b, dtype=np.float64)
        if b.shape != (W.shape[0],):
            raise ValueError(f"b has shape {b.shape}, expected ({W.shape[0]},): one bias per class")
        scores = scores + b
    return scores


def predict(x, W: np.ndarray, b: np.ndarray | None = None) -> np.ndarray:
    """The class of highest score for each row of x (the first one on ties), int64, shape (N,)."""
    return linear_scores(x, W, b).argmax(axis=1).astype(np.int64)


def least_squares_templates(x, y, reg: float = 0.0,
                            num_classes: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Linear classifier weights in closed form: ridge regression of one-hot targets.

    Minimises sum_i ||W x_i + b - t_i||^2 + reg ||W||_F^2 over W and b, where t_i is the one-hot
    vector of y_i; the bias is not regularised. With centred data xc = x - mean(x) and targets
    tc = t - mean(t), the solution is W^T = (xc^T xc + reg I)^-1 xc^T tc and
    b = mean(t) - W mean(x), the same as scikit-learn's Ridge(alpha=reg). For reg = 0 the
    system is often singular (MNIST's border pixels are always 0): np.linalg.lstsq then gives
    the W of smallest norm.

    Args:
        x: training rows, shape (N, D).
        y: integer labels 0..C-1, shape (N,).
        reg: regularisation strength, >= 0.
        num_classes: C; by default max(y) + 1.

    Returns:
        W: templates, one row per class, shape (C, D).
        b: biases, shape (C,).
    """
    x = _check_rows(x)
    if len(x) != len(y):
        raise ValueError(f"x has {len(x)} rows but y has {len(y)} labels")
    if not reg >= 0:
        raise ValueError(f"reg={reg}: pass a regularisation strength >= 0")
    targets = one_hot(y, int(np.max(y)) + 1 if num_classes is None else num_classes)
    x_mean, t_mean = x.mean(axis=0), targets.mean(axis=0)
    xc, tc = x - x_mean, targets - t_mean
    if reg > 0:
        weights_t = np.linalg.solve(xc.T @ xc + reg * np.eye(x.shape[1]), xc.T @ tc)  # (D, C)
    else:
        weights_t = np.linalg.lstsq(xc, tc, rcond=None)[0]
    W = weights_t.T
    return W, t_mean - W @ x_mean
