"""A two-layer fully connected network in NumPy: affine - ReLU - affine - softmax.

    x (N, D) --W1, b1--> ReLU hidden (N, H) --W2, b2--> scores (N, C) --> softmax loss

Loss = mean cross-entropy over the batch + reg * (sum(W1²) + sum(W2²)). The penalty has no
factor 1/2 (the same convention as course_utils.losses and course_utils.regularization), so its
gradient is 2 * reg * W; biases are not penalised.
"""

import math

import numpy as np
from tqdm.auto import tqdm

from course_utils import optim
from course_utils.graded import graded_in
from course_utils.layers import (
    affine_backward,
    affine_forward,
    affine_relu_backward,
    affine_relu_forward,
)
from course_utils.losses import softmax_loss

Array = np.ndarray
# Examples used to estimate the training accuracy after each epoch.
TRAIN_ACCURACY_SAMPLES = 5000


class TwoLayerNet:
    """Two-layer network with parameters in `self.params`: W1 (D, H), b1 (H,), W2 (H, C), b2 (C,).

    Args:
        input_dim: D, the number of input features (784 for flattened MNIST).
        hidden_dim: H, the number of hidden units.
        num_classes: C.
        std: standard deviation of the Gaussian initial weights; biases start at 0.
        seed: seed of the generator that draws the initial weights.
        dtype: dtype of the parameters (float64 for gradient checks, float32 to train faster).
    """

    def __init__(self, input_dim: int = 784, hidden_dim: int = 100, num_classes: int = 10,
                 std: float = 1e-3, seed: int = 0, dtype: type = np.float64):
        if min(input_dim, hidden_dim, num_classes) < 1 or not std >= 0:
            raise ValueError("input_dim, hidden_dim and num_classes must be >= 1 and std >= 0, got "
                             f"{input_dim}, {hidden_dim}, {num_classes} and {std}")
        rng = np.random.default_rng(seed)
        self.params = {
            "W1": (std * rng.standard_normal((input_dim, hidden_dim))).astype(dtype),
            "b1": np.zeros(hidden_dim, dtype=dtype),
            "W2": (std * rng.standard_normal((hidden_dim, num_classes))).astype(dtype),
            "b2": np.zeros(num_classes, dtype=dtype),
        }

    @graded_in("ch04_backprop")
    def loss(self, X: Array, y: Array | None = None,
             reg: float = 0.0) -> Array | tuple[float, dict[str, Array]]:
        """Class scores, or the loss and its gradients.

        Args:
            X: inputs, shape (N, D) (or (N, d_1, ..., d_k) with D = d_1 * ... * d_k).
            y: labels in [0, C), shape (N,); None to get the scores only.
            reg: L2 strength; the loss adds reg * (sum(W1²) + sum(W2²)).

        Returns:
            scores, shape (N, C), when y is None; otherwise
            loss: a float, and grads: {name: dL/dparam} with the shapes of self.params.
        """
        if not reg >= 0:
            raise ValueError(f"reg must be >= 0, got {reg}")
        W1, b1, W2, b2 = (self.params[name] for name in ("W1", "b1", "W2", "b2"))
        hidden, hidden_cache = affine_relu_forward(X, W1, b1)
        scores, scores_cache = affine_forward(hidden, W2, b2)
        if y is None:
            return scores
        data_loss, dscores = softmax_loss(scores, y)
        loss = data_loss + reg * float(np.sum(W1 * W1) + np.sum(W2 * W2))
        dhidden, dW2, db2 = affine_backward(dscores, scores_cache)
        _, dW1, db1 = affine_relu_backward(dhidden, hidden_cache)
        grads = {"W1": dW1 + 2 * reg * W1, "b1": db1, "W2": dW2 + 2 * reg * W2, "b2": db2}
        return loss, grads

    @graded_in("ch04_backprop")
    def predict(self, X: Array) -> Array:
        """The class of highest score for each example: int64, shape (N,)."""
        return self.loss(X).argmax(axis=1).astype(np.int64)

    def accuracy(self, X: Array, y: Array) -> float:
        """Fraction of the examples X (N, D) whose predicted class is the label y (N,)."""
        return float(np.mean(self.predict(X) == y))

    def train(self, X: Array, y: Array, X_val: Array | None = None, y_val: Array | None = None, *,
              num_epochs: int = 5, batch_size: int = 128, update: str = "sgd_momentum",
              optim_config: dict | None = None, learning_rate_decay: float = 1.0, reg: float = 0.0,
              seed: int = 0, progress: bool = True) -> dict[str, list[float]]:
        """Minibatch training: each epoch visits the examples once in a new random order.

        Args:
            X, y: training inputs (N, D) and labels (N,).
            X_val, y_val: validation set, or None.
            num_epochs: passes over the training set.
            batch_size: examples per step (the last batch of an epoch may be smaller).
            update: a rule of course_utils.optim: "sgd", "sgd_momentum", "adam", ...
            optim_config: hyperparameters of the rule, e.g. {"learning_rate": 0.1,
                "momentum": 0.9}; each parameter gets its own copy (and its own state).
            learning_rate_decay: the learning rate is multiplied by this after each epoch.
            reg: L2 strength, as in `loss`.
            seed: seed of the generator that shuffles the examples.
            progress: show a tqdm progress bar.

        Returns:
            history: "loss" (one per step), "train_accuracy" (after each epoch, on at most
            5000 training examples) and "val_accuracy" (after each epoch, when X_val is given).
        """
        if update not in optim.RULES:
            raise ValueError(f"unknown update rule {update!r}; choose one of {sorted(optim.RULES)}")
        if len(X) != len(y) or num_epochs < 1 or batch_size < 1:
            raise ValueError(f"need len(X) == len(y) (got {len(X)}, {len(y)}), num_epochs >= 1 and "
                             f"batch_size >= 1 (got {num_epochs}, {batch_size})")
        rule = optim.RULES[update]
        configs = {name: dict(optim_config or {}) for name in self.params}
        rng = np.random.default_rng(seed)
        check = rng.choice(len(X), size=min(len(X), TRAIN_ACCURACY_SAMPLES), replace=False)
        steps_per_epoch = math.ceil(len(X) / batch_size)
        history: dict[str, list[float]] = {"loss": [], "train_accuracy": [], "val_accuracy": []}
        with tqdm(total=num_epochs * steps_per_epoch, disable=not progress, unit="step") as bar:
            for _ in range(num_epochs):
                order = rng.permutation(len(X))
                for start in range(0, len(X), batch_size):
                    batch = order[start:start + batch_size]
                    loss, grads = self.loss(X[batch], y[batch], reg=reg)
                    for name, grad in grads.items():
                        self.params[name], configs[name] = rule(self.params[name], grad,
                                                                configs[name])
                    history["loss"].append(loss)
                    bar.update()
                for config in configs.values():
                    config["learning_rate"] *= learning_rate_decay
                history["train_accuracy"].append(self.accuracy(X[check], y[check]))
                if X_val is not None:
                    history["val_accuracy"].append(self.accuracy(X_val, y_val))
                bar.set_postfix(loss=f"{loss:.3f}",
                                train_acc=f"{history['train_accuracy'][-1]:.3f}")
        return history
