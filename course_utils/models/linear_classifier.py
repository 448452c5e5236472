"""Linear classifiers (multiclass SVM or softmax) trained by minibatch SGD, and random search.

Scores are S = X W with W of shape (D, C), as in the CS231n linear-classifier code (chapter 2's
course_utils.models.linear writes W as (C, D)). Put the bias in W with
`linear.append_bias_column(X)` (the "bias trick": a constant feature 1, its weights the biases).

    X_train = linear.append_bias_column(x_train)
    W, history = train_linear_classifier(X_train, y_train, loss="softmax", learning_rate=0.1,
                                         reg=1e-4, epochs=5, seed=0)
    accuracy(W, linear.append_bias_column(x_val), y_val)
"""

from collections.abc import Callable, Sequence

import numpy as np
from tqdm.auto import tqdm

from course_utils import optim
from course_utils.losses import softmax_loss_vectorized, svm_loss_vectorized

Array = np.ndarray
LossFunction = Callable[[Array, Array, Array, float], tuple[float, Array]]
UpdateRule = Callable[[Array, Array, dict | None], tuple[Array, dict]]
LOSSES = {"svm": svm_loss_vectorized, "softmax": softmax_loss_vectorized}


def _name(function: str | Callable) -> str:
    return getattr(function, "__name__", str(function))


def train_linear_classifier(X: Array, y: Array, loss: str | LossFunction = "softmax",
                            learning_rate: float = 1e-3, reg: float = 1e-5, epochs: int = 5,
                            batch_size: int = 200, update_rule: str | UpdateRule = "sgd",
                            num_classes: int | None = None, W: Array | None = None, seed: int = 0,
                            progress: bool = False) -> tuple[Array, list[float]]:
    """Minibatch SGD (or another update rule) on the SVM or softmax loss of a linear classifier.

    Every epoch visits the examples once in a new random order, in batches of `batch_size`.

    Args:
        X: training examples, shape (N, D) (append the bias column yourself).
        y: labels in [0, C), shape (N,).
        loss: "svm", "softmax", or a function loss(W, X, y, reg) -> (loss, dW) such as your own
            softmax_loss_vectorized.
        learning_rate: step size of the update rule.
        reg: L2 regularization strength (the loss adds reg * sum(W²)).
        epochs: passes over the data, >= 1.
        batch_size: examples per step, >= 1.
        update_rule: a name in course_utils.optim.RULES, or a function
            rule(w, dw, config) -> (next_w, config).
        num_classes: C; None for y.max() + 1.
        W: starting weights, shape (D, C); None for 0.001 * standard normal.
        seed: seed of the initial weights and of the batch order.
        progress: show a tqdm progress bar.

    Returns:
        W: trained weights, shape (D, C).
        history: the minibatch loss at every step.
    """
    if not callable(loss) and loss not in LOSSES:
        raise ValueError(f"loss must be one of {sorted(LOSSES)} or a function, got {loss!r}")
    if not callable(update_rule) and update_rule not in optim.RULES:
        raise ValueError(f"update_rule must be one of {sorted(optim.RULES)} or a function, "
                         f"got {update_rule!r}")
    if epochs < 1 or batch_size < 1:
        raise ValueError(f"epochs and batch_size must be >= 1, got {epochs} and {batch_size}")
    if X.ndim != 2 or y.shape != (X.shape[0],):
        raise ValueError(f"need X of shape (N, D) and y of shape (N,), got {X.shape} and {y.shape}")
    loss_function = loss if callable(loss) else LOSSES[loss]
    update = update_rule if callable(update_rule) else optim.RULES[update_rule]
    rng = np.random.default_rng(seed)
    num_classes = int(y.max()) + 1 if num_classes is None else num_classes
    if W is None:
        W = 0.001 * rng.standard_normal((X.shape[1], num_classes))
    config = {"learning_rate": learning_rate}
    history = []
    steps_per_epoch = -(-X.shape[0] // batch_size)
    description = f"{_name(loss)} lr={learning_rate:.2g} reg={reg:.2g}"
    with tqdm(total=epochs * steps_per_epoch, desc=description, disable=not progress,
              leave=False) as bar:
        for _ in range(epochs):
            order = rng.permutation(X.shape[0])
            for start in range(0, X.shape[0], batch_size):
                batch = order[start:start + batch_size]
                value, dW = loss_function(W, X[batch], y[batch], reg)
                W, config = update(W, dW, config)
                history.append(value)
                bar.update()
    return W, history


def predict(W: Array, X: Array) -> Array:
    """Predicted labels argmax_c (X W)[i, c], shape (N,)."""
    return np.argmax(X @ W, axis=1)


def accuracy(W: Array, X: Array, y: Array) -> float:
    """Fraction of the examples in X that W classifies correctly."""
    return float(np.mean(predict(W, X) == y))


def random_search(X_train: Array, y_train: Array, X_val: Array, y_val: Array,
                  loss: str | LossFunction = "softmax",
                  learning_rates: Sequence[float] = (1e-4, 1.0),
                  regs: Sequence[float] = (1e-6, 1e-1), num_trials: int = 10, seed: int = 0,
                  progress: bool = False, **train_options) -> list[dict]:
    """Random search over learning rate and regularization strength, both log-uniform.

    Args:
        X_train, y_train: training split, shapes (N, D) and (N,).
        X_val, y_val: validation split used to rank the trials.
        loss: "svm", "softmax", or a function loss(W, X, y, reg) -> (loss, dW).
        learning_rates: (low, high) range of the learning rate, sampled on a log scale.
        regs: (low, high) range of the regularization strength, sampled on a log scale.
        num_trials: how many settings to try.
        seed: seed of the sampled settings (trial k trains with seed + k).
        progress: show a progress bar over the trials.
        **train_options: passed on to train_linear_classifier (epochs, batch_size, ...).

    Returns:
        One dict per trial, best validation accuracy first, with keys learning_rate, reg,
        train_accuracy, val_accuracy, final_loss and W.
    """
    for name, (low, high) in {"learning_rates": learning_rates, "regs": regs}.items():
        if not 0 < low <= high:
            raise ValueError(f"{name} must be a range (low, high) with 0 < low <= high, "
                             f"got {(low, high)}")
    if num_trials < 1:
        raise ValueError(f"num_trials must be >= 1, got {num_trials}")
    rng = np.random.default_rng(seed)
    log_lr = rng.uniform(np.log10(learning_rates[0]), np.log10(learning_rates[1]), num_trials)
    log_reg = rng.uniform(np.log10(regs[0]), np.log10(regs[1]), num_trials)
    num_classes = int(max(y_train.max(), y_val.max())) + 1
    results = []
    trials = tqdm(range(num_trials), desc=f"random search ({_name(loss)})", disable=not progress)
    for trial in trials:
        learning_rate, reg = float(10 ** log_lr[trial]), float(10 ** log_reg[trial])
        with np.errstate(over="ignore", invalid="ignore"):  # a too-large learning rate diverges
            W, history = train_linear_classifier(X_train, y_train, loss, learning_rate, reg,
                                                 num_classes=num_classes, seed=seed + trial,
                                                 **train_options)
        results.append({"learning_rate": learning_rate, "reg": reg, "W": W,
                        "final_loss": history[-1], "train_accuracy": accuracy(W, X_train, y_train),
                        "val_accuracy": accuracy(W, X_val, y_val)})
    return sorted(results, key=lambda result: -result["val_accuracy"])
