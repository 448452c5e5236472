"""Fast convolution and pooling in pure NumPy: a loop over the few filter offsets, never over
pixels.

Same API and results as course_utils.conv_layers (the naive loops), hundreds of times faster:
- convolution is im2col: the HH*WW shifted (strided) slices of the padded input are copied into one
  matrix of columns, then a single matrix product with the filters does all the work;
- pooling takes an elementwise max (or sum) over the PH*PW shifted slices.
"""

from typing import Any

import numpy as np

from course_utils.layers import relu_backward, relu_forward

Array = np.ndarray
Cache = Any


def _check_tiling(length: int, window: int, stride: int, pad: int = 0) -> int:
    """Output length; ValueError unless windows of size `window` at `stride` tile length + 2 pad."""
    padded = length + 2 * pad
    if stride < 1 or window < 1 or window > padded or (padded - window) % stride:
        raise ValueError(f"windows of size {window} at stride {stride} do not tile a length of "
                         f"{length} padded by {pad}: (length - window + 2 pad) must be a "
                         f"non-negative multiple of the stride; change the stride or the padding")
    return (padded - window) // stride + 1


def _shifted(x: Array, a: int, c: int, stride: int, h_out: int, w_out: int) -> Array:
    """View of x (N, C, H, W) at window offset (a, c).

    Element [n, ch, i, j] of the view is x[n, ch, i*S + a, j*S + c].
    """
    return x[:, :, a:a + stride * (h_out - 1) + 1:stride, c:c + stride * (w_out - 1) + 1:stride]


def conv_forward_fast(x: Array, w: Array, b: Array, conv_param: dict) -> tuple[Array, Cache]:
    """Convolution; same arguments, output and errors as conv_layers.conv_forward_naive.

    Args:
        x: images, shape (N, C, H, W); w: filters, shape (F, C, HH, WW); b: biases, shape (F,).
        conv_param: {"stride": S, "pad": P}.

    Returns:
        out: shape (N, F, H', W'); cache for conv_backward_fast.
    """
    s, p = conv_param["stride"], conv_param["pad"]
    if x.ndim != 4 or w.ndim != 4 or w.shape[1] != x.shape[1] or b.shape != (w.shape[0],):
        raise ValueError(f"need x (N, C, H, W), w (F, C, HH, WW), b (F,); got {x.shape}, "
                         f"{w.shape}, {b.shape}")
    n, c, h, width = x.shape
    f, _, hh, ww = w.shape
    h_out, w_out = _check_tiling(h, hh, s, p), _check_tiling(width, ww, s, p)
    xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
    cols = np.empty((c, hh, ww, n, h_out, w_out), dtype=x.dtype)     # im2col
    for a in range(hh):
        for d in range(ww):
            cols[:, a, d] = _shifted(xp, a, d, s, h_out, w_out).transpose(1, 0, 2, 3)
    cols = cols.reshape(c * hh * ww, -1)                               # (C*HH*WW, N*H'*W')
    out = (w.reshape(f, -1) @ cols).reshape(f, n, h_out, w_out) + b[:, None, None, None]
    return out.transpose(1, 0, 2, 3), (x.shape, w, cols, conv_param)


def conv_backward_fast(dout: Array, cache: Cache) -> tuple[Array, Array, Array]:
    """Backward pass of conv_forward_fast; returns dx (N, C, H, W), dw (F, C, HH, WW), db (F,)."""
    (n, c, h, width), w, cols, conv_param = cache
    s, p = conv_param["stride"], conv_param["pad"]
    f, _, hh, ww = w.shape
    h_out, w_out = dout.shape[2:]
    dout_rows = dout.transpose(1, 0, 2, 3).reshape(f, -1)             # (F, N*H'*W')
    dw = (dout_rows @ cols.T).reshape(w.shape)
    dcols = (w.reshape(f, -1).T @ dout_rows).reshape(c, hh, ww, n, h_out, w_out)
    dxp = np.zeros((n, c, h + 2 * p, width + 2 * p), dtype=dcols.dtype)
    for a in range(hh):                                                # col2im
        for d in range(ww):
            _shifted(dxp, a, d, s, h_out, w_out)[...] += dcols[:, a, d].transpose(1, 0, 2, 3)
    return dxp[:, :, p:p + h, p:p + width], dw, dout.sum(axis=(0, 2, 3))


def _pool_geometry(x: Array, pool_param: dict) -> tuple[int, int, int, int, int]:
    ph, pw, s = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]
    return ph, pw, s, _check_tiling(x.shape[2], ph, s), _check_tiling(x.shape[3], pw, s)


def max_pool_forward_fast(x: Array, pool_param: dict) -> tuple[Array, Cache]:
    """Max pooling; same API and output as conv_layers.max_pool_forward_naive."""
    ph, pw, s, h_out, w_out = _pool_geometry(x, pool_param)
    out = _shifted(x, 0, 0, s, h_out, w_out).copy()
    for a in range(ph):
        for d in range(pw):
            np.maximum(out, _shifted(x, a, d, s, h_out, w_out), out=out)
    return out, (x, out, pool_param)


def max_pool_backward_fast(dout: Array, cache: Cache) -> Array:
    """Backward pass of max_pool_forward_fast: gradient to each window's first maximum
    (in row-major order, as the naive version and PyTorch do)."""
    x, out, pool_param = cache
    ph, pw, s, h_out, w_out = _pool_geometry(x, pool_param)
    dx = np.zeros_like(x, dtype=dout.dtype)
    routed = np.zeros(out.shape, dtype=bool)                           # window already has its max
    for a in range(ph):
        for d in range(pw):
            first = (_shifted(x, a, d, s, h_out, w_out) == out) & ~routed
            _shifted(dx, a, d, s, h_out, w_out)[...] += dout * first
            routed |= first
    return dx


def avg_pool_forward_fast(x: Array, pool_param: dict) -> tuple[Array, Cache]:
    """Average pooling; same API and output as conv_layers.avg_pool_forward_naive."""
    ph, pw, s, h_out, w_out = _pool_geometry(x, pool_param)
    total = np.zeros(x.shape[:2] + (h_out, w_out), dtype=x.dtype)
    for a in range(ph):
        for d in range(pw):
            total += _shifted(x, a, d, s, h_out, w_out)
    return total / (ph * pw), (x.shape, pool_param)


def avg_pool_backward_fast(dout: Array, cache: Cache) -> Array:
    """Backward pass of avg_pool_forward_fast."""
    shape, pool_param = cache
    ph, pw, s = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]
    h_out, w_out = dout.shape[2:]
    dx = np.zeros(shape, dtype=dout.dtype)
    share = dout / (ph * pw)
    for a in range(ph):
        for d in range(pw):
            _shifted(dx, a, d, s, h_out, w_out)[...] += share
    return dx


def conv_relu_pool_forward_fast(x: Array, w: Array, b: Array, conv_param: dict,
                                pool_param: dict) -> tuple[Array, Cache]:
    """Sandwich conv -> ReLU -> max pool with the fast layers; returns (out, cache)."""
    a, conv_cache = conv_forward_fast(x, w, b, conv_param)
    r, relu_cache = relu_forward(a)
    out, pool_cache = max_pool_forward_fast(r, pool_param)
    return out, (conv_cache, relu_cache, pool_cache)


def conv_relu_pool_backward_fast(dout: Array, cache: Cache) -> tuple[Array, Array, Array]:
    """Backward pass of conv_relu_pool_forward_fast; returns (dx, dw, db)."""
    conv_cache, relu_cache, pool_cache = cache
    return conv_backward_fast(relu_backward(max_pool_backward_fast(dout, pool_cache), relu_cache),
                              conv_cache)
