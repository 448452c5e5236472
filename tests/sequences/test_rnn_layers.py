"""RNN layers: CS231n's expected values, numerical gradients in float64, and PyTorch."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from course_utils.gradcheck import (
    layer_input_gradients,
    numerical_gradient,
    numerical_gradient_array,
    relative_error,
)
from course_utils.sequences.rnn_layers import (
    rnn_backward,
    rnn_forward,
    rnn_step_backward,
    rnn_step_forward,
    temporal_affine_backward,
    temporal_affine_forward,
    temporal_softmax_loss,
    word_embedding_backward,
    word_embedding_forward,
)

TOLERANCE = 1e-7  # "good" for smooth functions in float64 (course_utils.gradcheck)


def assert_gradients(analytic, numerical, names) -> None:
    for name, a, n in zip(names, analytic, numerical, strict=True):
        assert relative_error(a, n) < TOLERANCE, f"{name}: {relative_error(a, n):.2e}"


def rnn_inputs(N: int, T: int, D: int, H: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((N, T, D)), rng.standard_normal((N, H)),
            rng.standard_normal((D, H)) / np.sqrt(D), rng.standard_normal((H, H)) / np.sqrt(H),
            rng.standard_normal(H))


# Vanilla RNN


def test_rnn_step_forward_cs231n_values():
    N, D, H = 3, 10, 4
    x = np.linspace(-0.4, 0.7, num=N * D).reshape(N, D)
    prev_h = np.linspace(-0.2, 0.5, num=N * H).reshape(N, H)
    Wx = np.linspace(-0.1, 0.9, num=D * H).reshape(D, H)
    Wh = np.linspace(-0.3, 0.7, num=H * H).reshape(H, H)
    b = np.linspace(-0.2, 0.4, num=H)
    next_h, _ = rnn_step_forward(x, prev_h, Wx, Wh, b)
    expected = [[-0.58172089, -0.50182032, -0.41232771, -0.31410098],
                [0.66854692, 0.79562378, 0.87755553, 0.92795967],
                [0.97934501, 0.99144213, 0.99646691, 0.99854353]]
    np.testing.assert_allclose(next_h, expected, atol=1e-8)


def test_rnn_forward_cs231n_values():
    N, T, D, H = 2, 3, 4, 5
    x = np.linspace(-0.1, 0.3, num=N * T * D).reshape(N, T, D)
    h0 = np.linspace(-0.3, 0.1, num=N * H).reshape(N, H)
    Wx = np.linspace(-0.2, 0.4, num=D * H).reshape(D, H)
    Wh = np.linspace(-0.4, 0.1, num=H * H).reshape(H, H)
    b = np.linspace(-0.7, 0.1, num=H)
    h, _ = rnn_forward(x, h0, Wx, Wh, b)
    expected = [[[-0.42070749, -0.27279261, -0.11074945, 0.05740409, 0.22236251],
                 [-0.39525808, -0.22554661, -0.0409454, 0.14649412, 0.32397316],
                 [-0.42305111, -0.24223728, -0.04287027, 0.15997045, 0.35014525]],
                [[-0.55857474, -0.39065825, -0.19198182, 0.02378408, 0.23735671],
                 [-0.27150199, -0.07088804, 0.13562939, 0.33099728, 0.50158768],
                 [-0.51014825, -0.30524429, -0.06755202, 0.17806392, 0.40333043]]]
    np.testing.assert_allclose(h, expected, atol=1e-8)


def test_rnn_step_backward_numerical():
    x, prev_h, Wx, Wh, b = rnn_inputs(4, 1, 5, 6, seed=1)
    x = x[:, 0]
    next_h, cache = rnn_step_forward(x, prev_h, Wx, Wh, b)
    dnext_h = np.random.default_rng(2).standard_normal(next_h.shape)
    analytic = rnn_step_backward(dnext_h, cache)
    numerical = layer_input_gradients(rnn_step_forward, [x, prev_h, Wx, Wh, b], dnext_h)
    assert_gradients(analytic, numerical, ["dx", "dprev_h", "dWx", "dWh", "db"])


@pytest.mark.parametrize("N,T", [(2, 4), (1, 1), (3, 1), (1, 5)])
def test_rnn_backward_numerical(N, T):
    x, h0, Wx, Wh, b = rnn_inputs(N, T, 3, 4, seed=N * 10 + T)
    h, cache = rnn_forward(x, h0, Wx, Wh, b)
    dh = np.random.default_rng(3).standard_normal(h.shape)
    analytic = rnn_backward(dh, cache)
    assert [g.shape for g in analytic] == [x.shape, h0.shape, Wx.shape, Wh.shape, b.shape]
    numerical = layer_input_gradients(rnn_forward, [x, h0, Wx, Wh, b], dh)
    assert_gradients(analytic, numerical, ["dx", "dh0", "dWx", "dWh", "db"])


def test_rnn_matches_torch_forward_and_backward():
    x, h0, Wx, Wh, b = rnn_inputs(3, 5, 4, 6, seed=4)
    rnn = torch.nn.RNN(4, 6, nonlinearity="tanh", batch_first=True, dtype=torch.float64)
    with torch.no_grad():
        rnn.weight_ih_l0.copy_(torch.tensor(Wx.T))
        rnn.weight_hh_l0.copy_(torch.tensor(Wh.T))
        rnn.bias_ih_l0.copy_(torch.tensor(b))
        rnn.bias_hh_l0.zero_()
    xt = torch.tensor(x, requires_grad=True)
    h0t = torch.tensor(h0[None], requires_grad=True)
    ht, _ = rnn(xt, h0t)
    h, cache = rnn_forward(x, h0, Wx, Wh, b)
    np.testing.assert_allclose(h, ht.detach().numpy(), rtol=1e-10, atol=1e-12)
    dh = np.random.default_rng(5).standard_normal(h.shape)
    ht.backward(torch.tensor(dh))
    dx, dh0, dWx, dWh, db = rnn_backward(dh, cache)
    np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(dh0, h0t.grad[0].numpy(), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(dWx, rnn.weight_ih_l0.grad.numpy().T, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(dWh, rnn.weight_hh_l0.grad.numpy().T, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(db, rnn.bias_ih_l0.grad.numpy(), rtol=1e-9, atol=1e-12)


def test_rnn_keeps_float32():
    arrays = [a.astype(np.float32) for a in rnn_inputs(2, 3, 4, 5)]
    h, cache = rnn_forward(*arrays)
    assert h.dtype == np.float32
    grads = rnn_backward(np.ones_like(h), cache)
    assert all(g.dtype == np.float32 for g in grads)


# Word embedding


def test_word_embedding_forward_cs231n_values_and_torch():
    V, D = 5, 3
    x = np.array([[0, 3, 1, 2], [2, 1, 0, 3]])
    W = np.linspace(0, 1, num=V * D).reshape(V, D)
    out, _ = word_embedding_forward(x, W)
    np.testing.assert_allclose(out[0, 1], [0.64285714, 0.71428571, 0.78571429], atol=1e-8)
    np.testing.assert_allclose(out[1, 0], [0.42857143, 0.5, 0.57142857], atol=1e-8)
    np.testing.assert_array_equal(out, F.embedding(torch.tensor(x), torch.tensor(W)).numpy())


def test_word_embedding_backward_numerical_with_repeated_words():
    rng = np.random.default_rng(6)
    x = np.array([[0, 3, 3, 1], [3, 1, 0, 0], [4, 4, 4, 4]])  # repeats must add up; 2 unused
    W = rng.standard_normal((6, 3))
    out, cache = word_embedding_forward(x, W)
    dout = rng.standard_normal(out.shape)
    dW = word_embedding_backward(dout, cache)
    numerical = numerical_gradient_array(lambda v: word_embedding_forward(x, v)[0], W, dout)
    assert relative_error(dW, numerical) < TOLERANCE
    np.testing.assert_array_equal(dW[[2, 5]], 0)
    Wt = torch.tensor(W, requires_grad=True)
    F.embedding(torch.tensor(x), Wt).backward(torch.tensor(dout))
    np.testing.assert_allclose(dW, Wt.grad.numpy(), rtol=1e-12, atol=1e-14)


def test_word_embedding_keeps_float32():
    W = np.ones((4, 2), dtype=np.float32)
    out, cache = word_embedding_forward(np.array([[1, 2]]), W)
    assert out.dtype == np.float32
    assert word_embedding_backward(np.ones_like(out), cache).dtype == np.float32


# Temporal affine


def test_temporal_affine_numerical_and_torch():
    rng = np.random.default_rng(7)
    x, w, b = rng.standard_normal((2, 3, 4)), rng.standard_normal((4, 5)), rng.standard_normal(5)
    out, cache = temporal_affine_forward(x, w, b)
    dout = rng.standard_normal(out.shape)
    analytic = temporal_affine_backward(dout, cache)
    numerical = layer_input_gradients(temporal_affine_forward, [x, w, b], dout)
    assert_gradients(analytic, numerical, ["dx", "dw", "db"])
    tensors = [torch.tensor(a, requires_grad=True) for a in (x, w, b)]
    ref = F.linear(tensors[0], tensors[1].T, tensors[2])
    np.testing.assert_allclose(out, ref.detach().numpy(), rtol=1e-12)
    ref.backward(torch.tensor(dout))
    for name, ours, theirs in zip(["dx", "dw", "db"], analytic, tensors, strict=True):
        np.testing.assert_allclose(ours, theirs.grad.numpy(), rtol=1e-10, err_msg=name)


def test_temporal_affine_keeps_float32():
    x, w, b = (np.ones(s, dtype=np.float32) for s in ((2, 3, 4), (4, 5), (5,)))
    out, cache = temporal_affine_forward(x, w, b)
    assert out.dtype == np.float32
    assert all(g.dtype == np.float32 for g in temporal_affine_backward(out, cache))


# Temporal softmax loss


def softmax_inputs(N: int, T: int, V: int, p: float, seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((N, T, V))
    y = rng.integers(0, V, size=(N, T))
    return x, y, rng.random((N, T)) <= p


@pytest.mark.parametrize("N,T,V,p,expected", [(100, 1, 10, 1.0, 2.3), (100, 10, 10, 1.0, 23.0),
                                              (5000, 10, 10, 0.1, 2.3)])
def test_temporal_softmax_loss_cs231n_sanity(N, T, V, p, expected):
    """Small random scores: log(10) ≈ 2.3 per counted step, summed over T, divided by N."""
    x, y, mask = softmax_inputs(N, T, V, p)
    loss, _ = temporal_softmax_loss(0.001 * x, y, mask)
    assert loss == pytest.approx(expected, rel=0.05)


def test_temporal_softmax_loss_matches_torch():
    x, y, mask = softmax_inputs(4, 6, 7, 0.6, seed=1)
    loss, dx = temporal_softmax_loss(x, y, mask)
    xt = torch.tensor(x, requires_grad=True)
    per_step = F.cross_entropy(xt.reshape(-1, 7), torch.tensor(y).reshape(-1), reduction="none")
    ref = (per_step * torch.tensor(mask, dtype=torch.float64).reshape(-1)).sum() / 4
    ref.backward()
    assert loss == pytest.approx(ref.item(), rel=1e-12)
    np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=1e-10, atol=1e-14)


def test_temporal_softmax_loss_numerical():
    x, y, mask = softmax_inputs(3, 4, 5, 0.5, seed=2)
    _, dx = temporal_softmax_loss(x, y, mask)
    numerical = numerical_gradient(lambda v: temporal_softmax_loss(v, y, mask)[0], x)
    assert relative_error(dx, numerical) < TOLERANCE


def test_temporal_softmax_loss_edge_cases():
    x, y, mask = softmax_inputs(2, 3, 4, 1.0, seed=3)
    loss, dx = temporal_softmax_loss(x, y, np.zeros_like(mask))
    assert loss == 0.0 and not dx.any()
    # 0/1 float masks mean the same as bool ones.
    as_float = temporal_softmax_loss(x, y, mask.astype(float))[0]
    assert as_float == temporal_softmax_loss(x, y, mask)[0]
    # Huge scores: no overflow, the confident right answer costs nothing.
    big = np.zeros((1, 1, 3))
    big[0, 0, 2] = 1e4
    loss, dx = temporal_softmax_loss(big, np.array([[2]]), np.array([[True]]))
    assert loss == 0.0 and np.isfinite(dx).all()
    loss, _ = temporal_softmax_loss(big, np.array([[0]]), np.array([[True]]))
    assert loss == pytest.approx(1e4)


def test_temporal_softmax_loss_keeps_float32():
    x, y, mask = softmax_inputs(2, 3, 4, 0.5)
    loss, dx = temporal_softmax_loss(x.astype(np.float32), y, mask)
    assert isinstance(loss, float) and dx.dtype == np.float32


def test_graded_marks():
    functions = [rnn_step_forward, rnn_step_backward, rnn_forward, rnn_backward,
                 word_embedding_forward, word_embedding_backward, temporal_affine_forward,
                 temporal_affine_backward, temporal_softmax_loss]
    assert all(function.__graded_in__ == "ch10_rnn" for function in functions)
