"""Normalization layers: numerical gradients in float64 and agreement with PyTorch."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from course_utils import normalization as nm
from course_utils.gradcheck import numerical_gradient_array, relative_error


def _data(shape, seed=0):
    rng = np.random.default_rng(seed)
    return 3 * rng.standard_normal(shape) + 2


def _check_backward(forward, backward, x, gamma, beta, tol=1e-7):
    dout = np.random.default_rng(1).standard_normal(forward(x, gamma, beta).shape)
    _, cache = forward(x, gamma, beta, cache=True)
    dx, dgamma, dbeta = backward(dout, cache)
    for name, value, analytic in (("x", x, dx), ("gamma", gamma, dgamma), ("beta", beta, dbeta)):
        numeric = numerical_gradient_array(lambda _: forward(x, gamma, beta), value, dout)
        assert relative_error(analytic, numeric) < tol, f"d{name}"


def _bn(x, gamma, beta, cache=False):
    out, c = nm.batchnorm_forward(x, gamma, beta, {"mode": "train"})
    return (out, c) if cache else out


@pytest.mark.parametrize("backward", [nm.batchnorm_backward, nm.batchnorm_backward_alt])
def test_batchnorm_backward_matches_numerical_gradient(backward):
    x, gamma, beta = _data((6, 5)), _data(5, 2), _data(5, 3)
    _check_backward(_bn, backward, x, gamma, beta)


def test_batchnorm_backward_forms_agree():
    x, gamma = _data((20, 7)), _data(7, 2)
    _, cache = nm.batchnorm_forward(x, gamma, np.zeros(7), {"mode": "train"})
    dout = _data((20, 7), 3)
    for a, b in zip(nm.batchnorm_backward(dout, cache), nm.batchnorm_backward_alt(dout, cache),
                    strict=True):
        assert relative_error(a, b) < 1e-10


def test_batchnorm_train_and_test_match_torch_with_running_stats():
    gamma, beta = _data(4, 2), _data(4, 3)
    bn_param = {"mode": "train", "momentum": 0.9}
    rm, rv = torch.zeros(4, dtype=torch.float64), torch.ones(4, dtype=torch.float64)
    for step in range(3):
        x = _data((8, 4), 10 + step)
        out, _ = nm.batchnorm_forward(x, gamma, beta, bn_param)
        expected = F.batch_norm(torch.tensor(x), rm, rv, torch.tensor(gamma), torch.tensor(beta),
                                training=True, momentum=0.1, eps=1e-5)
        np.testing.assert_allclose(out, expected.numpy(), rtol=1e-10, atol=1e-10)
        # torch keeps the unbiased variance in its running average, we keep the biased one
        np.testing.assert_allclose(bn_param["running_mean"], rm.numpy(), rtol=1e-12)
    x = _data((5, 4), 99)
    test_out, _ = nm.batchnorm_forward(x, gamma, beta, {**bn_param, "mode": "test"})
    expected = F.batch_norm(torch.tensor(x), torch.tensor(bn_param["running_mean"]),
                            torch.tensor(bn_param["running_var"]), torch.tensor(gamma),
                            torch.tensor(beta), training=False, eps=1e-5)
    np.testing.assert_allclose(test_out, expected.numpy(), rtol=1e-10, atol=1e-10)


def test_batchnorm_running_variance_is_the_biased_batch_variance():
    x = _data((10, 3))
    bn_param = {"mode": "train", "momentum": 0.0}
    nm.batchnorm_forward(x, np.ones(3), np.zeros(3), bn_param)
    np.testing.assert_allclose(bn_param["running_var"], x.var(axis=0))


def test_batchnorm_rejects_an_unknown_mode():
    with pytest.raises(ValueError, match="mode"):
        nm.batchnorm_forward(_data((3, 2)), np.ones(2), np.zeros(2), {"mode": "eval"})


def _ln(x, gamma, beta, cache=False):
    out, c = nm.layernorm_forward(x, gamma, beta)
    return (out, c) if cache else out


def test_layernorm_matches_torch_and_numerical_gradient():
    x, gamma, beta = _data((4, 6)), _data(6, 2), _data(6, 3)
    expected = F.layer_norm(torch.tensor(x), (6,), torch.tensor(gamma), torch.tensor(beta),
                            eps=1e-5)
    np.testing.assert_allclose(_ln(x, gamma, beta), expected.numpy(), rtol=1e-10, atol=1e-10)
    _check_backward(_ln, nm.layernorm_backward, x, gamma, beta)


def _sbn(x, gamma, beta, cache=False):
    out, c = nm.spatial_batchnorm_forward(x, gamma, beta, {"mode": "train"})
    return (out, c) if cache else out


def test_spatial_batchnorm_matches_torch_and_numerical_gradient():
    x, gamma, beta = _data((2, 3, 4, 5)), _data(3, 2), _data(3, 3)
    expected = F.batch_norm(torch.tensor(x), None, None, torch.tensor(gamma), torch.tensor(beta),
                            training=True, eps=1e-5)
    np.testing.assert_allclose(_sbn(x, gamma, beta), expected.numpy(), rtol=1e-10, atol=1e-10)
    _check_backward(_sbn, nm.spatial_batchnorm_backward, x, gamma, beta)


def _gn(x, gamma, beta, cache=False):
    out, c = nm.spatial_groupnorm_forward(x, gamma, beta, 2)
    return (out, c) if cache else out


def test_groupnorm_matches_torch_and_numerical_gradient():
    x, gamma, beta = _data((2, 6, 3, 4)), _data((1, 6, 1, 1), 2), _data((1, 6, 1, 1), 3)
    expected = F.group_norm(torch.tensor(x), 2, torch.tensor(gamma.ravel()),
                            torch.tensor(beta.ravel()), eps=1e-5)
    np.testing.assert_allclose(_gn(x, gamma, beta), expected.numpy(), rtol=1e-10, atol=1e-10)
    _check_backward(_gn, nm.spatial_groupnorm_backward, x, gamma, beta)


def test_groupnorm_rejects_groups_that_do_not_divide_channels():
    with pytest.raises(ValueError, match="divisible"):
        nm.spatial_groupnorm_forward(_data((1, 6, 2, 2)), np.ones(6), np.zeros(6), 4)
