"""Tests of course_utils.models.convnet.ThreeLayerConvNet."""

import numpy as np

from course_utils.gradcheck import numerical_gradient, relative_error
from course_utils.models.convnet import ThreeLayerConvNet


def test_gradients_match_numerical_in_float64() -> None:
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(2, 3, 8, 8)), rng.integers(0, 4, size=2)
    model = ThreeLayerConvNet((3, 8, 8), num_filters=3, filter_size=3, hidden_dim=7,
                              num_classes=4, dtype=np.float64, seed=1)
    loss, grads = model.loss(X, y, reg=0.1)
    assert np.isfinite(loss)
    for name, param in model.params.items():
        num = numerical_gradient(lambda _: model.loss(X, y, reg=0.1)[0], param, h=1e-6)
        assert grads[name].shape == param.shape
        assert relative_error(grads[name], num) < 1e-5, name


def test_scores_shape_and_initial_loss() -> None:
    X = np.random.default_rng(2).normal(size=(50, 1, 28, 28)).astype(np.float32)
    model = ThreeLayerConvNet(weight_scale=1e-3)
    assert model.loss(X).shape == (50, 10)
    loss, _ = model.loss(X, np.zeros(50, dtype=np.int64))
    assert abs(loss - np.log(10)) < 0.01


def test_overfits_small_batch() -> None:
    rng = np.random.default_rng(3)
    X, y = rng.normal(size=(20, 1, 12, 12)).astype(np.float32), rng.integers(0, 10, size=20)
    model = ThreeLayerConvNet((1, 12, 12), num_filters=8, filter_size=3, hidden_dim=50)
    model.train(X, y, num_epochs=30, batch_size=10, optim_config={"learning_rate": 3e-3},
                progress=False)
    assert model.accuracy(X, y) == 1.0


def test_lr_decay_applies_after_each_epoch() -> None:
    rng = np.random.default_rng(4)
    X, y = rng.normal(size=(8, 1, 6, 6)), rng.integers(0, 3, size=8)
    one_epoch, frozen_second_epoch = (
        ThreeLayerConvNet((1, 6, 6), num_filters=2, filter_size=3, hidden_dim=5, num_classes=3,
                          dtype=np.float64) for _ in range(2))
    one_epoch.train(X, y, num_epochs=1, batch_size=4, progress=False)
    frozen_second_epoch.train(X, y, num_epochs=2, batch_size=4, lr_decay=0.0, progress=False)
    for name, param in one_epoch.params.items():
        np.testing.assert_array_equal(frozen_second_epoch.params[name], param, err_msg=name)


def test_progress_bar_redraws_are_rate_limited(capsys) -> None:
    """Redrawing at every step floods a notebook's output channel (nbval then times out)."""
    rng = np.random.default_rng(5)
    X, y = rng.normal(size=(400, 1, 6, 6)), rng.integers(0, 3, size=400)
    model = ThreeLayerConvNet((1, 6, 6), num_filters=2, filter_size=3, hidden_dim=5, num_classes=3)
    steps = len(model.train(X, y, num_epochs=1, batch_size=2))
    redraws = capsys.readouterr().err.count("\r")
    assert steps == 200 and 0 < redraws < steps / 4
