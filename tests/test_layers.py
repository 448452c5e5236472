"""Layers: shapes, numerical gradients in float64, and PyTorch forward and backward."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from course_utils.gradcheck import layer_input_gradients, numerical_gradient_array, relative_error
from course_utils.layers import (
    affine_backward,
    affine_forward,
    affine_relu_backward,
    affine_relu_forward,
    leaky_relu_backward,
    leaky_relu_forward,
    relu_backward,
    relu_forward,
    sigmoid_backward,
    sigmoid_forward,
    tanh_backward,
    tanh_forward,
)

ACTIVATIONS = {
    "relu": (relu_forward, relu_backward, F.relu),
    "leaky_relu": (lambda x: leaky_relu_forward(x, 0.1), leaky_relu_backward,
                   lambda t: F.leaky_relu(t, 0.1)),
    "sigmoid": (sigmoid_forward, sigmoid_backward, torch.sigmoid),
    "tanh": (tanh_forward, tanh_backward, torch.tanh),
}


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def away_from_zero(x: np.ndarray, margin: float = 1e-3) -> np.ndarray:
    """x with entries near the kink at 0 pushed away, so centred differences are exact there."""
    return np.where(np.abs(x) < margin, np.sign(x + 1e-12) * 0.5, x)


def torch_forward_backward(function, inputs: list[np.ndarray], dout: np.ndarray):
    """Output and input gradients of a torch function for upstream gradient dout, in float64."""
    tensors = [torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in inputs]
    out = function(*tensors)
    out.backward(torch.tensor(dout))
    return out.detach().numpy(), [t.grad.numpy() for t in tensors]


# Affine


def test_affine_forward_known_values():
    x = np.arange(6.0).reshape(2, 3)
    w = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    b = np.array([0.5, -0.5])
    out, _ = affine_forward(x, w, b)
    np.testing.assert_allclose(out, [[2.5, 2.5], [8.5, 8.5]])


def test_affine_flattens_each_example(rng):
    x = rng.standard_normal((4, 2, 3, 5))
    w, b = rng.standard_normal((30, 6)), rng.standard_normal(6)
    out, cache = affine_forward(x, w, b)
    np.testing.assert_allclose(out, x.reshape(4, 30) @ w + b)
    dx, dw, db = affine_backward(rng.standard_normal((4, 6)), cache)
    assert (dx.shape, dw.shape, db.shape) == ((4, 2, 3, 5), (30, 6), (6,))


def test_affine_backward_numerically(rng):
    x = rng.standard_normal((5, 2, 3))
    w, b = rng.standard_normal((6, 4)), rng.standard_normal(4)
    dout = rng.standard_normal((5, 4))
    _, cache = affine_forward(x, w, b)
    grads = affine_backward(dout, cache)
    numeric_grads = layer_input_gradients(affine_forward, [x, w, b], dout)
    for grad, numeric in zip(grads, numeric_grads, strict=True):
        assert relative_error(grad, numeric) < 1e-9


def test_affine_matches_pytorch_linear(rng):
    x, w, b = rng.standard_normal((7, 5)), rng.standard_normal((5, 3)), rng.standard_normal(3)
    dout = rng.standard_normal((7, 3))
    out, cache = affine_forward(x, w, b)
    grads = affine_backward(dout, cache)
    # F.linear stores the weight as (out_features, in_features): pass w.T.
    expected_out, (ex, ewt, eb) = torch_forward_backward(
        lambda x_, wt_, b_: F.linear(x_, wt_, b_), [x, w.T, b], dout)
    np.testing.assert_allclose(out, expected_out, rtol=1e-12)
    for actual, expected in zip(grads, [ex, ewt.T, eb], strict=True):
        np.testing.assert_allclose(actual, expected, rtol=1e-12, atol=1e-12)


def test_affine_rejects_mismatched_shapes(rng):
    with pytest.raises(ValueError, match="D = 6"):
        affine_forward(rng.standard_normal((2, 3, 2)), rng.standard_normal((5, 4)), np.zeros(4))
    with pytest.raises(ValueError, match="b of shape"):
        affine_forward(rng.standard_normal((2, 5)), rng.standard_normal((5, 4)), np.zeros(3))


def test_affine_keeps_float32(rng):
    x = rng.standard_normal((3, 4)).astype(np.float32)
    w, b = rng.standard_normal((4, 2)).astype(np.float32), np.zeros(2, np.float32)
    out, cache = affine_forward(x, w, b)
    assert out.dtype == np.float32
    assert all(g.dtype == np.float32 for g in affine_backward(np.ones((3, 2), np.float32), cache))


# Activations


@pytest.mark.parametrize("name", ACTIVATIONS)
def test_activation_backward_numerically(rng, name):
    forward, backward, _ = ACTIVATIONS[name]
    x = away_from_zero(1.5 * rng.standard_normal((4, 3, 2)))  # saturated units have tiny gradients
    dout = rng.standard_normal(x.shape)
    _, cache = forward(x)
    dx = backward(dout, cache)
    numeric = numerical_gradient_array(lambda v: forward(v)[0], x, dout)
    assert dx.shape == x.shape
    assert relative_error(dx, numeric) < 1e-8


@pytest.mark.parametrize("name", ACTIVATIONS)
def test_activation_matches_pytorch(rng, name):
    forward, backward, torch_function = ACTIVATIONS[name]
    x = 4 * rng.standard_normal((6, 5))
    x[0, :3] = [0.0, 40.0, -40.0]  # the kink and saturation
    dout = rng.standard_normal(x.shape)
    out, cache = forward(x)
    dx = backward(dout, cache)
    expected_out, (expected_dx,) = torch_forward_backward(torch_function, [x], dout)
    np.testing.assert_allclose(out, expected_out, rtol=1e-12, atol=1e-300)
    np.testing.assert_allclose(dx, expected_dx, rtol=1e-10, atol=1e-15)


@pytest.mark.parametrize("name", ACTIVATIONS)
def test_activation_keeps_float32(rng, name):
    forward, backward, _ = ACTIVATIONS[name]
    x = rng.standard_normal((3, 4)).astype(np.float32)
    out, cache = forward(x)
    assert out.dtype == np.float32
    assert backward(np.ones_like(x), cache).dtype == np.float32


def test_sigmoid_does_not_overflow():
    x = np.array([-1000.0, -50.0, 0.0, 50.0, 1000.0])
    with np.errstate(over="raise", divide="raise", invalid="raise"):
        out, cache = sigmoid_forward(x)
        dx = sigmoid_backward(np.ones_like(x), cache)
    np.testing.assert_allclose(out, [0.0, np.exp(-50.0), 0.5, 1.0, 1.0], rtol=1e-12, atol=0)
    assert dx[2] == 0.25 and np.all(dx >= 0)


def test_relu_and_leaky_relu_known_values():
    x = np.array([-2.0, 0.0, 3.0])
    np.testing.assert_array_equal(relu_forward(x)[0], [0.0, 0.0, 3.0])
    np.testing.assert_array_equal(relu_backward(np.ones(3), x), [0.0, 0.0, 1.0])
    out, cache = leaky_relu_forward(x, 0.2)
    np.testing.assert_allclose(out, [-0.4, 0.0, 3.0])
    np.testing.assert_allclose(leaky_relu_backward(np.ones(3), cache), [0.2, 0.2, 1.0])
    np.testing.assert_allclose(leaky_relu_forward(x)[0], [-0.02, 0.0, 3.0])  # default slope 0.01


# Sandwich


def test_affine_relu_matches_its_parts_and_layer_input_gradients(rng):
    x = rng.standard_normal((4, 3, 2))
    w, b = rng.standard_normal((6, 5)), rng.standard_normal(5)
    dout = rng.standard_normal((4, 5))
    out, cache = affine_relu_forward(x, w, b)
    np.testing.assert_allclose(out, np.maximum(x.reshape(4, 6) @ w + b, 0))
    grads = affine_relu_backward(dout, cache)
    numeric_grads = layer_input_gradients(affine_relu_forward, [x, w, b], dout)
    for grad, numeric in zip(grads, numeric_grads, strict=True):
        assert relative_error(grad, numeric) < 1e-8


def test_affine_relu_matches_pytorch(rng):
    x, w, b = rng.standard_normal((6, 4)), rng.standard_normal((4, 3)), rng.standard_normal(3)
    dout = rng.standard_normal((6, 3))
    out, cache = affine_relu_forward(x, w, b)
    grads = affine_relu_backward(dout, cache)
    expected_out, (ex, ew, eb) = torch_forward_backward(
        lambda x_, w_, b_: F.relu(x_ @ w_ + b_), [x, w, b], dout)
    np.testing.assert_allclose(out, expected_out, rtol=1e-12)
    for actual, expected in zip(grads, [ex, ew, eb], strict=True):
        np.testing.assert_allclose(actual, expected, rtol=1e-12, atol=1e-12)
