"""Solver: overfits a tiny set, keeps its histories, rejects unknown rules."""

import numpy as np
import pytest

from course_utils.models.fc_net import FullyConnectedNet
from course_utils.solver import Solver


def _data(n=50, seed=0):
    rng = np.random.default_rng(seed)
    X, y = rng.standard_normal((n, 15)), rng.integers(0, 5, n)
    return {"X_train": X, "y_train": y, "X_val": X[:20], "y_val": y[:20]}


def test_overfits_a_small_sample_and_records_histories():
    model = FullyConnectedNet([50], input_dim=15, num_classes=5, weight_scale="kaiming")
    solver = Solver(model, _data(), update_rule="adam", optim_config={"learning_rate": 1e-2},
                    batch_size=25, num_epochs=30, progress=False).train()
    assert solver.train_acc_history[-1] >= 0.95
    assert len(solver.loss_history) == 60 and len(solver.val_acc_history) == 30
    assert solver.loss_history[-1] < 0.2 * solver.loss_history[0]


def test_lr_decay_shrinks_the_learning_rate():
    model = FullyConnectedNet([10], input_dim=15, num_classes=5)
    solver = Solver(model, _data(), update_rule="sgd_momentum", lr_decay=0.5, batch_size=50,
                    optim_config={"learning_rate": 0.1}, num_epochs=2, progress=False).train()
    assert solver.configs["W1"]["learning_rate"] == pytest.approx(0.025)


def test_unknown_rule_is_rejected():
    with pytest.raises(ValueError, match="update_rule"):
        Solver(FullyConnectedNet([3]), _data(), update_rule="lion")
