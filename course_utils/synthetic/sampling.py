"""Vectorised sampling helpers that the generators share: uniforms to integers, bilinear
interpolation of image stacks."""

import numpy as np


def pick(uniform: np.ndarray, count: np.ndarray | int) -> np.ndarray:
    """An integer in [0, count) from each uniform in [0, 1)."""
    return np.minimum((uniform * count).astype(np.int64), np.asarray(count) - 1)


def bilinear(images: np.ndarray, which: np.ndarray | int, rows: np.ndarray,
             cols: np.ndarray) -> np.ndarray:
    """images[which] sampled bilinearly at float rows and cols in [0, H - 1] x [0, W - 1]:
    images (B, H, W) (or one (H, W) with which = 0); which, rows and cols broadcast together."""
    height, width = images.shape[-2:]
    r0 = np.clip(rows.astype(np.int64), 0, height - 2)                 # rows >= 0: floor
    c0 = np.clip(cols.astype(np.int64), 0, width - 2)
    fr, fc = (rows - r0).astype(np.float32), (cols - c0).astype(np.float32)
    corner = (which * height + r0) * width + c0
    flat = images.ravel()
    top = (1 - fc) * flat.take(corner) + fc * flat.take(corner + 1)
    bottom = (1 - fc) * flat.take(corner + width) + fc * flat.take(corner + width + 1)
    return (1 - fr) * top + fr * bottom
