"""A fully connected network of any depth in NumPy, with optional batch/layer norm and dropout.

    {affine - [batch/layer norm] - relu - [dropout]} x (L - 1) - affine - softmax

Parameters in `self.params`: W1, b1, ..., WL, bL, and gamma1, beta1, ... for the normalized layers.
Loss = mean cross-entropy + reg * sum of W² over all layers (no factor 1/2, gradient 2 reg W).
"""

import numpy as np

from course_utils.dropout import dropout_backward, dropout_forward
from course_utils.layers import affine_backward, affine_forward, relu_backward, relu_forward
from course_utils.losses import softmax_loss
from course_utils.normalization import (
    batchnorm_backward_alt,
    batchnorm_forward,
    layernorm_backward,
    layernorm_forward,
)

Array = np.ndarray


class FullyConnectedNet:
    """Fully connected classifier.

    Args:
        hidden_dims: sizes of the hidden layers, e.g. [100, 100].
        input_dim: D; num_classes: C.
        dropout_keep_ratio: keep probability of dropout after each ReLU; 1 means no dropout.
        normalization: None, "batchnorm" or "layernorm".
        reg: L2 strength.
        weight_scale: std of the Gaussian initial weights, or "kaiming" for sqrt(2 / fan_in).
        dtype: float64 for gradient checks.
        seed: seed for the initial weights and the dropout masks.
    """

    def __init__(self, hidden_dims: list[int], input_dim: int = 784, num_classes: int = 10,
                 dropout_keep_ratio: float = 1.0, normalization: str | None = None,
                 reg: float = 0.0, weight_scale: float | str = 1e-2, dtype: type = np.float64,
                 seed: int = 0):
        if normalization not in (None, "batchnorm", "layernorm"):
            raise ValueError(f'normalization must be None, "batchnorm" or "layernorm", '
                             f"got {normalization!r}")
        if not 0 < dropout_keep_ratio <= 1:
            raise ValueError(f"dropout_keep_ratio must be in (0, 1], got {dropout_keep_ratio}")
        self.normalization, self.reg, self.dtype = normalization, reg, dtype
        self.num_layers = len(hidden_dims) + 1
        self.use_dropout = dropout_keep_ratio < 1
        rng = np.random.default_rng(seed)
        dims = [input_dim, *hidden_dims, num_classes]
        self.params: dict[str, Array] = {}
        for i, (fan_in, fan_out) in enumerate(zip(dims[:-1], dims[1:], strict=True), start=1):
            std = np.sqrt(2.0 / fan_in) if weight_scale == "kaiming" else weight_scale
            self.params[f"W{i}"] = (std * rng.standard_normal((fan_in, fan_out))).astype(dtype)
            self.params[f"b{i}"] = np.zeros(fan_out, dtype=dtype)
            if normalization and i < self.num_layers:
                self.params[f"gamma{i}"] = np.ones(fan_out, dtype=dtype)
                self.params[f"beta{i}"] = np.zeros(fan_out, dtype=dtype)
        self.dropout_param = {"mode": "train", "p": dropout_keep_ratio, "seed": seed}
        self.bn_params = [{"mode": "train"} for _ in range(self.num_layers - 1)]
        self._dropout_calls = 0

    def loss(self, X: Array, y: Array | None = None) -> Array | tuple[float, dict[str, Array]]:
        """Scores (N, C) when y is None (test mode), else (loss, grads) in train mode."""
        mode = "test" if y is None else "train"
        for bn_param in self.bn_params:
            bn_param["mode"] = mode
        call_seed = None
        if mode == "train" and self.dropout_param["seed"] is not None:
            # fresh masks each call, an independent one per layer, reproducible from the seed
            call_seed = self.dropout_param["seed"] + self._dropout_calls * self.num_layers
            self._dropout_calls += 1
        h, caches = X.astype(self.dtype, copy=False), []
        for i in range(1, self.num_layers):
            h, fc = affine_forward(h, self.params[f"W{i}"], self.params[f"b{i}"])
            norm_cache = None
            if self.normalization == "batchnorm":
                h, norm_cache = batchnorm_forward(h, self.params[f"gamma{i}"],
                                                  self.params[f"beta{i}"], self.bn_params[i - 1])
            elif self.normalization == "layernorm":
                h, norm_cache = layernorm_forward(h, self.params[f"gamma{i}"],
                                                  self.params[f"beta{i}"])
            h, relu_cache = relu_forward(h)
            drop_cache = None
            if self.use_dropout:
                layer_seed = None if call_seed is None else call_seed + i
                h, drop_cache = dropout_forward(h, {**self.dropout_param, "mode": mode,
                                                    "seed": layer_seed})
            caches.append((fc, norm_cache, relu_cache, drop_cache))
        L = self.num_layers
        scores, last_cache = affine_forward(h, self.params[f"W{L}"], self.params[f"b{L}"])
        if y is None:
            return scores
        loss, dscores = softmax_loss(scores, y)
        grads: dict[str, Array] = {}
        dh, grads[f"W{L}"], grads[f"b{L}"] = affine_backward(dscores, last_cache)
        for i in range(L - 1, 0, -1):
            fc, norm_cache, relu_cache, drop_cache = caches[i - 1]
            if self.use_dropout:
                dh = dropout_backward(dh, drop_cache)
            dh = relu_backward(dh, relu_cache)
            if self.normalization == "batchnorm":
                dh, grads[f"gamma{i}"], grads[f"beta{i}"] = batchnorm_backward_alt(dh, norm_cache)
            elif self.normalization == "layernorm":
                dh, grads[f"gamma{i}"], grads[f"beta{i}"] = layernorm_backward(dh, norm_cache)
            dh, grads[f"W{i}"], grads[f"b{i}"] = affine_backward(dh, fc)
        for i in range(1, L + 1):
            W = self.params[f"W{i}"]
            loss += self.reg * float(np.sum(W * W))
            grads[f"W{i}"] = grads[f"W{i}"] + 2 * self.reg * W
        return loss, grads
