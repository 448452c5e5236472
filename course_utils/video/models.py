"""Small video classifiers of the lecture, from a single-frame CNN to a space-time transformer.

Every model maps clips (N, 1, T, H, W) (grey frames, as course_utils.synthetic.clips makes them)
to logits (N, K) and has a few tens of thousands of parameters:

    SingleFrameCNN         a 2D CNN on every frame alone; the frames' scores averaged
    LateFusion             per-frame 2D features, fused at the end: "average" pools them over
                           time and space, "mlp" concatenates them over time into an MLP
    EarlyFusion            the first 2D conv reads all T frames stacked as channels
    C3D                    3x3x3 convolutions and 3D pooling: time is fused slowly
    TwoStream              a 2D CNN on the middle frame + one on the stacked frame differences
    RecurrentConvNet       per-frame 2D features into a convolutional GRU; the last state decides

The space-time transformers are in space_time.py. c3d_original builds Tran et al.'s C3D at its
real size, for counting what it costs.
"""

import math

import torch
from torch import nn
from torch.nn import functional as F

Tensor = torch.Tensor


def frame_cnn(in_channels: int, width: int = 8) -> nn.Sequential:
    """The 2D CNN the frame-based models share: two 3x3 stride-2 conv-BatchNorm-ReLU layers
    (padding 1); BatchNorm lets these tiny models learn in a few hundred steps.

    (N, in_channels, H, W) -> (N, width, H / 2, W / 2) -> (N, 2 * width, H / 4, W / 4);
    H and W multiples of 4.
    """
    return nn.Sequential(
        nn.Conv2d(in_channels, width, 3, stride=2, padding=1), nn.BatchNorm2d(width), nn.ReLU(),
        nn.Conv2d(width, 2 * width, 3, stride=2, padding=1), nn.BatchNorm2d(2 * width),
        nn.ReLU())


def classifier_head(channels: int, num_classes: int) -> nn.Sequential:
    """Global max pooling and a linear layer: (N, channels, ...) -> (N, num_classes). The object
    may be anywhere, so each channel's strongest response counts, wherever it is."""
    return nn.Sequential(nn.Flatten(2), _MaxLastAxis(), nn.Linear(channels, num_classes))


class _MaxLastAxis(nn.Module):
    def forward(self, x: Tensor) -> Tensor:
        return x.amax(dim=-1)


def fold_time(clips: Tensor) -> Tensor:
    """Clips (N, C, T, H, W) -> frames (N * T, C, H, W), the frames of clip n at n*T .. n*T+T-1."""
    n, c, t, h, w = clips.shape
    return clips.transpose(1, 2).reshape(n * t, c, h, w)


def average_scores(scores: Tensor, dim: int, average: str = "logits") -> Tensor:
    """Average class scores (..., K) over an axis.

    average="logits": the mean of the logits. average="probabilities": log(mean softmax), logits
    whose softmax is the mean of the softmax probabilities (what the lecture averages).
    """
    if _check_average(average) == "logits":
        return scores.mean(dim)
    return scores.log_softmax(-1).logsumexp(dim) - math.log(scores.shape[dim])


def _check_average(average: str) -> str:
    if average not in ("logits", "probabilities"):
        raise ValueError(f"average must be 'logits' or 'probabilities', got {average!r}")
    return average


class SingleFrameCNN(nn.Module):
    """A 2D CNN classifies every frame on its own; the clip's score is the frames' average.

    Blind to the order of the frames, so it cannot tell motions that look alike frame by frame.
    """

    def __init__(self, num_classes: int, width: int = 8, average: str = "logits") -> None:
        super().__init__()
        self.features = frame_cnn(1, width)
        self.head = classifier_head(2 * width, num_classes)
        self.average = _check_average(average)

    def frame_scores(self, clips: Tensor) -> Tensor:
        """Clips (N, 1, T, H, W) -> every frame's logits, shape (N, T, K)."""
        n, t = clips.shape[0], clips.shape[2]
        return self.head(self.features(fold_time(clips))).view(n, t, -1)

    def forward(self, clips: Tensor) -> Tensor:
        """Clips (N, 1, T, H, W) -> logits (N, K), averaged over time as `average` says."""
        return average_scores(self.frame_scores(clips), dim=1, average=self.average)


class LateFusion(nn.Module):
    """Per-frame 2D CNN features (N, T, D, H/4, W/4), fused after the CNN.

    pooling="average": mean over time and space -> linear (D -> K); blind to frame order.
    pooling="mlp": each frame's maps shrink to a coarse grid (a 1x1 conv to `reduced` channels,
    then average pooling to grid x grid), the T grids are flattened and concatenated in frame
    order, T * reduced * grid^2 values -> hidden (BatchNorm, ReLU) -> K. Only this MLP sees
    time.
    """

    def __init__(self, num_classes: int, pooling: str = "average", frames: int = 8,
                 width: int = 8, reduced: int = 8, grid: int = 4, hidden: int = 32) -> None:
        super().__init__()
        if pooling not in ("average", "mlp"):
            raise ValueError(f"pooling must be 'average' or 'mlp', got {pooling!r}")
        self.pooling = pooling
        self.features = frame_cnn(1, width)
        if pooling == "average":
            self.fusion = nn.Linear(2 * width, num_classes)
        else:
            self.reduce = nn.Sequential(nn.Conv2d(2 * width, reduced, 1), nn.ReLU(),
                                        nn.AdaptiveAvgPool2d(grid))
            self.fusion = nn.Sequential(nn.Linear(frames * reduced * grid * grid, hidden),
                                        nn.BatchNorm1d(hidden), nn.ReLU(),
                                        nn.Linear(hidden, num_classes))

    def forward(self, clips: Tensor) -> Tensor:
        """Clips (N, 1, T, H, W) -> logits (N, K)."""
        n = clips.shape[0]
        maps = self.features(fold_time(clips))                       # (N*T, D, H/4, W/4)
        if self.pooling == "average":
            return self.fusion(maps.view(n, -1, *maps.shape[1:]).mean(dim=(1, 3, 4)))
        return self.fusion(self.reduce(maps).reshape(n, -1))         # frame-major concatenation


class EarlyFusion(nn.Module):
    """The first layer is a 2D conv over the T frames stacked as channels (C*T -> width); the
    rest is the 2D CNN. Time is gone after one layer: every later filter sees one map."""

    def __init__(self, num_classes: int, frames: int = 8, width: int = 8) -> None:
        super().__init__()
        self.features = frame_cnn(frames, width)
        self.head = classifier_head(2 * width, num_classes)

    def forward(self, clips: Tensor) -> Tensor:
        """Clips (N, C, T, H, W) -> logits (N, K); the input conv reads (N, C*T, H, W)."""
        n, c, t, h, w = clips.shape
        return self.head(self.features(clips.reshape(n, c * t, h, w)))


class C3D(nn.Module):
    """A small C3D: 3x3x3 convolutions (padding 1, each with BatchNorm and ReLU), so every
    layer fuses three neighbouring frames and time is fused slowly. As in C3D, the first layers
    keep the time axis (here they halve only space, by a 1x2x2 stride), a 2x2x2 max pool
    halves both later:

    (N, 1, T, H, W) -> conv 1->w, stride 1x2x2 -> (N, w, T, H/2, W/2)
      -> conv w->2w, stride 1x2x2 -> (N, 2w, T, H/4, W/4) -> max pool 2 -> (N, 2w, T/2, H/8, W/8)
      -> conv 2w->4w -> global max pool -> linear -> (N, K).
    """

    def __init__(self, num_classes: int, width: int = 8) -> None:
        super().__init__()

        def conv(c_in: int, c_out: int, stride: tuple[int, int, int]) -> list[nn.Module]:
            return [nn.Conv3d(c_in, c_out, 3, stride=stride, padding=1), nn.BatchNorm3d(c_out),
                    nn.ReLU()]

        self.features = nn.Sequential(
            *conv(1, width, (1, 2, 2)), *conv(width, 2 * width, (1, 2, 2)), nn.MaxPool3d(2),
            *conv(2 * width, 4 * width, (1, 1, 1)))
        self.head = classifier_head(4 * width, num_classes)

    def forward(self, clips: Tensor) -> Tensor:
        """Clips (N, 1, T, H, W) -> logits (N, K)."""
        return self.head(self.features(clips))


class TwoStream(nn.Module):
    """Simonyan & Zisserman's two streams, with frame differences standing in for optical flow.

    Appearance: a 2D CNN on the middle frame (N, C, H, W). Motion: a 2D CNN whose first layer
    reads the T-1 differences stacked as channels (N, C*(T-1), H, W). The inputs come from
    course_utils.video.conv3d.two_stream_input, looked up at call time. The streams' scores are
    averaged (late fusion, `average` as in average_scores).
    """

    def __init__(self, num_classes: int, frames: int = 8, width: int = 8,
                 average: str = "logits") -> None:
        super().__init__()
        self.appearance = nn.Sequential(frame_cnn(1, width), classifier_head(2 * width,
                                                                               num_classes))
        self.motion = nn.Sequential(frame_cnn(frames - 1, width), classifier_head(2 * width,
                                                                                num_classes))
        self.average = _check_average(average)

    def stream_scores(self, clips: Tensor) -> Tensor:
        """Clips (N, 1, T, H, W) -> both streams' logits, shape (N, 2, K), appearance first."""
        from course_utils.video import conv3d  # at call time: a notebook may swap the function
        frame, motion = conv3d.two_stream_input(clips)
        return torch.stack([self.appearance(frame), self.motion(motion)], dim=1)

    def forward(self, clips: Tensor) -> Tensor:
        """Clips (N, 1, T, H, W) -> logits (N, K)."""
        return average_scores(self.stream_scores(clips), dim=1, average=self.average)


def conv_gru_step(x: Tensor, prev_h: Tensor, Wx: Tensor, Wh: Tensor, b: Tensor) -> Tensor:
    """One step of a convolutional GRU (Ballas et al. 2016): a GRU whose matrix products are
    2D convolutions (`*`, padding K // 2, so maps keep their size), gates in the order r, z, n:

        r = σ(Wx_r * x + Wh_r * h + b_r)               reset gate
        z = σ(Wx_z * x + Wh_z * h + b_z)               update gate
        n = tanh(Wx_n * x + Wh_n * (r ⊙ h) + b_n)      candidate
        h' = (1 - z) ⊙ n + z ⊙ h

    The reset gate multiplies h before its convolution, as in the paper and the lecture; torch's
    GRU (and sequences.recurrent.gru_step) multiplies after it.

    Args:
        x: input maps at this step, shape (N, D, H, W).
        prev_h: previous hidden maps, shape (N, C, H, W).
        Wx: input-to-gates filters, shape (3C, D, K, K), blocks r, z, n along the first axis.
        Wh: hidden-to-gates filters, shape (3C, C, K, K), same blocks.
        b: biases, shape (3C,).

    Returns:
        next_h: shape (N, C, H, W).
    """
    c, pad = prev_h.shape[1], Wx.shape[-1] // 2
    from_x = F.conv2d(x, Wx, b, padding=pad)                             # (N, 3C, H, W)
    from_h = F.conv2d(prev_h, Wh[:2 * c], padding=pad)                   # (N, 2C, H, W)
    r = torch.sigmoid(from_x[:, :c] + from_h[:, :c])
    z = torch.sigmoid(from_x[:, c:2 * c] + from_h[:, c:])
    n = torch.tanh(from_x[:, 2 * c:] + F.conv2d(r * prev_h, Wh[2 * c:], padding=pad))
    return (1 - z) * n + z * prev_h


class ConvGRUCell(nn.Module):
    """conv_gru_step with its filters held in conv layers (so model_stats counts their MACs):
    `input_conv` (D -> 3C, with the biases), `hidden_conv` (C -> 2C, for r and z) and
    `candidate_conv` (C -> C, reads r ⊙ h), all K x K with padding K // 2. The properties Wx
    (3C, D, K, K), Wh (3C, C, K, K) and b (3C,) are conv_gru_step's arguments."""

    def __init__(self, input_channels: int, hidden_channels: int, kernel_size: int = 3) -> None:
        super().__init__()
        if kernel_size % 2 != 1:
            raise ValueError(f"kernel_size must be odd to keep the maps' size, got {kernel_size}")
        c, k, pad = hidden_channels, kernel_size, kernel_size // 2
        self.hidden_channels = c
        self.input_conv = nn.Conv2d(input_channels, 3 * c, k, padding=pad)
        self.hidden_conv = nn.Conv2d(c, 2 * c, k, padding=pad, bias=False)
        self.candidate_conv = nn.Conv2d(c, c, k, padding=pad, bias=False)

    @property
    def Wx(self) -> Tensor:
        return self.input_conv.weight

    @property
    def Wh(self) -> Tensor:
        return torch.cat([self.hidden_conv.weight, self.candidate_conv.weight])

    @property
    def b(self) -> Tensor:
        return self.input_conv.bias

    def gate_weight_shapes(self) -> dict[str, tuple[int, ...]]:
        """Each gate's filters: "W_x" (C, D, K, K) reads x_t, "W_h" (C, C, K, K) reads h_{t-1}."""
        return {"W_x": tuple(self.candidate_conv.weight.shape[:1]) + tuple(self.Wx.shape[1:]),
                "W_h": tuple(self.candidate_conv.weight.shape)}

    def forward(self, x: Tensor, prev_h: Tensor) -> Tensor:
        """x (N, D, H, W), prev_h (N, C, H, W) -> next_h (N, C, H, W), as conv_gru_step."""
        c = self.hidden_channels
        from_x, from_h = self.input_conv(x), self.hidden_conv(prev_h)
        r = torch.sigmoid(from_x[:, :c] + from_h[:, :c])
        z = torch.sigmoid(from_x[:, c:2 * c] + from_h[:, c:])
        n = torch.tanh(from_x[:, 2 * c:] + self.candidate_conv(r * prev_h))
        return (1 - z) * n + z * prev_h


class RecurrentConvNet(nn.Module):
    """Per-frame 2D CNN features x_t (N, D, H/4, W/4) feed a convolutional GRU, whose state
    h_t (N, C, H/4, W/4) keeps the maps' layout; the last state is pooled and classified.
    Weights are shared across time; each step waits for the previous one (no parallel time)."""

    def __init__(self, num_classes: int, width: int = 8, hidden_channels: int = 16,
                 kernel_size: int = 3) -> None:
        super().__init__()
        self.features = frame_cnn(1, width)
        self.cell = ConvGRUCell(2 * width, hidden_channels, kernel_size)
        self.head = classifier_head(hidden_channels, num_classes)

    def feature_shapes(self, size: int = 32) -> dict[str, tuple[int, int, int]]:
        """Shapes of one clip's x_t and h_t, without the batch axis, for frames size x size."""
        d = self.cell.Wx.shape[1]
        return {"x_t": (d, size // 4, size // 4),
                "h_t": (self.cell.hidden_channels, size // 4, size // 4)}

    def hidden_states(self, clips: Tensor) -> Tensor:
        """Clips (N, 1, T, H, W) -> every step's state, shape (N, T, C, H/4, W/4), from h_0 = 0."""
        n, t = clips.shape[0], clips.shape[2]
        x = self.features(fold_time(clips))
        x = x.view(n, t, *x.shape[1:])
        h = x.new_zeros(n, self.cell.hidden_channels, *x.shape[3:])
        states = []
        for step in range(t):
            h = self.cell(x[:, step], h)
            states.append(h)
        return torch.stack(states, dim=1)

    def forward(self, clips: Tensor) -> Tensor:
        """Clips (N, 1, T, H, W) -> logits (N, K), from the last hidden state."""
        return self.head(self.hidden_states(clips)[:, -1])


def c3d_original(num_classes: int = 487) -> nn.Sequential:
    """Tran et al. (2015)'s C3D for clips (N, 3, 16, 112, 112), Sports-1M's 487 classes.

    Eight 3x3x3 convolutions (64, 128, 256, 256, 512, 512, 512, 512 filters, padding 1), five
    max pools (the first 1x2x2 to keep time early, the others 2x2x2; the last pads H and W by one
    so 7 x 7 maps give 4 x 4), then fc6, fc7 (4096) and fc8: 80.0 M parameters.
    """
    def conv(c_in: int, c_out: int) -> list[nn.Module]:
        return [nn.Conv3d(c_in, c_out, 3, padding=1), nn.ReLU(inplace=True)]

    return nn.Sequential(
        *conv(3, 64), nn.MaxPool3d((1, 2, 2)),                              # 64 x 16 x 56 x 56
        *conv(64, 128), nn.MaxPool3d(2),                                    # 128 x 8 x 28 x 28
        *conv(128, 256), *conv(256, 256), nn.MaxPool3d(2),                  # 256 x 4 x 14 x 14
        *conv(256, 512), *conv(512, 512), nn.MaxPool3d(2),                  # 512 x 2 x 7 x 7
        *conv(512, 512), *conv(512, 512), nn.MaxPool3d(2, padding=(0, 1, 1)),  # 512 x 1 x 4 x 4
        nn.Flatten(),
        nn.Linear(8192, 4096), nn.ReLU(inplace=True), nn.Dropout(0.5),
        nn.Linear(4096, 4096), nn.ReLU(inplace=True), nn.Dropout(0.5),
        nn.Linear(4096, num_classes))
