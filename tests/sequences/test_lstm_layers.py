"""LSTM layers: CS231n's expected values, numerical gradients in float64, and torch.nn.LSTM."""

import numpy as np
import pytest
import torch

from course_utils.gradcheck import numerical_gradient_array, relative_error
from course_utils.sequences.lstm_layers import (
    lstm_backward,
    lstm_forward,
    lstm_step_backward,
    lstm_step_forward,
)

TOLERANCE = 1e-7  # "good" for smooth functions in float64 (course_utils.gradcheck)


def lstm_inputs(N: int, T: int, D: int, H: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((N, T, D)), rng.standard_normal((N, H)),
            rng.standard_normal((D, 4 * H)) / np.sqrt(D),
            rng.standard_normal((H, 4 * H)) / np.sqrt(H), rng.standard_normal(4 * H))


def to_torch_gate_order(w: np.ndarray) -> np.ndarray:
    """Columns in gate blocks i, f, o, g (ours) to rows i, f, g, o (torch), transposed."""
    i, f, o, g = np.split(w, 4, axis=-1)
    return np.concatenate([i, f, g, o], axis=-1).T


def from_torch_gate_order(w: np.ndarray) -> np.ndarray:
    i, f, g, o = np.split(w.T, 4, axis=-1)
    return np.concatenate([i, f, o, g], axis=-1)


def test_lstm_step_forward_cs231n_values():
    N, D, H = 3, 4, 5
    x = np.linspace(-0.4, 1.2, num=N * D).reshape(N, D)
    prev_h = np.linspace(-0.3, 0.7, num=N * H).reshape(N, H)
    prev_c = np.linspace(-0.4, 0.9, num=N * H).reshape(N, H)
    Wx = np.linspace(-2.1, 1.3, num=4 * D * H).reshape(D, 4 * H)
    Wh = np.linspace(-0.7, 2.2, num=4 * H * H).reshape(H, 4 * H)
    b = np.linspace(0.3, 0.7, num=4 * H)
    next_h, next_c, _ = lstm_step_forward(x, prev_h, prev_c, Wx, Wh, b)
    expected_h = [[0.24635157, 0.28610883, 0.32240467, 0.35525807, 0.38474904],
                  [0.49223563, 0.55611431, 0.61507696, 0.66844003, 0.7159181],
                  [0.56735664, 0.66310127, 0.74419266, 0.80889665, 0.858299]]
    expected_c = [[0.32986176, 0.39145139, 0.451556, 0.51014116, 0.56717407],
                  [0.66382255, 0.76674007, 0.87195994, 0.97902709, 1.08751345],
                  [0.74192008, 0.90592151, 1.07717006, 1.25120233, 1.42395676]]
    np.testing.assert_allclose(next_h, expected_h, atol=1e-8)
    np.testing.assert_allclose(next_c, expected_c, atol=1e-8)


def test_lstm_forward_cs231n_values():
    N, D, H, T = 2, 5, 4, 3
    x = np.linspace(-0.4, 0.6, num=N * T * D).reshape(N, T, D)
    h0 = np.linspace(-0.4, 0.8, num=N * H).reshape(N, H)
    Wx = np.linspace(-0.2, 0.9, num=4 * D * H).reshape(D, 4 * H)
    Wh = np.linspace(-0.3, 0.6, num=4 * H * H).reshape(H, 4 * H)
    b = np.linspace(0.2, 0.7, num=4 * H)
    h, _ = lstm_forward(x, h0, Wx, Wh, b)
    expected = [[[0.01764008, 0.01823233, 0.01882671, 0.0194232],
                 [0.11287491, 0.12146228, 0.13018446, 0.13902939],
                 [0.31358768, 0.33338627, 0.35304453, 0.37250975]],
                [[0.45767879, 0.4761092, 0.4936887, 0.51041945],
                 [0.6704845, 0.69350089, 0.71486014, 0.7346449],
                 [0.81733511, 0.83677871, 0.85403753, 0.86935314]]]
    np.testing.assert_allclose(h, expected, atol=1e-8)


def test_lstm_step_backward_numerical():
    x, prev_h, Wx, Wh, b = lstm_inputs(4, 1, 5, 6, seed=1)
    x = x[:, 0]
    prev_c = np.random.default_rng(2).standard_normal(prev_h.shape)
    inputs = [x, prev_h, prev_c, Wx, Wh, b]
    next_h, next_c, cache = lstm_step_forward(*inputs)
    rng = np.random.default_rng(3)
    dnext_h, dnext_c = rng.standard_normal(next_h.shape), rng.standard_normal(next_c.shape)
    analytic = lstm_step_backward(dnext_h, dnext_c, cache)
    for k, name in enumerate(["dx", "dprev_h", "dprev_c", "dWx", "dWh", "db"]):
        # The gradient of sum(next_h * dnext_h + next_c * dnext_c), through both outputs.
        def both(v, k=k):
            h, c, _ = lstm_step_forward(*inputs[:k], v, *inputs[k + 1:])
            return np.stack([h, c])
        numerical = numerical_gradient_array(both, inputs[k], np.stack([dnext_h, dnext_c]))
        assert relative_error(analytic[k], numerical) < TOLERANCE, name


@pytest.mark.parametrize("N,T", [(2, 4), (1, 1), (3, 1), (1, 5)])
def test_lstm_backward_numerical(N, T):
    inputs = list(lstm_inputs(N, T, 3, 4, seed=N * 10 + T))
    h, cache = lstm_forward(*inputs)
    dh = np.random.default_rng(4).standard_normal(h.shape)
    analytic = lstm_backward(dh, cache)
    assert [g.shape for g in analytic] == [a.shape for a in inputs]
    for k, name in enumerate(["dx", "dh0", "dWx", "dWh", "db"]):
        def output(v, k=k):
            return lstm_forward(*inputs[:k], v, *inputs[k + 1:])[0]
        numerical = numerical_gradient_array(output, inputs[k], dh)
        assert relative_error(analytic[k], numerical) < TOLERANCE, name


def test_lstm_matches_torch_with_permuted_gates():
    x, h0, Wx, Wh, b = lstm_inputs(3, 5, 4, 6, seed=5)
    lstm = torch.nn.LSTM(4, 6, batch_first=True, dtype=torch.float64)
    with torch.no_grad():
        lstm.weight_ih_l0.copy_(torch.tensor(to_torch_gate_order(Wx)))
        lstm.weight_hh_l0.copy_(torch.tensor(to_torch_gate_order(Wh)))
        lstm.bias_ih_l0.copy_(torch.tensor(to_torch_gate_order(b)))
        lstm.bias_hh_l0.zero_()
    xt = torch.tensor(x, requires_grad=True)
    h0t = torch.tensor(h0[None], requires_grad=True)
    ht, _ = lstm(xt, (h0t, torch.zeros_like(h0t)))  # c0 = 0, as lstm_forward
    h, cache = lstm_forward(x, h0, Wx, Wh, b)
    np.testing.assert_allclose(h, ht.detach().numpy(), rtol=1e-10, atol=1e-12)
    dh = np.random.default_rng(6).standard_normal(h.shape)
    ht.backward(torch.tensor(dh))
    dx, dh0, dWx, dWh, db = lstm_backward(dh, cache)
    grads = {"dx": (dx, xt.grad.numpy()), "dh0": (dh0, h0t.grad[0].numpy()),
             "dWx": (dWx, from_torch_gate_order(lstm.weight_ih_l0.grad.numpy())),
             "dWh": (dWh, from_torch_gate_order(lstm.weight_hh_l0.grad.numpy())),
             "db": (db, from_torch_gate_order(lstm.bias_ih_l0.grad.numpy()))}
    for name, (ours, theirs) in grads.items():
        np.testing.assert_allclose(ours, theirs, rtol=1e-9, atol=1e-12, err_msg=name)


def test_lstm_saturated_gates_stay_finite():
    x, h0, Wx, Wh, b = lstm_inputs(2, 3, 4, 5)
    h, cache = lstm_forward(x, h0, Wx, Wh, b + 1e3 * np.sign(np.sin(np.arange(b.size))))
    assert np.isfinite(h).all()
    assert all(np.isfinite(g).all() for g in lstm_backward(np.ones_like(h), cache))


def test_lstm_keeps_float32():
    arrays = [a.astype(np.float32) for a in lstm_inputs(2, 3, 4, 5)]
    h, cache = lstm_forward(*arrays)
    assert h.dtype == np.float32
    assert all(g.dtype == np.float32 for g in lstm_backward(np.ones_like(h), cache))


def test_graded_marks():
    functions = [lstm_step_forward, lstm_step_backward, lstm_forward, lstm_backward]
    assert all(function.__graded_in__ == "ch10_rnn" for function in functions)
