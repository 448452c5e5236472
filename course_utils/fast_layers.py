"""Fast convolution and pooling in pure NumPy: windows by stride tricks, then one matrix product.

Same API and results as course_utils.conv_layers (the naive loops), many times faster.
"""

from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from course_utils.conv_layers import conv_output_size
from course_utils.layers import relu_backward, relu_forward

Array = np.ndarray
Cache = Any


def _windows(x: Array, height: int, width: int, stride: int) -> Array:
    """Read-only view of all windows, shape (N, C, H', W', height, width)."""
    return sliding_window_view(x, (height, width), axis=(2, 3))[:, :, ::stride, ::stride]


def _scatter_windows(dwindows: Array, shape: tuple[int, ...], stride: int) -> Array:
    """Adjoint of _windows: add each window's gradient (N, C, H', W', hh, ww) back into `shape`."""
    dx = np.zeros(shape, dtype=dwindows.dtype)
    _, _, h_out, w_out, hh, ww = dwindows.shape
    for a in range(hh):          # loop over filter offsets only (hh * ww iterations)
        for c in range(ww):
            dx[:, :, a:a + stride * h_out:stride, c:c + stride * w_out:stride] += dwindows[..., a, c]
    return dx


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
    _, _, hh, ww = w.shape
    conv_output_size(x.shape[2], hh, s, p), conv_output_size(x.shape[3], ww, s, p)  # validates
    xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
    cols = _windows(xp, hh, ww, s)                                  # (N, C, H', W', HH, WW)
    out = np.einsum("nchwij,fcij->nfhw", cols, w, optimize=True) + b[None, :, None, None]
    return out, (x, w, b, conv_param, xp.shape)


def conv_backward_fast(dout: Array, cache: Cache) -> tuple[Array, Array, Array]:
    """Backward pass of conv_forward_fast; returns dx (N, C, H, W), dw (F, C, HH, WW), db (F,)."""
    x, w, _, conv_param, padded_shape = cache
    s, p = conv_param["stride"], conv_param["pad"]
    _, _, hh, ww = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
    cols = _windows(xp, hh, ww, s)
    dw = np.einsum("nfhw,nchwij->fcij", dout, cols, optimize=True)
    dcols = np.einsum("nfhw,fcij->nchwij", dout, w, optimize=True)
    dxp = _scatter_windows(dcols, padded_shape, s)
    dx = dxp[:, :, p:p + x.shape[2], p:p + x.shape[3]]
    return dx, dw, dout.sum(axis=(0, 2, 3))


def _pool_windows(x: Array, pool_param: dict) -> Array:
    ph, pw, s = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]
    conv_output_size(x.shape[2], ph, s), conv_output_size(x.shape[3], pw, s)       # validates
    return _windows(x, ph, pw, s)


def max_pool_forward_fast(x: Array, pool_param: dict) -> tuple[Array, Cache]:
    """Max pooling; same API and output as conv_layers.max_pool_forward_naive."""
    win = _pool_windows(x, pool_param)
    flat = win.reshape(win.shape[:4] + (-1,))
    arg = flat.argmax(axis=4)
    out = np.take_along_axis(flat, arg[..., None], axis=4)[..., 0]
    return out, (x.shape, pool_param, arg)


def max_pool_backward_fast(dout: Array, cache: Cache) -> Array:
    """Backward pass of max_pool_forward_fast: gradient to each window's (first) maximum."""
    shape, pool_param, arg = cache
    ph, pw, s = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]
    dflat = np.zeros(dout.shape + (ph * pw,), dtype=dout.dtype)
    np.put_along_axis(dflat, arg[..., None], dout[..., None], axis=4)
    return _scatter_windows(dflat.reshape(dout.shape + (ph, pw)), shape, s)


def avg_pool_forward_fast(x: Array, pool_param: dict) -> tuple[Array, Cache]:
    """Average pooling; same API and output as conv_layers.avg_pool_forward_naive."""
    return _pool_windows(x, pool_param).mean(axis=(4, 5)), (x.shape, pool_param)


def avg_pool_backward_fast(dout: Array, cache: Cache) -> Array:
    """Backward pass of avg_pool_forward_fast."""
    shape, pool_param = cache
    ph, pw, s = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]
    dwin = np.broadcast_to((dout / (ph * pw))[..., None, None], dout.shape + (ph, pw))
    return _scatter_windows(dwin, shape, s)


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
