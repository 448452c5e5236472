"""k-fold cross-validation of k-nearest neighbours, against scikit-learn, and the choice of k."""

import numpy as np
import pytest
from sklearn.model_selection import KFold, cross_val_score
from sklearn.neighbors import KNeighborsClassifier

from course_utils.model_selection import choose_k, cross_validate_knn, k_fold_split


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def test_folds_are_consecutive_and_cover_everything():
    x, y = np.arange(22).reshape(11, 2), np.arange(11)
    x_folds, y_folds = k_fold_split(x, y, 3)
    assert [len(fold) for fold in y_folds] == [4, 4, 3]
    np.testing.assert_array_equal(np.concatenate(x_folds), x)
    np.testing.assert_array_equal(np.concatenate(y_folds), y)
    np.testing.assert_array_equal(y_folds[1], [4, 5, 6, 7])


def test_bad_fold_arguments_raise():
    with pytest.raises(ValueError, match="num_folds"):
        k_fold_split(np.zeros((5, 2)), np.zeros(5), 1)
    with pytest.raises(ValueError, match="num_folds"):
        k_fold_split(np.zeros((5, 2)), np.zeros(5), 6)
    with pytest.raises(ValueError, match="matching"):
        k_fold_split(np.zeros((5, 2)), np.zeros(4), 2)


@pytest.mark.parametrize("p", [1, 2, np.inf])
def test_accuracies_match_sklearn_cross_val_score(rng, p):
    # Continuous data, two classes and odd k: no ties, so any correct k-NN agrees.
    x = rng.standard_normal((53, 4))
    y = (x[:, 0] + 0.5 * rng.standard_normal(53) > 0).astype(np.int64)
    k_choices = [1, 3, 7]
    accuracies = cross_validate_knn(x, y, k_choices, num_folds=5, p=p)
    assert list(accuracies) == k_choices
    metric = {"metric": "chebyshev"} if p == np.inf else {"metric": "minkowski", "p": p}
    for k in k_choices:
        model = KNeighborsClassifier(n_neighbors=k, algorithm="brute", **metric)
        expected = cross_val_score(model, x, y, cv=KFold(5))
        assert len(accuracies[k]) == 5 and all(isinstance(a, float) for a in accuracies[k])
        np.testing.assert_allclose(accuracies[k], expected, rtol=1e-12)


def test_separated_classes_are_classified_perfectly(rng):
    y = rng.integers(0, 3, 30)
    x = 20.0 * y[:, None] + rng.standard_normal((30, 3))
    accuracies = cross_validate_knn(x, y, [1, 3], num_folds=3)
    assert accuracies == {1: [1.0, 1.0, 1.0], 3: [1.0, 1.0, 1.0]}


def test_choose_k_takes_the_highest_mean():
    assert choose_k({1: [0.5, 0.7], 5: [0.8, 0.7], 10: [0.9, 0.4]}) == 5


def test_choose_k_breaks_ties_with_the_smallest_k():
    assert choose_k({10: [0.5, 0.5], 3: [0.25, 0.75], 7: [0.5, 0.5], 1: [0.1, 0.2]}) == 3


def test_choose_k_tie_survives_rounding():
    # 0.7 + 1.0 != 0.8 + 0.9 in floating point, but the means are equal.
    assert choose_k({8: [0.8, 0.9], 4: [0.7, 1.0]}) == 4
    assert choose_k({4: [0.7, 1.0], 8: [0.8, 0.9]}) == 4


def test_choose_k_returns_an_int_and_rejects_empty_input():
    assert type(choose_k({np.int64(3): [1.0]})) is int
    with pytest.raises(ValueError, match="empty"):
        choose_k({})
