"""One quality figure for every generative model of chapter 13: the Fréchet distance between the
feature statistics of generated and real digits, in the feature space of the course's MNIST
ResNet (course_utils.pretrained.load_mnist_resnet, 99.29 % test accuracy).

Fit a Gaussian to each set of features (mean mu, covariance Sigma); the squared Wasserstein-2
distance between the two Gaussians is (Fréchet 1957; Dowson & Landau 1982)

    FD = |mu1 - mu2|^2 + tr(Sigma1 + Sigma2 - 2 (Sigma1 Sigma2)^(1/2)).

With Inception-v3's 2048 pool features and ImageNet-like images this is the FID of Heusel et al.
(2017); here the features are the 64 channels the ResNet averages before its last layer, so
figures are comparable only with each other, never with published FIDs. FD falls with more
samples even for perfect models (the covariance estimate is biased), so every comparison here
uses the same number of samples, and real digits measured the same way give the floor.

Images are (N, 1, H, W) in [0, 1]; 14 x 14 images are upsampled (bilinear) to the ResNet's
28 x 28 first, and the floor for them is real digits sent through 14 x 14 and back.
"""

from __future__ import annotations

import warnings
from functools import cache

import numpy as np
import scipy.linalg
import torch
import torch.nn.functional as F
from torch import nn

from course_utils import data, pretrained, training
from course_utils.graded import graded_in

MNIST_SIZE = 28


@graded_in("ch13_generative")
def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray,
                     sigma2: np.ndarray) -> float:
    """Fréchet distance between N(mu1, sigma1) and N(mu2, sigma2).

    Args:
        mu1, mu2: means (D,).
        sigma1, sigma2: covariance matrices (D, D), symmetric positive semi-definite.

    Returns:
        |mu1 - mu2|^2 + tr(sigma1) + tr(sigma2) - 2 tr((sigma1 sigma2)^(1/2)) as a Python float,
        computed in float64. (sigma1 sigma2)^(1/2) is the principal square root
        (scipy.linalg.sqrtm); its trace is real because the eigenvalues of sigma1 sigma2 are
        those of the PSD matrix sigma1^(1/2) sigma2 sigma1^(1/2). Rounding can leave tiny
        imaginary parts: keep the real part.
    """
    check_statistics(mu1, sigma1)
    check_statistics(mu2, sigma2)
    mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
    sigma1, sigma2 = np.asarray(sigma1, np.float64), np.asarray(sigma2, np.float64)
    if mu1.shape != mu2.shape:
        raise ValueError(f"the means differ in dimension: {mu1.shape} and {mu2.shape}")
    difference = mu1 - mu2
    with warnings.catch_warnings():   # a feature that never fires makes sigma singular: fine
        warnings.simplefilter("ignore", scipy.linalg.LinAlgWarning)
        root = scipy.linalg.sqrtm(sigma1 @ sigma2)
    return float(difference @ difference + np.trace(sigma1) + np.trace(sigma2)
                 - 2 * np.trace(root).real)


def check_statistics(mu: np.ndarray, sigma: np.ndarray) -> None:
    """Raise ValueError unless mu is (D,) and sigma a symmetric (D, D) matrix of finite values."""
    mu, sigma = np.asarray(mu), np.asarray(sigma)
    if mu.ndim != 1 or sigma.shape != (len(mu), len(mu)):
        raise ValueError(f"need a mean (D,) and a covariance (D, D), got {mu.shape} and "
                         f"{sigma.shape}")
    if not (np.isfinite(mu).all() and np.isfinite(sigma).all()):
        raise ValueError("the statistics hold NaN or infinite values")
    if not np.allclose(sigma, sigma.T, atol=1e-8):
        raise ValueError("the covariance matrix is not symmetric")


def feature_statistics(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The mean (D,) and unbiased covariance (D, D) of features (N, D), N >= 2, in float64."""
    features = np.asarray(features, np.float64)
    if features.ndim != 2 or len(features) < 2:
        raise ValueError(f"need features (N, D) with N >= 2, got shape {features.shape}")
    return features.mean(axis=0), np.cov(features, rowvar=False)


@cache
def feature_network() -> nn.Module:
    """The committed MNIST ResNet without its last linear layer: (N, 1, 28, 28) -> (N, 64)."""
    resnet = pretrained.load_mnist_resnet()
    normalize, body = resnet
    return nn.Sequential(normalize, body[:-1]).eval()


def as_classifier_input(images: torch.Tensor | np.ndarray) -> torch.Tensor:
    """Images (N, 1, H, W) in [0, 1] (float, or uint8 0-255 of shape (N, 28, 28)) as float32
    (N, 1, 28, 28), upsampling other sizes bilinearly."""
    images = torch.as_tensor(images)
    if images.dtype == torch.uint8:
        images = training.images_to_tensor(images.numpy())
    if images.ndim != 4 or images.shape[1] != 1:
        raise ValueError(f"need images (N, 1, H, W), got shape {tuple(images.shape)}")
    images = images.float().cpu()
    if images.shape[-2:] != (MNIST_SIZE, MNIST_SIZE):
        images = F.interpolate(images, size=(MNIST_SIZE, MNIST_SIZE), mode="bilinear",
                               align_corners=False)
    return images


def mnist_features(images: torch.Tensor | np.ndarray, batch_size: int = 500) -> np.ndarray:
    """The ResNet's 64 pooled features (N, 64) float64 of images (see as_classifier_input)."""
    network = feature_network()
    batches = as_classifier_input(images).split(batch_size)
    with torch.no_grad():
        return torch.cat([network(batch) for batch in batches]).double().numpy()


def class_accuracy(images: torch.Tensor | np.ndarray, labels: torch.Tensor | np.ndarray) -> float:
    """The share of images that the committed MNIST ResNet assigns to the class asked for."""
    logits = training.predict(pretrained.load_mnist_resnet(), as_classifier_input(images))
    return float((logits.argmax(dim=1) == torch.as_tensor(labels)).float().mean())


@cache
def test_statistics() -> tuple[np.ndarray, np.ndarray]:
    """Feature statistics of the 10,000 MNIST test digits: the reference of every FD here."""
    _, _, x_test, _ = data.load_mnist()
    return feature_statistics(mnist_features(x_test))


def fd_to_test_digits(images: torch.Tensor | np.ndarray) -> float:
    """The Fréchet distance of images (N, 1, H, W) in [0, 1] to the MNIST test digits."""
    return frechet_distance(*feature_statistics(mnist_features(images)), *test_statistics())


def real_digits(n: int, seed: int = 0, size: int = MNIST_SIZE, binarize: bool = False
                ) -> torch.Tensor:
    """n training digits drawn without replacement (seeded) as (n, 1, size, size) in [0, 1]: the
    floor a model of that size meets. size 14 averages 2 x 2 blocks; binarize thresholds at 0.5
    (as the PixelCNN's data)."""
    x_train, _, _, _ = data.load_mnist()
    chosen = np.random.default_rng(seed).choice(len(x_train), size=n, replace=False)
    images = training.images_to_tensor(x_train[np.sort(chosen)])
    if size != MNIST_SIZE:
        if MNIST_SIZE % size:
            raise ValueError(f"size must divide {MNIST_SIZE}, got {size}")
        images = F.avg_pool2d(images, MNIST_SIZE // size)
    return (images >= 0.5).float() if binarize else images
