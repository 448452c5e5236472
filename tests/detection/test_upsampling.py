"""Upsampling layers against PyTorch, slow loops, numerical gradients and the convolution matrix."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from course_utils import conv_layers
from course_utils.detection import upsampling
from course_utils.gradcheck import numerical_gradient_array, relative_error

# (N, C_in, H, W, F, HH, WW, stride, pad)
TRANSPOSE_CASES = [
    (2, 3, 4, 5, 4, 3, 3, 1, 0),
    (2, 3, 4, 4, 2, 3, 3, 2, 1),
    (1, 2, 3, 5, 3, 4, 2, 3, 2),
    (2, 1, 5, 3, 2, 2, 4, 2, 0),
    (1, 2, 2, 2, 3, 1, 1, 3, 0),     # 1x1 filters, stride 3: gaps between the copies
    (2, 3, 3, 3, 2, 5, 5, 1, 2),
]
POOLS = [
    {"pool_height": 2, "pool_width": 2, "stride": 2},
    {"pool_height": 2, "pool_width": 3, "stride": 3},
    {"pool_height": 2, "pool_width": 2, "stride": 3},   # positions in no window
    {"pool_height": 1, "pool_width": 1, "stride": 1},
]


def _transpose_data(case: tuple, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict]:
    n, c, h, width, f, hh, ww, stride, pad = case
    rng = np.random.default_rng(seed)
    x, w, b = rng.normal(size=(n, c, h, width)), rng.normal(size=(c, f, hh, ww)), rng.normal(size=f)
    return x, w, b, {"stride": stride, "pad": pad}


def _conv_transpose_loops(x: np.ndarray, w: np.ndarray, b: np.ndarray, stride: int,
                          pad: int) -> np.ndarray:
    """The docstring's definition: every input value scatters value * w[c] at (i*S - P, j*S - P)."""
    n, c, h, width = x.shape
    _, f, hh, ww = w.shape
    out = np.zeros((n, f, (h - 1) * stride - 2 * pad + hh, (width - 1) * stride - 2 * pad + ww))
    for image in range(n):
        for channel in range(c):
            for i in range(h):
                for j in range(width):
                    for a in range(hh):
                        for d in range(ww):
                            r, q = i * stride - pad + a, j * stride - pad + d
                            if 0 <= r < out.shape[2] and 0 <= q < out.shape[3]:
                                out[image, :, r, q] += x[image, channel, i, j] * w[channel, :, a, d]
    return out + b[None, :, None, None]


@pytest.mark.parametrize("case", TRANSPOSE_CASES)
def test_conv_transpose_matches_torch_forward_and_backward(case: tuple) -> None:
    x, w, b, param = _transpose_data(case)
    out, cache = upsampling.conv_transpose_forward(x, w, b, param)
    xt, wt, bt = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    ref = F.conv_transpose2d(xt, wt, bt, stride=param["stride"], padding=param["pad"])
    np.testing.assert_allclose(out, ref.detach().numpy(), rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(out, _conv_transpose_loops(x, w, b, param["stride"], param["pad"]),
                               rtol=1e-10, atol=1e-10)
    dout = np.random.default_rng(1).normal(size=out.shape)
    ref.backward(torch.tensor(dout))
    grads = upsampling.conv_transpose_backward(dout, cache)
    for name, ours, theirs in zip(("dx", "dw", "db"), grads, (xt, wt, bt), strict=True):
        np.testing.assert_allclose(ours, theirs.grad.numpy(), rtol=1e-9, atol=1e-10,
                                   err_msg=f"{name}, case {case}")


@pytest.mark.parametrize("case", [TRANSPOSE_CASES[1], TRANSPOSE_CASES[2]])
def test_conv_transpose_backward_numerical(case: tuple) -> None:
    x, w, b, param = _transpose_data(case, seed=2)
    out, cache = upsampling.conv_transpose_forward(x, w, b, param)
    dout = np.random.default_rng(3).normal(size=out.shape)
    dx, dw, db = upsampling.conv_transpose_backward(dout, cache)

    def forward(*arrays: np.ndarray) -> np.ndarray:
        return upsampling.conv_transpose_forward(*arrays, param)[0]

    num = {
        "dx": numerical_gradient_array(lambda v: forward(v, w, b), x, dout),
        "dw": numerical_gradient_array(lambda v: forward(x, v, b), w, dout),
        "db": numerical_gradient_array(lambda v: forward(x, w, v), b, dout),
    }
    for name, analytic in (("dx", dx), ("dw", dw), ("db", db)):
        assert relative_error(analytic, num[name]) < 1e-7, name


def test_notes_example_3x3_stride_2_pad_1_maps_2x2_to_3x3() -> None:
    x = np.array([[1.0, 2.0], [3.0, 4.0]])[None, None]
    w, b = np.ones((1, 1, 3, 3)), np.zeros(1)
    out, _ = upsampling.conv_transpose_forward(x, w, b, {"stride": 2, "pad": 1})
    # copies of 1, 2, 3, 4 at corners (-1, -1), (-1, 1), (1, -1), (1, 1), summed where they overlap
    np.testing.assert_array_equal(out[0, 0], [[1, 3, 2], [4, 10, 6], [3, 7, 4]])
    # PyTorch's output_padding=1 (not supported here) adds a last row and column: the 4x4 output
    padded = F.conv_transpose2d(torch.tensor(x), torch.tensor(w), stride=2, padding=1,
                                output_padding=1)[0, 0].numpy()
    assert padded.shape == (4, 4)
    np.testing.assert_array_equal(padded[:3, :3], out[0, 0])


@pytest.mark.parametrize("size,filt,stride,pad", [(5, 3, 1, 0), (5, 3, 2, 1), (7, 3, 2, 0),
                                                  (8, 4, 2, 1), (7, 5, 3, 2)])
def test_conv_transpose_is_the_transposed_convolution_matrix(size: int, filt: int, stride: int,
                                                             pad: int) -> None:
    rng = np.random.default_rng(4)
    c, f = 2, 3
    w = rng.normal(size=(f, c, filt, filt))
    param = {"stride": stride, "pad": pad}
    matrix = upsampling.convolution_matrix(w, (size, size), param)
    x = rng.normal(size=(1, c, size, size))
    conv, _ = conv_layers.conv_forward_naive(x, w, np.zeros(f), param)
    assert matrix.shape == (conv.size, x.size)
    np.testing.assert_allclose(matrix @ x.ravel(), conv.ravel(), rtol=1e-10, atol=1e-12)
    y = rng.normal(size=conv.shape)
    transposed, _ = upsampling.conv_transpose_forward(y, w, np.zeros(c), param)
    assert transposed.shape == x.shape
    np.testing.assert_allclose(transposed.ravel(), matrix.T @ y.ravel(), rtol=1e-10, atol=1e-12)


def test_conv_transpose_rejects_bad_arguments() -> None:
    x, w, b, param = _transpose_data(TRANSPOSE_CASES[0])
    with pytest.raises(ValueError, match="need x"):
        upsampling.conv_transpose_forward(x, w[:2], b, param)
    with pytest.raises(ValueError, match="need x"):
        upsampling.conv_transpose_forward(x, w, b[:2], param)
    with pytest.raises(ValueError, match="stride"):
        upsampling.conv_transpose_forward(x, w, b, {"stride": 0, "pad": 0})
    with pytest.raises(ValueError, match="pad"):
        upsampling.conv_transpose_forward(x[:, :, :1, :1], w[:, :, :1, :1], b,
                                          {"stride": 1, "pad": 1})


def test_conv_transpose_keeps_float32() -> None:
    x, w, b, param = (a.astype(np.float32) if isinstance(a, np.ndarray) else a
                      for a in _transpose_data(TRANSPOSE_CASES[1]))
    out, cache = upsampling.conv_transpose_forward(x, w, b, param)
    assert out.dtype == np.float32
    assert all(g.dtype == np.float32 for g in upsampling.conv_transpose_backward(out, cache))


@pytest.mark.parametrize("factor", [1, 2, 3])
def test_unpool_nearest_matches_interpolate(factor: int) -> None:
    x = np.random.default_rng(5).normal(size=(2, 3, 3, 4))
    out, cache = upsampling.unpool_nearest_forward(x, factor)
    xt = torch.tensor(x, requires_grad=True)
    ref = F.interpolate(xt, scale_factor=factor, mode="nearest")
    np.testing.assert_array_equal(out, ref.detach().numpy())
    dout = np.random.default_rng(6).normal(size=out.shape)
    ref.backward(torch.tensor(dout))
    dx = upsampling.unpool_nearest_backward(dout, cache)
    np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=1e-12)
    num = numerical_gradient_array(lambda v: upsampling.unpool_nearest_forward(v, factor)[0], x,
                                   dout)
    assert relative_error(dx, num) < 1e-7


def test_bed_of_nails_puts_values_at_block_top_left() -> None:
    x = np.array([[1.0, 2.0], [3.0, 4.0]])[None, None]
    out, _ = upsampling.unpool_bed_of_nails_forward(x, 2)
    np.testing.assert_array_equal(out[0, 0], [[1, 0, 2, 0], [0, 0, 0, 0],
                                              [3, 0, 4, 0], [0, 0, 0, 0]])


@pytest.mark.parametrize("factor", [2, 3])
def test_bed_of_nails_is_a_transposed_convolution_with_a_one_hot_filter(factor: int) -> None:
    rng = np.random.default_rng(7)
    x = rng.normal(size=(2, 3, 3, 2))
    out, cache = upsampling.unpool_bed_of_nails_forward(x, factor)
    nail = np.zeros((3, 3, factor, factor))
    nail[:, :, 0, 0] = np.eye(3)
    ref, _ = upsampling.conv_transpose_forward(x, nail, np.zeros(3), {"stride": factor, "pad": 0})
    np.testing.assert_array_equal(out, ref)
    dout = rng.normal(size=out.shape)
    dx = upsampling.unpool_bed_of_nails_backward(dout, cache)
    num = numerical_gradient_array(lambda v: upsampling.unpool_bed_of_nails_forward(v, factor)[0],
                                   x, dout)
    assert relative_error(dx, num) < 1e-7


@pytest.mark.parametrize("layer", ["unpool_nearest_forward", "unpool_bed_of_nails_forward"])
def test_unpool_rejects_bad_factors(layer: str) -> None:
    for factor in (0, 1.5):
        with pytest.raises(ValueError, match="factor"):
            getattr(upsampling, layer)(np.zeros((1, 1, 2, 2)), factor)


def _pool_input(pool: dict, seed: int = 8) -> np.ndarray:
    ph, pw, s = pool["pool_height"], pool["pool_width"], pool["stride"]
    return np.random.default_rng(seed).normal(size=(2, 3, 2 * s + ph, 3 * s + pw))


@pytest.mark.parametrize("pool", POOLS)
def test_max_unpool_matches_torch_max_unpool(pool: dict) -> None:
    pool_input = _pool_input(pool)
    pooled, pool_cache = conv_layers.max_pool_forward_naive(pool_input, pool)
    x = np.random.default_rng(9).normal(size=pooled.shape)
    out, cache = upsampling.max_unpool_forward(x, pool_cache)
    kernel, stride = (pool["pool_height"], pool["pool_width"]), pool["stride"]
    _, indices = F.max_pool2d(torch.tensor(pool_input), kernel, stride, return_indices=True)
    xt = torch.tensor(x, requires_grad=True)
    ref = nn.MaxUnpool2d(kernel, stride)(xt, indices, output_size=pool_input.shape[-2:])
    np.testing.assert_array_equal(out, ref.detach().numpy())
    dout = np.random.default_rng(10).normal(size=out.shape)
    ref.backward(torch.tensor(dout))
    dx = upsampling.max_unpool_backward(dout, cache)
    np.testing.assert_array_equal(dx, xt.grad.numpy())
    num = numerical_gradient_array(lambda v: upsampling.max_unpool_forward(v, pool_cache)[0], x,
                                   dout)
    assert relative_error(dx, num) < 1e-7


@pytest.mark.parametrize("pool", POOLS[:3])
def test_max_unpool_is_max_pool_backward_and_takes_the_first_tied_maximum(pool: dict) -> None:
    pool_input = np.round(_pool_input(pool, seed=11))   # many ties within windows
    pool_input[0, 0] = 1.0                               # a plane where every window is tied
    pooled, pool_cache = conv_layers.max_pool_forward_naive(pool_input, pool)
    x = np.random.default_rng(12).normal(size=pooled.shape)
    out, _ = upsampling.max_unpool_forward(x, pool_cache)
    np.testing.assert_array_equal(out, conv_layers.max_pool_backward_naive(x, pool_cache))
    s = pool["stride"]
    np.testing.assert_array_equal(out[0, 0, ::s, ::s], x[0, 0])   # each window's top-left


def test_max_unpool_rejects_overlapping_windows_and_wrong_shapes() -> None:
    pool = {"pool_height": 3, "pool_width": 3, "stride": 2}
    pooled, pool_cache = conv_layers.max_pool_forward_naive(np.zeros((1, 1, 5, 5)), pool)
    with pytest.raises(ValueError, match="overlap"):
        upsampling.max_unpool_forward(pooled, pool_cache)
    pooled, pool_cache = conv_layers.max_pool_forward_naive(np.zeros((1, 2, 4, 4)), POOLS[0])
    with pytest.raises(ValueError, match="pooled shape"):
        upsampling.max_unpool_forward(pooled[:, :1], pool_cache)


def test_graded_marks() -> None:
    for name in ("unpool_nearest_forward", "unpool_bed_of_nails_forward", "max_unpool_forward",
                 "conv_transpose_forward", "conv_transpose_backward"):
        assert getattr(upsampling, name).__graded_in__ == "ch09_detection_segmentation"
