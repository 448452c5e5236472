"""CS231n's transformer layers (assignment 3, transformer_layers.py) and CaptioningTransformer
(classifiers/transformer.py).

The layers and the model build their attention and positional encoding through the module
attributes `multi_head.MultiHeadAttention` and `multi_head.PositionalEncoding`, looked up when a
layer is made, so a notebook can point those names (or their `forward`) at students' versions.
"""

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from course_utils.attention import dot_product, multi_head


class FeedForwardNetwork(nn.Module):
    """CS231n's position-wise MLP: fc1 (D -> F), GELU, dropout, fc2 (F -> D)."""

    def __init__(self, embed_dim: int, ffn_dim: int, dropout: float = 0.1) -> None:
        super().__init__()
        self.fc1 = nn.Linear(embed_dim, ffn_dim)
        self.gelu = nn.GELU()
        self.dropout = nn.Dropout(dropout)
        self.fc2 = nn.Linear(ffn_dim, embed_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: shape (N, T, D) -> shape (N, T, D)."""
        return self.fc2(self.dropout(self.gelu(self.fc1(x))))


class TransformerEncoderLayer(nn.Module):
    """Self-attention and MLP sublayers, each with dropout, a residual connection and a
    LayerNorm: post-norm x = norm(x + sublayer(x)) as CS231n (and the original transformer),
    or pre-norm x = x + sublayer(norm(x)) when norm_first."""

    def __init__(self, input_dim: int, num_heads: int, dim_feedforward: int = 2048,
                 dropout: float = 0.1, norm_first: bool = False) -> None:
        super().__init__()
        self.self_attn = multi_head.MultiHeadAttention(input_dim, num_heads, dropout)
        self.ffn = FeedForwardNetwork(input_dim, dim_feedforward, dropout)
        self.norm_self = nn.LayerNorm(input_dim)
        self.norm_ffn = nn.LayerNorm(input_dim)
        self.dropout_self = nn.Dropout(dropout)
        self.dropout_ffn = nn.Dropout(dropout)
        self.norm_first = norm_first

    def attention_input(self, src: torch.Tensor) -> torch.Tensor:
        """What the self-attention sublayer reads: src, or norm_self(src) when norm_first."""
        return self.norm_self(src) if self.norm_first else src

    def forward(self, src: torch.Tensor, src_mask: torch.Tensor | None = None) -> torch.Tensor:
        """Encode a sequence.

        Args:
            src: shape (N, S, D).
            src_mask: shape (S, S), 0 where attention is not allowed (CS231n's attn_mask).

        Returns:
            shape (N, S, D).
        """
        sublayers = (
            (lambda x: self.self_attn(x, x, x, attn_mask=src_mask), self.norm_self,
             self.dropout_self),
            (self.ffn, self.norm_ffn, self.dropout_ffn))
        for sublayer, norm, dropout in sublayers:
            if self.norm_first:
                src = src + dropout(sublayer(norm(src)))
            else:
                src = norm(src + dropout(sublayer(src)))
        return src


class TransformerDecoderLayer(nn.Module):
    """Masked self-attention, cross-attention to the memory, and MLP sublayers, each with
    dropout, a residual connection and a LayerNorm (post-norm as CS231n, or pre-norm when
    norm_first)."""

    def __init__(self, input_dim: int, num_heads: int, dim_feedforward: int = 2048,
                 dropout: float = 0.1, norm_first: bool = False) -> None:
        super().__init__()
        self.self_attn = multi_head.MultiHeadAttention(input_dim, num_heads, dropout)
        self.cross_attn = multi_head.MultiHeadAttention(input_dim, num_heads, dropout)
        self.ffn = FeedForwardNetwork(input_dim, dim_feedforward, dropout)
        self.norm_self = nn.LayerNorm(input_dim)
        self.norm_cross = nn.LayerNorm(input_dim)
        self.norm_ffn = nn.LayerNorm(input_dim)
        self.dropout_self = nn.Dropout(dropout)
        self.dropout_cross = nn.Dropout(dropout)
        self.dropout_ffn = nn.Dropout(dropout)
        self.norm_first = norm_first

    def forward(self, tgt: torch.Tensor, memory: torch.Tensor,
                tgt_mask: torch.Tensor | None = None) -> torch.Tensor:
        """Decode a target sequence given the memory.

        Args:
            tgt: the target sequence, shape (N, T, D).
            memory: what the decoder attends to (the encoder's output), shape (N, S, D).
            tgt_mask: shape (T, T), 0 where attention is not allowed (a causal mask).

        Returns:
            shape (N, T, D).
        """
        sublayers = (
            (lambda x: self.self_attn(x, x, x, attn_mask=tgt_mask), self.norm_self,
             self.dropout_self),
            (lambda x: self.cross_attn(x, memory, memory), self.norm_cross, self.dropout_cross),
            (self.ffn, self.norm_ffn, self.dropout_ffn))
        for sublayer, norm, dropout in sublayers:
            if self.norm_first:
                tgt = tgt + dropout(sublayer(norm(tgt)))
            else:
                tgt = norm(tgt + dropout(sublayer(tgt)))
        return tgt


class CaptioningTransformer(nn.Module):
    """CS231n's captioning transformer: the image feature, projected to one memory token,
    conditions a stack of decoder layers over the embedded, position-encoded caption words,
    under a causal mask; a linear layer scores the next word at every position."""

    def __init__(self, word_to_idx: dict[str, int], input_dim: int, wordvec_dim: int,
                 num_heads: int = 4, num_layers: int = 2, max_length: int = 50,
                 dim_feedforward: int = 2048, dropout: float = 0.1) -> None:
        """Make the model, with CS231n's initialisation (the output layer keeps PyTorch's).

        Args:
            word_to_idx: a vocabulary with <NULL> (the padding, 0), <START> and <END>, as
                course_utils.synthetic.captions.build_vocabulary makes it.
            input_dim: size D of an image feature.
            wordvec_dim: size W of word vectors and of the decoder.
            max_length: the longest sequence the positional encoding covers.
            dim_feedforward, dropout: the decoder layers' MLP width and dropout (CS231n's
                defaults).
        """
        super().__init__()
        vocab_size = len(word_to_idx)
        self._null = word_to_idx["<NULL>"]
        self._start = word_to_idx["<START>"]
        self._end = word_to_idx["<END>"]
        self.visual_projection = nn.Linear(input_dim, wordvec_dim)
        self.embedding = nn.Embedding(vocab_size, wordvec_dim, padding_idx=self._null)
        self.positional_encoding = multi_head.PositionalEncoding(wordvec_dim, dropout, max_length)
        self.transformer = nn.ModuleList(
            TransformerDecoderLayer(wordvec_dim, num_heads, dim_feedforward, dropout)
            for _ in range(num_layers))
        self.apply(self._init_weights)
        self.output = nn.Linear(wordvec_dim, vocab_size)

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        """CS231n's (GPT-2's) initialisation: N(0, 0.02²) weights, zero biases."""
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, std=0.02)
            if isinstance(module, nn.Linear):
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.LayerNorm):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)

    def forward(self, features: torch.Tensor, captions: torch.Tensor) -> torch.Tensor:
        """Score the next word at every position.

        Args:
            features: image features, shape (N, D).
            captions: word indices, shape (N, T), <START> first.

        Returns:
            scores: shape (N, T, V); scores[:, t] predicts the word after captions[:, t].
        """
        x = self.positional_encoding(self.embedding(captions))          # (N, T, W)
        memory = self.visual_projection(features).unsqueeze(1)            # (N, 1, W)
        mask = dot_product.causal_mask(captions.shape[1], device=captions.device)
        for layer in self.transformer:
            x = layer(x, memory, tgt_mask=mask)
        return self.output(x)

    @torch.no_grad()
    def sample(self, features: torch.Tensor | np.ndarray, max_length: int = 30) -> np.ndarray:
        """Greedy decoding in eval mode (no dropout; the mode is restored): start from
        <START>, append the highest-scoring word each step.

        Args:
            features: shape (N, D).

        Returns:
            captions: int array of shape (N, max_length), the sampled words (after <START>;
                decode_captions stops each at its first <END>).
        """
        device = self.output.weight.device
        features = torch.as_tensor(features, dtype=torch.float32, device=device)
        partial = torch.full((len(features), 1), self._start, dtype=torch.long, device=device)
        was_training = self.training
        self.eval()
        for _ in range(max_length):
            word = self.forward(features, partial)[:, -1].argmax(dim=1)
            partial = torch.cat([partial, word[:, None]], dim=1)
        self.train(was_training)
        return partial[:, 1:].cpu().numpy()


def captioning_loss(scores: torch.Tensor, captions_out: torch.Tensor,
                    null: int = 0) -> torch.Tensor:
    """Cross-entropy of scores (N, T, V) against the next words (N, T), averaged over the
    non-<NULL> words."""
    return F.cross_entropy(scores.flatten(0, 1), captions_out.flatten(), ignore_index=null)
