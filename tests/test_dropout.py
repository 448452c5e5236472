"""Inverted dropout: statistics, reproducibility, gradient."""

import numpy as np
import pytest
import torch

from course_utils.dropout import dropout_backward, dropout_forward
from course_utils.gradcheck import numerical_gradient_array, relative_error


@pytest.mark.parametrize("p", [0.25, 0.5, 0.8])
def test_train_mode_keeps_the_mean_and_zeros_a_fraction_one_minus_p(p):
    x = np.random.default_rng(0).standard_normal((500, 500)) + 10
    out, _ = dropout_forward(x, {"p": p, "mode": "train", "seed": 1})
    assert abs(out.mean() - x.mean()) < 0.02 * x.mean()
    assert abs((out == 0).mean() - (1 - p)) < 0.005
    # same statistics as torch's dropout with drop probability 1 - p
    torch_out = torch.nn.functional.dropout(torch.tensor(x), p=1 - p, training=True)
    assert abs((torch_out == 0).double().mean().item() - (out == 0).mean()) < 0.01
    np.testing.assert_allclose(out[out != 0], x[out != 0] / p)


def test_test_mode_is_the_identity_and_seed_makes_masks_reproducible():
    x = np.arange(12.0).reshape(3, 4)
    np.testing.assert_array_equal(dropout_forward(x, {"p": 0.5, "mode": "test"})[0], x)
    a, _ = dropout_forward(x, {"p": 0.5, "mode": "train", "seed": 3})
    b, _ = dropout_forward(x, {"p": 0.5, "mode": "train", "seed": 3})
    np.testing.assert_array_equal(a, b)


def test_backward_matches_numerical_gradient():
    x = np.random.default_rng(0).standard_normal((6, 7))
    param = {"p": 0.6, "mode": "train", "seed": 5}
    dout = np.random.default_rng(1).standard_normal(x.shape)
    _, cache = dropout_forward(x, param)
    numeric = numerical_gradient_array(lambda v: dropout_forward(v, param)[0], x, dout)
    assert relative_error(dropout_backward(dout, cache), numeric) < 1e-9


def test_bad_keep_probability_is_rejected():
    with pytest.raises(ValueError, match="keep"):
        dropout_forward(np.ones(3), {"p": 0.0, "mode": "train"})
