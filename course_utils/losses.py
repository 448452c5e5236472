"""Multiclass SVM (hinge) and softmax (cross-entropy) losses with their gradients.

Two forms of each:

- the linear-classifier form `*_loss_naive(W, X, y, reg)` / `*_loss_vectorized(W, X, y, reg)`:
  scores S = X W, data loss averaged over the N examples plus `reg * sum(W * W)`, returns
  (loss, dW);
- the layer form `svm_loss(x, y)` / `softmax_loss(x, y)` on scores x of shape (N, C): the data
  loss averaged over N, returns (loss, dx), the gradient to pass back through a network.

Multiclass SVM (Weston-Watkins), margin Δ = 1, for one example with scores s and label y:

    L = sum_{j != y} max(0, s_j - s_y + 1)

Softmax / cross-entropy: L = -log(exp(s_y) / sum_j exp(s_j)), computed from shifted scores
s - max(s) (same value, no overflow in exp).
"""

import numpy as np

from course_utils.graded import graded_in

Array = np.ndarray


def _check_labels(y: Array, num_examples: int, num_classes: int) -> None:
    if y.ndim != 1 or y.shape[0] != num_examples:
        raise ValueError(f"y must have shape ({num_examples},) (one label per example), "
                         f"got {y.shape}")
    if not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"y must hold integer class labels, got dtype {y.dtype}; "
                         "use y.astype(np.int64)")
    if y.size and (y.min() < 0 or y.max() >= num_classes):
        raise ValueError(f"labels must lie in [0, {num_classes}), "
                         f"got values in [{y.min()}, {y.max()}]")


def _check_linear(W: Array, X: Array, y: Array) -> None:
    if W.ndim != 2 or X.ndim != 2 or X.shape[1] != W.shape[0]:
        raise ValueError(f"need W of shape (D, C) and X of shape (N, D), "
                         f"got W {W.shape} and X {X.shape}")
    _check_labels(y, X.shape[0], W.shape[1])


def _check_scores(x: Array, y: Array) -> None:
    if x.ndim != 2:
        raise ValueError(f"scores x must have shape (N, C), got {x.shape}")
    _check_labels(y, x.shape[0], x.shape[1])


@graded_in("ch03_loss_optimization")
def svm_loss_naive(W: Array, X: Array, y: Array, reg: float) -> tuple[float, Array]:
    """Multiclass SVM loss and gradient of a linear classifier, with explicit loops.

    Args:
        W: weights, shape (D, C).
        X: examples, one per row, shape (N, D).
        y: labels in [0, C), shape (N,).
        reg: L2 regularization strength λ (the loss adds λ * sum(W²)).

    Returns:
        loss: mean hinge loss over the N examples plus the penalty.
        dW: gradient of the loss with respect to W, shape (D, C).
    """
    _check_linear(W, X, y)
    num_train, num_classes = X.shape[0], W.shape[1]
    loss = 0.0
    dW = np.zeros_like(W)
    for i in range(num_train):
        scores = X[i] @ W
        correct = scores[y[i]]
        for j in range(num_classes):
            if j == y[i]:
                continue
            margin = scores[j] - correct + 1
            if margin > 0:
                loss += margin
                dW[:, j] += X[i]
                dW[:, y[i]] -= X[i]
    loss = loss / num_train + reg * np.sum(W * W)
    dW = dW / num_train + 2 * reg * W
    return float(loss), dW


@graded_in("ch03_loss_optimization")
def svm_loss_vectorized(W: Array, X: Array, y: Array, reg: float) -> tuple[float, Array]:
    """Multiclass SVM loss and gradient of a linear classifier, without loops.

    Same arguments and results as `svm_loss_naive`.
    """
    _check_linear(W, X, y)
    num_train = X.shape[0]
    rows = np.arange(num_train)
    scores = X @ W
    margins = np.maximum(0, scores - scores[rows, y][:, None] + 1)
    margins[rows, y] = 0
    loss = margins.sum() / num_train + reg * np.sum(W * W)
    # Each positive margin adds x_i to column j and subtracts it from column y_i.
    coefficients = (margins > 0).astype(X.dtype)
    coefficients[rows, y] = -coefficients.sum(axis=1)
    dW = X.T @ coefficients / num_train + 2 * reg * W
    return float(loss), dW


@graded_in("ch03_loss_optimization")
def softmax_loss_naive(W: Array, X: Array, y: Array, reg: float) -> tuple[float, Array]:
    """Softmax (cross-entropy) loss and gradient of a linear classifier, with explicit loops.

    Args:
        W: weights, shape (D, C).
        X: examples, one per row, shape (N, D).
        y: labels in [0, C), shape (N,).
        reg: L2 regularization strength λ (the loss adds λ * sum(W²)).

    Returns:
        loss: mean cross-entropy over the N examples plus the penalty.
        dW: gradient of the loss with respect to W, shape (D, C).
    """
    _check_linear(W, X, y)
    num_train, num_classes = X.shape[0], W.shape[1]
    loss = 0.0
    dW = np.zeros_like(W)
    for i in range(num_train):
        scores = X[i] @ W
        scores = scores - np.max(scores)  # shift for numerical stability
        log_sum = np.log(np.sum(np.exp(scores)))
        loss += log_sum - scores[y[i]]
        for j in range(num_classes):
            probability = np.exp(scores[j] - log_sum)
            dW[:, j] += (probability - (j == y[i])) * X[i]
    loss = loss / num_train + reg * np.sum(W * W)
    dW = dW / num_train + 2 * reg * W
    return float(loss), dW


@graded_in("ch03_loss_optimization")
def softmax_loss_vectorized(W: Array, X: Array, y: Array, reg: float) -> tuple[float, Array]:
    """Softmax (cross-entropy) loss and gradient of a linear classifier, without loops.

    Same arguments and results as `softmax_loss_naive`.
    """
    _check_linear(W, X, y)
    num_train = X.shape[0]
    rows = np.arange(num_train)
    scores = X @ W
    shifted = scores - scores.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    loss = -log_probs[rows, y].mean() + reg * np.sum(W * W)
    dscores = np.exp(log_probs)
    dscores[rows, y] -= 1
    dW = X.T @ dscores / num_train + 2 * reg * W
    return float(loss), dW


@graded_in("ch03_loss_optimization")
def svm_loss(x: Array, y: Array) -> tuple[float, Array]:
    """Multiclass SVM loss on class scores, averaged over the batch (layer API).

    PyTorch's F.multi_margin_loss(x, y) also divides each example's sum by C: it equals
    svm_loss(x, y)[0] / C.

    Args:
        x: scores, shape (N, C); x[i, j] is the score of class j for example i.
        y: labels in [0, C), shape (N,).

    Returns:
        loss: mean over i of sum_{j != y_i} max(0, x[i, j] - x[i, y_i] + 1).
        dx: gradient of the loss with respect to x, shape (N, C).
    """
    _check_scores(x, y)
    num_train = x.shape[0]
    rows = np.arange(num_train)
    margins = np.maximum(0, x - x[rows, y][:, None] + 1)
    margins[rows, y] = 0
    loss = margins.sum() / num_train
    dx = (margins > 0).astype(x.dtype)
    dx[rows, y] = -dx.sum(axis=1)
    return float(loss), dx / num_train


@graded_in("ch03_loss_optimization")
def softmax_loss(x: Array, y: Array) -> tuple[float, Array]:
    """Softmax (cross-entropy) loss on class scores, averaged over the batch (layer API).

    Equals PyTorch's F.cross_entropy(x, y) (which takes the same raw scores, "logits").

    Args:
        x: scores, shape (N, C).
        y: labels in [0, C), shape (N,).

    Returns:
        loss: mean over i of -log softmax(x[i])[y_i].
        dx: gradient of the loss with respect to x, shape (N, C): (softmax(x) - onehot(y)) / N.
    """
    _check_scores(x, y)
    num_train = x.shape[0]
    rows = np.arange(num_train)
    shifted = x - x.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    loss = -log_probs[rows, y].mean()
    dx = np.exp(log_probs)
    dx[rows, y] -= 1
    return float(loss), dx / num_train
