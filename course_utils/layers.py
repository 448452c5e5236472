"""NumPy layers with a forward and a backward pass each (the CS231n layer API).

    out, cache = layer_forward(x, ...)       # cache: what the backward pass needs
    dx, ... = layer_backward(dout, cache)    # dout = dL/dout, returns dL/dx (and parameters)

Every backward pass returns gradients of the same shape and dtype as the forward inputs.
"""

from typing import Any

import numpy as np

from course_utils.graded import graded_in

Array = np.ndarray
Cache = Any


@graded_in("ch04_backprop")
def affine_forward(x: Array, w: Array, b: Array) -> tuple[Array, Cache]:
    """Fully connected (affine) layer: out = x' w + b, with x' = x reshaped to (N, D).

    Args:
        x: inputs, shape (N, d_1, ..., d_k); each example is flattened to D = d_1 * ... * d_k
            values (images (N, C, H, W) become rows of C * H * W pixels).
        w: weights, shape (D, M).
        b: biases, shape (M,).

    Returns:
        out: shape (N, M).
        cache: (x, w, b).
    """
    rows = x.reshape(x.shape[0], -1)
    if w.ndim != 2 or rows.shape[1] != w.shape[0] or b.shape != (w.shape[1],):
        raise ValueError(f"need w of shape (D, M) and b of shape (M,) with D = {rows.shape[1]} "
                         f"values per example of x {x.shape}; got w {w.shape} and b {b.shape}")
    out = rows @ w + b
    return out, (x, w, b)


@graded_in("ch04_backprop")
def affine_backward(dout: Array, cache: Cache) -> tuple[Array, Array, Array]:
    """Backward pass of affine_forward.

    Args:
        dout: upstream gradient, shape (N, M).
        cache: (x, w, b) from affine_forward.

    Returns:
        dx: shape of x, (N, d_1, ..., d_k); dw: shape (D, M); db: shape (M,).
    """
    x, w, _ = cache
    rows = x.reshape(x.shape[0], -1)
    dx = (dout @ w.T).reshape(x.shape)
    dw = rows.T @ dout
    db = dout.sum(axis=0)
    return dx, dw, db


@graded_in("ch04_backprop")
def relu_forward(x: Array) -> tuple[Array, Cache]:
    """Rectified linear unit max(0, x), elementwise.

    Args:
        x: inputs, any shape.

    Returns:
        out: same shape as x.
        cache: x.
    """
    return np.maximum(x, 0), x


@graded_in("ch04_backprop")
def relu_backward(dout: Array, cache: Cache) -> Array:
    """Backward pass of relu_forward: dout where x > 0, else 0 (0 at the kink x = 0, as in
    PyTorch).

    Args:
        dout: upstream gradient, same shape as x.
        cache: x from relu_forward.

    Returns:
        dx: same shape as x.
    """
    x = cache
    return dout * (x > 0)


@graded_in("ch04_backprop")
def leaky_relu_forward(x: Array, negative_slope: float = 0.01) -> tuple[Array, Cache]:
    """Leaky ReLU: x where x > 0, negative_slope * x elsewhere.

    Args:
        x: inputs, any shape.
        negative_slope: slope α for x <= 0 (PyTorch's default 0.01).

    Returns:
        out: same shape as x.
        cache: (x, negative_slope).
    """
    return np.where(x > 0, x, negative_slope * x), (x, negative_slope)


@graded_in("ch04_backprop")
def leaky_relu_backward(dout: Array, cache: Cache) -> Array:
    """Backward pass of leaky_relu_forward: dout where x > 0, negative_slope * dout elsewhere.

    Args:
        dout: upstream gradient, same shape as x.
        cache: (x, negative_slope) from leaky_relu_forward.

    Returns:
        dx: same shape as x.
    """
    x, negative_slope = cache
    return np.where(x > 0, dout, negative_slope * dout)


@graded_in("ch04_backprop")
def sigmoid_forward(x: Array) -> tuple[Array, Cache]:
    """Logistic sigmoid σ(x) = 1 / (1 + exp(-x)), elementwise, without overflow.

    Computed as 1 / (1 + e^-x) for x >= 0 and e^x / (1 + e^x) for x < 0 (the same number, and
    the exponential never exceeds 1).

    Args:
        x: inputs, any shape.

    Returns:
        out: same shape as x, values in [0, 1].
        cache: out (the backward pass needs only σ(x)).
    """
    e = np.exp(-np.abs(x))
    out = np.where(x >= 0, 1 / (1 + e), e / (1 + e))
    return out, out


@graded_in("ch04_backprop")
def sigmoid_backward(dout: Array, cache: Cache) -> Array:
    """Backward pass of sigmoid_forward: dσ/dx = σ(x) (1 - σ(x)).

    Args:
        dout: upstream gradient, same shape as x.
        cache: σ(x) from sigmoid_forward.

    Returns:
        dx: same shape as x.
    """
    out = cache
    return dout * out * (1 - out)


@graded_in("ch04_backprop")
def tanh_forward(x: Array) -> tuple[Array, Cache]:
    """Hyperbolic tangent, elementwise.

    Args:
        x: inputs, any shape.

    Returns:
        out: same shape as x, values in [-1, 1].
        cache: out.
    """
    out = np.tanh(x)
    return out, out


@graded_in("ch04_backprop")
def tanh_backward(dout: Array, cache: Cache) -> Array:
    """Backward pass of tanh_forward: d tanh(x)/dx = 1 - tanh(x)².

    Args:
        dout: upstream gradient, same shape as x.
        cache: tanh(x) from tanh_forward.

    Returns:
        dx: same shape as x.
    """
    out = cache
    return dout * (1 - out * out)


@graded_in("ch04_backprop")
def affine_relu_forward(x: Array, w: Array, b: Array) -> tuple[Array, Cache]:
    """An affine layer followed by a ReLU.

    Args:
        x: inputs, shape (N, d_1, ..., d_k).
        w: weights, shape (D, M).
        b: biases, shape (M,).

    Returns:
        out: shape (N, M).
        cache: (affine_cache, relu_cache).
    """
    scores, affine_cache = affine_forward(x, w, b)
    out, relu_cache = relu_forward(scores)
    return out, (affine_cache, relu_cache)


@graded_in("ch04_backprop")
def affine_relu_backward(dout: Array, cache: Cache) -> tuple[Array, Array, Array]:
    """Backward pass of affine_relu_forward.

    Args:
        dout: upstream gradient, shape (N, M).
        cache: (affine_cache, relu_cache) from affine_relu_forward.

    Returns:
        dx: shape of x; dw: shape (D, M); db: shape (M,).
    """
    affine_cache, relu_cache = cache
    return affine_backward(relu_backward(dout, relu_cache), affine_cache)
