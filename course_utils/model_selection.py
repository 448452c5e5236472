"""Choosing hyperparameters on held-out data: k-fold cross-validation of k-nearest neighbours."""

from collections.abc import Mapping, Sequence

import numpy as np

from course_utils.graded import graded_in
from course_utils.models.knn import compute_distances_no_loops, predict_labels


@graded_in("ch02_image_classification")
def k_fold_split(x: np.ndarray, y: np.ndarray,
                 num_folds: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Cut (x, y) into num_folds consecutive folds, in the order given (shuffle beforehand).

    Fold i is np.array_split(x, num_folds)[i]: the first len(x) % num_folds folds hold one
    sample more than the others.

    Args:
        x: samples, shape (N, ...).
        y: labels, shape (N,).
        num_folds: number of folds, 2 <= num_folds <= N.

    Returns:
        x_folds, y_folds: lists of num_folds arrays, shapes (N_i, ...) and (N_i,).
    """
    if len(x) != len(y):
        raise ValueError(f"x has {len(x)} samples but y has {len(y)}: pass matching arrays")
    if not 2 <= num_folds <= len(x):
        raise ValueError(f"num_folds={num_folds}: pass 2 <= num_folds <= {len(x)} "
                         "(the number of samples)")
    return np.array_split(x, num_folds), np.array_split(y, num_folds)


@graded_in("ch02_image_classification")
def cross_validate_knn(x: np.ndarray, y: np.ndarray, k_choices: Sequence[int], num_folds: int,
                       p: float = 2) -> dict[int, list[float]]:
    """Validation accuracy of k-nearest neighbours for each k on each of num_folds folds.

    For fold i, the classifier is trained on the other folds (concatenated in order) and
    evaluated on fold i; the folds come from k_fold_split.

    Args:
        x: samples as rows, shape (N, D).
        y: labels, non-negative integers, shape (N,).
        k_choices: the values of k to try.
        num_folds: number of folds.
        p: order of the distance norm, >= 1 or np.inf.

    Returns:
        {k: [accuracy on fold 0, ..., accuracy on fold num_folds - 1]}, accuracies as floats in
        [0, 1], keys in the order of k_choices.
    """
    x_folds, y_folds = k_fold_split(x, y, num_folds)
    accuracies: dict[int, list[float]] = {k: [] for k in k_choices}
    for i in range(num_folds):
        x_train = np.concatenate(x_folds[:i] + x_folds[i + 1:])
        y_train = np.concatenate(y_folds[:i] + y_folds[i + 1:])
        dists = compute_distances_no_loops(x_folds[i], x_train, p=p)  # once per fold, for every k
        for k in accuracies:
            accuracies[k].append(float(np.mean(predict_labels(dists, y_train, k) == y_folds[i])))
    return accuracies


@graded_in("ch02_image_classification")
def choose_k(accuracies: Mapping[int, Sequence[float]]) -> int:
    """The k with the highest mean accuracy over the folds; among equal means, the smallest k.

    Means within 1e-12 of each other count as equal, so that rounding in the sum cannot break a
    tie (0.7 + 1.0 and 0.8 + 0.9 differ in the last bit).

    Args:
        accuracies: {k: per-fold accuracies}, as cross_validate_knn returns.

    Returns:
        The chosen k, an int.
    """
    if not accuracies:
        raise ValueError("accuracies is empty: pass {k: [accuracy per fold]}")
    means = {k: float(np.mean(folds)) for k, folds in accuracies.items()}
    best = max(means.values())
    return int(min(k for k, mean in means.items() if mean >= best - 1e-12))
