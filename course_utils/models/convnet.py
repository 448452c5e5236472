"""Three-layer convolutional network: conv - ReLU - 2x2 max pool - affine - ReLU - affine - softmax.

Uses the fast NumPy layers of course_utils.fast_layers. Loss = mean cross-entropy
+ reg * (sum(W1²) + sum(W2²) + sum(W3²)) (no factor 1/2, as in two_layer_net).
"""

import math

import numpy as np
from tqdm.auto import tqdm

from course_utils import optim
from course_utils.fast_layers import conv_relu_pool_backward_fast, conv_relu_pool_forward_fast
from course_utils.layers import (
    affine_backward,
    affine_forward,
    affine_relu_backward,
    affine_relu_forward,
)
from course_utils.losses import softmax_loss

Array = np.ndarray
WEIGHTS = ("W1", "W2", "W3")


class ThreeLayerConvNet:
    """Parameters in `self.params`: W1 (F, C, K, K), b1 (F,), W2 (F*H/2*W/2, hidden), b2,
    W3 (hidden, classes), b3. The convolution keeps the size (stride 1, pad (K-1)/2)."""

    def __init__(self, input_dim: tuple[int, int, int] = (1, 28, 28), num_filters: int = 16,
                 filter_size: int = 5, hidden_dim: int = 100, num_classes: int = 10,
                 weight_scale: float | None = None, seed: int = 0,
                 dtype: type = np.float32) -> None:
        """weight_scale None uses He initialisation (std sqrt(2 / fan_in)) for every layer."""
        c, h, w = input_dim
        if filter_size % 2 == 0 or h % 2 or w % 2:
            raise ValueError("need an odd filter_size and even H, W; "
                             f"got {filter_size}, {input_dim}")
        rng = np.random.default_rng(seed)
        shapes = {"W1": (num_filters, c, filter_size, filter_size),
                  "W2": (num_filters * (h // 2) * (w // 2), hidden_dim),
                  "W3": (hidden_dim, num_classes)}
        self.params: dict[str, Array] = {}
        for i, (name, shape) in enumerate(shapes.items(), start=1):
            fan_in = int(np.prod(shape[1:])) if name == "W1" else shape[0]
            std = weight_scale if weight_scale is not None else math.sqrt(2.0 / fan_in)
            self.params[name] = (std * rng.standard_normal(shape)).astype(dtype)
            self.params[f"b{i}"] = np.zeros(shape[0] if name == "W1" else shape[1], dtype=dtype)
        self.conv_param = {"stride": 1, "pad": (filter_size - 1) // 2}
        self.pool_param = {"pool_height": 2, "pool_width": 2, "stride": 2}

    def loss(self, X: Array, y: Array | None = None,
             reg: float = 0.0) -> Array | tuple[float, dict[str, Array]]:
        """Scores (N, classes) when y is None, else (loss, grads) for images X (N, C, H, W)."""
        p = self.params
        a1, c1 = conv_relu_pool_forward_fast(X, p["W1"], p["b1"], self.conv_param, self.pool_param)
        a2, c2 = affine_relu_forward(a1, p["W2"], p["b2"])
        scores, c3 = affine_forward(a2, p["W3"], p["b3"])
        if y is None:
            return scores
        loss, dscores = softmax_loss(scores, y)
        loss += reg * sum(float(np.sum(p[k] * p[k])) for k in WEIGHTS)
        grads: dict[str, Array] = {}
        da2, grads["W3"], grads["b3"] = affine_backward(dscores, c3)
        da1, grads["W2"], grads["b2"] = affine_relu_backward(da2, c2)
        _, grads["W1"], grads["b1"] = conv_relu_pool_backward_fast(da1, c1)
        for k in WEIGHTS:
            grads[k] = grads[k] + 2 * reg * p[k]
        return float(loss), grads

    def predict(self, X: Array, batch_size: int = 1000) -> Array:
        """Predicted labels (N,), computed in batches."""
        return np.concatenate([self.loss(X[i:i + batch_size]).argmax(axis=1)
                               for i in range(0, len(X), batch_size)]).astype(np.int64)

    def accuracy(self, X: Array, y: Array) -> float:
        """Fraction of correct predictions."""
        return float(np.mean(self.predict(X) == y))

    def train(self, X: Array, y: Array, *, num_epochs: int = 1, batch_size: int = 64,
              update: str = "adam", optim_config: dict | None = None, reg: float = 0.0,
              lr_decay: float = 1.0, seed: int = 0, progress: bool = True) -> list[float]:
        """Minibatch training with a rule of course_utils.optim; returns the loss of every step.

        The learning rate is multiplied by `lr_decay` after every epoch.
        """
        if update not in optim.RULES:
            raise ValueError(f"unknown update rule {update!r}; choose one of {sorted(optim.RULES)}")
        rule = optim.RULES[update]
        configs = {name: dict(optim_config or {}) for name in self.params}
        rng = np.random.default_rng(seed)
        losses: list[float] = []
        steps = num_epochs * math.ceil(len(X) / batch_size)
        with tqdm(total=steps, disable=not progress, unit="step") as bar:
            for _ in range(num_epochs):
                order = rng.permutation(len(X))
                for start in range(0, len(X), batch_size):
                    batch = order[start:start + batch_size]
                    loss, grads = self.loss(X[batch], y[batch], reg=reg)
                    for name, grad in grads.items():
                        self.params[name], configs[name] = rule(
                            self.params[name], grad, configs[name])
                    losses.append(loss)
                    # refresh=False: the bar redraws at most every 0.1 s, not at every step (a
                    # flood of widget messages can outrun a notebook client's output buffer).
                    bar.set_postfix(loss=f"{loss:.3f}", refresh=False)
                    bar.update()
                for config in configs.values():  # each rule has filled in its learning rate
                    config["learning_rate"] *= lr_decay
        return losses
