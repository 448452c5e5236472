"""Augmentations: shapes, invariants, reproducibility, and the graded cutout and mixup."""

import numpy as np
import pytest

from course_utils import augmentation as aug


def _images(n=6, c=3, h=10, w=12, seed=0):
    return np.random.default_rng(seed).random((n, c, h, w))


def test_flip_mirrors_about_half_the_images():
    x = _images(200)
    out = aug.random_flip(x, np.random.default_rng(0))
    flipped = np.all(out == x[:, :, :, ::-1], axis=(1, 2, 3))
    assert np.all(flipped | np.all(out == x, axis=(1, 2, 3)))
    assert 0.35 < flipped.mean() < 0.65


def test_crop_keeps_shape_and_zero_shift_window_exists():
    x = _images()
    out = aug.random_crop(x, np.random.default_rng(0), pad=2)
    assert out.shape == x.shape
    np.testing.assert_array_equal(aug.random_crop(x, np.random.default_rng(0), pad=0), x)


def test_scale_and_rotation_keep_shape_and_identity_settings_change_nothing():
    x = _images()
    rng = np.random.default_rng(0)
    np.testing.assert_allclose(aug.random_scale(x, rng, 1.0, 1.0), x, atol=1e-12)
    np.testing.assert_allclose(aug.random_rotation(x, rng, 0.0), x, atol=1e-12)
    assert aug.random_rotation(x, rng, 30.0).shape == x.shape


def test_color_jitter_without_strength_is_identity_and_keeps_mean_under_contrast():
    x = _images()
    rng = np.random.default_rng(0)
    np.testing.assert_allclose(aug.color_jitter(x, rng, 0.0, 0.0), x)
    out = aug.color_jitter(x, rng, 0.0, 0.5)
    np.testing.assert_allclose(out.mean(axis=(1, 2, 3)), x.mean(axis=(1, 2, 3)))


def test_cutout_zeros_a_clipped_square_in_every_channel():
    x = np.ones((50, 2, 9, 9))
    out = aug.cutout(x, np.random.default_rng(0), size=4)
    zeros = (out == 0).sum(axis=(2, 3))
    assert np.all(zeros[:, 0] == zeros[:, 1]) and zeros.max() == 16 and zeros.min() >= 4
    rng = np.random.default_rng(1)
    r, c = rng.integers(0, 9, 50)[0], rng.integers(0, 9, 50)[0]
    assert aug.cutout(x, np.random.default_rng(1), size=1)[0, 0, r, c] == 0


def test_mixup_blends_images_and_labels_with_the_same_weights():
    x, y = _images(8), np.arange(8) % 3
    xm, ym = aug.mixup(x, y, 3, np.random.default_rng(0), alpha=0.4)
    rng = np.random.default_rng(0)
    lam, perm = rng.beta(0.4, 0.4, 8), rng.permutation(8)
    np.testing.assert_allclose(
        xm, lam[:, None, None, None] * x + (1 - lam[:, None, None, None]) * x[perm])
    np.testing.assert_allclose(ym.sum(axis=1), 1)
    assert ym.shape == (8, 3)


def test_non_image_input_is_rejected():
    with pytest.raises(ValueError, match="N, C, H, W"):
        aug.random_flip(np.ones((3, 4)), np.random.default_rng(0))
