"""Tests of course_utils.conv_layers: numerical gradients in float64 and agreement with PyTorch."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from course_utils import conv_layers
from course_utils.gradcheck import numerical_gradient_array, relative_error

CONV_CASES = [(1, 0), (1, 1), (2, 1), (3, 1)]
POOL = {"pool_height": 2, "pool_width": 2, "stride": 2}


def _conv_data(seed: int = 0, h: int = 7) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.normal(size=(2, 3, h, h)), rng.normal(size=(4, 3, 3, 3)), rng.normal(size=4)


@pytest.mark.parametrize("stride,pad", CONV_CASES)
def test_conv_matches_torch_forward_and_backward(stride: int, pad: int) -> None:
    x, w, b = _conv_data()
    out, cache = conv_layers.conv_forward_naive(x, w, b, {"stride": stride, "pad": pad})
    xt, wt, bt = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    ref = F.conv2d(xt, wt, bt, stride=stride, padding=pad)
    np.testing.assert_allclose(out, ref.detach().numpy(), rtol=1e-10, atol=1e-10)
    dout = np.random.default_rng(1).normal(size=out.shape)
    ref.backward(torch.tensor(dout))
    dx, dw, db = conv_layers.conv_backward_naive(dout, cache)
    for name, ours, theirs in (("dx", dx, xt), ("dw", dw, wt), ("db", db, bt)):
        np.testing.assert_allclose(ours, theirs.grad.numpy(), rtol=1e-9, atol=1e-10, err_msg=name)


def test_conv_backward_numerical() -> None:
    x, w, b = _conv_data(2)
    param = {"stride": 2, "pad": 1}
    out, cache = conv_layers.conv_forward_naive(x, w, b, param)
    dout = np.random.default_rng(3).normal(size=out.shape)
    dx, dw, db = conv_layers.conv_backward_naive(dout, cache)

    def forward(*arrays: np.ndarray) -> np.ndarray:
        return conv_layers.conv_forward_naive(*arrays, param)[0]

    num = {
        "dx": numerical_gradient_array(lambda v: forward(v, w, b), x, dout),
        "dw": numerical_gradient_array(lambda v: forward(x, v, b), w, dout),
        "db": numerical_gradient_array(lambda v: forward(x, w, v), b, dout),
    }
    for name, analytic in (("dx", dx), ("dw", dw), ("db", db)):
        assert relative_error(analytic, num[name]) < 1e-7, name


@pytest.mark.parametrize("kind", ["max", "avg"])
@pytest.mark.parametrize("pool", [POOL, {"pool_height": 3, "pool_width": 2, "stride": 1}])
def test_pool_matches_torch_and_numerical(kind: str, pool: dict) -> None:
    x = np.random.default_rng(4).normal(size=(2, 3, 6, 6))
    forward = getattr(conv_layers, f"{kind}_pool_forward_naive")
    backward = getattr(conv_layers, f"{kind}_pool_backward_naive")
    torch_pool = F.max_pool2d if kind == "max" else F.avg_pool2d
    out, cache = forward(x, pool)
    xt = torch.tensor(x, requires_grad=True)
    ref = torch_pool(xt, (pool["pool_height"], pool["pool_width"]), stride=pool["stride"])
    np.testing.assert_allclose(out, ref.detach().numpy(), rtol=1e-12)
    dout = np.random.default_rng(5).normal(size=out.shape)
    ref.backward(torch.tensor(dout))
    dx = backward(dout, cache)
    np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=1e-10, atol=1e-12)
    num = numerical_gradient_array(lambda v: forward(v, pool)[0], x, dout)
    assert relative_error(dx, num) < 1e-7


def test_output_size_and_parameter_count() -> None:
    assert conv_layers.conv_output_size(32, 5, stride=1, pad=2) == 32
    assert conv_layers.conv_output_size(227, 11, stride=4, pad=0) == 55
    assert conv_layers.conv_output_size(7, 3, stride=2) == 3
    assert conv_layers.conv_layer_parameter_count(5, 3, 10) == 760
    assert conv_layers.conv_layer_parameter_count(1, 64, 32) == 64 * 32 + 32


@pytest.mark.parametrize("size,filt,stride,pad", [(7, 3, 3, 0), (2, 5, 1, 1), (5, 3, 0, 0)])
def test_output_size_rejects_non_tiling(size: int, filt: int, stride: int, pad: int) -> None:
    with pytest.raises(ValueError, match="stride|filter"):
        conv_layers.conv_output_size(size, filt, stride, pad)


def test_conv_forward_rejects_bad_shapes_and_tiling() -> None:
    x, w, b = _conv_data()
    with pytest.raises(ValueError, match="whole number"):
        conv_layers.conv_forward_naive(x, w, b, {"stride": 3, "pad": 0})
    with pytest.raises(ValueError, match="need x"):
        conv_layers.conv_forward_naive(x, w[:, :2], b, {"stride": 1, "pad": 0})


def test_one_by_one_conv_is_per_pixel_affine() -> None:
    rng = np.random.default_rng(6)
    x, w, b = rng.normal(size=(2, 5, 4, 4)), rng.normal(size=(3, 5, 1, 1)), rng.normal(size=3)
    out, _ = conv_layers.conv_forward_naive(x, w, b, {"stride": 1, "pad": 0})
    pixels = x.transpose(0, 2, 3, 1).reshape(-1, 5)
    dense = (pixels @ w.reshape(3, 5).T + b).reshape(2, 4, 4, 3).transpose(0, 3, 1, 2)
    np.testing.assert_allclose(out, dense, rtol=1e-12)


def test_conv_relu_pool_sandwich_gradient() -> None:
    x, w, b = _conv_data(7, h=6)
    param = {"stride": 1, "pad": 1}
    out, cache = conv_layers.conv_relu_pool_forward(x, w, b, param, POOL)
    assert out.shape == (2, 4, 3, 3)
    dout = np.random.default_rng(8).normal(size=out.shape)
    dx, dw, _ = conv_layers.conv_relu_pool_backward(dout, cache)
    num_dw = numerical_gradient_array(
        lambda v: conv_layers.conv_relu_pool_forward(x, v, b, param, POOL)[0], w, dout)
    num_dx = numerical_gradient_array(
        lambda v: conv_layers.conv_relu_pool_forward(v, w, b, param, POOL)[0], x, dout)
    assert relative_error(dw, num_dw) < 1e-6
    assert relative_error(dx, num_dx) < 1e-6


def test_graded_marks() -> None:
    for name in ("conv_output_size", "conv_layer_parameter_count", "conv_forward_naive",
                 "conv_backward_naive", "max_pool_forward_naive", "max_pool_backward_naive",
                 "avg_pool_forward_naive", "avg_pool_backward_naive"):
        assert getattr(conv_layers, name).__graded_in__ == "ch05_cnn"
