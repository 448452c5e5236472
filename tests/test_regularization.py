"""Weight penalties: known values, numerical gradients, PyTorch autograd and weight decay."""

import numpy as np
import pytest
import torch

from course_utils.gradcheck import numerical_gradient, relative_error
from course_utils.regularization import elastic_net, l1, l2


@pytest.fixture
def W():
    # No entry within the step h of 0, where |w| has its kink.
    w = np.random.default_rng(0).standard_normal((6, 4))
    return np.where(np.abs(w) < 0.01, 0.5, w)


PENALTIES = {
    "l2": (lambda w: l2(w, 0.3), lambda t: 0.3 * (t * t).sum()),
    "l1": (lambda w: l1(w, 0.3), lambda t: 0.3 * t.abs().sum()),
    "elastic_net": (lambda w: elastic_net(w, 0.2, 0.7),
                    lambda t: 0.2 * t.abs().sum() + 0.7 * (t * t).sum()),
}


def test_known_values():
    w = np.array([[1.0, -2.0], [0.0, 3.0]])
    assert l2(w, 0.5)[0] == pytest.approx(0.5 * 14)
    assert l1(w, 0.5)[0] == pytest.approx(0.5 * 6)
    assert elastic_net(w, 0.1, 1.0)[0] == pytest.approx(0.6 + 14)
    np.testing.assert_array_equal(l1(w, 2.0)[1], [[2.0, -2.0], [0.0, 2.0]])
    np.testing.assert_array_equal(l2(w, 0.5)[1], w)


def test_l1_subgradient_is_zero_at_zero_like_torch():
    w = np.zeros(3)
    t = torch.zeros(3, dtype=torch.float64, requires_grad=True)
    t.abs().sum().backward()
    np.testing.assert_array_equal(l1(w, 1.0)[1], t.grad.numpy())


@pytest.mark.parametrize("name", PENALTIES)
def test_gradient_matches_numerical(W, name):
    penalty, _ = PENALTIES[name]
    numeric = numerical_gradient(lambda w: penalty(w)[0], W)
    assert relative_error(penalty(W)[1], numeric) < 1e-8


@pytest.mark.parametrize("name", PENALTIES)
def test_value_and_gradient_match_torch_autograd(W, name):
    penalty, torch_penalty = PENALTIES[name]
    t = torch.tensor(W, requires_grad=True)
    value = torch_penalty(t)
    value.backward()
    assert penalty(W)[0] == pytest.approx(value.item(), rel=1e-12)
    assert relative_error(penalty(W)[1], t.grad.numpy()) < 1e-12


def test_l2_gradient_step_is_torch_weight_decay_with_twice_the_strength(W):
    reg, learning_rate = 0.05, 0.1
    data_gradient = np.ones_like(W)
    ours = W - learning_rate * (data_gradient + l2(W, reg)[1])
    t = torch.tensor(W, requires_grad=True)
    optimizer = torch.optim.SGD([t], lr=learning_rate, weight_decay=2 * reg)
    t.grad = torch.tensor(data_gradient)
    optimizer.step()
    np.testing.assert_allclose(ours, t.detach().numpy(), rtol=1e-12)


def test_zero_strength_gives_zero_and_negative_strength_raises(W):
    assert l2(W, 0.0)[0] == 0.0 and not l1(W, 0.0)[1].any()
    with pytest.raises(ValueError, match="reg must be >= 0"):
        l2(W, -1.0)
    with pytest.raises(ValueError, match="l1_reg must be >= 0"):
        elastic_net(W, -0.1, 0.1)
