"""The assertion helpers pass correct answers and explain wrong ones."""

import numpy as np
import pytest
import torch

from course_utils import grading


def failure(check, *args, **kwargs) -> str:
    """The message of the AssertionError that `check(*args, **kwargs)` raises."""
    with pytest.raises(AssertionError) as info:
        check(*args, **kwargs)
    return str(info.value)


# non-array answers


def test_none_asks_about_return():
    message = failure(grading.assert_close, None, np.zeros(3), "dists")
    assert message.startswith("dists: ")
    assert "returned None" in message and "return" in message


@pytest.mark.parametrize("check, args", [
    (grading.assert_shape, ((3,), "x")),
    (grading.assert_dtype, (np.float64, "x")),
    (grading.assert_close, (np.zeros(3), "x")),
    (grading.assert_equal, (np.zeros(3), "x")),
    (grading.assert_rel_error, (np.zeros(3), "x")),
])
def test_every_array_check_explains_none(check, args):
    assert "did you forget `return`?" in failure(check, None, *args)


def test_list_is_not_an_array():
    message = failure(grading.assert_close, [0.0, 0.0], np.zeros(2), "probs", case="two classes")
    assert "probs (case: two classes)" in message
    assert "got a list" in message and "np.array" in message


def test_tensor_is_not_an_array():
    message = failure(grading.assert_close, torch.zeros(2), np.zeros(2), "x")
    assert "Tensor" in message and ".numpy()" in message


def test_number_where_an_array_is_expected():
    message = failure(grading.assert_shape, np.float64(3.0), (4,), "means")
    assert "got the number 3" in message and "axis" in message


def test_other_types_name_the_type():
    assert "got a str" in failure(grading.assert_equal, "abc", np.zeros(2), "x")


# assert_shape


def test_assert_shape_passes():
    grading.assert_shape(np.zeros((2, 3)), (2, 3), "x")
    grading.assert_shape(np.zeros((2, 3)), [2, 3], "x")


@pytest.mark.parametrize("actual_shape, expected_shape, hint", [
    ((3, 2), (2, 3), "swapped"),
    ((3,), (3, 1), "keepdims"),
    ((3, 1, 1), (3, 1), "extra axis"),
    ((4, 2), (2, 3), "axis"),
])
def test_assert_shape_reports_both_shapes_and_a_hint(actual_shape, expected_shape, hint):
    message = failure(grading.assert_shape, np.zeros(actual_shape), expected_shape, "dists",
                      case="k=3")
    assert f"shape is {actual_shape}, expected {expected_shape}" in message
    assert "dists (case: k=3)" in message
    assert "Hint:" in message and hint in message


# assert_dtype


def test_assert_dtype_passes_exact_and_kind():
    grading.assert_dtype(np.zeros(2), np.float64, "x")
    grading.assert_dtype(np.zeros(2), "float64", "x")
    grading.assert_dtype(np.zeros(2, np.float32), np.floating, "x")
    grading.assert_dtype(np.zeros(2, np.int32), np.integer, "labels")


def test_assert_dtype_reports_both_dtypes():
    message = failure(grading.assert_dtype, np.zeros(2, np.int64), np.float64, "x")
    assert "dtype is int64, expected float64" in message
    assert ".astype(np.float64)" in message
    message = failure(grading.assert_dtype, np.zeros(2, np.int64), np.floating, "x")
    assert "expected floating" in message


# assert_close


def test_assert_close_passes_within_tolerance():
    grading.assert_close(np.array([1.0, 2.0]), np.array([1.0, 2.0 + 1e-9]), "x")
    grading.assert_close(np.array([1.0, 2.0]), np.array([1.0, 2.1]), "x", rtol=0.1)
    grading.assert_close(0.5, 0.5, "accuracy")
    grading.assert_close(np.float64(0.5), 0.5, "accuracy")
    grading.assert_close(np.array([1, 2]), np.array([1.0, 2.0]), "ints vs floats")


def test_assert_close_reports_count_worst_error_and_mismatches():
    actual = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    expected = actual.copy()
    expected[0, 1] = 2.5
    expected[1, 2] = 9.0
    message = failure(grading.assert_close, actual, expected, "dists", case="2 x 3")
    assert message.startswith("dists (case: 2 x 3): 2 of 6 values differ")
    assert "Max abs error 3 (relative 0.333) at (1, 2)" in message
    assert "at (0, 1): got 2, expected 2.5" in message
    assert "at (1, 2): got 6, expected 9" in message


def test_assert_close_shows_only_a_few_mismatches():
    message = failure(grading.assert_close, np.zeros(100), np.ones(100), "x")
    assert "100 of 100 values differ" in message
    assert message.count("got 0, expected 1") == 3


def test_assert_close_checks_shape_before_values():
    message = failure(grading.assert_close, np.zeros((3, 2)), np.zeros((2, 3)), "x")
    assert "shape is (3, 2), expected (2, 3)" in message


def test_assert_close_does_not_broadcast():
    assert "shape" in failure(grading.assert_close, np.zeros((1, 3)), np.zeros(3), "x")


def test_assert_close_reports_nan():
    message = failure(grading.assert_close, np.array([1.0, np.nan, np.inf]), np.ones(3), "probs")
    assert "2 value(s) are nan or inf, first at (1,)" in message
    assert "Hint:" in message


def test_assert_close_accepts_matching_nan():
    grading.assert_close(np.array([1.0, np.nan]), np.array([1.0, np.nan]), "x")


def test_assert_close_hints_at_sign_and_transpose():
    x = np.arange(1.0, 4.0)
    assert "signs are flipped" in failure(grading.assert_close, -x, x, "dx")
    w = np.array([[1.0, 2.0], [3.0, 4.0]])
    assert "transpose" in failure(grading.assert_close, w.T, w, "w")


def test_assert_close_scalar_message():
    message = failure(grading.assert_close, 0.5, 0.25, "accuracy", case="balanced")
    assert message.startswith("accuracy (case: balanced): got 0.5, expected 0.25")


# assert_equal


def test_assert_equal_passes():
    grading.assert_equal(np.array([1, 2, 3]), np.array([1, 2, 3]), "labels")
    grading.assert_equal(np.int64(3), 3, "count")
    grading.assert_equal(np.array([True, False]), [True, False], "mask")


def test_assert_equal_reports_mismatches():
    message = failure(grading.assert_equal, np.array([1, 2, 3]), np.array([1, 2, 4]), "labels",
                      case=2)
    assert message.startswith("labels (case: 2): 1 of 3 values differ")
    assert "at (2,): got 3, expected 4" in message


def test_assert_equal_is_exact():
    message = failure(grading.assert_equal, np.array([1.0]), np.array([1.0 + 1e-12]), "x")
    assert "1 of 1 values differ" in message


# assert_rel_error


def test_assert_rel_error_passes():
    grading.assert_rel_error(np.array([1.0, 2.0]), np.array([1.0, 2.0 + 1e-9]), "dx")
    grading.assert_rel_error(1.0, 1.0 + 1e-3, "loss", tol=1e-2)


def test_assert_rel_error_reports_error_and_place():
    message = failure(grading.assert_rel_error, np.array([1.0, 2.0]), np.array([1.0, 2.2]), "dx",
                      case="N=2")
    assert message.startswith("dx (case: N=2): relative error 0.0476 > 1e-07, largest at (1,)")
    assert "got 2, expected 2.2" in message
    assert "wrong formula" in message


def test_assert_rel_error_small_error_gets_a_gentler_hint():
    message = failure(grading.assert_rel_error, np.array([1.0]), np.array([1.0001]), "dx")
    assert "close but not quite" in message


# assert_raises


def check_positive(x):
    if x <= 0:
        raise ValueError("x must be positive")
    return x


def test_assert_raises_returns_the_exception():
    error = grading.assert_raises(ValueError, check_positive, -1)
    assert "positive" in str(error)
    grading.assert_raises(ValueError, check_positive, x=0)


def test_assert_raises_when_nothing_is_raised():
    message = failure(grading.assert_raises, ValueError, check_positive, 3)
    assert "check_positive should raise ValueError" in message
    assert "returned a value of type int" in message


def test_assert_raises_when_another_exception_is_raised():
    message = failure(grading.assert_raises, ValueError, check_positive, "a")
    assert "check_positive raised TypeError" in message and "expected ValueError" in message


def test_assert_raises_does_not_accept_an_unwritten_function():
    def unwritten(x):
        raise NotImplementedError()

    message = failure(grading.assert_raises, Exception, unwritten, 1)
    assert "not implemented yet" in message
    grading.assert_raises(NotImplementedError, unwritten, 1)


# assert_gradient


def test_assert_gradient_passes_and_fails():
    x = np.array([[1.0, -2.0], [0.5, 3.0]])
    grading.assert_gradient(lambda v: np.sum(v ** 3), x, 3 * x ** 2, "dx")
    message = failure(grading.assert_gradient, lambda v: np.sum(v ** 3), x, 2 * x, "dx",
                      case="cubes")
    assert message.startswith("dx (case: cubes): relative error")
    np.testing.assert_array_equal(x, [[1.0, -2.0], [0.5, 3.0]])


def test_assert_tensor_close_wants_a_close_tensor():
    grading.assert_tensor_close(torch.ones(2, requires_grad=True) * 2, torch.full((2,), 2.0), "t")
    grading.assert_tensor_close(torch.ones(2), np.ones(2), "t")
    with pytest.raises(AssertionError, match="expected a PyTorch tensor, got a ndarray"):
        grading.assert_tensor_close(np.ones(2), torch.ones(2), "t")
    with pytest.raises(AssertionError, match="returned None"):
        grading.assert_tensor_close(None, torch.ones(2), "t")
    with pytest.raises(AssertionError, match="shape is"):
        grading.assert_tensor_close(torch.ones(3), torch.ones(2), "t")
    with pytest.raises(AssertionError, match="1 of 2 values differ"):
        grading.assert_tensor_close(torch.tensor([1.0, 2.0]), torch.tensor([1.0, 2.1]), "t")
