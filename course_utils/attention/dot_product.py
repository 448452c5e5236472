"""Scaled dot-product attention: softmax(Q Kᵀ / √D) V.

Why √D: if the D entries of a query and a key are independent with mean 0 and variance 1,
their dot product is a sum of D such products and has variance D; dividing by √D brings the
scores back to unit variance, so the softmax does not saturate as D grows.

Masks: `causal_mask`, `scaled_dot_product_attention` and the rest of this subpackage use
True = attention allowed (CS231n's attn_mask, PyTorch's scaled_dot_product_attention).
EECS 498's `scaled_dot_product_no_loop_batch` keeps its own convention, True = masked out, so
pass it `~causal_mask(K)`.
"""

import math

import torch

from course_utils.graded import graded_in

MASKED_SCORE = -1e9      # EECS 498's score for masked positions


def causal_mask(length: int, device: torch.device | str | None = None) -> torch.Tensor:
    """Bool (length, length), True on and below the diagonal: position i may attend to j <= i."""
    return torch.ones(length, length, dtype=torch.bool, device=device).tril()


@graded_in("ch11_attention_transformers")
def scaled_dot_product_two_loop_single(query: torch.Tensor, key: torch.Tensor,
                                       value: torch.Tensor) -> torch.Tensor:
    """Attention for one sequence with two explicit loops (EECS 498).

    Args:
        query, key, value: shape (K, M), K positions of dimension M.

    Returns:
        out: shape (K, M); out[i] = Σ_j softmax_j(query[i]·key[j] / √M) value[j].
    """
    length, dim = query.shape
    scores = torch.zeros(length, length, dtype=query.dtype, device=query.device)
    for i in range(length):
        for j in range(length):
            scores[i, j] = torch.dot(query[i], key[j]) / math.sqrt(dim)
    return scores.softmax(dim=1) @ value


@graded_in("ch11_attention_transformers")
def scaled_dot_product_two_loop_batch(query: torch.Tensor, key: torch.Tensor,
                                      value: torch.Tensor) -> torch.Tensor:
    """Attention for a batch with two loops over positions (EECS 498).

    Args:
        query, key, value: shape (N, K, M).

    Returns:
        out: shape (N, K, M).
    """
    _, length, dim = query.shape
    scores = torch.zeros(query.shape[0], length, length, dtype=query.dtype, device=query.device)
    for i in range(length):
        for j in range(length):
            scores[:, i, j] = (query[:, i] * key[:, j]).sum(dim=1) / math.sqrt(dim)
    return scores.softmax(dim=2) @ value


@graded_in("ch11_attention_transformers")
def scaled_dot_product_no_loop_batch(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                                     mask: torch.Tensor | None = None
                                     ) -> tuple[torch.Tensor, torch.Tensor]:
    """Attention for a batch without loops (EECS 498).

    Args:
        query, key, value: shape (N, K, M).
        mask: bool, shape (N, K, K), True where attention is NOT allowed (EECS 498's
            convention); those scores are set to -1e9 before the softmax.

    Returns:
        y: shape (N, K, M).
        weights_softmax: shape (N, K, K), each row sums to 1.
    """
    scores = query @ key.transpose(1, 2) / math.sqrt(query.shape[2])
    if mask is not None:
        scores = scores.masked_fill(mask, MASKED_SCORE)
    weights_softmax = scores.softmax(dim=2)
    return weights_softmax @ value, weights_softmax


@graded_in("ch11_attention_transformers")
def scaled_dot_product_attention(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                                 mask: torch.Tensor | None = None
                                 ) -> tuple[torch.Tensor, torch.Tensor]:
    """Attention of S queries over T keys and values, for any leading dimensions (N, or N, H).

    Args:
        query: shape (N, S, D).
        key: shape (N, T, D).
        value: shape (N, T, D).
        mask: bool, broadcastable to (N, S, T) (for example (S, T)), True where query s may
            attend to key t; the other scores become -inf before the softmax.

    Returns:
        output: shape (N, S, D).
        weights: shape (N, S, T), each row sums to 1.
    """
    scores = query @ key.transpose(-2, -1) / math.sqrt(query.shape[-1])
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    weights = scores.softmax(dim=-1)
    return weights @ value, weights
