"""Weight penalties R(W) added to a data loss, each returning (value, gradient).

    L2:           R(W) = λ Σ W²               dR/dW = 2 λ W
    L1:           R(W) = λ Σ |W|              dR/dW = λ sign(W)   (0 at W = 0, a subgradient)
    elastic net:  R(W) = λ1 Σ |W| + λ2 Σ W²

The L2 form matches the losses in course_utils.losses (`reg * sum(W * W)`, no factor 1/2).
PyTorch optimizers' `weight_decay=wd` adds wd · W to the gradient: the same as l2 with λ = wd / 2.
"""

import numpy as np

from course_utils.graded import graded_in

Array = np.ndarray


def _check_strength(value: float, name: str) -> None:
    if not value >= 0:
        raise ValueError(f"{name} must be >= 0 (it is a penalty strength), got {value}")


@graded_in("ch03_loss_optimization")
def l2(W: Array, reg: float) -> tuple[float, Array]:
    """L2 penalty reg * sum(W²) and its gradient 2 * reg * W.

    Args:
        W: weights, any shape.
        reg: strength λ >= 0.

    Returns:
        value: the penalty, a float.
        grad: its gradient with respect to W, same shape as W.
    """
    _check_strength(reg, "reg")
    return float(reg * np.sum(W * W)), 2 * reg * W


@graded_in("ch03_loss_optimization")
def l1(W: Array, reg: float) -> tuple[float, Array]:
    """L1 penalty reg * sum(|W|) and its (sub)gradient reg * sign(W), 0 where W is 0.

    Args:
        W: weights, any shape.
        reg: strength λ >= 0.

    Returns:
        value: the penalty, a float.
        grad: its gradient with respect to W, same shape as W.
    """
    _check_strength(reg, "reg")
    return float(reg * np.sum(np.abs(W))), reg * np.sign(W)


@graded_in("ch03_loss_optimization")
def elastic_net(W: Array, l1_reg: float, l2_reg: float) -> tuple[float, Array]:
    """Elastic net penalty l1_reg * sum(|W|) + l2_reg * sum(W²) and its gradient.

    Args:
        W: weights, any shape.
        l1_reg: strength λ1 >= 0 of the L1 term.
        l2_reg: strength λ2 >= 0 of the L2 term.

    Returns:
        value: the penalty, a float.
        grad: its gradient with respect to W, same shape as W.
    """
    _check_strength(l1_reg, "l1_reg")
    _check_strength(l2_reg, "l2_reg")
    value1, grad1 = l1(W, l1_reg)
    value2, grad2 = l2(W, l2_reg)
    return value1 + value2, grad1 + grad2
