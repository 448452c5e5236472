"""Initialization schemes and the activation-statistics experiment."""

import numpy as np
import pytest

from course_utils import initialization as init


def test_uniform_bound_k_has_variance_k_squared_over_three():
    w = init.uniform(1000, 1000, 0.05, np.random.default_rng(0))
    assert abs(w.var() - 0.05**2 / 3) < 0.01 * 0.05**2 / 3
    assert np.abs(w).max() <= 0.05


def test_xavier_and_kaiming_have_the_right_std():
    rng = np.random.default_rng(0)
    assert abs(init.xavier(400, 1000, rng).std() - np.sqrt(1 / 400)) < 1e-3
    assert abs(init.kaiming(400, 1000, rng).std() - np.sqrt(2 / 400)) < 1e-3


def test_small_uniform_weights_make_tanh_activations_vanish_and_xavier_keeps_them():
    small = init.layer_activations("uniform", "tanh", 0.01, num_layers=6, width=256)
    xavier = init.layer_activations("xavier", "tanh", num_layers=6, width=256)
    assert small[-1].std() < 1e-4
    assert 0.1 < xavier[-1].std() < 1


def test_kaiming_keeps_relu_activations_and_xavier_shrinks_them():
    kaiming = init.layer_activations("kaiming", "relu", num_layers=6, width=256)
    xavier = init.layer_activations("xavier", "relu", num_layers=6, width=256)
    assert 0.5 < kaiming[-1].std() / kaiming[0].std() < 2
    assert xavier[-1].std() / xavier[0].std() < 0.3


def test_bad_scheme_and_activation_are_rejected():
    with pytest.raises(ValueError, match="scheme"):
        init.make_weights("lecun", 2, 2, np.random.default_rng(0))
    with pytest.raises(ValueError, match="activation"):
        init.layer_activations("xavier", "gelu")


def test_histograms_share_one_value_range():
    import matplotlib
    matplotlib.use("Agg")
    outputs = init.layer_activations("uniform", "tanh", 0.05, num_layers=3, width=50)
    figure = init.plot_layer_histograms(outputs)
    limits = {tuple(np.round(ax.get_xlim(), 6)) for ax in figure.axes}
    assert len(limits) == 1 and len(figure.axes) == 3
