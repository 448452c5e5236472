"""The chapter 1 warm-ups against loops, PyTorch and scikit-learn."""

import numpy as np
import pytest
import sklearn.metrics
import torch
import torch.nn.functional as F

from course_utils.array_basics import (
    broadcast_add,
    confusion_matrix,
    majority_vote,
    normalize_per_channel,
    one_hot,
    pairwise_squared_distances,
)


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def test_every_warm_up_is_graded_in_chapter_1():
    for function in (broadcast_add, pairwise_squared_distances, one_hot, normalize_per_channel,
                     confusion_matrix, majority_vote):
        assert function.__graded_in__ == "ch01_introduction"


# broadcast_add


def test_broadcast_add_matches_loops(rng):
    x = rng.standard_normal((3, 4))
    per_row, per_column = rng.standard_normal(3), rng.standard_normal(4)
    expected = [[x[i, j] + per_row[i] + per_column[j] for j in range(4)] for i in range(3)]
    np.testing.assert_allclose(broadcast_add(x, per_row, per_column), expected, rtol=1e-15)


def test_broadcast_add_square_input_does_not_mix_rows_and_columns():
    out = broadcast_add(np.zeros((2, 2)), np.array([10.0, 20.0]), np.array([1.0, 2.0]))
    np.testing.assert_array_equal(out, [[11.0, 12.0], [21.0, 22.0]])


def test_broadcast_add_rejects_wrong_lengths():
    with pytest.raises(ValueError, match="per_row"):
        broadcast_add(np.zeros((2, 3)), np.zeros(3), np.zeros(2))


# pairwise_squared_distances


def test_distances_match_torch_cdist(rng):
    a, b = rng.standard_normal((7, 5)), rng.standard_normal((9, 5))
    dists = pairwise_squared_distances(a, b)
    assert dists.shape == (7, 9) and dists.dtype == np.float64
    expected = torch.cdist(torch.tensor(a), torch.tensor(b)).numpy() ** 2
    np.testing.assert_allclose(dists, expected, rtol=1e-10, atol=1e-12)


def test_distances_match_loops_on_integer_pixels(rng):
    a = rng.integers(0, 256, size=(4, 64), dtype=np.uint8)
    b = rng.integers(0, 256, size=(3, 64), dtype=np.uint8)
    expected = [[np.sum((a[i].astype(float) - b[j]) ** 2) for j in range(3)] for i in range(4)]
    np.testing.assert_array_equal(pairwise_squared_distances(a, b), expected)


def test_distances_of_a_set_to_itself_are_symmetric_with_zero_diagonal(rng):
    a = rng.standard_normal((6, 3)) * 1e3
    dists = pairwise_squared_distances(a, a)
    np.testing.assert_allclose(dists, dists.T)
    assert np.all(dists >= 0)
    np.testing.assert_allclose(np.diag(dists), 0, atol=1e-6)


def test_distances_reject_mismatched_dimensions():
    with pytest.raises(ValueError, match="same D"):
        pairwise_squared_distances(np.zeros((2, 3)), np.zeros((2, 4)))


# one_hot


def test_one_hot_matches_torch(rng):
    labels = rng.integers(0, 5, size=20)
    codes = one_hot(labels, 7)
    assert codes.shape == (20, 7) and codes.dtype == np.float64
    expected = F.one_hot(torch.tensor(labels), num_classes=7).numpy()
    np.testing.assert_array_equal(codes, expected)


def test_one_hot_of_no_labels():
    assert one_hot(np.zeros(0, dtype=np.int64), 3).shape == (0, 3)


@pytest.mark.parametrize("labels, match", [
    (np.array([0, 3]), r"\[0, 2\], got 3"),
    (np.array([-1, 0]), "got -1"),
    (np.array([0.0, 1.0]), "integers"),
    (np.array([[0, 1]]), "shape"),
])
def test_one_hot_rejects_bad_labels(labels, match):
    with pytest.raises(ValueError, match=match):
        one_hot(labels, 3)


# normalize_per_channel


def test_normalize_per_channel_matches_torch_batch_norm(rng):
    x = rng.standard_normal((4, 3, 5, 6)) * np.array([1.0, 10.0, 0.1])[:, None, None] + 5
    out = normalize_per_channel(x, eps=1e-5)
    expected = F.batch_norm(torch.tensor(x), None, None, training=True, eps=1e-5).numpy()
    np.testing.assert_allclose(out, expected, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(out.mean(axis=(0, 2, 3)), 0, atol=1e-12)
    np.testing.assert_allclose(out.var(axis=(0, 2, 3)), 1, rtol=1e-3)


def test_normalize_per_channel_constant_channel_gives_zeros():
    x = np.full((2, 1, 3, 3), 7, dtype=np.uint8)
    out = normalize_per_channel(x)
    assert out.dtype == np.float64
    np.testing.assert_array_equal(out, 0)


def test_normalize_per_channel_rejects_non_4d():
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        normalize_per_channel(np.zeros((2, 3, 4)))


# confusion_matrix


def test_confusion_matrix_matches_sklearn(rng):
    y_true, y_pred = rng.integers(0, 4, size=50), rng.integers(0, 4, size=50)
    counts = confusion_matrix(y_true, y_pred, 5)
    assert counts.shape == (5, 5) and counts.dtype == np.int64
    expected = sklearn.metrics.confusion_matrix(y_true, y_pred, labels=range(5))
    np.testing.assert_array_equal(counts, expected)
    assert counts.sum() == 50 and np.trace(counts) == np.sum(y_true == y_pred)


def test_confusion_matrix_rows_are_true_classes():
    counts = confusion_matrix(np.array([0, 0, 1]), np.array([1, 1, 1]), 2)
    np.testing.assert_array_equal(counts, [[0, 2], [0, 1]])


def test_confusion_matrix_rejects_bad_input():
    with pytest.raises(ValueError, match="y_pred"):
        confusion_matrix(np.array([0, 1]), np.array([0, 2]), 2)
    with pytest.raises(ValueError, match="same shape"):
        confusion_matrix(np.array([0, 1]), np.array([0]), 2)


# majority_vote


def test_majority_vote_ties_go_to_the_smallest_label():
    labels = np.array([[2, 2, 1], [3, 1, 1], [4, 0, 4], [2, 1, 0], [5, 3, 3]])
    np.testing.assert_array_equal(majority_vote(labels, 6), [2, 1, 4, 0, 3])
    np.testing.assert_array_equal(majority_vote(np.array([[3, 1, 3, 1]]), 4), [1])


def test_majority_vote_matches_a_loop(rng):
    labels = rng.integers(0, 4, size=(30, 5))
    expected = [min(set(row), key=lambda c: (-list(row).count(c), c)) for row in labels]
    np.testing.assert_array_equal(majority_vote(labels, 4), expected)


def test_majority_vote_k_equals_one_and_empty():
    np.testing.assert_array_equal(majority_vote(np.array([[3], [0]]), 4), [3, 0])
    assert majority_vote(np.zeros((0, 3), dtype=np.int64), 2).shape == (0,)


def test_majority_vote_rejects_bad_input():
    with pytest.raises(ValueError, match="got 5"):
        majority_vote(np.array([[5, 1]]), 3)
    with pytest.raises(ValueError, match=r"\(N, k\)"):
        majority_vote(np.array([1, 2]), 3)
