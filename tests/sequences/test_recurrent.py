"""GRU step against torch.nn.GRUCell, the attention LSTM (against torch.nn.LSTM and autograd),
Jacobian norms on a linear RNN, and gradient clipping."""

import math

import pytest
import torch
from torch import nn

from course_utils.sequences.recurrent import (
    AttentionLSTM,
    attention_context,
    gru_step,
    hidden_state_jacobian_norms,
    lstm_cell,
    tanh_rnn_cell,
    train_with_clipping,
)


def generator(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_gru_step_matches_torch_gru_cell():
    N, D, H = 3, 4, 5
    cell = nn.GRUCell(D, H).double()
    g = generator()
    x, prev_h = torch.randn(N, D, generator=g).double(), torch.randn(N, H, generator=g).double()
    b = torch.stack([cell.bias_ih, cell.bias_hh]).detach()
    ours = gru_step(x, prev_h, cell.weight_ih.detach().T, cell.weight_hh.detach().T, b)
    torch.testing.assert_close(ours, cell(x, prev_h).detach(), rtol=1e-12, atol=1e-12)


def test_gru_step_update_gate_one_keeps_the_state():
    N, D, H = 2, 3, 4
    g = generator(1)
    x, prev_h = torch.randn(N, D, generator=g), torch.randn(N, H, generator=g)
    b = torch.zeros(2, 3 * H)
    b[0, H:2 * H] = 50.0                       # z = σ(50) = 1
    out = gru_step(x, prev_h, torch.randn(D, 3 * H, generator=g),
                   torch.randn(H, 3 * H, generator=g), b)
    torch.testing.assert_close(out, prev_h)


def test_attention_context_weights_and_average():
    N, H, P = 2, 4, 6
    g = generator()
    prev_h, features = torch.randn(N, H, generator=g), torch.randn(N, H, P, generator=g)
    context, weights = attention_context(prev_h, features)
    assert context.shape == (N, H) and weights.shape == (N, P)
    torch.testing.assert_close(weights.sum(dim=1), torch.ones(N))
    for n in range(N):                          # the formula, one example at a time
        scores = torch.stack([prev_h[n] @ features[n, :, p] for p in range(P)]) / math.sqrt(H)
        w = torch.exp(scores) / torch.exp(scores).sum()
        torch.testing.assert_close(weights[n], w)
        torch.testing.assert_close(context[n], (features[n] * w).sum(dim=1))


def test_attention_lstm_shapes_and_weights_sum_to_one():
    N, T, D, H, P = 2, 5, 3, 4, 9
    g = generator()
    model = AttentionLSTM(D, H, seed=0)
    hidden, weights = model(torch.randn(N, T, D, generator=g), torch.randn(N, H, P, generator=g))
    assert hidden.shape == (N, T, H) and weights.shape == (N, T, P)
    torch.testing.assert_close(weights.sum(dim=2), torch.ones(N, T))
    assert (weights >= 0).all()


def test_attention_lstm_without_attention_is_torch_lstm():
    """With Wattn = 0 the cell is an LSTM started from h0 = c0 = the mean feature."""
    N, T, D, H, P = 2, 4, 3, 5, 6
    g = generator(2)
    model = AttentionLSTM(D, H, seed=1).double()
    with torch.no_grad():
        model.Wattn.zero_()
        model.b.copy_(torch.randn(4 * H, generator=g))
    x = torch.randn(N, T, D, generator=g).double()
    features = torch.randn(N, H, P, generator=g).double()
    reference = nn.LSTM(D, H, batch_first=True).double()

    def torch_order(w):                         # columns i, f, o, g -> rows i, f, g, o
        i, f, o, g = w.chunk(4, dim=-1)
        return torch.cat([i, f, g, o], dim=-1).T

    with torch.no_grad():
        reference.weight_ih_l0.copy_(torch_order(model.Wx))
        reference.weight_hh_l0.copy_(torch_order(model.Wh))
        reference.bias_ih_l0.copy_(torch_order(model.b[None])[:, 0])
        reference.bias_hh_l0.zero_()
    h0 = features.mean(dim=2)[None]
    expected, _ = reference(x, (h0, h0))
    hidden, _ = model(x, features)
    torch.testing.assert_close(hidden, expected)


def test_attention_lstm_gradcheck():
    N, T, D, H, P = 2, 3, 3, 4, 5
    g = generator(3)
    model = AttentionLSTM(D, H, seed=2).double()
    x = torch.randn(N, T, D, generator=g, dtype=torch.float64, requires_grad=True)
    features = torch.randn(N, H, P, generator=g, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x, f: model(x, f), (x, features))


def test_attention_lstm_seeded():
    a, b, c = AttentionLSTM(3, 4, seed=5), AttentionLSTM(3, 4, seed=5), AttentionLSTM(3, 4, seed=6)
    assert torch.equal(a.Wx, b.Wx) and not torch.equal(a.Wx, c.Wx)


@pytest.mark.parametrize("ord", [2, "fro"])
def test_jacobian_norms_of_a_linear_rnn_are_those_of_powers_of_w(ord):
    T, D, H = 6, 2, 4
    g = generator(4)
    W = torch.randn(H, H, generator=g, dtype=torch.float64) / 2
    norms = hidden_state_jacobian_norms(lambda x, h: h @ W.T, torch.zeros(T, D).double(),
                                        torch.randn(H, generator=g).double(), ord=ord)
    expected = torch.stack([torch.linalg.matrix_norm(torch.linalg.matrix_power(W, t), ord=ord)
                            for t in range(1, T + 1)])
    torch.testing.assert_close(norms, expected)


def test_jacobian_norms_match_autograd_functional_jacobian_for_an_lstm():
    T, D, H = 5, 3, 4
    g = generator(5)
    cell = lstm_cell(D, H, forget_bias=1.0, seed=0).double()
    inputs, h0 = torch.randn(T, D, generator=g).double(), torch.randn(H, generator=g).double()

    def last_state(h):
        state = (h[None], torch.zeros(1, H, dtype=torch.float64))
        for x in inputs:
            state = cell(x[None], state)
        return state[0][0]

    expected = torch.linalg.matrix_norm(torch.autograd.functional.jacobian(last_state, h0), ord=2)
    torch.testing.assert_close(hidden_state_jacobian_norms(cell, inputs, h0)[-1], expected)


def test_tanh_rnn_gain_controls_vanishing_and_exploding():
    T, D, H = 30, 4, 16
    g = generator(6)
    inputs, h0 = torch.randn(T, D, generator=g), 0.1 * torch.randn(H, generator=g)
    small = hidden_state_jacobian_norms(tanh_rnn_cell(D, H, 0.5), inputs, h0)
    large = hidden_state_jacobian_norms(tanh_rnn_cell(D, H, 3.0), inputs, h0)
    assert small[0] <= 0.5 + 1e-6 and large[0] <= 3 + 1e-6    # tanh' ≤ 1: at most ‖W‖ = gain
    assert small[-1] < 1e-6 < 1e3 < large[-1]


def test_lstm_cell_forget_bias():
    cell = lstm_cell(3, 4, forget_bias=2.0)
    assert torch.equal(cell.bias_ih[4:8], torch.full((4,), 2.0))
    assert cell.bias_ih[:4].abs().sum() == 0 and cell.bias_hh.abs().sum() == 0


def exploding_problem(seed: int = 0):
    """A linear RNN with weights of spectral norm 3 over 10 steps: gradients of order 3^20,
    in float64 so that updates of 1e-6 are measured exactly."""
    g = generator(seed)
    W = nn.Parameter(3 * torch.linalg.qr(torch.randn(4, 4, generator=g).double())[0])
    model = nn.ParameterList([W])
    h0 = torch.randn(4, generator=g).double()

    def loss_fn(step: int) -> torch.Tensor:
        h = h0
        for _ in range(10):
            h = W @ h
        return h.square().sum()

    return model, loss_fn


def test_clipping_bounds_the_sgd_update():
    lr, max_norm = 1e-6, 1.0
    model, loss_fn = exploding_problem()
    history = train_with_clipping(model, loss_fn, torch.optim.SGD(model.parameters(), lr=lr),
                                  steps=3, max_norm=max_norm, progress=False)
    assert min(history["grad_norm"]) > 1e3 * max_norm         # measured before clipping
    for update in history["update_norm"]:
        assert update == pytest.approx(lr * max_norm, rel=1e-4)


def test_no_clipping_leaves_the_update_unbounded():
    lr = 1e-6
    model, loss_fn = exploding_problem()
    history = train_with_clipping(model, loss_fn, torch.optim.SGD(model.parameters(), lr=lr),
                                  steps=1, max_norm=None, progress=False)
    assert history["update_norm"][0] == pytest.approx(lr * history["grad_norm"][0], rel=1e-4)
    assert history["update_norm"][0] > 1e3 * lr
