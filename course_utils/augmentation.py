"""Data augmentation on image batches x of shape (N, C, H, W), float, with an explicit Generator.

Every function returns a new array and leaves x unchanged.
"""

import numpy as np
from scipy import ndimage

from course_utils.graded import graded_in

Array = np.ndarray


def _check_images(x: Array) -> None:
    if x.ndim != 4:
        raise ValueError(f"x must be a batch of images of shape (N, C, H, W), got {x.shape}")


def random_flip(x: Array, rng: np.random.Generator, p: float = 0.5) -> Array:
    """Mirror each image left-right with probability p."""
    _check_images(x)
    flip = rng.random(len(x)) < p
    out = x.copy()
    out[flip] = x[flip, :, :, ::-1]
    return out


def random_crop(x: Array, rng: np.random.Generator, pad: int = 4) -> Array:
    """Zero-pad by `pad` on each side and cut a random H x W window from each image."""
    _check_images(x)
    N, C, H, W = x.shape
    padded = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    tops, lefts = rng.integers(0, 2 * pad + 1, N), rng.integers(0, 2 * pad + 1, N)
    return np.stack([padded[i, :, top:top + H, left:left + W]
                     for i, (top, left) in enumerate(zip(tops, lefts, strict=True))])


def random_scale(x: Array, rng: np.random.Generator, low: float = 0.8, high: float = 1.2) -> Array:
    """Zoom each image about its centre by a factor in [low, high], keeping the size H x W."""
    _check_images(x)
    N, C, H, W = x.shape
    out = np.empty_like(x)
    for i, s in enumerate(rng.uniform(low, high, N)):
        centre = np.array([(H - 1) / 2, (W - 1) / 2])
        offset = centre - centre / s
        for c in range(C):
            out[i, c] = ndimage.affine_transform(x[i, c], [1 / s, 1 / s], offset=offset, order=1)
    return out


def color_jitter(x: Array, rng: np.random.Generator, brightness: float = 0.2,
                 contrast: float = 0.2) -> Array:
    """Per image: add b ~ U(-brightness, brightness) times the value range and scale the contrast
    about the image mean by c ~ U(1 - contrast, 1 + contrast)."""
    _check_images(x)
    N = len(x)
    b = rng.uniform(-brightness, brightness, (N, 1, 1, 1)) * (x.max() - x.min())
    c = rng.uniform(1 - contrast, 1 + contrast, (N, 1, 1, 1))
    mean = x.mean(axis=(1, 2, 3), keepdims=True)
    return (x - mean) * c + mean + b


def random_rotation(x: Array, rng: np.random.Generator, max_degrees: float = 15.0) -> Array:
    """Rotate each image by an angle in [-max_degrees, max_degrees] about its centre."""
    _check_images(x)
    out = np.empty_like(x)
    for i, angle in enumerate(rng.uniform(-max_degrees, max_degrees, len(x))):
        out[i] = ndimage.rotate(x[i], angle, axes=(1, 2), reshape=False, order=1)
    return out


@graded_in("ch07_training")
def cutout(x: Array, rng: np.random.Generator, size: int) -> Array:
    """Cutout (DeVries & Taylor 2017): zero a size x size square at a random centre of each image
    (all channels); the square is clipped at the border.

    Args:
        x: images, shape (N, C, H, W).
        rng: draws the centres, first the rows (N,) with rng.integers(0, H, N), then the
            columns (N,) with rng.integers(0, W, N).
        size: side of the square.

    Returns:
        shape (N, C, H, W).
    """
    _check_images(x)
    N, C, H, W = x.shape
    rows, cols = rng.integers(0, H, N), rng.integers(0, W, N)
    out = x.copy()
    for i, (r, c) in enumerate(zip(rows, cols, strict=True)):
        top, left = max(r - size // 2, 0), max(c - size // 2, 0)
        out[i, :, top:r - size // 2 + size, left:c - size // 2 + size] = 0
    return out


@graded_in("ch07_training")
def mixup(x: Array, y: Array, num_classes: int, rng: np.random.Generator,
          alpha: float = 0.2) -> tuple[Array, Array]:
    """Mixup (Zhang et al. 2018): blend each example with a random partner.

    Args:
        x: images, shape (N, C, H, W).
        y: integer labels, shape (N,).
        num_classes: C_y, the number of classes.
        rng: draws first lam (N,) with rng.beta(alpha, alpha, N), then the partners with
            rng.permutation(N).
        alpha: Beta distribution parameter.

    Returns:
        x_mixed: lam x + (1 - lam) x[perm], shape (N, C, H, W).
        y_mixed: the same blend of one-hot labels, shape (N, C_y); rows sum to 1.
    """
    _check_images(x)
    N = len(x)
    lam = rng.beta(alpha, alpha, N)
    perm = rng.permutation(N)
    one_hot = np.eye(num_classes)[y]
    x_mixed = lam[:, None, None, None] * x + (1 - lam[:, None, None, None]) * x[perm]
    y_mixed = lam[:, None] * one_hot + (1 - lam[:, None]) * one_hot[perm]
    return x_mixed, y_mixed
