"""CS231n's MultiHeadAttention and sinusoidal PositionalEncoding (assignment 3,
transformer_layers.py), and weight copies to and from torch.nn.MultiheadAttention."""

import math

import torch
from torch import nn

from course_utils.attention import dot_product
from course_utils.graded import graded_in


class MultiHeadAttention(nn.Module):
    """Multi-headed scaled dot-product attention (CS231n).

    Layers: `query`, `key`, `value` (E -> E projections, split into num_heads heads of E / H
    dimensions each), `proj` (E -> E, after the heads are concatenated), `attn_drop` (dropout on
    the attention weights).
    """

    def __init__(self, embed_dim: int, num_heads: int, dropout: float = 0.1) -> None:
        super().__init__()
        assert embed_dim % num_heads == 0, "embed_dim must be a multiple of num_heads"
        self.key = nn.Linear(embed_dim, embed_dim)
        self.query = nn.Linear(embed_dim, embed_dim)
        self.value = nn.Linear(embed_dim, embed_dim)
        self.proj = nn.Linear(embed_dim, embed_dim)
        self.attn_drop = nn.Dropout(dropout)
        self.n_head = num_heads
        self.emd_dim = embed_dim                      # CS231n's spelling
        self.head_dim = embed_dim // num_heads

    @graded_in("ch11_attention_transformers")
    def forward(self, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                attn_mask: torch.Tensor | None = None) -> torch.Tensor:
        """Attend from each query to the keys, head by head, and mix the heads.

        Args:
            query: shape (N, S, E).
            key: shape (N, T, E).
            value: shape (N, T, E).
            attn_mask: shape (S, T); attn_mask[s, t] == 0 means query s may NOT attend to key
                t (CS231n's convention; a bool mask is True where attention is allowed).

        Returns:
            output: shape (N, S, E).
        """
        n, s, e = query.shape
        t = value.shape[1]
        h, d = self.n_head, self.head_dim
        q = self.query(query).view(n, s, h, d).transpose(1, 2)       # (N, H, S, E/H)
        k = self.key(key).view(n, t, h, d).transpose(1, 2)           # (N, H, T, E/H)
        v = self.value(value).view(n, t, h, d).transpose(1, 2)
        scores = q @ k.transpose(2, 3) / math.sqrt(d)                 # (N, H, S, T)
        if attn_mask is not None:
            scores = scores.masked_fill(attn_mask == 0, float("-inf"))
        weights = self.attn_drop(scores.softmax(dim=-1))
        y = (weights @ v).transpose(1, 2).reshape(n, s, e)
        return self.proj(y)

    def attention_weights(self, query: torch.Tensor, key: torch.Tensor,
                          attn_mask: torch.Tensor | None = None) -> torch.Tensor:
        """The heads' attention weights, without dropout, through
        dot_product.scaled_dot_product_attention (looked up at call time).

        Args:
            query: shape (N, S, E); key: shape (N, T, E); attn_mask: as in forward.

        Returns:
            weights: shape (N, H, S, T), each row sums to 1.
        """
        n, s, _ = query.shape
        t = key.shape[1]
        q = self.query(query).view(n, s, self.n_head, self.head_dim).transpose(1, 2)
        k = self.key(key).view(n, t, self.n_head, self.head_dim).transpose(1, 2)
        mask = None if attn_mask is None else attn_mask != 0
        return dot_product.scaled_dot_product_attention(q, k, k, mask)[1]


@torch.no_grad()
def copy_weights_to_torch(ours: MultiHeadAttention, theirs: nn.MultiheadAttention) -> None:
    """Copy our query/key/value/proj weights into a torch.nn.MultiheadAttention of the same
    embed_dim and num_heads (its in_proj stacks query, key, value rows)."""
    theirs.in_proj_weight.copy_(torch.cat([ours.query.weight, ours.key.weight, ours.value.weight]))
    theirs.in_proj_bias.copy_(torch.cat([ours.query.bias, ours.key.bias, ours.value.bias]))
    theirs.out_proj.weight.copy_(ours.proj.weight)
    theirs.out_proj.bias.copy_(ours.proj.bias)


@torch.no_grad()
def copy_weights_from_torch(theirs: nn.MultiheadAttention, ours: MultiHeadAttention) -> None:
    """The inverse of copy_weights_to_torch."""
    for layer, weight, bias in zip((ours.query, ours.key, ours.value),
                                   theirs.in_proj_weight.chunk(3),
                                   theirs.in_proj_bias.chunk(3), strict=True):
        layer.weight.copy_(weight)
        layer.bias.copy_(bias)
    ours.proj.weight.copy_(theirs.out_proj.weight)
    ours.proj.bias.copy_(theirs.out_proj.bias)


class PositionalEncoding(nn.Module):
    """CS231n's sinusoidal positional encoding, added to the input, then dropout.

    pe[0, p, 2i] = sin(p ω_i) and pe[0, p, 2i + 1] = cos(p ω_i) with ω_i = 10000^(-2i / D):
    the pair of columns 2i, 2i + 1 turns at angular frequency ω_i, so its wavelength is
    2π / ω_i positions (from 2π to 2π · 10000).
    """

    @graded_in("ch11_attention_transformers")
    def __init__(self, embed_dim: int, dropout: float = 0.1, max_len: int = 5000) -> None:
        super().__init__()
        assert embed_dim % 2 == 0, "embed_dim must be even"
        self.dropout = nn.Dropout(p=dropout)
        position = torch.arange(max_len, dtype=torch.float32)[:, None]
        frequency = 10000.0 ** (-torch.arange(0, embed_dim, 2, dtype=torch.float32) / embed_dim)
        pe = torch.zeros(1, max_len, embed_dim)
        pe[0, :, 0::2] = torch.sin(position * frequency)
        pe[0, :, 1::2] = torch.cos(position * frequency)
        self.register_buffer("pe", pe)              # (1, max_len, D)

    @graded_in("ch11_attention_transformers")
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Add the encoding of each position, then dropout.

        Args:
            x: shape (N, S, D) with S <= max_len.

        Returns:
            output: shape (N, S, D), x + pe[:, :S] after dropout.
        """
        return self.dropout(x + self.pe[:, :x.shape[1]])
