"""FullyConnectedNet: shapes, initial loss, gradients in float64 with each option."""

import numpy as np
import pytest

from course_utils.dropout import dropout_forward
from course_utils.gradcheck import numerical_gradient, relative_error
from course_utils.models import fc_net
from course_utils.models.fc_net import FullyConnectedNet


@pytest.mark.parametrize("normalization", [None, "batchnorm", "layernorm"])
@pytest.mark.parametrize("keep", [1.0, 0.7])
def test_gradients_match_numerical_gradients(normalization, keep):
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((5, 8)), rng.integers(0, 4, 5)
    model = FullyConnectedNet([6, 5], input_dim=8, num_classes=4, normalization=normalization,
                              dropout_keep_ratio=keep, reg=0.1, weight_scale=0.5, seed=1)
    model._dropout_calls = 0
    _, grads = model.loss(X, y)
    for name, param in model.params.items():
        def f(_):
            model._dropout_calls = 0        # the same dropout mask every call
            return model.loss(X, y)[0]
        numeric = numerical_gradient(f, param)
        # biases before batch norm have zero gradient: compare those absolutely
        assert (relative_error(grads[name], numeric) < 1e-5
                or np.abs(grads[name] - numeric).max() < 1e-8), name


def test_initial_loss_is_log_num_classes_and_test_scores_have_the_right_shape():
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((50, 20)), rng.integers(0, 10, 50)
    model = FullyConnectedNet([30, 30, 30], input_dim=20, weight_scale=1e-3)
    loss, _ = model.loss(X, y)
    assert abs(loss - np.log(10)) < 0.01
    assert model.loss(X).shape == (50, 10)


def test_bad_normalization_is_rejected():
    with pytest.raises(ValueError, match="normalization"):
        FullyConnectedNet([3], normalization="groupnorm")


def test_each_layer_draws_its_own_dropout_mask(monkeypatch):
    masks = []

    def recording_dropout(x, dropout_param):
        out, cache = dropout_forward(x, dropout_param)
        masks.append(cache[1])
        return out, cache

    monkeypatch.setattr(fc_net, "dropout_forward", recording_dropout)
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((8, 20)), rng.integers(0, 10, 8)
    model = FullyConnectedNet([50, 50, 50], input_dim=20, dropout_keep_ratio=0.5, seed=3)
    model.loss(X, y)
    model.loss(X, y)
    first_call, second_call = masks[:3], masks[3:]
    for masks_of_call in (first_call, second_call):
        assert not np.array_equal(masks_of_call[0], masks_of_call[1])
        assert not np.array_equal(masks_of_call[1], masks_of_call[2])
    assert not any(np.array_equal(a, b) for a in first_call for b in second_call)
    model._dropout_calls = 0
    masks.clear()
    model.loss(X, y)
    assert all(np.array_equal(a, b) for a, b in zip(masks, first_call, strict=True)), (
        "not reproducible from the seed")
