"""Gram matrices and the style-transfer losses against explicit sums."""

import itertools

import torch
from torch import nn

from course_utils.visualization.style import (
    content_loss,
    extract_features,
    gram_matrix,
    style_loss,
    tv_loss,
)


def slow_gram(features):
    n, c, h, w = features.shape
    gram = torch.zeros(n, c, c, dtype=features.dtype)
    for k, i, j in itertools.product(range(n), range(c), range(c)):
        gram[k, i, j] = sum(features[k, i, r, s] * features[k, j, r, s]
                            for r in range(h) for s in range(w))
    return gram


def test_gram_matrix_sums_over_positions_and_normalises_by_chw():
    features = torch.randn(2, 3, 4, 5, dtype=torch.double)
    assert torch.allclose(gram_matrix(features, normalize=False), slow_gram(features))
    assert torch.allclose(gram_matrix(features), slow_gram(features) / (3 * 4 * 5))


def test_content_and_tv_losses():
    a, b = torch.randn(1, 2, 3, 3), torch.randn(1, 2, 3, 3)
    assert torch.isclose(content_loss(0.5, a, b), 0.5 * ((a - b) ** 2).sum())
    img = torch.randn(1, 3, 4, 5, dtype=torch.double)
    expected = sum((img[0, c, i + 1, j] - img[0, c, i, j]) ** 2
                   for c in range(3) for i in range(3) for j in range(5))
    expected += sum((img[0, c, i, j + 1] - img[0, c, i, j]) ** 2
                    for c in range(3) for i in range(4) for j in range(4))
    assert torch.isclose(tv_loss(img, 2.0), 2.0 * expected)


def test_style_loss_weighs_each_chosen_layer():
    feats = [torch.randn(1, c, s, s, dtype=torch.double) for c, s in [(2, 6), (3, 4), (4, 2)]]
    targets = [torch.randn(1, 2, 2, dtype=torch.double), torch.randn(1, 4, 4, dtype=torch.double)]
    loss = style_loss(feats, [0, 2], targets, [10.0, 0.1])
    expected = (10.0 * ((slow_gram(feats[0]) / 72 - targets[0]) ** 2).sum()
                + 0.1 * ((slow_gram(feats[2]) / 16 - targets[1]) ** 2).sum())
    assert torch.isclose(loss, expected)


def test_the_notes_style_loss_is_a_quarter_of_the_normalised_one():
    features, target = torch.randn(1, 3, 4, 4, dtype=torch.double), torch.randn(1, 3, 4, 4,
                                                                              dtype=torch.double)
    n, m = 3, 16
    notes = ((slow_gram(features) - slow_gram(target)) ** 2).sum() / (4 * n ** 2 * m ** 2)
    ours = style_loss([features], [0], [gram_matrix(target)], [1.0])
    assert torch.isclose(ours, 4 * notes)


def test_extract_features_returns_every_modules_output():
    cnn = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.MaxPool2d(2))
    x = torch.randn(1, 1, 8, 8)
    features = extract_features(x, cnn)
    assert [f.shape[-1] for f in features] == [6, 6, 3]
    assert torch.equal(features[-1], cnn(x))
