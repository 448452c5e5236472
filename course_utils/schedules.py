"""Learning-rate schedules: each builder returns a function of the step (0, 1, 2, ...) that gives
the learning rate to use at that step.

    schedule = warmup(cosine_schedule(0.1, total_steps=900), warmup_steps=100)
    learning_rates = [schedule(step) for step in range(1000)]

Relation to torch.optim.lr_scheduler (same values at every step; see tests/test_schedules.py):
step_schedule = StepLR; cosine_schedule = CosineAnnealingLR up to total_steps (torch's curve goes
back up after T_max, this one stays at min_lr); linear_schedule = LinearLR(start_factor=1,
end_factor=end_lr / base_lr); warmup(s, w, f) = SequentialLR([LinearLR(start_factor=f,
total_iters=w), s], milestones=[w]). inverse_sqrt_schedule has no torch class (use LambdaLR).
"""

import math
from collections.abc import Callable

from course_utils.graded import graded_in

Schedule = Callable[[int], float]


def _check_positive(value: float, name: str) -> None:
    if not value > 0:
        raise ValueError(f"{name} must be > 0, got {value}")


def _check_step(step: int) -> None:
    if isinstance(step, bool) or not float(step).is_integer() or step < 0:
        raise ValueError(f"step must be a whole number >= 0, got {step!r}")


@graded_in("ch03_loss_optimization")
def step_schedule(base_lr: float, step_size: int, gamma: float = 0.1) -> Schedule:
    """Step decay: multiply the learning rate by gamma every step_size steps.

    lr(t) = base_lr · gamma^⌊t / step_size⌋.

    Args:
        base_lr: learning rate at step 0, > 0.
        step_size: steps between two decays, > 0.
        gamma: decay factor in (0, 1].
    """
    _check_positive(base_lr, "base_lr")
    _check_positive(step_size, "step_size")
    if not 0 < gamma <= 1:
        raise ValueError(f"gamma must lie in (0, 1], got {gamma}")

    def schedule(step: int) -> float:
        _check_step(step)
        return base_lr * gamma ** (step // step_size)

    return schedule


@graded_in("ch03_loss_optimization")
def cosine_schedule(base_lr: float, total_steps: int, min_lr: float = 0.0) -> Schedule:
    """Cosine decay from base_lr to min_lr over total_steps, then min_lr.

    lr(t) = min_lr + (base_lr - min_lr) · (1 + cos(π t / T)) / 2 for t <= T.

    Args:
        base_lr: learning rate at step 0, > 0.
        total_steps: T, the step at which min_lr is reached, > 0.
        min_lr: final learning rate, in [0, base_lr].
    """
    _check_positive(base_lr, "base_lr")
    _check_positive(total_steps, "total_steps")
    if not 0 <= min_lr <= base_lr:
        raise ValueError(f"min_lr must lie in [0, base_lr={base_lr}], got {min_lr}")

    def schedule(step: int) -> float:
        _check_step(step)
        progress = min(step, total_steps) / total_steps
        return min_lr + (base_lr - min_lr) * (1 + math.cos(math.pi * progress)) / 2

    return schedule


@graded_in("ch03_loss_optimization")
def linear_schedule(base_lr: float, total_steps: int, end_lr: float = 0.0) -> Schedule:
    """Linear decay from base_lr to end_lr over total_steps, then end_lr.

    lr(t) = base_lr + (end_lr - base_lr) · min(t, T) / T.

    Args:
        base_lr: learning rate at step 0, > 0.
        total_steps: T, the step at which end_lr is reached, > 0.
        end_lr: final learning rate, in [0, base_lr].
    """
    _check_positive(base_lr, "base_lr")
    _check_positive(total_steps, "total_steps")
    if not 0 <= end_lr <= base_lr:
        raise ValueError(f"end_lr must lie in [0, base_lr={base_lr}], got {end_lr}")

    def schedule(step: int) -> float:
        _check_step(step)
        return base_lr + (end_lr - base_lr) * min(step, total_steps) / total_steps

    return schedule


@graded_in("ch03_loss_optimization")
def inverse_sqrt_schedule(base_lr: float, timescale: int = 1) -> Schedule:
    """Inverse square root decay: lr(t) = base_lr / √(1 + t / timescale).

    For t >> timescale this is base_lr · √timescale / √t, the α0 / √t of the lecture; the 1 +
    keeps step 0 finite (lr(0) = base_lr).

    Args:
        base_lr: learning rate at step 0, > 0.
        timescale: steps over which the decay sets in, > 0.
    """
    _check_positive(base_lr, "base_lr")
    _check_positive(timescale, "timescale")

    def schedule(step: int) -> float:
        _check_step(step)
        return base_lr / math.sqrt(1 + step / timescale)

    return schedule


@graded_in("ch03_loss_optimization")
def warmup(schedule: Schedule, warmup_steps: int, start_factor: float = 0.0) -> Schedule:
    """Linear warm-up followed by `schedule`.

    For t < W the learning rate grows linearly from start_factor · schedule(0) towards schedule(0):
    lr(t) = schedule(0) · (start_factor + (1 - start_factor) · t / W). From t = W on,
    lr(t) = schedule(t - W): the wrapped schedule starts counting when warm-up ends, so give it
    total_steps - W steps.

    Args:
        schedule: a function of the step, e.g. from cosine_schedule.
        warmup_steps: W, the number of warm-up steps, >= 0 (0 returns the schedule unchanged).
        start_factor: fraction of schedule(0) used at step 0, in [0, 1].
    """
    if not callable(schedule):
        raise ValueError(f"schedule must be a function of the step, got {type(schedule).__name__}")
    if isinstance(warmup_steps, bool) or not float(warmup_steps).is_integer() or warmup_steps < 0:
        raise ValueError(f"warmup_steps must be a whole number >= 0, got {warmup_steps!r}")
    if not 0 <= start_factor <= 1:
        raise ValueError(f"start_factor must lie in [0, 1], got {start_factor}")
    peak = schedule(0)

    def warmed_up(step: int) -> float:
        _check_step(step)
        if step < warmup_steps:
            return peak * (start_factor + (1 - start_factor) * step / warmup_steps)
        return schedule(step - warmup_steps)

    return warmed_up
