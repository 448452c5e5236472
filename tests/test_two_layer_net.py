"""TwoLayerNet: initialisation, scores, numerical gradients in float64, the same network in
PyTorch autograd, and training (overfitting a tiny set)."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from course_utils.gradcheck import numerical_gradient, relative_error
from course_utils.models.two_layer_net import TwoLayerNet

NAMES = ("W1", "b1", "W2", "b2")


@pytest.fixture
def problem():
    rng = np.random.default_rng(1)
    net = TwoLayerNet(input_dim=6, hidden_dim=7, num_classes=4, std=0.5, seed=3)
    for name in ("b1", "b2"):  # non-zero biases, so their gradients are checked too
        net.params[name] = 0.1 * rng.standard_normal(net.params[name].shape)
    X = rng.standard_normal((5, 6))
    y = rng.integers(0, 4, 5)
    return net, X, y


def test_parameters_have_the_documented_shapes_and_statistics():
    net = TwoLayerNet(input_dim=300, hidden_dim=200, num_classes=10, std=0.05, seed=0)
    shapes = {name: net.params[name].shape for name in NAMES}
    assert shapes == {"W1": (300, 200), "b1": (200,), "W2": (200, 10), "b2": (10,)}
    assert np.std(net.params["W1"]) == pytest.approx(0.05, rel=0.02)
    assert not net.params["b1"].any() and not net.params["b2"].any()
    assert all(value.dtype == np.float64 for value in net.params.values())


def test_initialisation_is_seeded():
    a, b, c = (TwoLayerNet(5, 4, 3, std=1.0, seed=s) for s in (0, 0, 1))
    assert all(np.array_equal(a.params[n], b.params[n]) for n in NAMES)
    assert not np.array_equal(a.params["W1"], c.params["W1"])


def test_float32_network_stays_float32(problem):
    net = TwoLayerNet(6, 7, 4, std=0.5, dtype=np.float32)
    _, X, y = problem
    loss, grads = net.loss(X.astype(np.float32), y, reg=0.1)
    assert np.isfinite(loss)
    assert all(grads[name].dtype == np.float32 for name in NAMES)


def test_scores_are_affine_relu_affine(problem):
    net, X, _ = problem
    p = net.params
    expected = np.maximum(X @ p["W1"] + p["b1"], 0) @ p["W2"] + p["b2"]
    np.testing.assert_allclose(net.loss(X), expected, rtol=1e-12)
    np.testing.assert_array_equal(net.predict(X), expected.argmax(axis=1))


def test_loss_with_zero_weights_is_log_num_classes():
    net = TwoLayerNet(6, 7, 4, std=0.0)
    loss, grads = net.loss(np.ones((3, 6)), np.array([0, 1, 3]), reg=10.0)
    assert loss == pytest.approx(np.log(4))
    assert not grads["W1"].any()  # W2 = 0 blocks the gradient to the first layer


def test_regularization_is_reg_times_sum_of_squares_without_one_half(problem):
    net, X, y = problem
    loss0, grads0 = net.loss(X, y, reg=0.0)
    loss1, grads1 = net.loss(X, y, reg=0.3)
    penalty = 0.3 * (np.sum(net.params["W1"] ** 2) + np.sum(net.params["W2"] ** 2))
    assert loss1 - loss0 == pytest.approx(penalty)
    np.testing.assert_allclose(grads1["W1"] - grads0["W1"], 0.6 * net.params["W1"], atol=1e-12)
    np.testing.assert_allclose(grads1["b1"], grads0["b1"])  # biases are not penalised


@pytest.mark.parametrize("reg", [0.0, 0.7])
def test_gradients_match_numerical_gradients(problem, reg):
    net, X, y = problem
    _, grads = net.loss(X, y, reg=reg)
    for name in NAMES:
        numeric = numerical_gradient(lambda _: net.loss(X, y, reg=reg)[0], net.params[name])
        assert relative_error(grads[name], numeric) < 1e-7, name


@pytest.mark.parametrize("reg", [0.0, 0.7])
def test_same_loss_and_gradients_as_pytorch_autograd(problem, reg):
    net, X, y = problem
    loss, grads = net.loss(X, y, reg=reg)
    p = {name: torch.tensor(value, requires_grad=True) for name, value in net.params.items()}
    scores = F.relu(torch.tensor(X) @ p["W1"] + p["b1"]) @ p["W2"] + p["b2"]
    torch_loss = F.cross_entropy(scores, torch.tensor(y)) + reg * (
        (p["W1"] ** 2).sum() + (p["W2"] ** 2).sum())
    torch_loss.backward()
    assert loss == pytest.approx(torch_loss.item(), rel=1e-12)
    for name in NAMES:
        np.testing.assert_allclose(grads[name], p[name].grad.numpy(), rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("update, config", [
    ("sgd_momentum", {"learning_rate": 0.1, "momentum": 0.9}),
    ("adam", {"learning_rate": 1e-2}),
])
def test_overfits_a_tiny_training_set(update, config):
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((40, 20)), rng.integers(0, 5, 40)  # random labels: memorise them
    net = TwoLayerNet(20, 64, 5, std=0.1, seed=0)
    history = net.train(X, y, num_epochs=150, batch_size=20, update=update, optim_config=config,
                        progress=False)
    assert net.accuracy(X, y) == 1.0
    assert history["loss"][-1] < 0.05 * history["loss"][0]


def test_train_history_and_learning_rate_decay():
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((50, 8)), rng.integers(0, 3, 50)
    X_val, y_val = rng.standard_normal((10, 8)), rng.integers(0, 3, 10)
    config = {"learning_rate": 0.1}
    a = TwoLayerNet(8, 5, 3, std=0.1, seed=0)
    history = a.train(X, y, X_val, y_val, num_epochs=3, batch_size=16, update="sgd",
                      optim_config=config, learning_rate_decay=0.5, progress=False)
    assert len(history["loss"]) == 3 * 4  # ceil(50 / 16) steps per epoch
    assert len(history["train_accuracy"]) == len(history["val_accuracy"]) == 3
    assert config == {"learning_rate": 0.1}  # the caller's config is not modified
    b = TwoLayerNet(8, 5, 3, std=0.1, seed=0)
    again = b.train(X, y, X_val, y_val, num_epochs=3, batch_size=16, update="sgd",
                    optim_config=config, learning_rate_decay=0.5, progress=False)
    assert again == history  # same seeds, same run
    # Plain SGD with decay 0.5 per epoch: replaying the steps by hand gives the same weights.
    c = TwoLayerNet(8, 5, 3, std=0.1, seed=0)
    order_rng = np.random.default_rng(0)
    order_rng.choice(50, size=50, replace=False)  # the training-accuracy subset
    for epoch in range(3):
        order = order_rng.permutation(50)
        for start in range(0, 50, 16):
            batch = order[start:start + 16]
            _, grads = c.loss(X[batch], y[batch])
            for name in NAMES:
                c.params[name] = c.params[name] - 0.1 * 0.5**epoch * grads[name]
    for name in NAMES:
        np.testing.assert_allclose(a.params[name], c.params[name], rtol=1e-12)


def test_bad_arguments_raise_clear_errors(problem):
    net, X, y = problem
    with pytest.raises(ValueError, match="reg"):
        net.loss(X, y, reg=-1.0)
    with pytest.raises(ValueError, match="unknown update rule"):
        net.train(X, y, update="sgd_nesterov", progress=False)
    with pytest.raises(ValueError, match="len"):
        net.train(X, y[:3], progress=False)
    with pytest.raises(ValueError, match="hidden_dim"):
        TwoLayerNet(6, 0, 4)
