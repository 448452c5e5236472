"""SVM and softmax losses: known values, numerical gradients in float64, and PyTorch."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from course_utils.gradcheck import numerical_gradient, relative_error
from course_utils.losses import (
    softmax_loss,
    softmax_loss_naive,
    softmax_loss_vectorized,
    svm_loss,
    svm_loss_naive,
    svm_loss_vectorized,
)

LINEAR = {"svm": (svm_loss_naive, svm_loss_vectorized),
          "softmax": (softmax_loss_naive, softmax_loss_vectorized)}


@pytest.fixture
def problem():
    rng = np.random.default_rng(0)
    num_train, dim, num_classes = 12, 7, 5
    W = 0.1 * rng.standard_normal((dim, num_classes))
    X = rng.standard_normal((num_train, dim))
    y = rng.integers(0, num_classes, num_train)
    return W, X, y


# Known values


def test_svm_loss_of_the_lecture_example():
    # Lecture 3: cat/car/frog scores of three images; the losses are 2.9, 0 and 12.9, mean 5.27.
    scores = np.array([[3.2, 5.1, -1.7], [1.3, 4.9, 2.0], [2.2, 2.5, -3.1]])
    loss, _ = svm_loss(scores, np.array([0, 1, 2]))
    assert loss == pytest.approx((2.9 + 0 + 12.9) / 3)


def test_softmax_loss_of_the_lecture_example():
    # Lecture 3: cat scores 3.2, 5.1, -1.7 give probability 0.13 for cat, loss -log(0.13) ≈ 2.04.
    loss, _ = softmax_loss(np.array([[3.2, 5.1, -1.7]]), np.array([0]))
    assert loss == pytest.approx(2.04, abs=0.01)


def test_softmax_loss_at_equal_scores_is_log_num_classes():
    loss, _ = softmax_loss(np.zeros((4, 10)), np.array([0, 3, 9, 2]))
    assert loss == pytest.approx(np.log(10))


def test_svm_loss_at_equal_scores_is_num_classes_minus_one():
    loss, _ = svm_loss(np.zeros((4, 10)), np.array([0, 3, 9, 2]))
    assert loss == pytest.approx(9.0)


def test_softmax_loss_is_stable_for_huge_scores():
    x = np.array([[1000.0, 0.0, -1000.0], [0.0, 1e4, 0.0]])
    loss, dx = softmax_loss(x, np.array([0, 0]))
    assert np.isfinite(loss) and np.all(np.isfinite(dx))
    assert loss == pytest.approx(1e4 / 2)
    W = np.eye(3)
    loss, dW = softmax_loss_vectorized(W, x, np.array([0, 0]), 0.0)
    assert loss == pytest.approx(1e4 / 2) and np.all(np.isfinite(dW))


# Naive and vectorized agree, penalty included


@pytest.mark.parametrize("kind", LINEAR)
@pytest.mark.parametrize("reg", [0.0, 0.3])
def test_naive_and_vectorized_agree(problem, kind, reg):
    naive, vectorized = LINEAR[kind]
    W, X, y = problem
    loss_n, dW_n = naive(W, X, y, reg)
    loss_v, dW_v = vectorized(W, X, y, reg)
    assert loss_n == pytest.approx(loss_v, rel=1e-12)
    assert relative_error(dW_n, dW_v) < 1e-10


@pytest.mark.parametrize("kind", LINEAR)
def test_penalty_is_reg_times_squared_norm(problem, kind):
    _, vectorized = LINEAR[kind]
    W, X, y = problem
    loss0, dW0 = vectorized(W, X, y, 0.0)
    loss1, dW1 = vectorized(W, X, y, 0.5)
    assert loss1 - loss0 == pytest.approx(0.5 * np.sum(W * W))
    np.testing.assert_allclose(dW1 - dW0, 2 * 0.5 * W, atol=1e-12)


def test_linear_form_is_the_layer_form_on_scores(problem):
    W, X, y = problem
    assert svm_loss_vectorized(W, X, y, 0.0)[0] == pytest.approx(svm_loss(X @ W, y)[0])
    assert softmax_loss_vectorized(W, X, y, 0.0)[0] == pytest.approx(softmax_loss(X @ W, y)[0])
    dW = softmax_loss_vectorized(W, X, y, 0.0)[1]
    np.testing.assert_allclose(dW, X.T @ softmax_loss(X @ W, y)[1])


# Numerical gradients (float64)


@pytest.mark.parametrize("kind", LINEAR)
@pytest.mark.parametrize("which", [0, 1])
def test_linear_gradients_match_numerical(problem, kind, which):
    function = LINEAR[kind][which]
    W, X, y = problem
    _, dW = function(W, X, y, 0.1)
    numeric = numerical_gradient(lambda w: function(w, X, y, 0.1)[0], W)
    # The hinge has kinks; with these random scores no margin lies within h of 0.
    assert relative_error(dW, numeric) < 1e-7


@pytest.mark.parametrize("loss_function", [svm_loss, softmax_loss])
def test_layer_gradients_match_numerical(loss_function):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((9, 6))
    y = rng.integers(0, 6, 9)
    _, dx = loss_function(x, y)
    numeric = numerical_gradient(lambda scores: loss_function(scores, y)[0], x)
    assert relative_error(dx, numeric) < 1e-7


# PyTorch


def test_softmax_loss_matches_torch_cross_entropy():
    rng = np.random.default_rng(2)
    x = 5 * rng.standard_normal((16, 10))
    y = rng.integers(0, 10, 16)
    loss, dx = softmax_loss(x, y)
    xt = torch.tensor(x, requires_grad=True)
    expected = F.cross_entropy(xt, torch.tensor(y))
    expected.backward()
    assert loss == pytest.approx(expected.item(), rel=1e-12)
    assert relative_error(dx, xt.grad.numpy()) < 1e-10


def test_svm_loss_is_num_classes_times_torch_multi_margin_loss():
    rng = np.random.default_rng(3)
    num_classes = 7
    x = rng.standard_normal((16, num_classes))
    y = rng.integers(0, num_classes, 16)
    loss, dx = svm_loss(x, y)
    xt = torch.tensor(x, requires_grad=True)
    # torch divides each example's sum of margins by C as well as averaging over N.
    expected = num_classes * F.multi_margin_loss(xt, torch.tensor(y), margin=1.0)
    expected.backward()
    assert loss == pytest.approx(expected.item(), rel=1e-12)
    assert relative_error(dx, xt.grad.numpy()) < 1e-10


# Bad input


@pytest.mark.parametrize("loss_function", [svm_loss, softmax_loss])
def test_layer_losses_reject_bad_labels(loss_function):
    x = np.zeros((3, 4))
    with pytest.raises(ValueError, match=r"\[0, 4\)"):
        loss_function(x, np.array([0, 1, 4]))
    with pytest.raises(ValueError, match="integer"):
        loss_function(x, np.array([0.0, 1.0, 2.0]))
    with pytest.raises(ValueError, match="shape"):
        loss_function(x, np.array([0, 1]))
    with pytest.raises(ValueError, match=r"\(N, C\)"):
        loss_function(np.zeros(4), np.array([0]))


@pytest.mark.parametrize("function", [*LINEAR["svm"], *LINEAR["softmax"]])
def test_linear_losses_reject_mismatched_shapes(function):
    with pytest.raises(ValueError, match=r"\(D, C\)"):
        function(np.zeros((5, 3)), np.zeros((2, 4)), np.array([0, 1]), 0.0)
