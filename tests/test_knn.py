"""k-nearest neighbours: distances against scikit-learn and PyTorch, the vote and its tie rules."""

import numpy as np
import pytest
import torch
from sklearn.metrics import pairwise_distances

from course_utils.models.knn import (
    compute_distances_no_loops,
    compute_distances_one_loop,
    compute_distances_two_loops,
    minkowski_norm,
    predict_labels,
)

DISTANCE_FUNCTIONS = [compute_distances_two_loops, compute_distances_one_loop,
                      compute_distances_no_loops]
NORMS = [1, 1.5, 2, 3, np.inf]


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def sklearn_distances(x_test, x_train, p):
    if p == np.inf:
        return pairwise_distances(x_test, x_train, metric="chebyshev")
    return pairwise_distances(x_test, x_train, metric="minkowski", p=p)


# distances


@pytest.mark.parametrize("p", NORMS)
@pytest.mark.parametrize("distances", DISTANCE_FUNCTIONS)
def test_distances_match_sklearn_and_torch(rng, distances, p):
    x_test, x_train = rng.standard_normal((7, 12)), rng.standard_normal((11, 12))
    dists = distances(x_test, x_train, p=p)
    assert dists.shape == (7, 11) and dists.dtype == np.float64
    np.testing.assert_allclose(dists, sklearn_distances(x_test, x_train, p), rtol=1e-10)
    by_torch = torch.cdist(torch.from_numpy(x_test), torch.from_numpy(x_train), p=p).numpy()
    np.testing.assert_allclose(dists, by_torch, rtol=1e-10)


def test_distances_of_known_points():
    x_test = np.array([[0.0, 0.0], [1.0, 1.0]])
    x_train = np.array([[3.0, 4.0], [1.0, 1.0], [-1.0, 0.0]])
    expected = {
        1: [[7, 2, 1], [5, 0, 3]],
        2: [[5, np.sqrt(2), 1], [np.sqrt(13), 0, np.sqrt(5)]],
        np.inf: [[4, 1, 1], [3, 0, 2]],
    }
    for p, values in expected.items():
        for distances in DISTANCE_FUNCTIONS:
            np.testing.assert_allclose(distances(x_test, x_train, p=p), values, rtol=1e-12,
                                       atol=1e-12, err_msg=f"{distances.__name__}, p={p}")


@pytest.mark.parametrize("p", NORMS)
def test_three_versions_agree_on_mnist_like_pixels(rng, p):
    x_test = rng.integers(0, 256, size=(6, 784), dtype=np.uint8)
    x_train = rng.integers(0, 256, size=(9, 784), dtype=np.uint8)
    loops = compute_distances_two_loops(x_test, x_train, p)
    np.testing.assert_allclose(compute_distances_one_loop(x_test, x_train, p), loops, rtol=1e-12)
    np.testing.assert_allclose(compute_distances_no_loops(x_test, x_train, p), loops, rtol=1e-9)


@pytest.mark.parametrize("distances", DISTANCE_FUNCTIONS)
def test_uint8_pixels_do_not_wrap_around(distances):
    x_test, x_train = np.array([[3, 0]], dtype=np.uint8), np.array([[5, 0]], dtype=np.uint8)
    for p in (1, 2, np.inf):
        assert distances(x_test, x_train, p)[0, 0] == 2.0  # not |3 - 5| = 254 in uint8


def test_no_loops_clips_rounding_below_zero(rng):
    # Equal rows of large norm: ||a||^2 + ||b||^2 - 2ab may round to a tiny negative number.
    x = rng.uniform(0, 255, size=(20, 784)) + 1e4
    dists = compute_distances_no_loops(x, x)
    assert np.isfinite(dists).all() and (dists >= 0).all()
    assert np.abs(np.diag(dists)).max() < 1e-2 * dists[~np.eye(20, dtype=bool)].min()


def test_no_loops_blocks_give_the_same_result(rng, monkeypatch):
    from course_utils.models import knn

    x_test, x_train = rng.standard_normal((10, 6)), rng.standard_normal((7, 6))
    whole = compute_distances_no_loops(x_test, x_train, p=1)
    monkeypatch.setattr(knn, "BLOCK_ELEMENTS", 2 * x_train.size)  # blocks of 2 test rows
    np.testing.assert_array_equal(compute_distances_no_loops(x_test, x_train, p=1), whole)


def test_large_p_does_not_overflow():
    diff = np.array([[255.0, 254.0, 1.0], [0.0, 0.0, 0.0]])
    norms = minkowski_norm(diff, 1000.0)
    assert np.isfinite(norms).all()
    assert norms[1] == 0.0
    assert 255.0 < norms[0] < 255.0 * 2 ** (1 / 1000) + 1e-9


def test_minkowski_norm_matches_numpy(rng):
    diff = rng.standard_normal((4, 5))
    for p in NORMS:
        np.testing.assert_allclose(minkowski_norm(diff, p, axis=1),
                                   np.linalg.norm(diff, ord=p, axis=1), rtol=1e-12)


def test_empty_test_set_gives_empty_rows(rng):
    for distances in DISTANCE_FUNCTIONS:
        for p in (1, 2):
            assert distances(np.zeros((0, 3)), rng.standard_normal((4, 3)), p).shape == (0, 4)


@pytest.mark.parametrize("distances", DISTANCE_FUNCTIONS)
def test_bad_distance_inputs_raise(distances):
    with pytest.raises(ValueError, match="features per row"):
        distances(np.zeros((2, 3)), np.zeros((4, 5)))
    with pytest.raises(ValueError, match="2-D"):
        distances(np.zeros((2, 28, 28)), np.zeros((4, 784)))
    with pytest.raises(ValueError, match="p >= 1"):
        distances(np.zeros((2, 3)), np.zeros((4, 3)), p=0.5)


def test_distance_functions_are_marked_for_chapter_2():
    for function in [*DISTANCE_FUNCTIONS, predict_labels, minkowski_norm]:
        assert function.__graded_in__ == "ch02_image_classification"


# predict_labels


def brute_force_vote(dists, y_train, k):
    """Majority vote in plain Python: nearest first (stable), smallest label on ties."""
    predictions = []
    for row in dists:
        order = sorted(range(len(row)), key=lambda j: (row[j], j))[:k]
        votes = [int(y_train[j]) for j in order]
        predictions.append(min(set(votes), key=lambda label: (-votes.count(label), label)))
    return np.array(predictions)


def test_k1_takes_the_nearest_label():
    dists = np.array([[3.0, 1.0, 2.0], [0.5, 4.0, 0.1]])
    y_pred = predict_labels(dists, np.array([7, 4, 9]), k=1)
    np.testing.assert_array_equal(y_pred, [4, 9])
    assert y_pred.dtype == np.int64


def test_vote_tie_goes_to_the_smallest_label():
    dists = np.array([[1.0, 2.0, 3.0, 4.0]])
    y_train = np.array([5, 2, 5, 2])
    assert predict_labels(dists, y_train, k=2)[0] == 2  # one vote each for 5 and 2
    assert predict_labels(dists, y_train, k=3)[0] == 5  # 5 has two votes
    assert predict_labels(dists, y_train, k=4)[0] == 2  # two votes each


def test_distance_tie_counts_training_points_in_order():
    dists = np.array([[1.0, 1.0, 1.0]])
    np.testing.assert_array_equal(predict_labels(dists, np.array([3, 1, 2]), k=1), [3])


@pytest.mark.parametrize("k", [1, 2, 3, 5, 10, 30])
def test_vote_matches_brute_force(rng, k):
    dists = rng.integers(0, 5, size=(40, 30)).astype(np.float64)  # many distance ties
    y_train = rng.integers(0, 4, size=30)
    np.testing.assert_array_equal(predict_labels(dists, y_train, k),
                                  brute_force_vote(dists, y_train, k))


def test_bad_vote_inputs_raise():
    dists, y_train = np.zeros((2, 3)), np.array([0, 1, 2])
    for k in (0, 4):
        with pytest.raises(ValueError, match="k="):
            predict_labels(dists, y_train, k)
    with pytest.raises(ValueError, match="num_train"):
        predict_labels(dists, np.array([0, 1]), 1)
    with pytest.raises(ValueError, match="non-negative integer"):
        predict_labels(dists, np.array([0.0, 1.0, 2.0]), 1)
    with pytest.raises(ValueError, match="non-negative integer"):
        predict_labels(dists, np.array([0, -1, 2]), 1)


def test_knn_on_separated_clusters_is_perfect(rng):
    centres = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    y_train, y_test = rng.integers(0, 3, 60), rng.integers(0, 3, 20)
    x_train = centres[y_train] + rng.standard_normal((60, 2))
    x_test = centres[y_test] + rng.standard_normal((20, 2))
    for p in (1, 2, np.inf):
        dists = compute_distances_no_loops(x_test, x_train, p)
        np.testing.assert_array_equal(predict_labels(dists, y_train, k=5), y_test)
