"""Tests of course_utils.fast_layers: same values as the naive loops, forward and backward."""

import numpy as np
import pytest

from course_utils import conv_layers, fast_layers


@pytest.mark.parametrize("stride,pad,h", [(1, 0, 7), (1, 1, 8), (2, 1, 7), (3, 1, 7)])
def test_conv_fast_equals_naive(stride: int, pad: int, h: int) -> None:
    rng = np.random.default_rng(0)
    x, w, b = rng.normal(size=(3, 2, h, h)), rng.normal(size=(4, 2, 3, 3)), rng.normal(size=4)
    param = {"stride": stride, "pad": pad}
    out, cache = conv_layers.conv_forward_naive(x, w, b, param)
    fast, fast_cache = fast_layers.conv_forward_fast(x, w, b, param)
    np.testing.assert_allclose(fast, out, rtol=1e-10, atol=1e-12)
    dout = rng.normal(size=out.shape)
    for name, a, c in zip(("dx", "dw", "db"), fast_layers.conv_backward_fast(dout, fast_cache),
                          conv_layers.conv_backward_naive(dout, cache), strict=True):
        assert a.shape == c.shape, name
        np.testing.assert_allclose(a, c, rtol=1e-10, atol=1e-12, err_msg=name)


@pytest.mark.parametrize("kind", ["max", "avg"])
@pytest.mark.parametrize("pool", [{"pool_height": 2, "pool_width": 2, "stride": 2},
                                  {"pool_height": 3, "pool_width": 2, "stride": 1}])
def test_pool_fast_equals_naive(kind: str, pool: dict) -> None:
    x = np.random.default_rng(1).normal(size=(2, 3, 6, 6))
    out, cache = getattr(conv_layers, f"{kind}_pool_forward_naive")(x, pool)
    fast, fast_cache = getattr(fast_layers, f"{kind}_pool_forward_fast")(x, pool)
    np.testing.assert_allclose(fast, out, rtol=1e-12)
    dout = np.random.default_rng(2).normal(size=out.shape)
    np.testing.assert_allclose(getattr(fast_layers, f"{kind}_pool_backward_fast")(dout, fast_cache),
                               getattr(conv_layers, f"{kind}_pool_backward_naive")(dout, cache),
                               rtol=1e-12, atol=1e-14)


def test_sandwich_fast_equals_naive() -> None:
    rng = np.random.default_rng(3)
    x, w, b = rng.normal(size=(2, 3, 8, 8)), rng.normal(size=(5, 3, 3, 3)), rng.normal(size=5)
    conv, pool = {"stride": 1, "pad": 1}, {"pool_height": 2, "pool_width": 2, "stride": 2}
    out, cache = conv_layers.conv_relu_pool_forward(x, w, b, conv, pool)
    fast, fast_cache = fast_layers.conv_relu_pool_forward_fast(x, w, b, conv, pool)
    np.testing.assert_allclose(fast, out, rtol=1e-10)
    dout = rng.normal(size=out.shape)
    for a, c in zip(fast_layers.conv_relu_pool_backward_fast(dout, fast_cache),
                    conv_layers.conv_relu_pool_backward(dout, cache), strict=True):
        np.testing.assert_allclose(a, c, rtol=1e-10, atol=1e-12)


def test_fast_rejects_non_tiling() -> None:
    x = np.zeros((1, 1, 7, 7))
    with pytest.raises(ValueError, match="do not tile"):
        fast_layers.conv_forward_fast(x, np.zeros((1, 1, 3, 3)), np.zeros(1),
                                      {"stride": 3, "pad": 0})
    with pytest.raises(ValueError, match="do not tile"):
        fast_layers.max_pool_forward_fast(x, {"pool_height": 2, "pool_width": 2, "stride": 2})


def test_max_pool_ties_go_to_the_first_maximum_like_naive() -> None:
    x = np.ones((1, 2, 4, 4))
    pool = {"pool_height": 2, "pool_width": 2, "stride": 2}
    dout = np.arange(8.0).reshape(1, 2, 2, 2)
    fast = fast_layers.max_pool_backward_fast(dout, fast_layers.max_pool_forward_fast(x, pool)[1])
    naive = conv_layers.max_pool_backward_naive(
        dout, conv_layers.max_pool_forward_naive(x, pool)[1])
    np.testing.assert_array_equal(fast, naive)
    np.testing.assert_array_equal(fast[0, 0, ::2, ::2], dout[0, 0])
    assert fast.sum() == dout.sum()
