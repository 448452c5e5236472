"""Long short-term memory (LSTM), in NumPy with the CS231n layer API.

One step, with a = x Wx + prev_h Wh + b of shape (N, 4H) split into four blocks of H columns:

    i = σ(a[:, 0:H])     input gate        next_c = f ⊙ prev_c + i ⊙ g
    f = σ(a[:, H:2H])    forget gate       next_h = o ⊙ tanh(next_c)
    o = σ(a[:, 2H:3H])   output gate
    g = tanh(a[:, 3H:])  candidate cell

The gate order i, f, o, g is CS231n's. torch.nn.LSTM orders its gates i, f, g, o, so copying
weights to or from it needs a permutation of the last two blocks (and a transpose: torch stores
weight_ih_l0 as (4H, D)).
"""

from typing import Any

import numpy as np

from course_utils.graded import graded_in

Array = np.ndarray
Cache = Any


def _sigmoid(x: Array) -> Array:
    """1 / (1 + e^-x) without overflow: e^-|x| never exceeds 1."""
    z = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + z), z / (1 + z))


@graded_in("ch10_rnn")
def lstm_step_forward(x: Array, prev_h: Array, prev_c: Array, Wx: Array, Wh: Array,
                      b: Array) -> tuple[Array, Array, Cache]:
    """One LSTM step (equations in the module docstring).

    Args:
        x: inputs at this step, shape (N, D).
        prev_h: previous hidden state, shape (N, H).
        prev_c: previous cell state, shape (N, H).
        Wx: input-to-gates weights, shape (D, 4H), columns in gate order i, f, o, g.
        Wh: hidden-to-gates weights, shape (H, 4H).
        b: biases, shape (4H,).

    Returns:
        next_h: shape (N, H).
        next_c: shape (N, H).
        cache: what lstm_step_backward needs.
    """
    H = prev_h.shape[1]
    a = x @ Wx + prev_h @ Wh + b
    i, f, o = _sigmoid(a[:, :H]), _sigmoid(a[:, H:2 * H]), _sigmoid(a[:, 2 * H:3 * H])
    g = np.tanh(a[:, 3 * H:])
    next_c = f * prev_c + i * g
    tanh_c = np.tanh(next_c)
    next_h = o * tanh_c
    return next_h, next_c, (x, prev_h, prev_c, Wx, Wh, i, f, o, g, tanh_c)


@graded_in("ch10_rnn")
def lstm_step_backward(dnext_h: Array, dnext_c: Array,
                       cache: Cache) -> tuple[Array, Array, Array, Array, Array, Array]:
    """Backward pass of lstm_step_forward.

    Args:
        dnext_h: upstream gradient of next_h, shape (N, H).
        dnext_c: upstream gradient of next_c, shape (N, H).
        cache: from lstm_step_forward.

    Returns:
        dx (N, D), dprev_h (N, H), dprev_c (N, H), dWx (D, 4H), dWh (H, 4H), db (4H,).
    """
    x, prev_h, prev_c, Wx, Wh, i, f, o, g, tanh_c = cache
    dc = dnext_c + dnext_h * o * (1 - tanh_c * tanh_c)  # next_c feeds next_h too
    di, df, do, dg = dc * g, dc * prev_c, dnext_h * tanh_c, dc * i
    # Through σ' = σ(1 - σ) and tanh' = 1 - tanh², back to the pre-activations a.
    da = np.concatenate([di * i * (1 - i), df * f * (1 - f), do * o * (1 - o), dg * (1 - g * g)],
                        axis=1)
    return da @ Wx.T, da @ Wh.T, dc * f, x.T @ da, prev_h.T @ da, da.sum(axis=0)


@graded_in("ch10_rnn")
def lstm_forward(x: Array, h0: Array, Wx: Array, Wh: Array, b: Array) -> tuple[Array, Cache]:
    """An LSTM over a whole sequence; the cell state starts at c0 = 0 and is not returned.

    Args:
        x: inputs, shape (N, T, D).
        h0: initial hidden state, shape (N, H).
        Wx (D, 4H), Wh (H, 4H), b (4H,): as in lstm_step_forward, shared by all steps.

    Returns:
        h: hidden states of every step, shape (N, T, H).
        cache: the list of the T step caches.
    """
    N, T, _ = x.shape
    h = np.empty((N, T, h0.shape[1]), dtype=np.result_type(x, h0, Wx, Wh, b))
    caches = []
    prev_h, prev_c = h0, np.zeros_like(h0)
    for t in range(T):
        prev_h, prev_c, step_cache = lstm_step_forward(x[:, t], prev_h, prev_c, Wx, Wh, b)
        h[:, t] = prev_h
        caches.append(step_cache)
    return h, caches


@graded_in("ch10_rnn")
def lstm_backward(dh: Array, cache: Cache) -> tuple[Array, Array, Array, Array, Array]:
    """Backward pass of lstm_forward (backpropagation through time).

    Args:
        dh: upstream gradients of all hidden states, shape (N, T, H).
        cache: from lstm_forward.

    Returns:
        dx (N, T, D), dh0 (N, H), dWx (D, 4H), dWh (H, 4H), db (4H,).
    """
    x0, _, _, Wx, Wh = cache[0][:5]
    N, T, _ = dh.shape
    dx = np.empty((N, T, x0.shape[1]), dtype=np.result_type(dh, x0))
    dWx, dWh, db = np.zeros_like(Wx), np.zeros_like(Wh), np.zeros(Wh.shape[1], dtype=Wh.dtype)
    dprev_h, dprev_c = np.zeros_like(dh[:, 0]), np.zeros_like(dh[:, 0])
    for t in reversed(range(T)):
        dx[:, t], dprev_h, dprev_c, dWx_t, dWh_t, db_t = lstm_step_backward(
            dh[:, t] + dprev_h, dprev_c, cache[t])
        dWx += dWx_t
        dWh += dWh_t
        db += db_t
    return dx, dprev_h, dWx, dWh, db
