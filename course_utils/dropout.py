"""Inverted dropout (the CS231n layer API).

p is the KEEP probability here (as in the CS231n assignments' dropout_param). The CS231n notes
mix the two: the text says "p" is the probability of keeping a unit, while some formulas and
PyTorch's nn.Dropout(p) use p as the DROP probability. nn.Dropout(p=0.2) is p_keep = 0.8 here.

Inverted dropout scales the kept units by 1 / p_keep at TRAIN time, so the expected activation is
unchanged and the test-time pass is the identity.
"""

from typing import Any

import numpy as np

from course_utils.graded import graded_in

Array = np.ndarray
Cache = Any


@graded_in("ch07_training")
def dropout_forward(x: Array, dropout_param: dict) -> tuple[Array, Cache]:
    """Inverted dropout.

    Args:
        x: inputs, any shape.
        dropout_param: {"p": keep probability in (0, 1], "mode": "train" | "test",
            "seed": optional int for a reproducible mask}.

    Returns:
        out: same shape as x; in train mode x * mask / p with mask ~ Bernoulli(p), in test mode x.
        cache: (dropout_param, mask); mask is None in test mode.
    """
    p, mode = dropout_param["p"], dropout_param["mode"]
    if not 0 < p <= 1:
        raise ValueError(f"p is the keep probability and must be in (0, 1], got {p}")
    if mode not in ("train", "test"):
        raise ValueError(f'mode must be "train" or "test", got {mode!r}')
    if mode == "test":
        return x.copy(), (dropout_param, None)
    rng = np.random.default_rng(dropout_param.get("seed"))
    mask = (rng.random(x.shape) < p) / p
    return (x * mask).astype(x.dtype, copy=False), (dropout_param, mask)


@graded_in("ch07_training")
def dropout_backward(dout: Array, cache: Cache) -> Array:
    """Backward pass of dropout_forward: dout * mask / p in train mode, dout in test mode."""
    _, mask = cache
    if mask is None:
        return dout.copy()
    return (dout * mask).astype(dout.dtype, copy=False)
