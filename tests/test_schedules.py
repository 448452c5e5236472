"""Learning-rate schedules: known values, and the same values as torch.optim.lr_scheduler."""

import math
import warnings

import numpy as np
import pytest
import torch

from course_utils.schedules import (
    cosine_schedule,
    inverse_sqrt_schedule,
    linear_schedule,
    step_schedule,
    warmup,
)


def torch_learning_rates(base_lr, make_scheduler, steps):
    """The learning rate a torch optimizer uses at steps 0 .. steps-1 under the scheduler."""
    parameter = torch.zeros(1, requires_grad=True)
    optimizer = torch.optim.SGD([parameter], lr=base_lr)
    scheduler = make_scheduler(optimizer)
    rates = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # SequentialLR's internal step(0) warns about its argument
        for _ in range(steps):
            rates.append(optimizer.param_groups[0]["lr"])
            optimizer.step()
            scheduler.step()
    return np.array(rates)


def ours(schedule, steps):
    return np.array([schedule(step) for step in range(steps)])


def test_known_values():
    assert [step_schedule(1.0, 3, 0.5)(t) for t in (0, 2, 3, 7)] == [1.0, 1.0, 0.5, 0.25]
    cosine = cosine_schedule(1.0, 10, min_lr=0.2)
    assert (cosine(0), cosine(5), cosine(10), cosine(50)) == pytest.approx((1.0, 0.6, 0.2, 0.2))
    linear = linear_schedule(2.0, 4, end_lr=1.0)
    assert [linear(t) for t in (0, 1, 4, 9)] == pytest.approx([2.0, 1.75, 1.0, 1.0])
    inverse = inverse_sqrt_schedule(1.0, timescale=2)
    assert (inverse(0), inverse(6), inverse(198)) == pytest.approx((1.0, 0.5, 0.1))


def test_warmup_ramps_linearly_then_hands_over():
    schedule = warmup(cosine_schedule(1.0, 10), warmup_steps=4)
    assert [schedule(t) for t in range(5)] == pytest.approx([0.0, 0.25, 0.5, 0.75, 1.0])
    assert schedule(9) == pytest.approx(cosine_schedule(1.0, 10)(5))
    assert warmup(step_schedule(0.3, 5), 0)(7) == step_schedule(0.3, 5)(7)
    assert warmup(linear_schedule(1.0, 4), 2, start_factor=0.5)(1) == pytest.approx(0.75)


@pytest.mark.parametrize("name", ["step", "cosine", "linear"])
def test_matches_torch_scheduler(name):
    base_lr, steps = 0.4, 60
    lr_scheduler = torch.optim.lr_scheduler
    cases = {
        "step": (step_schedule(base_lr, 7, 0.5), lambda o: lr_scheduler.StepLR(o, 7, gamma=0.5)),
        "cosine": (cosine_schedule(base_lr, steps - 1, min_lr=0.01),
                   lambda o: lr_scheduler.CosineAnnealingLR(o, T_max=steps - 1, eta_min=0.01)),
        "linear": (linear_schedule(base_lr, 40, end_lr=0.1),
                   lambda o: lr_scheduler.LinearLR(o, 1.0, 0.1 / base_lr, total_iters=40)),
    }
    schedule, make_scheduler = cases[name]
    expected = torch_learning_rates(base_lr, make_scheduler, steps)
    np.testing.assert_allclose(ours(schedule, steps), expected, rtol=1e-12, atol=1e-15)


def test_inverse_sqrt_matches_torch_lambda_scheduler():
    expected = torch_learning_rates(0.3, lambda o: torch.optim.lr_scheduler.LambdaLR(
        o, lambda t: 1 / math.sqrt(1 + t / 5)), 30)
    np.testing.assert_allclose(ours(inverse_sqrt_schedule(0.3, 5), 30), expected, rtol=1e-12)


def test_warmup_then_cosine_matches_torch_sequential():
    base_lr, warmup_steps, total = 0.5, 10, 50
    cosine = cosine_schedule(base_lr, total - warmup_steps, min_lr=0.02)
    schedule = warmup(cosine, warmup_steps, start_factor=0.1)

    def make_scheduler(optimizer):
        lr_scheduler = torch.optim.lr_scheduler
        return lr_scheduler.SequentialLR(optimizer, [
            lr_scheduler.LinearLR(optimizer, start_factor=0.1, total_iters=warmup_steps),
            lr_scheduler.CosineAnnealingLR(optimizer, T_max=total - warmup_steps, eta_min=0.02),
        ], milestones=[warmup_steps])

    expected = torch_learning_rates(base_lr, make_scheduler, total)
    np.testing.assert_allclose(ours(schedule, total), expected, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("build, message", [
    (lambda: step_schedule(0.0, 5), "base_lr must be > 0"),
    (lambda: step_schedule(0.1, 0), "step_size must be > 0"),
    (lambda: step_schedule(0.1, 5, gamma=1.5), "gamma"),
    (lambda: cosine_schedule(0.1, 10, min_lr=0.2), "min_lr"),
    (lambda: linear_schedule(0.1, -3), "total_steps must be > 0"),
    (lambda: linear_schedule(0.1, 3, end_lr=-1.0), "end_lr"),
    (lambda: inverse_sqrt_schedule(0.1, timescale=0), "timescale"),
    (lambda: warmup(0.1, 5), "function of the step"),
    (lambda: warmup(step_schedule(0.1, 5), -1), "warmup_steps"),
    (lambda: warmup(step_schedule(0.1, 5), 3, start_factor=2.0), "start_factor"),
    (lambda: cosine_schedule(0.1, 10)(-1), "step must be"),
    (lambda: warmup(linear_schedule(0.1, 10), 3)(2.5), "step must be"),
])
def test_bad_arguments_raise_clear_errors(build, message):
    with pytest.raises(ValueError, match=message):
        build()
