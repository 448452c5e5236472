"""Numerical gradients by centred differences, and the relative error used to compare gradients.

The centred difference is

    df/dx_i ≈ (f(x + h e_i) - f(x - h e_i)) / (2h),

with error O(h²) (the one-sided (f(x + h) - f(x)) / h has error O(h)). Some versions of the
CS231n notes print the two terms the other way round, which flips the sign; the formula above is
the correct one.

How to read `relative_error` (rule of thumb from the CS231n notes, float64):

    > 1e-2          the gradient is probably wrong
    1e-4 .. 1e-2    suspicious
    1e-7 .. 1e-4    fine for objectives with kinks (ReLU, max, hinge), too high for smooth ones
    < 1e-7          good

Near a kink (x within h of a point where f is not differentiable, e.g. 0 for ReLU) the numerical
gradient can be wrong even when the analytic one is right; check a few more points or smaller h.
Always check in float64: in float32, rounding makes errors around 1e-3 normal.
"""

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

# Smallest denominator in relative_error, so that two zeros compare as equal, not as nan.
_TINY = 1e-300


def _check_float_array(x: object, name: str = "x") -> np.ndarray:
    if not isinstance(x, np.ndarray):
        raise TypeError(f"{name} must be a NumPy array, got {type(x).__name__}")
    if not np.issubdtype(x.dtype, np.floating):
        raise ValueError(f"{name} must be a float array (use {name}.astype(np.float64)), "
                         f"got dtype {x.dtype}")
    if x.dtype != np.float64:
        raise ValueError(f"check gradients in float64: pass {name}.astype(np.float64), "
                         f"got dtype {x.dtype}")
    return x


def _check_step(h: float) -> None:
    if not h > 0:
        raise ValueError(f"step h must be positive, got {h}")


def _scalar(value: object) -> float:
    array = np.asarray(value)
    if array.size != 1:
        raise ValueError(f"f must return a scalar, got an array of shape {array.shape}; "
                         "use numerical_gradient_array for array-valued functions")
    return float(array.reshape(()))


def numerical_gradient(f: Callable[[np.ndarray], float], x: np.ndarray,
                       h: float = 1e-5) -> np.ndarray:
    """Gradient of a scalar function by centred differences.

    Args:
        f: function of `x` returning a scalar; it sees `x` perturbed in place.
        x: point, float64 array of any shape; restored exactly before returning.
        h: step.

    Returns:
        grad: same shape as `x`, grad[i] = (f(x + h e_i) - f(x - h e_i)) / (2h).
    """
    _check_float_array(x)
    _check_step(h)
    grad = np.zeros_like(x)
    for index in np.ndindex(x.shape):
        grad[index] = _centred_difference(f, x, index, h)
    return grad


def _centred_difference(f: Callable[[np.ndarray], float], x: np.ndarray,
                        index: tuple[int, ...], h: float) -> float:
    """(f(x + h e_index) - f(x - h e_index)) / (2h), with x[index] restored exactly."""
    old = x[index]
    try:
        x[index] = old + h
        plus = _scalar(f(x))
        x[index] = old - h
        minus = _scalar(f(x))
    finally:
        x[index] = old
    return (plus - minus) / (2 * h)


def numerical_gradient_array(f: Callable[[np.ndarray], np.ndarray], x: np.ndarray,
                             upstream: np.ndarray, h: float = 1e-5) -> np.ndarray:
    """Gradient of sum(f(x) * upstream) with respect to x, for an array-valued f.

    This is what a layer's backward pass computes: `upstream` is dL/df, the result is dL/dx.

    Args:
        f: function of `x` returning an array with the shape of `upstream`; it sees `x`
            perturbed in place.
        x: point, float64 array of any shape; restored exactly before returning.
        upstream: gradient flowing into f's output, same shape as f(x).
        h: step.

    Returns:
        grad: same shape as `x`.
    """
    _check_float_array(x)
    _check_step(h)
    upstream = np.asarray(upstream, dtype=np.float64)
    grad = np.zeros_like(x)
    for index in np.ndindex(x.shape):
        old = x[index]
        try:
            x[index] = old + h
            plus = np.array(f(x), dtype=np.float64)  # a copy, in case f returns a view of x
            x[index] = old - h
            minus = np.array(f(x), dtype=np.float64)
        finally:
            x[index] = old
        if plus.shape != upstream.shape:
            raise ValueError(f"f(x) has shape {plus.shape} but upstream has shape {upstream.shape}")
        grad[index] = np.sum((plus - minus) * upstream) / (2 * h)
    return grad


def layer_input_gradients(forward: Callable[..., tuple], inputs: list[np.ndarray],
                          upstream: np.ndarray, h: float = 1e-5) -> list[np.ndarray]:
    """numerical_gradient_array of a layer's forward pass with respect to each of its inputs.

    Args:
        forward: forward(*inputs) -> (out, cache), as the NumPy layers return.
        inputs: the layer's array arguments, float64; each restored before returning.
        upstream: dL/dout, shape of out.
    Returns:
        one gradient per input, in order: what the layer's backward pass should return.
    """
    gradients = []
    for k, x in enumerate(inputs):
        def output(value: np.ndarray, k: int = k) -> np.ndarray:
            return forward(*inputs[:k], value, *inputs[k + 1:])[0]
        gradients.append(numerical_gradient_array(output, x, upstream, h))
    return gradients


def relative_error(a: np.ndarray | float, b: np.ndarray | float) -> float:
    """Largest elementwise relative error max_i |a_i - b_i| / max(|a_i| + |b_i|, tiny).

    0 when a == b (zeros included); at most 1 (opposite signs give exactly 1).
    See the module docstring for how to read the value.
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"shapes differ: {a.shape} vs {b.shape}")
    if a.size == 0:
        return 0.0
    return float(np.max(_elementwise_relative_error(a, b)))


def _elementwise_relative_error(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.abs(a - b) / np.maximum(np.abs(a) + np.abs(b), _TINY)


@dataclass(frozen=True)
class GradientCheck:
    """Result of `sparse_gradient_check`.

    Attributes:
        indices: the checked coordinates of x.
        numerical: numerical gradient at those coordinates, shape (num_checks,).
        analytic: analytic gradient at those coordinates, shape (num_checks,).
        errors: relative error at each coordinate, shape (num_checks,).
    """

    indices: list[tuple[int, ...]]
    numerical: np.ndarray
    analytic: np.ndarray
    errors: np.ndarray

    @property
    def max_error(self) -> float:
        return float(self.errors.max()) if self.errors.size else 0.0

    @property
    def worst_index(self) -> tuple[int, ...] | None:
        return self.indices[int(self.errors.argmax())] if self.errors.size else None


def sparse_gradient_check(f: Callable[[np.ndarray], float], x: np.ndarray, analytic: np.ndarray,
                          num_checks: int = 10, h: float = 1e-5, seed: int = 0) -> GradientCheck:
    """Compare an analytic gradient with centred differences at a few random coordinates.

    Cheaper than `numerical_gradient` for large x: 2 * num_checks evaluations of f.

    Args:
        f: scalar function of `x`; it sees `x` perturbed in place.
        x: point, float64 array of any shape; restored exactly before returning.
        analytic: the gradient to check, same shape as `x`.
        num_checks: how many coordinates to check (drawn with replacement).
        h: step.
        seed: seed of the generator that picks the coordinates.

    Returns:
        GradientCheck with the coordinates, both gradients there, the relative errors,
        `max_error` and `worst_index`.
    """
    _check_float_array(x)
    _check_step(h)
    analytic = np.asarray(analytic, dtype=np.float64)
    if analytic.shape != x.shape:
        raise ValueError(f"analytic gradient has shape {analytic.shape}, x has shape {x.shape}")
    if num_checks < 0:
        raise ValueError(f"num_checks must be >= 0, got {num_checks}")
    if x.size == 0:
        raise ValueError("x is empty: nothing to check")
    rng = np.random.default_rng(seed)
    flat = rng.integers(0, x.size, size=num_checks)
    indices = [tuple(int(i) for i in np.unravel_index(k, x.shape)) for k in flat]
    numerical = np.array([_centred_difference(f, x, index, h) for index in indices])
    picked = np.array([analytic[index] for index in indices], dtype=np.float64)
    return GradientCheck(indices, numerical, picked, _elementwise_relative_error(numerical, picked))
