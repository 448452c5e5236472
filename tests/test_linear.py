"""Linear classifiers: the bias trick, scores, and least-squares templates against scikit-learn."""

import numpy as np
import pytest
from sklearn.linear_model import LinearRegression, Ridge

from course_utils.models.linear import (
    append_bias_column,
    least_squares_templates,
    linear_scores,
    merge_bias,
    one_hot,
    predict,
)


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def test_bias_column_is_ones_after_the_features(rng):
    x = rng.standard_normal((4, 3))
    extended = append_bias_column(x)
    assert extended.shape == (4, 4)
    np.testing.assert_array_equal(extended[:, :3], x)
    np.testing.assert_array_equal(extended[:, 3], 1.0)


def test_scores_are_the_same_with_and_without_the_bias_trick(rng):
    x, W, b = rng.standard_normal((6, 5)), rng.standard_normal((3, 5)), rng.standard_normal(3)
    scores = linear_scores(x, W, b)
    assert scores.shape == (6, 3)
    np.testing.assert_allclose(scores, x @ W.T + b, rtol=1e-12)
    np.testing.assert_allclose(linear_scores(append_bias_column(x), merge_bias(W, b)), scores,
                               rtol=1e-12)


def test_scores_of_a_known_example():
    # The CS231n notes' cat image: 4 pixels, 3 classes. The notes' figure prints 61.95 for the
    # third score; 0.25 * 231 + 0.2 * 24 - 0.3 * 2 - 1.2 is 60.75.
    W = np.array([[0.2, -0.5, 0.1, 2.0], [1.5, 1.3, 2.1, 0.0], [0.0, 0.25, 0.2, -0.3]])
    b = np.array([1.1, 3.2, -1.2])
    x = np.array([[56.0, 231.0, 24.0, 2.0]])
    np.testing.assert_allclose(linear_scores(x, W, b), [[-96.8, 437.9, 60.75]], rtol=1e-12)
    np.testing.assert_array_equal(predict(x, W, b), [1])


def test_bad_shapes_raise():
    with pytest.raises(ValueError, match="bias trick"):
        linear_scores(np.zeros((2, 4)), np.zeros((3, 5)))
    with pytest.raises(ValueError, match="one bias per class"):
        linear_scores(np.zeros((2, 4)), np.zeros((3, 4)), np.zeros(4))
    with pytest.raises(ValueError, match="flatten"):
        linear_scores(np.zeros((2, 2, 2)), np.zeros((3, 4)))
    with pytest.raises(ValueError, match=r"\(C,\)"):
        merge_bias(np.zeros((3, 4)), np.zeros(4))


def test_one_hot():
    np.testing.assert_array_equal(one_hot(np.array([2, 0]), 3), [[0, 0, 1], [1, 0, 0]])
    with pytest.raises(ValueError, match="0..2"):
        one_hot(np.array([3]), 3)
    with pytest.raises(ValueError, match="integer"):
        one_hot(np.array([0.0]), 3)


@pytest.mark.parametrize("reg", [0.1, 10.0])
def test_templates_match_sklearn_ridge(rng, reg):
    x, y = rng.standard_normal((40, 6)), rng.integers(0, 4, 40)
    W, b = least_squares_templates(x, y, reg)
    ridge = Ridge(alpha=reg).fit(x, one_hot(y, 4))
    assert W.shape == (4, 6) and b.shape == (4,)
    np.testing.assert_allclose(W, ridge.coef_, rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(b, ridge.intercept_, rtol=1e-8, atol=1e-12)


def test_unregularised_templates_match_lstsq_with_the_bias_trick(rng):
    x, y = rng.standard_normal((30, 5)), rng.integers(0, 3, 30)
    W, b = least_squares_templates(x, y)
    solution = np.linalg.lstsq(append_bias_column(x), one_hot(y, 3), rcond=None)[0].T
    np.testing.assert_allclose(merge_bias(W, b), solution, rtol=1e-8, atol=1e-12)


def test_rank_deficient_data_gets_the_smallest_templates(rng):
    # A pixel that is always 0, as on MNIST's border: its weights are 0 in the min-norm solution.
    x = np.hstack([rng.standard_normal((25, 4)), np.zeros((25, 1))])
    y = rng.integers(0, 3, 25)
    W, b = least_squares_templates(x, y, reg=0.0)
    np.testing.assert_allclose(W[:, 4], 0.0, atol=1e-12)
    reference = LinearRegression().fit(x, one_hot(y, 3))
    np.testing.assert_allclose(linear_scores(x, W, b), reference.predict(x), rtol=1e-8,
                               atol=1e-10)


def test_templates_make_the_gradient_vanish(rng):
    # Optimality: d/dW = 2 (S - T)^T x + 2 reg W = 0 and d/db = sum(S - T) = 0.
    x, y, reg = rng.standard_normal((50, 7)), rng.integers(0, 5, 50), 3.0
    W, b = least_squares_templates(x, y, reg)
    residual = linear_scores(x, W, b) - one_hot(y, 5)
    np.testing.assert_allclose(residual.T @ x + reg * W, 0.0, atol=1e-10)
    np.testing.assert_allclose(residual.sum(axis=0), 0.0, atol=1e-10)


def test_num_classes_adds_empty_classes(rng):
    x, y = rng.standard_normal((20, 3)), rng.integers(0, 2, 20)
    W, b = least_squares_templates(x, y, reg=1.0, num_classes=4)
    assert W.shape == (4, 3)
    np.testing.assert_allclose(W[2:], 0.0, atol=1e-12)
    np.testing.assert_allclose(b[2:], 0.0, atol=1e-12)


def test_templates_separate_separable_classes(rng):
    y = rng.integers(0, 3, 90)
    centres = np.array([[5.0, 0.0], [-5.0, 0.0], [0.0, 5.0]])
    x = centres[y] + 0.5 * rng.standard_normal((90, 2))
    W, b = least_squares_templates(x, y, reg=1e-3)
    np.testing.assert_array_equal(predict(x, W, b), y)


def test_bad_template_arguments_raise(rng):
    with pytest.raises(ValueError, match="reg"):
        least_squares_templates(np.zeros((3, 2)), np.array([0, 1, 0]), reg=-1.0)
    with pytest.raises(ValueError, match="labels"):
        least_squares_templates(np.zeros((3, 2)), np.array([0, 1]))
