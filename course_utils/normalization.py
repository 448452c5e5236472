"""Normalization layers in NumPy (the CS231n layer API): batch, layer, spatial batch and group norm.

    out, cache = batchnorm_forward(x, gamma, beta, bn_param)
    dx, dgamma, dbeta = batchnorm_backward(dout, cache)

bn_param: {"mode": "train" | "test", "eps": 1e-5, "momentum": 0.9, "running_mean": (D,),
"running_var": (D,)}. In train mode the batch statistics normalize x and the running averages are
updated IN bn_param (running = momentum * running + (1 - momentum) * batch; the variance is the
biased batch variance, as in the CS231n notes; PyTorch stores the unbiased one, see the tests).
In test mode the running averages normalize x. PyTorch's momentum is 1 - ours.
"""

from typing import Any

import numpy as np

from course_utils.graded import graded_in

Array = np.ndarray
Cache = Any


def _check_mode(mode: str) -> None:
    if mode not in ("train", "test"):
        raise ValueError(f'mode must be "train" or "test", got {mode!r}')


@graded_in("ch07_training")
def batchnorm_forward(x: Array, gamma: Array, beta: Array, bn_param: dict) -> tuple[Array, Cache]:
    """Batch normalization of each feature over the batch.

    Args:
        x: inputs, shape (N, D).
        gamma, beta: scale and shift, shape (D,).
        bn_param: "mode" (required), optional "eps", "momentum", "running_mean", "running_var";
            the running averages start at zeros and ones and are updated in place of the dict.

    Returns:
        out: shape (N, D), gamma * (x - mean) / sqrt(var + eps) + beta.
        cache: what the backward passes need (None in test mode).
    """
    mode = bn_param["mode"]
    _check_mode(mode)
    eps, momentum = bn_param.get("eps", 1e-5), bn_param.get("momentum", 0.9)
    D = x.shape[1]
    running_mean = bn_param.get("running_mean", np.zeros(D, dtype=x.dtype))
    running_var = bn_param.get("running_var", np.ones(D, dtype=x.dtype))
    if mode == "train":
        mean, var = x.mean(axis=0), x.var(axis=0)
        inv_std = 1.0 / np.sqrt(var + eps)
        x_hat = (x - mean) * inv_std
        out = gamma * x_hat + beta
        cache = (x_hat, gamma, inv_std)
        running_mean = momentum * running_mean + (1 - momentum) * mean
        running_var = momentum * running_var + (1 - momentum) * var
    else:
        out = gamma * (x - running_mean) / np.sqrt(running_var + eps) + beta
        cache = None
    bn_param["running_mean"], bn_param["running_var"] = running_mean, running_var
    return out, cache


@graded_in("ch07_training")
def batchnorm_backward(dout: Array, cache: Cache) -> tuple[Array, Array, Array]:
    """Backward pass of batchnorm_forward (train mode), step by step through the graph.

    Args:
        dout: upstream gradient, shape (N, D).
        cache: from batchnorm_forward in train mode.

    Returns:
        dx: shape (N, D); dgamma, dbeta: shape (D,).
    """
    x_hat, gamma, inv_std = cache
    N = dout.shape[0]
    dbeta = dout.sum(axis=0)
    dgamma = (dout * x_hat).sum(axis=0)
    dx_hat = dout * gamma
    centred = x_hat / inv_std                                   # x - mean
    dinv_std = (dx_hat * centred).sum(axis=0)
    dvar = dinv_std * -0.5 * inv_std**3                         # d(var + eps)^(-1/2)
    dcentred = dx_hat * inv_std + dvar * 2.0 * centred / N
    dx = dcentred - dcentred.mean(axis=0)                       # through mean subtraction
    return dx, dgamma, dbeta


@graded_in("ch07_training")
def batchnorm_backward_alt(dout: Array, cache: Cache) -> tuple[Array, Array, Array]:
    """Backward pass of batchnorm_forward in one closed form:

        dx = gamma * inv_std / N * (N * dout - sum(dout) - x_hat * sum(dout * x_hat))

    Args and returns as batchnorm_backward.
    """
    x_hat, gamma, inv_std = cache
    N = dout.shape[0]
    dbeta = dout.sum(axis=0)
    dgamma = (dout * x_hat).sum(axis=0)
    dx = gamma * inv_std / N * (N * dout - dbeta - x_hat * dgamma)
    return dx, dgamma, dbeta


@graded_in("ch07_training")
def layernorm_forward(x: Array, gamma: Array, beta: Array, ln_param: dict | None = None
                      ) -> tuple[Array, Cache]:
    """Layer normalization: each example normalized over its D features; same in train and test.

    Args:
        x: inputs, shape (N, D).
        gamma, beta: shape (D,).
        ln_param: optional {"eps": 1e-5}.

    Returns:
        out: shape (N, D); cache for layernorm_backward.
    """
    eps = (ln_param or {}).get("eps", 1e-5)
    mean = x.mean(axis=1, keepdims=True)
    inv_std = 1.0 / np.sqrt(x.var(axis=1, keepdims=True) + eps)
    x_hat = (x - mean) * inv_std
    return gamma * x_hat + beta, (x_hat, gamma, inv_std)


@graded_in("ch07_training")
def layernorm_backward(dout: Array, cache: Cache) -> tuple[Array, Array, Array]:
    """Backward pass of layernorm_forward: the batchnorm closed form along the other axis.

    Returns:
        dx: shape (N, D); dgamma, dbeta: shape (D,).
    """
    x_hat, gamma, inv_std = cache
    D = dout.shape[1]
    dbeta = dout.sum(axis=0)
    dgamma = (dout * x_hat).sum(axis=0)
    dx_hat = dout * gamma
    dx = inv_std / D * (D * dx_hat - dx_hat.sum(axis=1, keepdims=True)
                        - x_hat * (dx_hat * x_hat).sum(axis=1, keepdims=True))
    return dx, dgamma, dbeta


def _to_rows(x: Array) -> Array:
    """(N, C, H, W) -> (N * H * W, C): one row per pixel, one column per channel."""
    N, C, H, W = x.shape
    return x.transpose(0, 2, 3, 1).reshape(-1, C)


def _from_rows(rows: Array, shape: tuple[int, ...]) -> Array:
    N, C, H, W = shape
    return rows.reshape(N, H, W, C).transpose(0, 3, 1, 2)


@graded_in("ch07_training")
def spatial_batchnorm_forward(x: Array, gamma: Array, beta: Array, bn_param: dict
                              ) -> tuple[Array, Cache]:
    """Batch normalization of each channel over the batch and all positions.

    Args:
        x: images, shape (N, C, H, W).
        gamma, beta: shape (C,).
        bn_param: as for batchnorm_forward, running averages of shape (C,).

    Returns:
        out: shape (N, C, H, W); cache for spatial_batchnorm_backward.
    """
    if x.ndim != 4:
        raise ValueError(f"x must have shape (N, C, H, W), got {x.shape}")
    out, cache = batchnorm_forward(_to_rows(x), gamma, beta, bn_param)
    return _from_rows(out, x.shape), cache


@graded_in("ch07_training")
def spatial_batchnorm_backward(dout: Array, cache: Cache) -> tuple[Array, Array, Array]:
    """Backward pass of spatial_batchnorm_forward: dx (N, C, H, W), dgamma and dbeta (C,)."""
    dx, dgamma, dbeta = batchnorm_backward_alt(_to_rows(dout), cache)
    return _from_rows(dx, dout.shape), dgamma, dbeta


@graded_in("ch07_training")
def spatial_groupnorm_forward(x: Array, gamma: Array, beta: Array, G: int,
                              gn_param: dict | None = None) -> tuple[Array, Cache]:
    """Group normalization: the C channels split into G groups of C // G; each example's group is
    normalized over its channels and positions. Same in train and test.

    Args:
        x: images, shape (N, C, H, W); C must be divisible by G.
        gamma, beta: per-channel scale and shift, shape (1, C, 1, 1) (or (C,)).
        G: number of groups.
        gn_param: optional {"eps": 1e-5}.

    Returns:
        out: shape (N, C, H, W); cache for spatial_groupnorm_backward.
    """
    N, C, H, W = x.shape
    if G < 1 or C % G:
        raise ValueError(f"the number of channels C = {C} must be divisible by G = {G}")
    eps = (gn_param or {}).get("eps", 1e-5)
    groups = x.reshape(N, G, -1)
    inv_std = 1.0 / np.sqrt(groups.var(axis=2, keepdims=True) + eps)
    x_hat = ((groups - groups.mean(axis=2, keepdims=True)) * inv_std).reshape(x.shape)
    gamma4, beta4 = np.reshape(gamma, (1, C, 1, 1)), np.reshape(beta, (1, C, 1, 1))
    return gamma4 * x_hat + beta4, (x_hat, gamma, inv_std, G)


@graded_in("ch07_training")
def spatial_groupnorm_backward(dout: Array, cache: Cache) -> tuple[Array, Array, Array]:
    """Backward pass of spatial_groupnorm_forward: dx (N, C, H, W); dgamma, dbeta shaped like
    gamma."""
    x_hat, gamma, inv_std, G = cache
    N, C, H, W = dout.shape
    dbeta = dout.sum(axis=(0, 2, 3)).reshape(np.shape(gamma))
    dgamma = (dout * x_hat).sum(axis=(0, 2, 3)).reshape(np.shape(gamma))
    dx_hat = (dout * np.reshape(gamma, (1, C, 1, 1))).reshape(N, G, -1)
    x_hat_g = x_hat.reshape(N, G, -1)
    M = x_hat_g.shape[2]
    dx = inv_std / M * (M * dx_hat - dx_hat.sum(axis=2, keepdims=True)
                        - x_hat_g * (dx_hat * x_hat_g).sum(axis=2, keepdims=True))
    return dx.reshape(dout.shape), dgamma, dbeta
