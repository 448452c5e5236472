"""Assertions for the test cells of the notebooks.

Each helper raises AssertionError with a short message that says what is wrong: which quantity
(`name`), which input (`case`), the expected and actual shape or dtype, the largest error and where
it happens, a few mismatched values and a hint.

    grading.assert_shape(dists, (5, 7), "dists")
    grading.assert_close(dists, expected, "dists", case="5 test points vs 7 training points")
"""

from collections.abc import Callable
from typing import Any

import numpy as np

from course_utils.gradcheck import numerical_gradient, relative_error

_SHOWN_MISMATCHES = 3
# Kinds of dtype that assert_dtype accepts besides exact dtypes.
_DTYPE_KINDS = (np.number, np.integer, np.signedinteger, np.unsignedinteger, np.inexact,
                np.floating, np.complexfloating)


def _where(name: str, case: object = None) -> str:
    return f"{name} (case: {case})" if case is not None else name


def _fail(name: str, case: object, problem: str, hint: str | None = None) -> None:
    message = f"{_where(name, case)}: {problem}"
    if hint:
        message += f"\n  Hint: {hint}"
    raise AssertionError(message)


def _as_array(actual: object, name: str, case: object, scalar_ok: bool = False) -> np.ndarray:
    """`actual` as an array, or a clear AssertionError when it is not one."""
    if actual is None:
        _fail(name, case, "your function returned None.", "did you forget `return`?")
    if isinstance(actual, np.ndarray):
        return actual
    if isinstance(actual, (bool, int, float, complex, np.generic)):
        if scalar_ok:
            return np.asarray(actual)
        _fail(name, case, f"expected a NumPy array, got the number {_format_value(actual)}.",
              "did you reduce over all axes (a sum or mean without `axis=`)?")
    kind = type(actual).__name__
    if type(actual).__module__.startswith("torch"):
        _fail(name, case, f"expected a NumPy array, got a {kind}.", "convert it with `.numpy()`.")
    if isinstance(actual, (list, tuple)):
        _fail(name, case, f"expected a NumPy array, got a {kind}.",
              "build the result with NumPy operations, or wrap it in `np.array(...)`.")
    _fail(name, case, f"expected a NumPy array, got a {kind}.")
    raise AssertionError  # unreachable: _fail raises


def _format_index(index: tuple[int, ...]) -> str:
    return str(tuple(int(i) for i in index)) if index else "()"


def _format_value(value: object) -> str:
    if isinstance(value, (float, np.floating)):
        return f"{value:.6g}"
    return repr(value.item() if isinstance(value, np.generic) else value)


def _check_same_shape(actual: np.ndarray, expected: np.ndarray, name: str, case: object) -> None:
    if actual.shape != expected.shape:
        _fail(name, case, f"shape is {actual.shape}, expected {expected.shape}.",
              _shape_hint(actual.shape, expected.shape))


def _shape_hint(actual: tuple[int, ...], expected: tuple[int, ...]) -> str:
    if len(actual) == len(expected) and sorted(actual) == sorted(expected):
        return "the axes look swapped: a missing or extra transpose?"
    if len(actual) < len(expected):
        return "an axis is missing: did you reduce without `keepdims=True`, or forget a reshape?"
    if len(actual) > len(expected):
        return "there is an extra axis: check your broadcasting, or reduce over the right axis."
    return "check which axis you reduce or index over."


def _mismatch_lines(actual: np.ndarray, expected: np.ndarray, bad: np.ndarray) -> str:
    indices = np.argwhere(bad)[:_SHOWN_MISMATCHES]
    lines = [f"    at {_format_index(tuple(i))}: got {_format_value(actual[tuple(i)])}, "
             f"expected {_format_value(expected[tuple(i)])}" for i in indices]
    return "\n".join(lines)


def _check_finite(actual: np.ndarray, expected: np.ndarray, name: str, case: object) -> None:
    if not np.issubdtype(actual.dtype, np.inexact):
        return
    bad = np.isnan(actual) & ~np.isnan(expected) | np.isinf(actual) & ~np.isinf(expected)
    if bad.any():
        index = _format_index(tuple(np.argwhere(bad)[0]))
        _fail(name, case, f"{int(bad.sum())} value(s) are nan or inf, first at {index}.",
              "look for a division by zero, log(0), or exp of a large number "
              "(subtract the max first).")


def assert_shape(actual: Any, expected_shape: tuple[int, ...], name: str,
                 case: object = None) -> None:
    """Check that `actual` is an array of shape `expected_shape`."""
    array = _as_array(actual, name, case)
    expected_shape = tuple(expected_shape)
    if array.shape != expected_shape:
        _fail(name, case, f"shape is {array.shape}, expected {expected_shape}.",
              _shape_hint(array.shape, expected_shape))


def assert_dtype(actual: Any, expected_dtype: Any, name: str, case: object = None) -> None:
    """Check the dtype of `actual`: exactly `expected_dtype`, or a kind such as `np.floating`."""
    array = _as_array(actual, name, case, scalar_ok=True)
    abstract = expected_dtype in _DTYPE_KINDS
    if abstract:
        ok = np.issubdtype(array.dtype, expected_dtype)
    else:
        ok = array.dtype == np.dtype(expected_dtype)
    if not ok:
        wanted = expected_dtype.__name__ if abstract else str(np.dtype(expected_dtype))
        _fail(name, case, f"dtype is {array.dtype}, expected {wanted}.",
              f"convert with `.astype(np.{np.dtype(expected_dtype).name})`."
              if not abstract else None)


def assert_close(actual: Any, expected: Any, name: str, rtol: float = 1e-6, atol: float = 1e-8,
                 case: object = None) -> None:
    """Check |actual - expected| <= atol + rtol * |expected| elementwise, with the same shape."""
    expected = np.asarray(expected)
    array = _as_array(actual, name, case, scalar_ok=expected.ndim == 0)
    _check_same_shape(array, expected, name, case)
    _check_finite(array, expected, name, case)
    try:
        bad = ~np.isclose(array, expected, rtol=rtol, atol=atol, equal_nan=True)
    except TypeError:
        _fail(name, case, f"cannot compare values of dtype {array.dtype} with {expected.dtype}.")
    if not bad.any():
        return
    if expected.ndim == 0:
        _fail(name, case, f"got {_format_value(array[()])}, expected {_format_value(expected[()])} "
                          f"(rtol={rtol:g}, atol={atol:g}).")
    error = np.abs(array.astype(np.float64) - expected.astype(np.float64))
    error = np.where(np.isnan(error), np.inf, error)
    worst = tuple(np.unravel_index(np.argmax(np.where(bad, error, -1.0)), error.shape))
    rel = error[worst] / max(abs(float(expected[worst])), 1e-300)
    problem = (f"{int(bad.sum())} of {bad.size} values differ (rtol={rtol:g}, atol={atol:g}).\n"
               f"  Max abs error {error[worst]:.3g} (relative {rel:.3g}) "
               f"at {_format_index(worst)}.\n"
               f"  First mismatches:\n{_mismatch_lines(array, expected, bad)}")
    _fail(name, case, problem, _value_hint(array, expected))


def _value_hint(actual: np.ndarray, expected: np.ndarray) -> str | None:
    a, e = actual.astype(np.float64), expected.astype(np.float64)
    if np.allclose(a, -e):
        return "the signs are flipped."
    if a.ndim == 2 and a.shape[0] == a.shape[1] and np.allclose(a, e.T):
        return "the result is the transpose of what was expected."
    return None


def assert_equal(actual: Any, expected: Any, name: str, case: object = None) -> None:
    """Check that `actual` equals `expected` exactly (same shape, every element equal)."""
    expected = np.asarray(expected)
    array = _as_array(actual, name, case, scalar_ok=expected.ndim == 0)
    _check_same_shape(array, expected, name, case)
    bad = np.asarray(array != expected)
    if bad.any():
        problem = (f"{int(bad.sum())} of {bad.size} values differ.\n"
                   f"  First mismatches:\n{_mismatch_lines(array, expected, bad)}")
        _fail(name, case, problem)


def assert_rel_error(actual: Any, expected: Any, name: str, tol: float = 1e-7,
                     case: object = None) -> None:
    """Check that the largest relative error |a - e| / (|a| + |e|) is at most `tol`."""
    expected = np.asarray(expected, dtype=np.float64)
    array = _as_array(actual, name, case, scalar_ok=expected.ndim == 0)
    _check_same_shape(array, expected, name, case)
    _check_finite(array, expected, name, case)
    error = relative_error(array, expected)
    if error <= tol:
        return
    a = array.astype(np.float64)
    elementwise = np.abs(a - expected) / np.maximum(np.abs(a) + np.abs(expected), 1e-300)
    worst = tuple(np.unravel_index(np.argmax(elementwise), elementwise.shape))
    problem = (f"relative error {error:.3g} > {tol:g}, largest at {_format_index(worst)}: "
               f"got {_format_value(a[worst])}, expected {_format_value(expected[worst])}.")
    hint = ("an error above 1e-2 usually means a wrong formula." if error > 1e-2
            else "close but not quite: check the constants, or whether you compute in float64.")
    _fail(name, case, problem, hint)


def assert_raises(exception_type: type[BaseException], function: Callable[..., Any], *args: Any,
                  **kwargs: Any) -> BaseException:
    """Check that `function(*args, **kwargs)` raises `exception_type`; return the exception."""
    name = getattr(function, "__name__", repr(function))
    try:
        result = function(*args, **kwargs)
    except NotImplementedError as error:
        if exception_type is NotImplementedError:
            return error
        message = f"{name}: not implemented yet (it raised NotImplementedError)."
        raise AssertionError(message) from error
    except exception_type as error:
        return error
    except Exception as error:
        raise AssertionError(f"{name} raised {type(error).__name__}({error}), "
                             f"expected {exception_type.__name__}.") from error
    shown = "None" if result is None else f"a value of type {type(result).__name__}"
    expected = exception_type.__name__
    raise AssertionError(f"{name} should raise {expected} for this input, "
                         f"but it returned {shown}.\n"
                         f"  Hint: check the input and `raise {expected}(...)` when it is invalid.")


def assert_gradient(f: Callable[[np.ndarray], float], x: np.ndarray, analytic: Any, name: str,
                    tol: float = 1e-7, h: float = 1e-5, case: object = None) -> None:
    """Check an analytic gradient of the scalar function `f` at `x` against centred differences.

    `x` must be float64; it is perturbed in place during the check and restored.
    """
    numeric = numerical_gradient(f, x, h=h)
    assert_rel_error(analytic, numeric, name, tol=tol, case=case)


def assert_tensor_close(actual: Any, expected: Any, name: str, rtol: float = 1e-5,
                        atol: float = 1e-7, case: object = None) -> None:
    """Check that `actual` is a PyTorch tensor of the expected shape, close to `expected` (a
    tensor or an array) as assert_close measures it."""
    import torch  # the NumPy chapters do not need it

    if actual is None:
        _fail(name, case, "your function returned None.", "did you forget `return`?")
    if not isinstance(actual, torch.Tensor):
        _fail(name, case, f"expected a PyTorch tensor, got a {type(actual).__name__}.",
              "keep the computation in torch (torch.from_numpy converts an array).")
    if isinstance(expected, torch.Tensor):
        expected = expected.detach().cpu().numpy()
    assert_close(actual.detach().cpu().numpy(), expected, name, rtol=rtol, atol=atol, case=case)
