"""A small class-conditional U-Net that predicts the noise eps(x_t, t, c) of a diffusion model.

    net = UNet(channels=(32, 64), image_size=14)           # the committed MNIST model's shape
    eps = net(x_t, t, class_labels)    # (N, 1, H, W) float, (N,) int64, (N,) int64 -> (N, 1, H, W)

The timestep t enters as a sinusoidal embedding (timestep_embedding) through a two-layer MLP;
the class label through an embedding table with one extra row, the "null" class
(NULL_CLASS = 10), which classifier-free guidance uses for "no label". Their sum conditions
every residual block (GroupNorm, SiLU, 3x3 conv, plus a per-channel shift from the embedding,
GroupNorm, SiLU, 3x3 conv, residual connection). The encoder has one residual block per entry
of `channels`, each after the first at half the resolution (a stride-2 conv first); at the
lowest resolution one self-attention block (chapter 11; optional) and one more residual block;
the decoder goes back up level by level: nearest-neighbour upsampling, concatenation of the
encoder's feature map of that size (the skip connection), a residual block. A zero-initialised
output conv makes the untrained network predict eps = 0.

    (N, 1, 14, 14) -> stem 32 -> block 32 (14 x 14) -> stride-2 conv -> block 64 (7 x 7)
      -> attention -> block 64 -> upsample, concat the 14 x 14 map (64 + 32) -> block 32
      -> GroupNorm, SiLU, conv -> (N, 1, 14, 14)            for channels=(32, 64)
"""

import math

import torch
from torch import nn
from torch.nn import functional as F

Tensor = torch.Tensor

NUM_CLASSES = 10
NULL_CLASS = 10   # the label index meaning "no label" (classifier-free guidance)


def timestep_embedding(t: Tensor, dim: int, max_period: float = 10000.0) -> Tensor:
    """Sinusoidal embedding of timesteps, as in the Transformer's positions and DDPM's U-Net.

    Args:
        t: (N,) timesteps (any real or integer dtype).
        dim: even embedding size D.

    Returns:
        (N, D) float32: [sin(t w_0), ..., sin(t w_{D/2-1}), cos(t w_0), ..., cos(t w_{D/2-1})]
        with w_i = max_period^(-i / (D/2)), from 1 down to almost 1 / max_period.
    """
    if dim % 2 or dim < 2:
        raise ValueError(f"dim must be a positive even number, got {dim}")
    if t.dim() != 1:
        raise ValueError(f"t must have shape (N,), got {tuple(t.shape)}")
    half = dim // 2
    omega = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32,
                                                           device=t.device) / half)
    angles = t.to(torch.float32)[:, None] * omega[None, :]
    return torch.cat([angles.sin(), angles.cos()], dim=1)


def _groups(channels: int) -> int:
    """The number of GroupNorm groups: 8 when it divides `channels`, else the largest divisor
    below 8."""
    return next(g for g in range(min(8, channels), 0, -1) if channels % g == 0)


class ResidualBlock(nn.Module):
    """GroupNorm-SiLU-conv, add the embedding's per-channel shift, GroupNorm-SiLU-conv, plus the
    input (through a 1x1 conv when the channels change). (N, C_in, H, W), (N, E) ->
    (N, C_out, H, W)."""

    def __init__(self, in_channels: int, out_channels: int, embed_dim: int) -> None:
        super().__init__()
        self.norm1 = nn.GroupNorm(_groups(in_channels), in_channels)
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, padding=1)
        self.shift = nn.Linear(embed_dim, out_channels)
        self.norm2 = nn.GroupNorm(_groups(out_channels), out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1)
        self.skip = (nn.Identity() if in_channels == out_channels
                     else nn.Conv2d(in_channels, out_channels, 1))

    def forward(self, x: Tensor, embedding: Tensor) -> Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        h = h + self.shift(F.silu(embedding))[:, :, None, None]
        h = self.conv2(F.silu(self.norm2(h)))
        return h + self.skip(x)


class SelfAttention2d(nn.Module):
    """Multi-head self-attention over the H*W positions of a feature map, with a pre-GroupNorm
    and a residual connection: (N, C, H, W) -> (N, C, H, W)."""

    def __init__(self, channels: int, num_heads: int = 4) -> None:
        super().__init__()
        self.norm = nn.GroupNorm(_groups(channels), channels)
        self.attention = nn.MultiheadAttention(channels, num_heads, batch_first=True)

    def forward(self, x: Tensor) -> Tensor:
        n, c, h, w = x.shape
        tokens = self.norm(x).flatten(2).transpose(1, 2)                 # (N, H*W, C)
        mixed, _ = self.attention(tokens, tokens, tokens, need_weights=False)
        return x + mixed.transpose(1, 2).reshape(n, c, h, w)


class UNet(nn.Module):
    """eps(x_t, t, c) for single-channel images of side `image_size`.

    Args:
        channels: feature channels per resolution, e.g. (32, 64): image_size, then image_size/2,
            ...; image_size must be divisible by 2^(len(channels) - 1).
        image_size: H = W of the inputs (checked in forward).
        attention: one self-attention block (4 heads) at the lowest resolution.
        embed_dim: width of the time-and-class embedding (4 * channels[0] by default).
        num_classes: labels 0 .. num_classes - 1; label num_classes is the null class.
    """

    def __init__(self, channels: tuple[int, ...] = (32, 64), image_size: int = 14,
                 attention: bool = True, embed_dim: int | None = None,
                 num_classes: int = NUM_CLASSES) -> None:
        super().__init__()
        if not channels:
            raise ValueError("channels must name at least one resolution")
        if image_size % 2 ** (len(channels) - 1):
            raise ValueError(f"image_size {image_size} is not divisible by "
                             f"2^{len(channels) - 1} (one halving per level after the first)")
        self.image_size = image_size
        self.num_classes = num_classes
        self.time_dim = channels[0]
        embed_dim = embed_dim or 4 * channels[0]
        self.time_mlp = nn.Sequential(nn.Linear(self.time_dim, embed_dim), nn.SiLU(),
                                      nn.Linear(embed_dim, embed_dim))
        self.class_embedding = nn.Embedding(num_classes + 1, embed_dim)   # last row: null
        self.stem = nn.Conv2d(1, channels[0], 3, padding=1)
        self.down_blocks = nn.ModuleList()
        self.downsamples = nn.ModuleList()
        previous = channels[0]
        for level, width in enumerate(channels):
            if level > 0:
                self.downsamples.append(nn.Conv2d(previous, previous, 3, stride=2, padding=1))
            self.down_blocks.append(ResidualBlock(previous, width, embed_dim))
            previous = width
        self.attention = SelfAttention2d(previous) if attention else None
        self.middle = ResidualBlock(previous, previous, embed_dim)
        self.up_blocks = nn.ModuleList()   # from the second-lowest resolution up
        for level in reversed(range(len(channels) - 1)):
            self.up_blocks.append(ResidualBlock(previous + channels[level], channels[level],
                                                embed_dim))
            previous = channels[level]
        self.head = nn.Sequential(nn.GroupNorm(_groups(previous), previous), nn.SiLU(),
                                  nn.Conv2d(previous, 1, 3, padding=1))
        nn.init.zeros_(self.head[-1].weight)   # starts by predicting eps = 0
        nn.init.zeros_(self.head[-1].bias)

    def forward(self, x: Tensor, t: Tensor, class_labels: Tensor | None = None) -> Tensor:
        """x (N, 1, H, W) float, t (N,) integer timesteps, class_labels (N,) int64 in
        [0, num_classes] (num_classes = the null class; None means all null) -> (N, 1, H, W)."""
        n = x.shape[0]
        if x.dim() != 4 or x.shape[1:] != (1, self.image_size, self.image_size):
            raise ValueError(f"x must have shape (N, 1, {self.image_size}, {self.image_size}), "
                             f"got {tuple(x.shape)}")
        if t.shape != (n,):
            raise ValueError(f"t must have shape ({n},), got {tuple(t.shape)}")
        if class_labels is None:
            class_labels = torch.full((n,), self.num_classes, dtype=torch.long, device=x.device)
        if class_labels.shape != (n,):
            raise ValueError(f"class_labels must have shape ({n},), got "
                             f"{tuple(class_labels.shape)}")
        embedding = (self.time_mlp(timestep_embedding(t, self.time_dim))
                     + self.class_embedding(class_labels))
        h = self.stem(x)
        skips = []
        for level, block in enumerate(self.down_blocks):
            if level > 0:
                skips.append(h)
                h = self.downsamples[level - 1](h)
            h = block(h, embedding)
        if self.attention is not None:
            h = self.attention(h)
        h = self.middle(h, embedding)
        for block in self.up_blocks:
            h = F.interpolate(h, scale_factor=2.0, mode="nearest")
            h = block(torch.cat([h, skips.pop()], dim=1), embedding)
        return self.head(h)
