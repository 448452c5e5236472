import numpy as np
import pytest
import torch

from course_utils.generative import quality


def random_covariance(rng: np.random.Generator, dim: int) -> np.ndarray:
    factor = rng.normal(size=(dim, dim + 3))
    return factor @ factor.T / dim


def test_frechet_distance_of_diagonal_gaussians_has_a_closed_form():
    rng = np.random.default_rng(0)
    mu1, mu2 = rng.normal(size=5), rng.normal(size=5)
    var1, var2 = rng.uniform(0.1, 3, size=5), rng.uniform(0.1, 3, size=5)
    expected = np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(var1) - np.sqrt(var2)) ** 2)
    got = quality.frechet_distance(mu1, np.diag(var1), mu2, np.diag(var2))
    assert isinstance(got, float)
    assert got == pytest.approx(expected, rel=1e-9)


def test_frechet_distance_matches_the_symmetric_form_and_is_symmetric():
    rng = np.random.default_rng(1)
    mu1, mu2 = rng.normal(size=8), rng.normal(size=8)
    sigma1, sigma2 = random_covariance(rng, 8), random_covariance(rng, 8)
    values, vectors = np.linalg.eigh(sigma1)
    root1 = vectors @ np.diag(np.sqrt(values)) @ vectors.T
    trace_root = np.sqrt(np.clip(np.linalg.eigvalsh(root1 @ sigma2 @ root1), 0, None)).sum()
    expected = (np.sum((mu1 - mu2) ** 2) + np.trace(sigma1) + np.trace(sigma2) - 2 * trace_root)
    assert quality.frechet_distance(mu1, sigma1, mu2, sigma2) == pytest.approx(expected, rel=1e-8)
    assert quality.frechet_distance(mu2, sigma2, mu1, sigma1) == pytest.approx(expected, rel=1e-8)
    assert quality.frechet_distance(mu1, sigma1, mu1, sigma1) == pytest.approx(0, abs=1e-8)


def test_frechet_distance_rejects_bad_statistics():
    eye = np.eye(3)
    with pytest.raises(ValueError, match="differ in dimension"):
        quality.frechet_distance(np.zeros(3), eye, np.zeros(2), np.eye(2))
    with pytest.raises(ValueError, match="covariance"):
        quality.frechet_distance(np.zeros(3), np.eye(2), np.zeros(3), eye)
    with pytest.raises(ValueError, match="symmetric"):
        quality.frechet_distance(np.zeros(3), np.triu(np.ones((3, 3))), np.zeros(3), eye)
    with pytest.raises(ValueError, match="NaN"):
        quality.frechet_distance(np.full(3, np.nan), eye, np.zeros(3), eye)


def test_feature_statistics_are_the_mean_and_unbiased_covariance():
    features = np.array([[0.0, 1.0], [2.0, 1.0], [4.0, 4.0]])
    mu, sigma = quality.feature_statistics(features)
    np.testing.assert_allclose(mu, [2.0, 2.0])
    np.testing.assert_allclose(sigma, np.cov(features.T, ddof=1))
    with pytest.raises(ValueError, match="N >= 2"):
        quality.feature_statistics(features[:1])


def test_classifier_input_upsamples_and_accepts_uint8():
    small = torch.rand(3, 1, 14, 14)
    assert quality.as_classifier_input(small).shape == (3, 1, 28, 28)
    digits = np.full((2, 28, 28), 255, np.uint8)
    assert torch.equal(quality.as_classifier_input(digits), torch.ones(2, 1, 28, 28))
    with pytest.raises(ValueError, match=r"\(N, 1, H, W\)"):
        quality.as_classifier_input(torch.rand(2, 3, 28, 28))


def test_real_digits_score_near_the_floor_and_noise_far_above_it():
    real = quality.real_digits(300, seed=0)
    assert real.shape == (300, 1, 28, 28) and 0 <= real.min() and real.max() <= 1
    noise = torch.rand(300, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    fd_real, fd_noise = quality.fd_to_test_digits(real), quality.fd_to_test_digits(noise)
    assert fd_real < fd_noise / 20
    # Digits sent through 14 x 14 and binarised lose detail, and the FD sees it.
    coarse = quality.real_digits(300, seed=0, size=14, binarize=True)
    assert set(coarse.unique().tolist()) == {0.0, 1.0} and coarse.shape[-1] == 14
    assert fd_real < quality.fd_to_test_digits(coarse) < fd_noise


def test_class_accuracy_of_real_test_digits_is_high():
    from course_utils import data
    _, _, x_test, y_test = data.load_mnist()
    assert quality.class_accuracy(x_test[:200], y_test[:200]) > 0.97
    assert quality.class_accuracy(x_test[:200], (y_test[:200] + 1) % 10) < 0.03
