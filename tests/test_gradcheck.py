"""Numerical gradients against functions whose gradients are known, and against PyTorch."""

import numpy as np
import pytest
import torch

from course_utils.gradcheck import (
    GradientCheck,
    layer_input_gradients,
    numerical_gradient,
    numerical_gradient_array,
    relative_error,
    sparse_gradient_check,
)


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


# relative_error


def test_relative_error_of_equal_arrays_is_zero():
    a = np.array([[0.0, 1.5], [-2.0, 0.0]])
    assert relative_error(a, a.copy()) == 0.0


def test_relative_error_is_the_max_elementwise_ratio():
    a = np.array([1.0, 2.0, 0.0])
    b = np.array([1.0, 1.0, 0.0])
    # |2 - 1| / (2 + 1) = 1/3 at index 1; the zeros compare equal
    assert relative_error(a, b) == pytest.approx(1 / 3)


def test_relative_error_opposite_signs_is_one_and_symmetric():
    assert relative_error(np.array([3.0]), np.array([-3.0])) == pytest.approx(1.0)
    a, b = np.array([1.0, 5.0]), np.array([1.1, 4.0])
    assert relative_error(a, b) == relative_error(b, a)


def test_relative_error_accepts_scalars_and_rejects_shape_mismatch():
    assert relative_error(1.0, 1.0) == 0.0
    assert relative_error(2.0, 1.0) == pytest.approx(1 / 3)
    with pytest.raises(ValueError, match="shapes differ"):
        relative_error(np.zeros(3), np.zeros((3, 1)))


# numerical_gradient


@pytest.mark.parametrize("shape", [(1,), (5,), (3, 4), (2, 3, 2)])
def test_gradient_of_quadratic_form(rng, shape):
    n = int(np.prod(shape))
    a = rng.standard_normal((n, n))
    x = rng.standard_normal(shape)
    grad = numerical_gradient(lambda v: v.ravel() @ a @ v.ravel(), x)
    assert grad.shape == shape and grad.dtype == np.float64
    expected = ((a + a.T) @ x.ravel()).reshape(shape)
    assert relative_error(grad, expected) < 1e-7


def test_gradient_of_sum_of_sines(rng):
    x = rng.uniform(-3, 3, size=(4, 5))
    grad = numerical_gradient(lambda v: np.sin(v).sum(), x)
    assert relative_error(grad, np.cos(x)) < 1e-7


def test_gradient_of_matrix_product_wrt_each_factor(rng):
    a = rng.standard_normal((3, 4))
    b = rng.standard_normal((4, 2))
    g = rng.standard_normal((3, 2))
    loss = lambda: np.sum((a @ b) * g)  # noqa: E731
    assert relative_error(numerical_gradient(lambda _: loss(), a), g @ b.T) < 1e-7
    assert relative_error(numerical_gradient(lambda _: loss(), b), a.T @ g) < 1e-7


def test_gradient_of_softmax_cross_entropy_matches_pytorch(rng):
    scores = rng.standard_normal((5, 4))
    labels = np.array([0, 3, 1, 1, 2])

    def loss(s):
        p = softmax(s)
        return -np.log(p[np.arange(len(labels)), labels]).mean()

    grad = numerical_gradient(loss, scores)
    t = torch.tensor(scores, requires_grad=True)
    torch.nn.functional.cross_entropy(t, torch.tensor(labels)).backward()
    assert relative_error(grad, t.grad.numpy()) < 1e-7


def test_x_is_restored_exactly(rng):
    x = rng.standard_normal((3, 3)) * 1e3 + 0.1  # values where x + h - h != x in floating point
    before = x.copy()
    numerical_gradient(lambda v: np.sum(v ** 3), x)
    np.testing.assert_array_equal(x, before)


def test_x_is_restored_when_f_raises(rng):
    x = rng.standard_normal(4)
    before = x.copy()
    calls = []

    def fails_on_third_call(v):
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("boom")
        return v.sum()

    with pytest.raises(RuntimeError, match="boom"):
        numerical_gradient(fails_on_third_call, x)
    np.testing.assert_array_equal(x, before)


def test_f_sees_x_perturbed_in_place(rng):
    x = rng.standard_normal(3)
    captured = x  # f closes over the same array
    grad = numerical_gradient(lambda _: float(captured @ captured), x)
    assert relative_error(grad, 2 * x) < 1e-7


def test_works_on_non_contiguous_views(rng):
    base = rng.standard_normal((4, 6))
    view = base[:, ::2]
    grad = numerical_gradient(lambda v: np.sum(v ** 2), view)
    assert relative_error(grad, 2 * view) < 1e-7


@pytest.mark.parametrize("bad, error, match", [
    ([1.0, 2.0], TypeError, "NumPy array"),
    (np.array([1, 2]), ValueError, "float array"),
    (np.array([1.0, 2.0], dtype=np.float32), ValueError, "float64"),
])
def test_bad_x_is_rejected(bad, error, match):
    with pytest.raises(error, match=match):
        numerical_gradient(lambda v: np.sum(v), bad)


def test_bad_step_and_non_scalar_f_are_rejected():
    x = np.ones(3)
    with pytest.raises(ValueError, match="positive"):
        numerical_gradient(np.sum, x, h=0.0)
    with pytest.raises(ValueError, match="numerical_gradient_array"):
        numerical_gradient(lambda v: v * 2, x)


# numerical_gradient_array


def test_array_gradient_of_affine_map(rng):
    x = rng.standard_normal((2, 3))
    w = rng.standard_normal((3, 4))
    upstream = rng.standard_normal((2, 4))
    grad = numerical_gradient_array(lambda v: v @ w, x, upstream)
    assert grad.shape == x.shape
    assert relative_error(grad, upstream @ w.T) < 1e-7


def test_array_gradient_of_identity_returning_a_view(rng):
    x = rng.standard_normal((3, 2))
    upstream = rng.standard_normal((3, 2))
    grad = numerical_gradient_array(lambda v: v, x, upstream)
    assert relative_error(grad, upstream) < 1e-7


def test_array_gradient_of_softmax_matches_pytorch(rng):
    x = rng.standard_normal((3, 5))
    upstream = rng.standard_normal((3, 5))
    before = x.copy()
    grad = numerical_gradient_array(softmax, x, upstream)
    np.testing.assert_array_equal(x, before)
    t = torch.tensor(x, requires_grad=True)
    torch.softmax(t, dim=1).backward(torch.tensor(upstream))
    assert relative_error(grad, t.grad.numpy()) < 1e-7


def test_array_gradient_of_relu_away_from_kink(rng):
    x = rng.standard_normal((4, 4))
    x[np.abs(x) < 1e-3] = 0.5  # stay away from the kink at 0
    upstream = rng.standard_normal((4, 4))
    grad = numerical_gradient_array(lambda v: np.maximum(v, 0), x, upstream)
    assert relative_error(grad, upstream * (x > 0)) < 1e-7


def test_array_gradient_rejects_upstream_of_wrong_shape(rng):
    x = rng.standard_normal((2, 3))
    with pytest.raises(ValueError, match="upstream"):
        numerical_gradient_array(lambda v: v.sum(axis=0), x, np.ones((2, 3)))


# sparse_gradient_check


def test_sparse_check_passes_a_correct_gradient(rng):
    x = rng.standard_normal((10, 7))
    before = x.copy()
    result = sparse_gradient_check(lambda v: np.sum(np.sin(v) * v), x, np.cos(x) * x + np.sin(x))
    assert isinstance(result, GradientCheck)
    assert len(result.indices) == 10 and result.errors.shape == (10,)
    assert result.max_error < 1e-7
    np.testing.assert_array_equal(x, before)


def test_sparse_check_finds_a_wrong_coordinate(rng):
    x = rng.standard_normal((3, 4))
    analytic = 2 * x
    analytic[1, 2] += 1.0
    result = sparse_gradient_check(lambda v: np.sum(v ** 2), x, analytic, num_checks=200)
    assert result.worst_index == (1, 2)
    assert result.max_error > 1e-2
    k = result.indices.index((1, 2))
    assert result.analytic[k] == analytic[1, 2]
    assert result.numerical[k] == pytest.approx(2 * x[1, 2])


def test_sparse_check_is_reproducible_with_seed(rng):
    x = rng.standard_normal((5, 5))
    first = sparse_gradient_check(np.sum, x, np.ones_like(x), seed=3)
    again = sparse_gradient_check(np.sum, x, np.ones_like(x), seed=3)
    other = sparse_gradient_check(np.sum, x, np.ones_like(x), seed=4)
    assert first.indices == again.indices
    assert first.indices != other.indices


def test_sparse_check_rejects_bad_input(rng):
    x = rng.standard_normal((2, 2))
    with pytest.raises(ValueError, match="shape"):
        sparse_gradient_check(np.sum, x, np.ones(4))
    with pytest.raises(ValueError, match="num_checks"):
        sparse_gradient_check(np.sum, x, np.ones_like(x), num_checks=-1)
    with pytest.raises(ValueError, match="empty"):
        sparse_gradient_check(np.sum, np.zeros(0), np.zeros(0))


def test_layer_input_gradients_of_a_product_layer():
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal((3, 4)), rng.standard_normal((4, 2))
    upstream = rng.standard_normal((3, 2))
    dx, dw = layer_input_gradients(lambda x, w: (x @ w, None), [x, w], upstream)
    np.testing.assert_allclose(dx, upstream @ w.T, rtol=1e-8)
    np.testing.assert_allclose(dw, x.T @ upstream, rtol=1e-8)
