"""Update rules: hand-computed steps, purity, and many steps against torch.optim."""

import numpy as np
import pytest
import torch

from course_utils import optim


def quadratic_gradient(w: np.ndarray) -> np.ndarray:
    """Gradient of sum(scale * w² / 2 + w⁴ / 4) with per-coordinate scales (ill-conditioned)."""
    scale = np.linspace(0.1, 10.0, w.size).reshape(w.shape)
    return scale * w + w**3


def run_ours(rule, config, w0, steps):
    w = w0.copy()
    for _ in range(steps):
        w, config = rule(w, quadratic_gradient(w), config)
    return w


def run_torch(make_optimizer, w0, steps):
    w = torch.tensor(w0.copy(), requires_grad=True)
    optimizer = make_optimizer([w])
    for _ in range(steps):
        optimizer.zero_grad()
        w.grad = torch.tensor(quadratic_gradient(w.detach().numpy()))
        optimizer.step()
    return w.detach().numpy()


# Each pair: our rule with its config, and the torch optimizer that computes the same steps.
TORCH_MATCHES = {
    "sgd": (optim.sgd, {"learning_rate": 0.05}, lambda p: torch.optim.SGD(p, lr=0.05)),
    "sgd_momentum": (optim.sgd_momentum, {"learning_rate": 0.02, "momentum": 0.9},
                     lambda p: torch.optim.SGD(p, lr=0.02, momentum=0.9)),
    "nesterov_momentum": (optim.nesterov_momentum, {"learning_rate": 0.02, "momentum": 0.8},
                          lambda p: torch.optim.SGD(p, lr=0.02, momentum=0.8, nesterov=True)),
    "adagrad": (optim.adagrad, {"learning_rate": 0.1, "epsilon": 1e-10},
                lambda p: torch.optim.Adagrad(p, lr=0.1, eps=1e-10)),
    "rmsprop": (optim.rmsprop, {"learning_rate": 0.01, "decay_rate": 0.9, "epsilon": 1e-6},
                lambda p: torch.optim.RMSprop(p, lr=0.01, alpha=0.9, eps=1e-6)),
    "adam": (optim.adam, {"learning_rate": 0.01, "beta1": 0.8, "beta2": 0.99, "epsilon": 1e-8},
             lambda p: torch.optim.Adam(p, lr=0.01, betas=(0.8, 0.99), eps=1e-8)),
}


@pytest.mark.parametrize("name", TORCH_MATCHES)
def test_rule_matches_torch_optim_over_many_steps(name):
    rule, config, make_optimizer = TORCH_MATCHES[name]
    w0 = np.random.default_rng(0).standard_normal((3, 4))
    ours = run_ours(rule, dict(config), w0, 200)
    theirs = run_torch(make_optimizer, w0, 200)
    assert np.abs(ours - w0).max() > 0.1, "the test should move the weights"
    np.testing.assert_allclose(ours, theirs, rtol=1e-9, atol=1e-12)


def test_sgd_step_by_hand():
    w, config = optim.sgd(np.array([1.0, -2.0]), np.array([0.5, 0.5]), {"learning_rate": 0.1})
    np.testing.assert_allclose(w, [0.95, -2.05])
    assert config == {"learning_rate": 0.1}


def test_momentum_two_steps_by_hand():
    config = {"learning_rate": 0.1, "momentum": 0.5}
    w, config = optim.sgd_momentum(np.array([1.0]), np.array([1.0]), config)  # v = -0.1
    w, config = optim.sgd_momentum(w, np.array([1.0]), config)  # v = -0.05 - 0.1
    np.testing.assert_allclose(config["velocity"], [-0.15])
    np.testing.assert_allclose(w, [1.0 - 0.1 - 0.15])


def test_nesterov_first_step_looks_ahead_by_one_plus_mu():
    config = {"learning_rate": 0.1, "momentum": 0.9}
    w, _ = optim.nesterov_momentum(np.array([0.0]), np.array([1.0]), config)
    np.testing.assert_allclose(w, [-0.19])


def test_adagrad_and_rmsprop_first_steps_by_hand():
    dw = np.array([2.0, -0.5])
    w, config = optim.adagrad(np.zeros(2), dw, {"learning_rate": 0.1, "epsilon": 0.0})
    np.testing.assert_allclose(w, [-0.1, 0.1])  # every first step has length lr
    np.testing.assert_allclose(config["cache"], dw**2)
    config = {"learning_rate": 0.1, "decay_rate": 0.75, "epsilon": 0.0}
    w, config = optim.rmsprop(np.zeros(2), dw, config)
    np.testing.assert_allclose(w, [-0.2, 0.2])  # lr / sqrt(1 - decay_rate)
    np.testing.assert_allclose(config["cache"], 0.25 * dw**2)


def test_adam_first_step_has_length_lr_and_simple_adam_is_biased():
    dw = np.array([3.0, -1e-3])
    w, config = optim.adam(np.zeros(2), dw, {"learning_rate": 0.01, "epsilon": 0.0})
    np.testing.assert_allclose(w, [-0.01, 0.01])
    assert config["t"] == 1
    w, _ = optim.adam_simple(np.zeros(2), dw, {"learning_rate": 0.01, "epsilon": 0.0})
    np.testing.assert_allclose(w, -0.01 * 0.1 / np.sqrt(0.001) * np.sign(dw))


def test_adam_and_simple_adam_agree_once_the_bias_has_decayed():
    # With beta1 = beta2 = 0 both are sign descent, with no bias to correct.
    dw = np.array([0.3, -4.0])
    config = {"beta1": 0.0, "beta2": 0.0, "epsilon": 0.0}
    full, _ = optim.adam(np.ones(2), dw, dict(config))
    simple, _ = optim.adam_simple(np.ones(2), dw, dict(config))
    np.testing.assert_allclose(full, simple)


@pytest.mark.parametrize("name", optim.RULES)
def test_rules_fill_in_defaults_and_do_not_modify_inputs(name):
    rule = optim.RULES[name]
    w = np.array([[1.0, -2.0], [0.5, 3.0]])
    dw = np.array([[0.1, 0.2], [-0.3, 0.4]])
    w_copy, dw_copy = w.copy(), dw.copy()
    next_w, config = rule(w, dw)
    assert config["learning_rate"] > 0
    np.testing.assert_array_equal(w, w_copy)
    np.testing.assert_array_equal(dw, dw_copy)
    assert next_w.shape == w.shape and not np.shares_memory(next_w, w)
    assert np.all(np.sign(next_w - w) == -np.sign(dw)), "the first step goes downhill everywhere"
    snapshot = {key: np.copy(value) for key, value in config.items()}
    rule(next_w, dw, config)  # a second step must leave the returned config alone
    for key, value in snapshot.items():
        np.testing.assert_array_equal(config[key], value)


@pytest.mark.parametrize("name", optim.RULES)
def test_rules_converge_on_a_quadratic(name):
    rule = optim.RULES[name]
    # AdaGrad's steps shrink like 1/sqrt(t): it needs a larger learning rate.
    learning_rate = {"sgd": 0.05, "sgd_momentum": 0.05, "nesterov_momentum": 0.05, "adagrad": 0.5}
    config = {"learning_rate": learning_rate.get(name, 0.02)}
    w = run_ours(rule, config, np.full(4, 1.5), 3000)
    assert np.abs(w).max() < 0.05


def test_bad_config_raises():
    with pytest.raises(ValueError, match="momentum"):
        optim.sgd_momentum(np.zeros(2), np.zeros(2), {"momentum": 1.5})
    with pytest.raises(ValueError, match="learning_rate"):
        optim.sgd(np.zeros(2), np.zeros(2), {"learning_rate": -1.0})
    with pytest.raises(ValueError, match="same shape"):
        optim.adam(np.zeros(2), np.zeros(3))
    with pytest.raises(ValueError, match="one config per parameter"):
        optim.rmsprop(np.zeros(2), np.zeros(2), {"cache": np.zeros(3)})
