"""CS231n's (2025) PatchEmbedding and a small VisionTransformer: images cut into patches,
each patch a token, a learned class token and positional embedding, transformer encoder
layers, and a linear head on the class token."""

import torch
from torch import nn

from course_utils.attention.transformer import TransformerEncoderLayer


class PatchEmbedding(nn.Module):
    """Cut images into non-overlapping patch_size x patch_size patches and project each
    flattened patch (its C x P x P values, channel first) to embed_dim."""

    def __init__(self, img_size: int, patch_size: int, in_channels: int = 3,
                 embed_dim: int = 128) -> None:
        super().__init__()
        assert img_size % patch_size == 0, "img_size must be a multiple of patch_size"
        self.img_size = img_size
        self.patch_size = patch_size
        self.num_patches = (img_size // patch_size) ** 2
        self.proj = nn.Linear(patch_size * patch_size * in_channels, embed_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Embed the patches.

        Args:
            x: images, shape (N, C, H, W) with H = W = img_size.

        Returns:
            shape (N, num_patches, embed_dim), patches in row-major order over the
            (H / P) x (W / P) grid.
        """
        n, c, h, w = x.shape
        p = self.patch_size
        patches = x.reshape(n, c, h // p, p, w // p, p).permute(0, 2, 4, 1, 3, 5)
        return self.proj(patches.reshape(n, self.num_patches, c * p * p))


class VisionTransformer(nn.Module):
    """ViT classifier: token 0 is a learned class token, tokens 1.. the patches; a learned
    positional embedding is added to all; the head reads the class token's final vector.
    Encoder layers are post-norm as CS231n's, or pre-norm with a final LayerNorm when
    norm_first."""

    def __init__(self, img_size: int = 28, patch_size: int = 7, in_channels: int = 1,
                 num_classes: int = 10, embed_dim: int = 64, num_layers: int = 4,
                 num_heads: int = 4, dim_feedforward: int = 128, dropout: float = 0.1,
                 norm_first: bool = False) -> None:
        super().__init__()
        self.patch_embed = PatchEmbedding(img_size, patch_size, in_channels, embed_dim)
        tokens = self.patch_embed.num_patches + 1
        self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dim))
        self.pos_embed = nn.Parameter(0.02 * torch.randn(1, tokens, embed_dim))
        self.dropout = nn.Dropout(dropout)
        self.layers = nn.ModuleList(
            TransformerEncoderLayer(embed_dim, num_heads, dim_feedforward, dropout, norm_first)
            for _ in range(num_layers))
        self.norm = nn.LayerNorm(embed_dim) if norm_first else nn.Identity()
        self.head = nn.Linear(embed_dim, num_classes)

    def tokens(self, x: torch.Tensor) -> torch.Tensor:
        """Images (N, C, H, W) -> the encoder's input, shape (N, 1 + num_patches, embed_dim)."""
        patches = self.patch_embed(x)
        cls = self.cls_token.expand(len(x), -1, -1)
        return self.dropout(torch.cat([cls, patches], dim=1) + self.pos_embed)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Images (N, C, H, W) -> class scores (N, num_classes)."""
        h = self.tokens(x)
        for layer in self.layers:
            h = layer(h)
        return self.head(self.norm(h[:, 0]))

    @torch.no_grad()
    def attention_maps(self, x: torch.Tensor) -> torch.Tensor:
        """Every layer's and head's attention weights, token to token, in eval mode (no
        dropout, whatever the model's mode; the mode is put back).

        Args:
            x: images, shape (N, C, H, W), on the model's device.

        Returns:
            weights: shape (N, num_layers, num_heads, T, T) with T = 1 + num_patches;
                weights[n, l, h, s, t] is how much token s attends to token t in head h of
                layer l (token 0 the class token, 1.. the patches in row-major order); each
                row sums to 1.
        """
        was_training = self.training
        self.eval()
        try:
            h = self.tokens(x)
            maps = []
            for layer in self.layers:
                attended = layer.attention_input(h)
                maps.append(layer.self_attn.attention_weights(attended, attended))
                h = layer(h)
        finally:
            self.train(was_training)
        return torch.stack(maps, dim=1)

    @torch.no_grad()
    def class_token_attention(self, x: torch.Tensor) -> torch.Tensor:
        """How much the class token attends to each token, in each layer and head.

        Args:
            x: images, shape (N, C, H, W).

        Returns:
            weights: shape (N, num_layers, num_heads, 1 + num_patches), each row summing to
                1; index 0 is the class token itself, weights[..., 1:] reshaped to
                (H / P, W / P) is the map over patches.
        """
        return self.attention_maps(x)[..., 0, :]
