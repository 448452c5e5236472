"""Convolution and pooling layers, the plain loops over every output value (CS231n layer API).

    out, cache = conv_forward_naive(x, w, b, {"stride": S, "pad": P})
    dx, dw, db = conv_backward_naive(dout, cache)

Shapes are (N, C, H, W). Output size: H' = 1 + (H + 2P - HH) / S, which must be a whole number.
"""

from typing import Any

import numpy as np

from course_utils.graded import graded_in
from course_utils.layers import relu_backward, relu_forward

Array = np.ndarray
Cache = Any


@graded_in("ch05_cnn")
def conv_output_size(size: int, filter_size: int, stride: int = 1, pad: int = 0) -> int:
    """Output length along one axis: (size - filter_size + 2 pad) / stride + 1.

    Raises:
        ValueError: when the filters do not tile the padded input exactly.
    """
    if stride < 1 or pad < 0 or filter_size < 1:
        raise ValueError(f"need stride >= 1, pad >= 0, filter_size >= 1; got stride={stride}, "
                         f"pad={pad}, filter_size={filter_size}")
    span = size + 2 * pad - filter_size
    if span < 0:
        raise ValueError(f"filter of size {filter_size} is larger than the padded input "
                         f"{size} + 2*{pad}; use a smaller filter or more padding")
    if span % stride != 0:
        raise ValueError(f"(size - filter + 2 pad) / stride = ({size} - {filter_size} + 2*{pad}) "
                         f"/ {stride} is not a whole number: the filters do not tile the input; "
                         f"change the stride or the padding")
    return span // stride + 1


@graded_in("ch05_cnn")
def conv_layer_parameter_count(filter_size: int, in_channels: int, num_filters: int) -> int:
    """Parameters of a conv layer with K square filters: F*F*C weights per filter, plus K biases."""
    return filter_size * filter_size * in_channels * num_filters + num_filters


def _pool_sizes(x: Array, pool_param: dict) -> tuple[int, int, int, int, int]:
    ph, pw, s = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]
    return ph, pw, s, conv_output_size(x.shape[2], ph, s), conv_output_size(x.shape[3], pw, s)


@graded_in("ch05_cnn")
def conv_forward_naive(x: Array, w: Array, b: Array, conv_param: dict) -> tuple[Array, Cache]:
    """Convolution (cross-correlation, as in every deep learning library), one output at a time.

    Args:
        x: images, shape (N, C, H, W).
        w: filters, shape (F, C, HH, WW).
        b: biases, shape (F,).
        conv_param: {"stride": S, "pad": P}; (H + 2P - HH) must be divisible by S.

    Returns:
        out: shape (N, F, H', W') with H' = 1 + (H + 2P - HH) // S, likewise W'.
        cache: (x, w, b, conv_param).
    """
    s, p = conv_param["stride"], conv_param["pad"]
    if x.ndim != 4 or w.ndim != 4 or w.shape[1] != x.shape[1] or b.shape != (w.shape[0],):
        raise ValueError(f"need x (N, C, H, W), w (F, C, HH, WW), b (F,); got {x.shape}, "
                         f"{w.shape}, {b.shape}")
    n, _, h, width = x.shape
    f, _, hh, ww = w.shape
    h_out, w_out = conv_output_size(h, hh, s, p), conv_output_size(width, ww, s, p)
    xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
    out = np.zeros((n, f, h_out, w_out), dtype=np.result_type(x, w))
    for image in range(n):
        for k in range(f):
            for i in range(h_out):
                for j in range(w_out):
                    window = xp[image, :, i * s:i * s + hh, j * s:j * s + ww]     # (C, HH, WW)
                    out[image, k, i, j] = np.sum(window * w[k]) + b[k]
    return out, (x, w, b, conv_param)


@graded_in("ch05_cnn")
def conv_backward_naive(dout: Array, cache: Cache) -> tuple[Array, Array, Array]:
    """Backward pass of conv_forward_naive, one output at a time.

    Args:
        dout: upstream gradient, shape (N, F, H', W').
        cache: from conv_forward_naive.

    Returns:
        dx: shape (N, C, H, W); dw: shape (F, C, HH, WW); db: shape (F,).
    """
    x, w, _, conv_param = cache
    s, p = conv_param["stride"], conv_param["pad"]
    _, _, hh, ww = w.shape
    n, f, h_out, w_out = dout.shape
    xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
    dxp = np.zeros_like(xp)
    dw = np.zeros_like(w)
    for image in range(n):
        for k in range(f):
            for i in range(h_out):
                for j in range(w_out):
                    rows, cols = slice(i * s, i * s + hh), slice(j * s, j * s + ww)
                    dw[k] += dout[image, k, i, j] * xp[image, :, rows, cols]
                    dxp[image, :, rows, cols] += dout[image, k, i, j] * w[k]
    dx = dxp[:, :, p:p + x.shape[2], p:p + x.shape[3]]
    return dx, dw, dout.sum(axis=(0, 2, 3))


@graded_in("ch05_cnn")
def max_pool_forward_naive(x: Array, pool_param: dict) -> tuple[Array, Cache]:
    """Max pooling over windows of pool_height x pool_width with the given stride.

    Args:
        x: shape (N, C, H, W).
        pool_param: {"pool_height": PH, "pool_width": PW, "stride": S}.

    Returns:
        out: shape (N, C, H', W') with H' = 1 + (H - PH) // S; cache: (x, pool_param).
    """
    ph, pw, s, h_out, w_out = _pool_sizes(x, pool_param)
    n, c = x.shape[:2]
    out = np.empty((n, c, h_out, w_out), dtype=x.dtype)
    for image in range(n):
        for channel in range(c):
            for i in range(h_out):
                for j in range(w_out):
                    window = x[image, channel, i * s:i * s + ph, j * s:j * s + pw]
                    out[image, channel, i, j] = window.max()
    return out, (x, pool_param)


@graded_in("ch05_cnn")
def max_pool_backward_naive(dout: Array, cache: Cache) -> Array:
    """Backward pass of max pooling: each window's gradient goes to its (first) maximum.

    Args:
        dout: shape (N, C, H', W'); cache: from max_pool_forward_naive.

    Returns:
        dx: shape (N, C, H, W).
    """
    x, pool_param = cache
    ph, pw, s, h_out, w_out = _pool_sizes(x, pool_param)
    n, c = x.shape[:2]
    dx = np.zeros_like(x)
    for image in range(n):
        for channel in range(c):
            for i in range(h_out):
                for j in range(w_out):
                    window = x[image, channel, i * s:i * s + ph, j * s:j * s + pw]
                    a, d = np.unravel_index(window.argmax(), window.shape)
                    dx[image, channel, i * s + a, j * s + d] += dout[image, channel, i, j]
    return dx


@graded_in("ch05_cnn")
def avg_pool_forward_naive(x: Array, pool_param: dict) -> tuple[Array, Cache]:
    """Average pooling; same arguments and output shape as max_pool_forward_naive."""
    ph, pw, s, h_out, w_out = _pool_sizes(x, pool_param)
    n, c = x.shape[:2]
    out = np.empty((n, c, h_out, w_out), dtype=x.dtype)
    for image in range(n):
        for channel in range(c):
            for i in range(h_out):
                for j in range(w_out):
                    window = x[image, channel, i * s:i * s + ph, j * s:j * s + pw]
                    out[image, channel, i, j] = window.mean()
    return out, (x, pool_param)


@graded_in("ch05_cnn")
def avg_pool_backward_naive(dout: Array, cache: Cache) -> Array:
    """Backward pass of average pooling: each window shares its gradient equally."""
    x, pool_param = cache
    ph, pw, s, h_out, w_out = _pool_sizes(x, pool_param)
    n, c = x.shape[:2]
    dx = np.zeros_like(x)
    for image in range(n):
        for channel in range(c):
            for i in range(h_out):
                for j in range(w_out):
                    window = (image, channel, slice(i * s, i * s + ph), slice(j * s, j * s + pw))
                    dx[window] += dout[image, channel, i, j] / (ph * pw)
    return dx


def conv_relu_pool_forward(x: Array, w: Array, b: Array, conv_param: dict,
                           pool_param: dict) -> tuple[Array, Cache]:
    """Sandwich: conv -> ReLU -> max pool (naive layers). Returns (out, cache)."""
    a, conv_cache = conv_forward_naive(x, w, b, conv_param)
    r, relu_cache = relu_forward(a)
    out, pool_cache = max_pool_forward_naive(r, pool_param)
    return out, (conv_cache, relu_cache, pool_cache)


def conv_relu_pool_backward(dout: Array, cache: Cache) -> tuple[Array, Array, Array]:
    """Backward pass of conv_relu_pool_forward; returns (dx, dw, db)."""
    conv_cache, relu_cache, pool_cache = cache
    dr = max_pool_backward_naive(dout, pool_cache)
    da = relu_backward(dr, relu_cache)
    return conv_backward_naive(da, conv_cache)
