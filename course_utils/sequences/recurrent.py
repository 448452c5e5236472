"""Recurrent cells in PyTorch beyond the NumPy layers: the GRU step, an LSTM with attention over
spatial features (EECS 498's captioning model, the bridge to attention in chapter 11), and tools
for watching gradients flow through time: Jacobian norms ‖∂h_t/∂h_0‖ and a training loop that
records each step's gradient norm before clipping it.

GRU step, as torch.nn.GRU computes it, with rows of Wx, Wh in PyTorch's gate order r, z, n:

    r = σ(x Wx_r + b_ih_r + h Wh_r + b_hh_r)          reset gate
    z = σ(x Wx_z + b_ih_z + h Wh_z + b_hh_z)          update gate
    n = tanh(x Wx_n + b_ih_n + r ⊙ (h Wh_n + b_hh_n)) candidate
    h' = (1 - z) ⊙ n + z ⊙ h

z near 1 keeps the old state: the update gate plays the LSTM's forget gate.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn
from tqdm.auto import tqdm

Tensor = torch.Tensor


def gru_step(x: Tensor, prev_h: Tensor, Wx: Tensor, Wh: Tensor, b: Tensor) -> Tensor:
    """One GRU step (equations in the module docstring).

    Args:
        x: inputs at this step, shape (N, D).
        prev_h: previous hidden state, shape (N, H).
        Wx: input-to-gates weights, shape (D, 3H), column blocks r, z, n (torch's weight_ih.T).
        Wh: hidden-to-gates weights, shape (H, 3H) (torch's weight_hh.T).
        b: biases, shape (2, 3H): the input biases b_ih, then the hidden biases b_hh. They
            are kept apart because r multiplies b_hh_n but not b_ih_n.

    Returns:
        next_h: shape (N, H).
    """
    H = prev_h.shape[1]
    from_x = x @ Wx + b[0]
    from_h = prev_h @ Wh + b[1]
    r = torch.sigmoid(from_x[:, :H] + from_h[:, :H])
    z = torch.sigmoid(from_x[:, H:2 * H] + from_h[:, H:2 * H])
    n = torch.tanh(from_x[:, 2 * H:] + r * from_h[:, 2 * H:])
    return (1 - z) * n + z * prev_h


def attention_context(prev_h: Tensor, features: Tensor) -> tuple[Tensor, Tensor]:
    """Scaled dot-product attention of a hidden state over a grid of features.

    Args:
        prev_h: queries, shape (N, H).
        features: P feature vectors per example (a flattened grid), shape (N, H, P).

    Returns:
        context: Σ_p w_p features[:, :, p], shape (N, H).
        weights: w = softmax_p(prev_h · features[:, :, p] / sqrt(H)), shape (N, P), rows sum to 1.
    """
    H = prev_h.shape[1]
    scores = torch.einsum("nh,nhp->np", prev_h, features) / math.sqrt(H)
    weights = torch.softmax(scores, dim=1)
    return torch.einsum("nhp,np->nh", features, weights), weights


class AttentionLSTM(nn.Module):
    """An LSTM that at every step also reads a context vector attended from spatial features.

    Step t, with context c_att = attention_context(h_{t-1}, features) and gate order i, f, o, g
    (CS231n's, as lstm_layers.py):

        a = x_t Wx + h_{t-1} Wh + c_att Wattn + b       (N, 4H)
        i, f, o = σ(blocks 1-3 of a),  g = tanh(block 4)
        c_t = f ⊙ c_{t-1} + i ⊙ g,  h_t = o ⊙ tanh(c_t)

    As in EECS 498, h_0 = c_0 = the mean of the features over the P positions, so the features
    must already have H channels (project them first, e.g. with a 1x1 convolution).
    """

    def __init__(self, input_size: int, hidden_size: int, seed: int = 0):
        super().__init__()
        D, H = input_size, hidden_size
        generator = torch.Generator().manual_seed(seed)
        self.Wx = nn.Parameter(torch.randn(D, 4 * H, generator=generator) / math.sqrt(D))
        self.Wh = nn.Parameter(torch.randn(H, 4 * H, generator=generator) / math.sqrt(H))
        self.Wattn = nn.Parameter(torch.randn(H, 4 * H, generator=generator) / math.sqrt(H))
        self.b = nn.Parameter(torch.zeros(4 * H))

    def forward(self, x: Tensor, features: Tensor) -> tuple[Tensor, Tensor]:
        """
        Args:
            x: inputs, shape (N, T, D).
            features: shape (N, H, P).

        Returns:
            hidden: h_1 ... h_T, shape (N, T, H).
            weights: the attention weights each step used, shape (N, T, P).
        """
        H = self.Wh.shape[0]
        h = c = features.mean(dim=2)
        hidden, weights = [], []
        for t in range(x.shape[1]):
            context, w = attention_context(h, features)
            a = x[:, t] @ self.Wx + h @ self.Wh + context @ self.Wattn + self.b
            i, f, o = torch.sigmoid(a[:, :3 * H]).chunk(3, dim=1)
            c = f * c + i * torch.tanh(a[:, 3 * H:])
            h = o * torch.tanh(c)
            hidden.append(h)
            weights.append(w)
        return torch.stack(hidden, dim=1), torch.stack(weights, dim=1)


# A step (x (N, D), state) -> state: an nn.RNNCell or nn.GRUCell (state h), an nn.LSTMCell
# (state (h, c)), or any function of the same form.
Cell = Callable[[Tensor, Tensor], Tensor] | nn.LSTMCell


def hidden_state_jacobian_norms(cell: Cell, inputs: Tensor, h0: Tensor,
                                ord: str | int = 2) -> Tensor:
    """‖∂h_t/∂h_0‖ for t = 1..T along one sequence, by autograd.

    The cell runs on a batch of H copies of the sequence, all starting from h0; one backward
    pass of Σ_k h_t[k, k] then gives row k of the batch ∂h_t[k]/∂h_0, so the whole Jacobian
    ∂h_t/∂h_0 (H, H) costs one backward per step t. For an LSTM the cell state c_0 is held at
    zero. For a linear RNN h_t = W h_{t-1}, ∂h_t/∂h_0 = W^t.

    Args:
        cell: an nn.RNNCell, nn.GRUCell or nn.LSTMCell, or a function (x (N, D), h (N, H)) -> h.
        inputs: one sequence, shape (T, D).
        h0: initial hidden state, shape (H,).
        ord: the matrix norm, as torch.linalg.matrix_norm takes it: 2 for the spectral norm
            (largest singular value: the most any direction of h_0 is stretched), "fro" for
            the Frobenius norm.

    Returns:
        norms: shape (T,), norms[t - 1] = ‖∂h_t/∂h_0‖.
    """
    H = h0.shape[0]
    start = h0.detach().expand(H, H).clone().requires_grad_()
    h, c = start, torch.zeros_like(start)
    jacobians = []
    for x in inputs:
        x = x.expand(H, -1)
        if isinstance(cell, nn.LSTMCell):
            h, c = cell(x, (h, c))
        else:
            h = cell(x, h)
        jacobians.append(torch.autograd.grad(h.diagonal().sum(), start, retain_graph=True)[0])
    return torch.linalg.matrix_norm(torch.stack(jacobians), ord=ord)


def tanh_rnn_cell(input_size: int, hidden_size: int, recurrent_gain: float,
                  seed: int = 0) -> nn.RNNCell:
    """A tanh nn.RNNCell whose recurrent weights are recurrent_gain × a random orthogonal matrix
    (every singular value equals the gain): below 1 gradients through time vanish, well above
    1 they explode. Input weights ~ N(0, 1/D), biases zero."""
    cell = nn.RNNCell(input_size, hidden_size, nonlinearity="tanh")
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        q, _ = torch.linalg.qr(torch.randn(hidden_size, hidden_size, generator=generator))
        cell.weight_hh.copy_(recurrent_gain * q)
        cell.weight_ih.copy_(torch.randn(hidden_size, input_size, generator=generator)
                             / math.sqrt(input_size))
        cell.bias_ih.zero_()
        cell.bias_hh.zero_()
    return cell


def lstm_cell(input_size: int, hidden_size: int, forget_bias: float = 1.0,
              seed: int = 0) -> nn.LSTMCell:
    """An nn.LSTMCell with weights ~ N(0, 1/fan_in) and forget-gate bias forget_bias (others 0):
    a forget gate σ(1) ≈ 0.73 from the start lets the cell state, and its gradient, persist."""
    cell = nn.LSTMCell(input_size, hidden_size)
    generator = torch.Generator().manual_seed(seed)
    H = hidden_size
    with torch.no_grad():
        cell.weight_ih.copy_(torch.randn(4 * H, input_size, generator=generator)
                             / math.sqrt(input_size))
        cell.weight_hh.copy_(torch.randn(4 * H, H, generator=generator) / math.sqrt(H))
        cell.bias_ih.zero_()
        cell.bias_hh.zero_()
        cell.bias_ih[H:2 * H] = forget_bias          # torch's gate order: i, f, g, o
    return cell


def train_with_clipping(model: nn.Module, loss_fn: Callable[[int], Tensor],
                        optimizer: torch.optim.Optimizer, steps: int,
                        max_norm: float | None = None, progress: bool = True,
                        description: str = "training") -> dict[str, list[float]]:
    """Train `model` in place for `steps` steps, clipping the gradients by their global norm.

    Clipping is torch.nn.utils.clip_grad_norm_: when the norm of all gradients together,
    ‖g‖ = sqrt(Σ over parameters of Σ g²), exceeds max_norm, every gradient is scaled by
    max_norm / ‖g‖ (the direction is kept). With plain SGD the update is lr × the clipped
    gradient, so its norm is at most lr × max_norm; Adam-style optimizers rescale each
    coordinate, so there clipping only bounds what enters their moment estimates.

    Args:
        model: its parameters are what the optimizer holds.
        loss_fn: loss_fn(step) -> scalar loss of that step's batch (step = 0..steps-1).
        optimizer: built on model.parameters().
        steps: optimizer steps.
        max_norm: clip threshold; None measures the norm without clipping.
        progress: show a tqdm bar with the loss.

    Returns:
        history: per step, "loss", "grad_norm" (the global norm before clipping) and
        "update_norm" (the global norm of the change of the parameters).
    """
    parameters = [p for p in model.parameters() if p.requires_grad]
    history: dict[str, list[float]] = {"loss": [], "grad_norm": [], "update_norm": []}
    bar = tqdm(range(steps), desc=description, disable=not progress)
    for step in bar:
        loss = loss_fn(step)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        # clip_grad_norm_ returns the norm before clipping; inf means clip nothing
        grad_norm = torch.nn.utils.clip_grad_norm_(
            parameters, max_norm if max_norm is not None else math.inf)
        before = [p.detach().clone() for p in parameters]
        optimizer.step()
        update = torch.linalg.vector_norm(
            torch.stack([torch.linalg.vector_norm(p.detach() - q)
                         for p, q in zip(parameters, before, strict=True)]))
        history["loss"].append(loss.item())
        history["grad_norm"].append(grad_norm.item())
        history["update_norm"].append(update.item())
        bar.set_postfix(loss=f"{loss.item():.3f}", refresh=False)
    return history
