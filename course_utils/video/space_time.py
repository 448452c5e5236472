"""Space-time transformers of video (the lecture's last video models): patch tokens of every
frame with a class token and learned space and time embeddings, and either joint space-time
self-attention over all T * P tokens or TimeSformer's "factorised" (divided) attention, over
time at each patch position and then over space within each frame; attention_score_counts
gives what each costs. Clips (N, 1, T, H, W) -> logits (N, K), as in models.py.
"""


import torch
from torch import nn

from course_utils.attention import multi_head
from course_utils.attention.transformer import FeedForwardNetwork, TransformerEncoderLayer
from course_utils.attention.vit import PatchEmbedding
from course_utils.video.models import fold_time, frame_cnn

Tensor = torch.Tensor


class DividedSpaceTimeBlock(nn.Module):
    """TimeSformer's divided attention block (pre-norm), on tokens [class, T * P patches]:
    1. time: each patch position attends across the T frames (P sequences of T tokens);
    2. space: each frame's P patches and a copy of the class token attend to each other
       (T sequences of 1 + P tokens); the class token's T results are averaged;
    3. an MLP on every token. Each sub-layer is x = x + sublayer(norm(x)).
    The attention is multi_head.MultiHeadAttention, looked up when the block is made.
    """

    def __init__(self, embed_dim: int, num_heads: int, dim_feedforward: int, frames: int,
                 dropout: float = 0.0) -> None:
        super().__init__()
        self.frames = frames
        self.time_attn = multi_head.MultiHeadAttention(embed_dim, num_heads, dropout)
        self.space_attn = multi_head.MultiHeadAttention(embed_dim, num_heads, dropout)
        self.ffn = FeedForwardNetwork(embed_dim, dim_feedforward, dropout)
        self.norm_time = nn.LayerNorm(embed_dim)
        self.norm_space = nn.LayerNorm(embed_dim)
        self.norm_ffn = nn.LayerNorm(embed_dim)
        self.dropout = nn.Dropout(dropout)

    def forward(self, tokens: Tensor) -> Tensor:
        """tokens (N, 1 + T*P, E), frame-major patches -> (N, 1 + T*P, E)."""
        n, s, e = tokens.shape
        t = self.frames
        p = (s - 1) // t
        cls, x = tokens[:, :1], tokens[:, 1:]
        y = x.view(n, t, p, e).transpose(1, 2).reshape(n * p, t, e)      # (N*P, T, E)
        q = self.norm_time(y)
        y = y + self.dropout(self.time_attn(q, q, q))
        x = y.view(n, p, t, e).transpose(1, 2).reshape(n * t, p, e)      # (N*T, P, E)
        y = torch.cat([cls.expand(n, t, e).reshape(n * t, 1, e), x], dim=1)
        q = self.norm_space(y)
        y = y + self.dropout(self.space_attn(q, q, q))                    # (N*T, 1+P, E)
        cls = y[:, :1].view(n, t, e).mean(dim=1, keepdim=True)
        tokens = torch.cat([cls, y[:, 1:].reshape(n, t * p, e)], dim=1)
        return tokens + self.dropout(self.ffn(self.norm_ffn(tokens)))


def attention_score_counts(frames: int, patches: int, attention: str,
                           class_token: bool = True) -> int:
    """Attention scores (query-key dot products) one layer computes per head for one clip.

    joint: all 1 + T*P tokens attend to each other, (T*P + 1)^2 scores.
    factorised: time attention P * T^2, then space attention T * (P + 1)^2.
    Without the class token these are the notes' (T*P)^2 against T*P^2 + P*T^2.
    """
    c = int(class_token)
    if attention == "joint":
        return (frames * patches + c) ** 2
    if attention == "factorised":
        return patches * frames ** 2 + frames * (patches + c) ** 2
    raise ValueError(f"attention must be 'joint' or 'factorised', got {attention!r}")


class ConvPatchEmbedding(nn.Module):
    """ViT's "hybrid" patch embedding: frame_cnn (stride 4), then a conv whose kernel and
    stride are patch_size / 4, so each token sums up one patch_size x patch_size patch (its
    3x3 convs peek a pixel or two into the neighbouring patches)."""

    def __init__(self, img_size: int, patch_size: int, in_channels: int = 1,
                 embed_dim: int = 32, width: int = 8) -> None:
        super().__init__()
        if patch_size % 4 or img_size % patch_size:
            raise ValueError(f"need patch_size a multiple of 4 dividing img_size, got "
                             f"{patch_size} and {img_size}")
        self.num_patches = (img_size // patch_size) ** 2
        self.stem = frame_cnn(in_channels, width)
        self.proj = nn.Conv2d(2 * width, embed_dim, patch_size // 4, stride=patch_size // 4)

    def forward(self, x: Tensor) -> Tensor:
        """Images (N, C, H, W) -> tokens (N, num_patches, embed_dim), patches row-major."""
        return self.proj(self.stem(x)).flatten(2).transpose(1, 2)


class SpaceTimeTransformer(nn.Module):
    """A small video transformer on patch tokens.

    Every frame is cut into patch_size x patch_size patches (P = (size / patch_size)^2 per
    frame), each embedded to E dimensions, by ConvPatchEmbedding (patch_embedding="conv") or
    by ViT's linear projection of the flattened pixels (attention.vit.PatchEmbedding, "linear",
    which learns far more slowly here); a learned space embedding (one per patch position) and
    time embedding (one per frame) are added; a learned class token comes first, and a linear
    head reads its final vector. attention="joint": pre-norm TransformerEncoderLayers over all
    1 + T*P tokens. attention="factorised": DividedSpaceTimeBlocks.
    """

    def __init__(self, num_classes: int, attention: str = "joint", frames: int = 8,
                 size: int = 32, patch_size: int = 8, embed_dim: int = 32, num_layers: int = 2,
                 num_heads: int = 2, dim_feedforward: int = 64, dropout: float = 0.0,
                 patch_embedding: str = "conv") -> None:
        super().__init__()
        if attention not in ("joint", "factorised"):
            raise ValueError(f"attention must be 'joint' or 'factorised', got {attention!r}")
        if patch_embedding not in ("conv", "linear"):
            raise ValueError(f"patch_embedding must be 'conv' or 'linear', got "
                             f"{patch_embedding!r}")
        self.attention = attention
        self.frames = frames
        embedding = ConvPatchEmbedding if patch_embedding == "conv" else PatchEmbedding
        self.patch_embed = embedding(size, patch_size, 1, embed_dim)
        self.patches = self.patch_embed.num_patches
        self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dim))
        self.space_embed = nn.Parameter(0.02 * torch.randn(1, 1, self.patches, embed_dim))
        self.time_embed = nn.Parameter(0.02 * torch.randn(1, frames, 1, embed_dim))
        if attention == "joint":
            self.layers = nn.ModuleList(
                TransformerEncoderLayer(embed_dim, num_heads, dim_feedforward, dropout,
                                        norm_first=True) for _ in range(num_layers))
        else:
            self.layers = nn.ModuleList(
                DividedSpaceTimeBlock(embed_dim, num_heads, dim_feedforward, frames, dropout)
                for _ in range(num_layers))
        self.norm = nn.LayerNorm(embed_dim)
        self.head = nn.Linear(embed_dim, num_classes)

    def tokens(self, clips: Tensor) -> Tensor:
        """Clips (N, 1, T, H, W) -> the first layer's input (N, 1 + T*P, E), frame-major."""
        n, t = clips.shape[0], clips.shape[2]
        if t != self.frames:
            raise ValueError(f"the model was made for {self.frames} frames, got {t}")
        patches = self.patch_embed(fold_time(clips)).view(n, t, self.patches, -1)
        patches = patches + self.space_embed + self.time_embed              # (N, T, P, E)
        return torch.cat([self.cls_token.expand(n, -1, -1), patches.flatten(1, 2)], dim=1)

    def scores_per_layer(self) -> int:
        """attention_score_counts for this model's T, P and attention, per head and clip."""
        return attention_score_counts(self.frames, self.patches, self.attention)

    def attention_macs(self) -> int:
        """Multiply-accumulates of the attention's own products for one clip, which model_stats
        does not see (they are not layers): Q K^T and weights @ V, E per score, in every layer."""
        embed_dim = self.head.in_features
        return len(self.layers) * self.scores_per_layer() * embed_dim * 2

    def forward(self, clips: Tensor) -> Tensor:
        """Clips (N, 1, T, H, W) -> logits (N, K)."""
        h = self.tokens(clips)
        for layer in self.layers:
            h = layer(h)
        return self.head(self.norm(h[:, 0]))
