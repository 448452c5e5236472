"""Linear classifiers trained by minibatch SGD, and random search, on small separable data."""

import numpy as np
import pytest

from course_utils.losses import softmax_loss_vectorized
from course_utils.models.linear import append_bias_column
from course_utils.models.linear_classifier import (
    accuracy,
    predict,
    random_search,
    train_linear_classifier,
)


@pytest.fixture(scope="module")
def blobs():
    """Three well-separated Gaussian blobs in 2-D (off-centre, so the bias matters)."""
    rng = np.random.default_rng(0)
    centres = np.array([[4.0, 0.0], [0.0, 4.0], [4.0, 4.0]])
    y = rng.integers(0, 3, 300)
    X = centres[y] + 0.5 * rng.standard_normal((300, 2))
    return append_bias_column(X), y


@pytest.mark.parametrize("loss", ["svm", "softmax"])
def test_training_separates_blobs_and_lowers_the_loss(blobs, loss):
    X, y = blobs
    W, history = train_linear_classifier(X, y, loss=loss, learning_rate=0.1, reg=1e-4, epochs=20,
                                         batch_size=30, seed=0)
    assert W.shape == (3, 3)
    assert len(history) == 20 * 10
    assert np.mean(history[-10:]) < 0.5 * np.mean(history[:10])
    assert accuracy(W, X, y) > 0.97


def test_training_is_seeded(blobs):
    X, y = blobs
    a, _ = train_linear_classifier(X, y, epochs=2, seed=5)
    b, _ = train_linear_classifier(X, y, epochs=2, seed=5)
    c, _ = train_linear_classifier(X, y, epochs=2, seed=6)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


def test_one_full_batch_step_is_a_gradient_step(blobs):
    X, y = blobs
    W0 = np.random.default_rng(1).standard_normal((3, 3))
    W, history = train_linear_classifier(X, y, learning_rate=0.5, reg=0.01, epochs=1,
                                         batch_size=len(y), W=W0)
    loss, dW = softmax_loss_vectorized(W0, X, y, 0.01)
    np.testing.assert_allclose(W, W0 - 0.5 * dW)
    assert history == [pytest.approx(loss)]


def test_loss_and_update_rule_may_be_functions(blobs):
    X, y = blobs
    calls = []

    def my_sgd(w, dw, config=None):
        calls.append(1)
        return w - config["learning_rate"] * dw, config

    by_name, _ = train_linear_classifier(X, y, loss="softmax", epochs=2, seed=1)
    by_function, _ = train_linear_classifier(X, y, loss=softmax_loss_vectorized, update_rule=my_sgd,
                                             epochs=2, seed=1)
    np.testing.assert_allclose(by_function, by_name)
    assert len(calls) == 4


def test_other_update_rules_work(blobs):
    X, y = blobs
    W, _ = train_linear_classifier(X, y, learning_rate=0.05, epochs=10, batch_size=30,
                                   update_rule="adam")
    assert accuracy(W, X, y) > 0.97


def test_predict_takes_the_highest_score():
    W = np.eye(3)
    np.testing.assert_array_equal(predict(W, np.array([[0.1, 0.9, 0.0], [2.0, -1.0, 1.0]])), [1, 0])


def test_random_search_ranks_by_validation_accuracy(blobs):
    X, y = blobs
    options = {"loss": "svm", "learning_rates": (1e-4, 1.0), "regs": (1e-5, 1e-1), "num_trials": 6,
               "seed": 0, "epochs": 3, "batch_size": 50}
    results = random_search(X[:200], y[:200], X[200:], y[200:], **options)
    assert len(results) == 6
    accuracies = [result["val_accuracy"] for result in results]
    assert accuracies == sorted(accuracies, reverse=True)
    assert accuracies[0] > 0.95
    assert all(1e-4 <= r["learning_rate"] <= 1.0 and 1e-5 <= r["reg"] <= 1e-1 for r in results)
    # log-uniform samples span several decades
    assert max(r["learning_rate"] for r in results) / min(r["learning_rate"] for r in results) > 10
    again = random_search(X[:200], y[:200], X[200:], y[200:], **options)
    assert [r["learning_rate"] for r in again] == [r["learning_rate"] for r in results]


def test_bad_arguments_raise(blobs):
    X, y = blobs
    with pytest.raises(ValueError, match="loss must be one of"):
        train_linear_classifier(X, y, loss="hinge")
    with pytest.raises(ValueError, match="update_rule"):
        train_linear_classifier(X, y, update_rule="lbfgs")
    with pytest.raises(ValueError, match="epochs and batch_size"):
        train_linear_classifier(X, y, epochs=0)
    with pytest.raises(ValueError, match=r"shape \(N,\)"):
        train_linear_classifier(X, y[:-1])
    with pytest.raises(ValueError, match="low <= high"):
        random_search(X, y, X, y, learning_rates=(1.0, 0.1))
    with pytest.raises(ValueError, match="num_trials"):
        random_search(X, y, X, y, num_trials=0)
