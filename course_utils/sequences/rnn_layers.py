"""Vanilla RNN and the layers around it, in NumPy with the CS231n layer API.

    next_h = tanh(x Wx + prev_h Wh + b)          one time step, x (N, D), prev_h (N, H)
    h[:, t] = next_h of step t, h[:, -1] = h0    a sequence, x (N, T, D) -> h (N, T, H)

Forward passes return (out, cache); backward passes take (dout, cache) and return gradients of
the same shapes and dtypes as the forward inputs. Sizes: N minibatch, T time steps, D input
dimension, H hidden dimension, V vocabulary size.
"""

from typing import Any

import numpy as np

from course_utils.graded import graded_in

Array = np.ndarray
Cache = Any


@graded_in("ch10_rnn")
def rnn_step_forward(x: Array, prev_h: Array, Wx: Array, Wh: Array,
                     b: Array) -> tuple[Array, Cache]:
    """One step of a tanh RNN: next_h = tanh(x Wx + prev_h Wh + b).

    Args:
        x: inputs at this step, shape (N, D).
        prev_h: hidden state of the previous step, shape (N, H).
        Wx: input-to-hidden weights, shape (D, H).
        Wh: hidden-to-hidden weights, shape (H, H).
        b: biases, shape (H,).

    Returns:
        next_h: shape (N, H).
        cache: (x, prev_h, Wx, Wh, next_h).
    """
    next_h = np.tanh(x @ Wx + prev_h @ Wh + b)
    return next_h, (x, prev_h, Wx, Wh, next_h)


@graded_in("ch10_rnn")
def rnn_step_backward(dnext_h: Array, cache: Cache) -> tuple[Array, Array, Array, Array, Array]:
    """Backward pass of rnn_step_forward; tanh' = 1 - tanh².

    Args:
        dnext_h: upstream gradient, shape (N, H).
        cache: from rnn_step_forward.

    Returns:
        dx (N, D), dprev_h (N, H), dWx (D, H), dWh (H, H), db (H,).
    """
    x, prev_h, Wx, Wh, next_h = cache
    da = dnext_h * (1 - next_h * next_h)  # gradient at the pre-activation
    return da @ Wx.T, da @ Wh.T, x.T @ da, prev_h.T @ da, da.sum(axis=0)


@graded_in("ch10_rnn")
def rnn_forward(x: Array, h0: Array, Wx: Array, Wh: Array, b: Array) -> tuple[Array, Cache]:
    """A tanh RNN over a whole sequence, one rnn_step_forward per time step.

    Args:
        x: inputs, shape (N, T, D).
        h0: initial hidden state, shape (N, H).
        Wx (D, H), Wh (H, H), b (H,): as in rnn_step_forward, shared by all steps.

    Returns:
        h: hidden states of every step, shape (N, T, H).
        cache: the list of the T step caches.
    """
    N, T, _ = x.shape
    h = np.empty((N, T, h0.shape[1]), dtype=np.result_type(x, h0, Wx, Wh, b))
    caches = []
    prev_h = h0
    for t in range(T):
        prev_h, step_cache = rnn_step_forward(x[:, t], prev_h, Wx, Wh, b)
        h[:, t] = prev_h
        caches.append(step_cache)
    return h, caches


@graded_in("ch10_rnn")
def rnn_backward(dh: Array, cache: Cache) -> tuple[Array, Array, Array, Array, Array]:
    """Backward pass of rnn_forward (backpropagation through time).

    Each step receives dh[:, t] from above plus the gradient of the next step's prev_h.

    Args:
        dh: upstream gradients of all hidden states, shape (N, T, H).
        cache: from rnn_forward.

    Returns:
        dx (N, T, D), dh0 (N, H), dWx (D, H), dWh (H, H), db (H,).
    """
    x0, _, Wx, Wh, _ = cache[0]
    N, T, _ = dh.shape
    dx = np.empty((N, T, x0.shape[1]), dtype=np.result_type(dh, x0))
    dWx, dWh, db = np.zeros_like(Wx), np.zeros_like(Wh), np.zeros(Wh.shape[0], dtype=Wh.dtype)
    dprev_h = np.zeros_like(dh[:, 0])
    for t in reversed(range(T)):
        dx[:, t], dprev_h, dWx_t, dWh_t, db_t = rnn_step_backward(dh[:, t] + dprev_h, cache[t])
        dWx += dWx_t
        dWh += dWh_t
        db += db_t
    return dx, dprev_h, dWx, dWh, db


@graded_in("ch10_rnn")
def word_embedding_forward(x: Array, W: Array) -> tuple[Array, Cache]:
    """Look up a vector for each word index: out[n, t] = W[x[n, t]].

    Args:
        x: integer word indices in [0, V), shape (N, T).
        W: word vectors, shape (V, D).

    Returns:
        out: shape (N, T, D).
        cache: (x, W).
    """
    return W[x], (x, W)


@graded_in("ch10_rnn")
def word_embedding_backward(dout: Array, cache: Cache) -> Array:
    """Backward pass of word_embedding_forward: each row of W collects the gradients of every
    position that looked it up (np.add.at adds repeated indices; dW[x] += dout would not).

    Args:
        dout: upstream gradient, shape (N, T, D).
        cache: (x, W) from word_embedding_forward.

    Returns:
        dW: shape (V, D).
    """
    x, W = cache
    dW = np.zeros_like(W)
    np.add.at(dW, x, dout)
    return dW


@graded_in("ch10_rnn")
def temporal_affine_forward(x: Array, w: Array, b: Array) -> tuple[Array, Cache]:
    """The same affine layer at every time step: out[n, t] = x[n, t] w + b.

    Args:
        x: inputs, shape (N, T, D).
        w: weights, shape (D, M).
        b: biases, shape (M,).

    Returns:
        out: shape (N, T, M).
        cache: (x, w, b).
    """
    return x @ w + b, (x, w, b)


@graded_in("ch10_rnn")
def temporal_affine_backward(dout: Array, cache: Cache) -> tuple[Array, Array, Array]:
    """Backward pass of temporal_affine_forward; w and b sum their gradients over N and T.

    Args:
        dout: upstream gradient, shape (N, T, M).
        cache: (x, w, b) from temporal_affine_forward.

    Returns:
        dx (N, T, D), dw (D, M), db (M,).
    """
    x, w, _ = cache
    D, M = w.shape
    dw = x.reshape(-1, D).T @ dout.reshape(-1, M)
    return dout @ w.T, dw, dout.sum(axis=(0, 1))


@graded_in("ch10_rnn")
def temporal_softmax_loss(x: Array, y: Array, mask: Array) -> tuple[float, Array]:
    """Softmax cross-entropy at every time step, counting only the steps where mask is true.

    loss = -(1/N) sum_{n, t} mask[n, t] log softmax(x[n, t])[y[n, t]]: summed over the time
    steps and averaged over the minibatch only (CS231n's convention), so it grows with the
    caption length. Computed through log-softmax with the maximum subtracted (stable for any
    scores).

    Args:
        x: scores, shape (N, T, V).
        y: target indices in [0, V), shape (N, T).
        mask: bool (or 0/1), shape (N, T); False where the target is padding.

    Returns:
        loss: a float.
        dx: gradient of the loss, shape (N, T, V), dtype of x; 0 at masked-out steps.
    """
    N, T, V = x.shape
    scores = x.reshape(N * T, V)
    targets = y.reshape(N * T)
    weights = np.asarray(mask).reshape(N * T).astype(x.dtype)
    shifted = scores - scores.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    rows = np.arange(N * T)
    loss = -float(np.sum(weights * log_probs[rows, targets])) / N
    dx = np.exp(log_probs)  # softmax probabilities
    dx[rows, targets] -= 1
    dx *= weights[:, None] / N
    return loss, dx.reshape(N, T, V)
