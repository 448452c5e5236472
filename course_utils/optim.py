"""First-order update rules, all with one signature:

    next_w, config = rule(w, dw, config=None)

Args (every rule):
    w: parameters, array of any shape.
    dw: gradient of the loss with respect to w, same shape.
    config: hyperparameters and state (momentum buffers, caches, step count) from the previous
        call, or None for the defaults. Missing keys get their defaults.

Returns:
    next_w: the updated parameters, a new array (w is not modified).
    config: a new dict with the hyperparameters and the updated state; pass it to the next call.

The rules never modify their inputs, so a config can be reused or inspected safely.

Relation to torch.optim (same values up to rounding with a constant learning rate and
dampening = weight_decay = 0): sgd = SGD; sgd_momentum = SGD(momentum=μ), whose buffer b = v / -lr;
nesterov_momentum = SGD(momentum=μ, nesterov=True); adagrad = Adagrad(lr_decay=0,
initial_accumulator_value=0); rmsprop = RMSprop (ε added after the square root, as here);
adam = Adam. The defaults differ (torch's Adagrad ε is 1e-10), and when the learning rate changes
during training, the velocity forms here and torch's buffer forms are no longer identical.
"""

import numpy as np

from course_utils.graded import graded_in

Array = np.ndarray


def _config(config: dict | None, **defaults: object) -> dict:
    """A copy of `config` with the missing hyperparameters set to `defaults`."""
    result = dict(config or {})
    for key, value in defaults.items():
        result.setdefault(key, value)
    for key in ("learning_rate", "epsilon"):
        if key in result and not result[key] >= 0:
            raise ValueError(f"{key} must be >= 0, got {result[key]}")
    for key in ("momentum", "decay_rate", "beta1", "beta2"):
        if key in result and not 0 <= result[key] < 1:
            raise ValueError(f"{key} must lie in [0, 1), got {result[key]}")
    return result


def _state(config: dict, key: str, w: Array) -> Array:
    """The state array `key` of config, zeros like w on the first call."""
    value = config.get(key)
    if value is None:
        return np.zeros_like(w)
    if np.shape(value) != w.shape:
        raise ValueError(f"config['{key}'] has shape {np.shape(value)} but w has shape {w.shape}: "
                         "use one config per parameter array")
    return value


def _check(w: Array, dw: Array) -> None:
    if np.shape(w) != np.shape(dw):
        raise ValueError(f"w and dw must have the same shape, got {np.shape(w)} and {np.shape(dw)}")


@graded_in("ch03_loss_optimization")
def sgd(w: Array, dw: Array, config: dict | None = None) -> tuple[Array, dict]:
    """Vanilla stochastic gradient descent: w ← w - lr · dw.

    config: learning_rate (default 1e-2).
    """
    _check(w, dw)
    config = _config(config, learning_rate=1e-2)
    next_w = w - config["learning_rate"] * dw
    return next_w, config


@graded_in("ch03_loss_optimization")
def sgd_momentum(w: Array, dw: Array, config: dict | None = None) -> tuple[Array, dict]:
    """SGD with momentum: v ← μ v - lr · dw, w ← w + v.

    config: learning_rate (1e-2), momentum μ (0.9), velocity v (zeros like w).
    """
    _check(w, dw)
    config = _config(config, learning_rate=1e-2, momentum=0.9)
    v = config["momentum"] * _state(config, "velocity", w) - config["learning_rate"] * dw
    config["velocity"] = v
    return w + v, config


@graded_in("ch03_loss_optimization")
def nesterov_momentum(w: Array, dw: Array, config: dict | None = None) -> tuple[Array, dict]:
    """Nesterov momentum in the "look-ahead" variables of the CS231n notes.

    With v_prev the old velocity: v ← μ v_prev - lr · dw, w ← w - μ v_prev + (1 + μ) v, where
    dw is the gradient at w (the stored w is the looked-ahead point).

    config: learning_rate (1e-2), momentum μ (0.9), velocity v (zeros like w).
    """
    _check(w, dw)
    config = _config(config, learning_rate=1e-2, momentum=0.9)
    mu = config["momentum"]
    v_prev = _state(config, "velocity", w)
    v = mu * v_prev - config["learning_rate"] * dw
    config["velocity"] = v
    return w - mu * v_prev + (1 + mu) * v, config


@graded_in("ch03_loss_optimization")
def adagrad(w: Array, dw: Array, config: dict | None = None) -> tuple[Array, dict]:
    """AdaGrad: cache ← cache + dw², w ← w - lr · dw / (√cache + ε).

    config: learning_rate (1e-2), epsilon ε (1e-8), cache (zeros like w).
    """
    _check(w, dw)
    config = _config(config, learning_rate=1e-2, epsilon=1e-8)
    cache = _state(config, "cache", w) + dw * dw
    config["cache"] = cache
    next_w = w - config["learning_rate"] * dw / (np.sqrt(cache) + config["epsilon"])
    return next_w, config


@graded_in("ch03_loss_optimization")
def rmsprop(w: Array, dw: Array, config: dict | None = None) -> tuple[Array, dict]:
    """RMSProp: cache ← ρ cache + (1 - ρ) dw², w ← w - lr · dw / (√cache + ε).

    config: learning_rate (1e-2), decay_rate ρ (0.99), epsilon ε (1e-8), cache (zeros like w).
    """
    _check(w, dw)
    config = _config(config, learning_rate=1e-2, decay_rate=0.99, epsilon=1e-8)
    rho = config["decay_rate"]
    cache = rho * _state(config, "cache", w) + (1 - rho) * dw * dw
    config["cache"] = cache
    next_w = w - config["learning_rate"] * dw / (np.sqrt(cache) + config["epsilon"])
    return next_w, config


@graded_in("ch03_loss_optimization")
def adam(w: Array, dw: Array, config: dict | None = None) -> tuple[Array, dict]:
    """Adam with bias correction.

    t ← t + 1; m ← β1 m + (1 - β1) dw; v ← β2 v + (1 - β2) dw²;
    m̂ = m / (1 - β1^t); v̂ = v / (1 - β2^t); w ← w - lr · m̂ / (√v̂ + ε).

    config: learning_rate (1e-3), beta1 (0.9), beta2 (0.999), epsilon (1e-8), m and v (zeros
    like w), t (0, the number of steps taken so far).
    """
    _check(w, dw)
    config = _config(config, learning_rate=1e-3, beta1=0.9, beta2=0.999, epsilon=1e-8, t=0)
    beta1, beta2 = config["beta1"], config["beta2"]
    t = config["t"] + 1
    m = beta1 * _state(config, "m", w) + (1 - beta1) * dw
    v = beta2 * _state(config, "v", w) + (1 - beta2) * dw * dw
    m_hat = m / (1 - beta1**t)
    v_hat = v / (1 - beta2**t)
    config.update(m=m, v=v, t=t)
    next_w = w - config["learning_rate"] * m_hat / (np.sqrt(v_hat) + config["epsilon"])
    return next_w, config


@graded_in("ch03_loss_optimization")
def adam_simple(w: Array, dw: Array, config: dict | None = None) -> tuple[Array, dict]:
    """Adam without bias correction (the first version in the CS231n notes).

    m ← β1 m + (1 - β1) dw; v ← β2 v + (1 - β2) dw²; w ← w - lr · m / (√v + ε).
    m and v start at zero, so the first steps are biased: the first step has length
    lr · (1 - β1) / √(1 - β2) ≈ 3.2 lr per coordinate with the default betas.

    config: learning_rate (1e-3), beta1 (0.9), beta2 (0.999), epsilon (1e-8), m and v (zeros).
    """
    _check(w, dw)
    config = _config(config, learning_rate=1e-3, beta1=0.9, beta2=0.999, epsilon=1e-8)
    beta1, beta2 = config["beta1"], config["beta2"]
    m = beta1 * _state(config, "m", w) + (1 - beta1) * dw
    v = beta2 * _state(config, "v", w) + (1 - beta2) * dw * dw
    config.update(m=m, v=v)
    next_w = w - config["learning_rate"] * m / (np.sqrt(v) + config["epsilon"])
    return next_w, config


RULES = {
    "sgd": sgd,
    "sgd_momentum": sgd_momentum,
    "nesterov_momentum": nesterov_momentum,
    "adagrad": adagrad,
    "rmsprop": rmsprop,
    "adam": adam,
    "adam_simple": adam_simple,
}
