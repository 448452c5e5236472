"""Texture synthesis and style transfer: the scanline method against a slow version, and the
optimisations moving the Gram matrices where they should."""

import numpy as np
import torch

from course_utils.visualization.random_features import random_texture_cnn, relu_indices
from course_utils.visualization.style import extract_features, gram_matrix
from course_utils.visualization.texture import (
    causal_offsets,
    scanline_texture,
    style_transfer,
    synthesize_texture,
)


def slow_scanline(sample, shape, window, seed):
    """Every candidate position compared in a plain loop; ties go to the first in raster order."""
    rng = np.random.default_rng(seed)
    half = window // 2
    height, width = sample.shape
    out = sample[rng.integers(0, height, (shape[0] + half, shape[1] + 2 * half)),
                 rng.integers(0, width, (shape[0] + half, shape[1] + 2 * half))].astype(float)
    offsets = causal_offsets(window)
    for r in range(half, shape[0] + half):
        for c in range(half, shape[1] + half):
            best, best_distance = None, np.inf
            for i in range(half, height):
                for j in range(half, width - half):
                    distance = sum((sample[i + dr, j + dc] - out[r + dr, c + dc]) ** 2
                                   for dr, dc in offsets)
                    if distance < best_distance:
                        best, best_distance = (i, j), distance
            out[r, c] = sample[best]
    return out[half:, half:shape[1] + half]


def test_causal_neighbourhood_is_what_raster_order_has_made():
    assert causal_offsets(3) == [(-1, -1), (-1, 0), (-1, 1), (0, -1)]
    assert len(causal_offsets(5)) == 12


def test_scanline_synthesis_equals_the_slow_version():
    sample = np.random.default_rng(1).random((9, 10))
    fast = scanline_texture(sample, (6, 7), window=3, seed=4)
    assert fast.shape == (6, 7)
    assert np.array_equal(fast, slow_scanline(sample, (6, 7), window=3, seed=4))


def test_scanline_synthesis_continues_stripes_in_colour():
    stripes = np.zeros((12, 12, 3))
    stripes[:, ::4], stripes[:, 1::4] = 1.0, 1.0      # columns 1 1 0 0 1 1 0 0 ...
    out = scanline_texture(stripes, (10, 16), window=5, seed=0)
    assert out.shape == (10, 16, 3)
    assert np.array_equal(out[4:], np.broadcast_to(out[4:5], out[4:].shape))  # rows repeat
    assert np.array_equal(out[-1, :-4], out[-1, 4:])                           # period 4


def gram_distance(cnn, image, target, layers):
    a, b = extract_features(image, cnn), extract_features(target, cnn)
    return sum(((gram_matrix(a[k]) - gram_matrix(b[k])) ** 2).sum().item() for k in layers)


def test_random_cnn_is_seeded_and_frozen():
    cnn = random_texture_cnn(widths=(4, 8))
    assert relu_indices(cnn) == [1, 4]
    assert not any(p.requires_grad for p in cnn.parameters())
    assert torch.equal(cnn[0].weight, random_texture_cnn(widths=(4, 8))[0].weight)
    assert not torch.equal(cnn[0].weight, random_texture_cnn(widths=(4, 8), seed=1)[0].weight)


def test_texture_synthesis_matches_the_gram_matrices_better_than_its_start():
    cnn = random_texture_cnn(widths=(8, 16))
    layers = relu_indices(cnn)
    texture = torch.rand(1, 3, 16, 16) * torch.linspace(0, 1, 16)   # a ramp under noise
    noise = torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    out = synthesize_texture(cnn, texture, layers, [1.0, 1.0], steps=30, progress=False)
    assert out.shape == (1, 3, 16, 16) and 0 <= out.min() and out.max() <= 1
    assert gram_distance(cnn, out, texture, layers) < 0.2 * gram_distance(cnn, noise, texture,
                                                                            layers)


def test_style_transfer_moves_the_content_image_towards_the_style():
    cnn = random_texture_cnn(widths=(8, 16))
    layers = relu_indices(cnn)
    content = torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(1))
    style = torch.zeros(1, 3, 12, 12)
    style[:, 0, :, ::3] = 1.0                               # red stripes
    out = style_transfer(cnn, content, style, content_layer=layers[1], content_weight=1e-3,
                         style_layers=layers, style_weights=[1e3, 1e3], tv_weight=1e-3,
                         steps=30, progress=False)
    assert out.shape == content.shape
    assert gram_distance(cnn, out, style, layers) < 0.5 * gram_distance(cnn, content, style,
                                                                          layers)
