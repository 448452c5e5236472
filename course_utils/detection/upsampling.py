"""Upsampling layers for segmentation networks: unpooling and transposed convolution (NumPy).

CS231n layer API, shapes (N, C, H, W):

    out, cache = unpool_nearest_forward(x, factor)     # likewise unpool_bed_of_nails_*
    dx = unpool_nearest_backward(dout, cache)
    out, cache = max_unpool_forward(x, pool_cache)     # pool_cache from max_pool_forward_naive
    dx = max_unpool_backward(dout, cache)
    out, cache = conv_transpose_forward(x, w, b, conv_param)
    dx, dw, db = conv_transpose_backward(dout, cache)

A transposed convolution is the transpose of a convolution's matrix: `convolution_matrix` builds
the matrix M of conv_layers.conv_forward_naive, and conv_transpose_forward computes M.T @ y.
"""

from typing import Any

import numpy as np

from course_utils.graded import graded_in

Array = np.ndarray
Cache = Any


def _tiled_size(size: int, window: int, stride: int, pad: int = 0) -> int:
    """Windows of `window` at `stride` over size + 2 pad values: how many, when they tile it
    exactly (as conv_layers.conv_output_size, which chapter 5 grades and a student bundle may
    stub); ValueError otherwise."""
    span = size + 2 * pad - window
    if stride < 1 or pad < 0 or window < 1 or span < 0 or span % stride:
        raise ValueError(f"windows of {window} at stride {stride} do not tile {size} values "
                         f"padded by {pad} on each side")
    return 1 + span // stride


def _strided(start: int, count: int, stride: int) -> slice:
    """The `count` indices start, start + stride, start + 2 stride, ..."""
    return slice(start, start + (count - 1) * stride + 1, stride)


def _check_factor(factor: int) -> None:
    if not isinstance(factor, int | np.integer) or factor < 1:
        raise ValueError(f"factor must be an integer >= 1, got {factor!r}")


@graded_in("ch09_detection_segmentation")
def unpool_nearest_forward(x: Array, factor: int) -> tuple[Array, Cache]:
    """Nearest-neighbour unpooling: each value copied to its factor x factor block.

    Args:
        x: shape (N, C, H, W).
        factor: integer upsampling factor f >= 1.

    Returns:
        out: shape (N, C, H*f, W*f), out[n, c, i, j] = x[n, c, i // f, j // f]
            (F.interpolate(x, scale_factor=f, mode="nearest")).
        cache: factor.
    """
    _check_factor(factor)
    return x.repeat(factor, axis=2).repeat(factor, axis=3), factor


def unpool_nearest_backward(dout: Array, cache: Cache) -> Array:
    """Backward pass of unpool_nearest_forward: each input gets the sum over its block.

    Args:
        dout: shape (N, C, H*f, W*f); cache: from unpool_nearest_forward.

    Returns:
        dx: shape (N, C, H, W).
    """
    f = cache
    n, c, height, width = dout.shape
    return dout.reshape(n, c, height // f, f, width // f, f).sum(axis=(3, 5))


@graded_in("ch09_detection_segmentation")
def unpool_bed_of_nails_forward(x: Array, factor: int) -> tuple[Array, Cache]:
    """Bed-of-nails unpooling: each value at the top-left of its factor x factor block.

    Args:
        x: shape (N, C, H, W).
        factor: integer upsampling factor f >= 1.

    Returns:
        out: shape (N, C, H*f, W*f), same dtype as x: out[n, c, i*f, j*f] = x[n, c, i, j],
            zeros elsewhere.
        cache: factor.
    """
    _check_factor(factor)
    n, c, height, width = x.shape
    out = np.zeros((n, c, height * factor, width * factor), dtype=x.dtype)
    out[:, :, ::factor, ::factor] = x
    return out, factor


def unpool_bed_of_nails_backward(dout: Array, cache: Cache) -> Array:
    """Backward pass of unpool_bed_of_nails_forward: the gradient at each block's top-left.

    Args:
        dout: shape (N, C, H*f, W*f); cache: from unpool_bed_of_nails_forward.

    Returns:
        dx: shape (N, C, H, W).
    """
    f = cache
    return dout[:, :, ::f, ::f].copy()


def _pool_windows(x: Array, pool_param: dict, h_out: int, w_out: int) -> Array:
    """The pooling windows of x side by side: (N, C, H', W', PH*PW), offsets in row-major order."""
    ph, pw, s = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]
    return np.stack([x[:, :, _strided(a, h_out, s), _strided(d, w_out, s)]
                     for a in range(ph) for d in range(pw)], axis=-1)


@graded_in("ch09_detection_segmentation")
def max_unpool_forward(x: Array, pool_cache: Cache) -> tuple[Array, Cache]:
    """Max unpooling: each value goes back to where its window's maximum was in the pool's input.

    The positions ("switches") come from the max pooling layer that this layer mirrors, as in a
    segmentation network whose decoder unpools with the encoder's pooling positions.

    Args:
        x: shape (N, C, H', W'), the pooled shape (any values, not necessarily the pool's output).
        pool_cache: the cache (pool input of shape (N, C, H, W), pool_param) returned by
            conv_layers.max_pool_forward_naive; pool_param {"pool_height": PH, "pool_width": PW,
            "stride": S} with S >= PH and S >= PW (windows that do not overlap).

    Returns:
        out: shape (N, C, H, W), same dtype as x: x[n, c, i, j] placed at the first maximum of
            window (i, j) of the pool's input in row-major order (np.argmax's tie rule), zeros
            elsewhere, including positions that lie in no window. Equal to nn.MaxUnpool2d given
            MaxPool2d's indices and output_size=(H, W) when no window has tied maxima.
        cache: (switches, pool_param); switches (N, C, H', W') int64, the row-major offset of
            each window's maximum inside its PH x PW window.

    Raises:
        ValueError: when the windows overlap (two maxima could land on one position) or x does
            not have the pooled shape.
    """
    pool_input, pool_param = pool_cache
    ph, pw, s = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]
    if s < ph or s < pw:
        raise ValueError(f"max unpooling needs windows that do not overlap (stride >= pool size); "
                         f"got pool {ph}x{pw} with stride {s}")
    n, c, height, width = pool_input.shape
    h_out, w_out = _tiled_size(height, ph, s), _tiled_size(width, pw, s)
    if x.shape != (n, c, h_out, w_out):
        raise ValueError(f"x must have the pooled shape {(n, c, h_out, w_out)}, got {x.shape}")
    switches = _pool_windows(pool_input, pool_param, h_out, w_out).argmax(axis=-1)
    out = np.zeros(pool_input.shape, dtype=x.dtype)
    for k, (a, d) in enumerate(np.ndindex(ph, pw)):
        out[:, :, _strided(a, h_out, s), _strided(d, w_out, s)] = np.where(switches == k, x, 0)
    return out, (switches, pool_param)


def max_unpool_backward(dout: Array, cache: Cache) -> Array:
    """Backward pass of max_unpool_forward: each input gets the gradient at its switch position.

    Args:
        dout: shape (N, C, H, W); cache: from max_unpool_forward.

    Returns:
        dx: shape (N, C, H', W').
    """
    switches, pool_param = cache
    windows = _pool_windows(dout, pool_param, *switches.shape[2:])
    return np.take_along_axis(windows, switches[..., None], axis=-1)[..., 0]


def _conv_transpose_sizes(x: Array, w: Array, b: Array, conv_param: dict) -> tuple[int, int]:
    """Checks the arguments of conv_transpose_forward; returns the output's (H', W')."""
    s, p = conv_param["stride"], conv_param["pad"]
    if x.ndim != 4 or w.ndim != 4 or w.shape[0] != x.shape[1] or b.shape != (w.shape[1],):
        raise ValueError(f"need x (N, C_in, H, W), w (C_in, F, HH, WW), b (F,); got {x.shape}, "
                         f"{w.shape}, {b.shape}")
    if s < 1 or p < 0:
        raise ValueError(f"need stride >= 1 and pad >= 0, got stride={s}, pad={p}")
    h_out = (x.shape[2] - 1) * s - 2 * p + w.shape[2]
    w_out = (x.shape[3] - 1) * s - 2 * p + w.shape[3]
    if h_out < 1 or w_out < 1:
        raise ValueError(f"pad {p} crops away the whole output of size "
                         f"{(h_out + 2 * p, w_out + 2 * p)}; use a smaller pad")
    return h_out, w_out


@graded_in("ch09_detection_segmentation")
def conv_transpose_forward(x: Array, w: Array, b: Array, conv_param: dict) -> tuple[Array, Cache]:
    """Transposed convolution ("deconvolution", fractionally strided convolution).

    Each input value scatters value * w[c] into the output with its top-left corner at
    (i*S - P, j*S - P); overlapping contributions are summed and parts outside the output are
    dropped. This is F.conv_transpose2d(x, w, b, stride=S, padding=P), without output padding
    (not supported: PyTorch's output_padding=1 would add one more row and column at the
    bottom/right, e.g. the 4x4 instead of 3x3 output of a 3x3, stride 2, pad 1 layer on 2x2).

    Args:
        x: inputs, shape (N, C_in, H, W).
        w: filters, shape (C_in, F, HH, WW), as F.conv_transpose2d has them (and the transpose of
            a conv_forward_naive filter bank of shape (F_conv=C_in, C_conv=F, HH, WW)).
        b: biases, shape (F,).
        conv_param: {"stride": S, "pad": P}, S >= 1, P >= 0.

    Returns:
        out: shape (N, F, H', W') with H' = (H - 1) * S - 2P + HH, likewise W'.
        cache: (x, w, b, conv_param).
    """
    h_out, w_out = _conv_transpose_sizes(x, w, b, conv_param)
    s, p = conv_param["stride"], conv_param["pad"]
    n, _, height, width = x.shape
    _, f, hh, ww = w.shape
    # every input value times every filter tap: (N, F, HH, WW, H, W)
    products = np.tensordot(x, w, axes=(1, 0)).transpose(0, 3, 4, 5, 1, 2)
    full = np.zeros((n, f, h_out + 2 * p, w_out + 2 * p), dtype=products.dtype)
    for a in range(hh):
        for d in range(ww):
            full[:, :, _strided(a, height, s), _strided(d, width, s)] += products[:, :, a, d]
    out = full[:, :, p:p + h_out, p:p + w_out] + b[None, :, None, None]
    return out, (x, w, b, conv_param)


@graded_in("ch09_detection_segmentation")
def conv_transpose_backward(dout: Array, cache: Cache) -> tuple[Array, Array, Array]:
    """Backward pass of conv_transpose_forward.

    Each input value and filter tap receives the upstream gradient at the output position it
    was scattered to (a strided convolution of dout, as the forward pass of the transpose is the
    backward pass of a convolution and vice versa).

    Args:
        dout: upstream gradient, shape (N, F, H', W'); cache: from conv_transpose_forward.

    Returns:
        dx: shape (N, C_in, H, W); dw: shape (C_in, F, HH, WW); db: shape (F,).
    """
    x, w, _, conv_param = cache
    s, p = conv_param["stride"], conv_param["pad"]
    n, _, height, width = x.shape
    _, f, hh, ww = w.shape
    dfull = np.pad(dout, ((0, 0), (0, 0), (p, p), (p, p)))   # cropped positions get zero gradient
    # the gradient reaching each (input value, filter tap) product: (N, F, HH, WW, H, W)
    dproducts = np.empty((n, f, hh, ww, height, width), dtype=dfull.dtype)
    for a in range(hh):
        for d in range(ww):
            dproducts[:, :, a, d] = dfull[:, :, _strided(a, height, s), _strided(d, width, s)]
    dx = np.tensordot(dproducts, w, axes=([1, 2, 3], [1, 2, 3])).transpose(0, 3, 1, 2)
    dw = np.tensordot(x, dproducts, axes=([0, 2, 3], [0, 4, 5]))
    return dx, dw, dout.sum(axis=(0, 2, 3))


def convolution_matrix(w: Array, input_size: tuple[int, int], conv_param: dict) -> Array:
    """The matrix M of conv_layers.conv_forward_naive (without bias) on one (C, H, W) input.

    For x of shape (C, H, W), conv_forward_naive(x[None], w, np.zeros(F), conv_param)[0].ravel()
    == M @ x.ravel(). Its transpose is a transposed convolution with the same array w, read as
    (C_in=F, F_out=C, HH, WW): for y of shape (F, H', W'),
    conv_transpose_forward(y[None], w, np.zeros(C), conv_param)[0].ravel() == M.T @ y.ravel(),
    an output of size (H, W) again.

    Args:
        w: filters, shape (F, C, HH, WW).
        input_size: (H, W).
        conv_param: {"stride": S, "pad": P}; (H + 2P - HH) must be divisible by S.

    Returns:
        M: shape (F*H'*W', C*H*W), dtype of w; rows (f, i, j) and columns (c, r, q) in C order,
            H' = 1 + (H + 2P - HH) // S, likewise W'.
    """
    s, p = conv_param["stride"], conv_param["pad"]
    f, c, hh, ww = w.shape
    height, width = input_size
    h_out, w_out = _tiled_size(height, hh, s, p), _tiled_size(width, ww, s, p)
    # rows of M against the padded input, then the padding's columns dropped
    matrix = np.zeros((f, h_out, w_out, c, height + 2 * p, width + 2 * p), dtype=w.dtype)
    for i in range(h_out):
        for j in range(w_out):
            matrix[:, i, j, :, i * s:i * s + hh, j * s:j * s + ww] = w
    matrix = matrix[:, :, :, :, p:p + height, p:p + width]
    return matrix.reshape(f * h_out * w_out, c * height * width)
