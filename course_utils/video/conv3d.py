"""3D convolution in the CS231n layer API, I3D inflation, frame differences, raw video sizes.

Clips are (N, C, T, H, W): batch, channels, time, height, width (PyTorch's Conv3d order).

    out, cache = conv3d_forward_naive(x, w, b, {"stride": S, "pad": P})   # NumPy
    dx, dw, db = conv3d_backward_naive(dout, cache)

with filters (F, C, KT, KH, KW), the same stride S and zero padding P on all three axes, and

    T' = 1 + (T + 2P - KT) / S,   H' = 1 + (H + 2P - KH) / S,   W' = 1 + (W + 2P - KW) / S.

I3D inflation (Carreira & Zisserman 2017) turns a trained 2D filter w (F, C, KH, KW) into a
3D one by repeating it KT times along time and dividing by KT:

    w3[:, :, τ] = w / KT   for τ = 0 .. KT-1.

On a static clip (every frame the same image x) the temporal window then sums KT copies of
w/KT * x, i.e. exactly the 2D response. Precisely, with temporal stride s and padding p, output
frame t' reads input frames t's - p .. t's - p + KT - 1; if k of those lie inside the clip,

    conv3d(clip, w3, b)[:, :, t'] = (k / KT) * (conv2d(x, w, b) - b) + b.

So the inflated conv equals the 2D conv on every output frame whose window lies wholly inside
the clip (all of them when p = 0), and on every frame when the time axis is padded by copying
frames (replicate, reflect or circular: a static clip stays static); zero padding shrinks the
response at the first and last frames towards the bias. The spatial padding must match the 2D
conv's (zeros for a zero-padded Conv2d), so pad time separately (F.pad(..., mode="replicate")
with (0, 0, 0, 0, p, p) touches only T) rather than setting Conv3d's padding_mode, which would
also replicate along H and W.

Two-stream networks (Simonyan & Zisserman 2014) feed one frame to an appearance stream and a
stack of motion fields, as channels, to a motion stream; here frame differences stand in for
optical flow.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import torch
from torch import nn

from course_utils.conv_layers import conv_output_size
from course_utils.graded import graded_in

Array = np.ndarray
Tensor = torch.Tensor
Cache = Any

_AXES = ("time", "height", "width")


@graded_in("ch12_video")
def conv3d_output_shape(input_shape: tuple[int, int, int, int, int],
                        filter_shape: tuple[int, int, int, int, int],
                        stride: int = 1, pad: int = 0) -> tuple[int, int, int, int, int]:
    """Output shape of a 3D convolution with the same stride and zero padding on T, H and W.

    Args:
        input_shape: (N, C, T, H, W).
        filter_shape: (F, C, KT, KH, KW); its C must equal the input's.
        stride, pad: S and P, the same on all three axes.

    Returns:
        (N, F, T', H', W') with T' = 1 + (T + 2P - KT) / S, likewise H' and W'.

    Raises:
        ValueError: when the shapes are not 5-long, the channels differ, or the filters do not
            tile the padded input along some axis (the message names the axis).
    """
    if len(input_shape) != 5 or len(filter_shape) != 5:
        raise ValueError(f"need input (N, C, T, H, W) and filters (F, C, KT, KH, KW); got "
                         f"{tuple(input_shape)} and {tuple(filter_shape)}")
    n, c, *sizes = input_shape
    f, filter_channels, *kernel = filter_shape
    if filter_channels != c:
        raise ValueError(f"filters have {filter_channels} channels but the input has {c}")
    out = []
    for axis, size, kernel_size in zip(_AXES, sizes, kernel, strict=True):
        try:
            out.append(conv_output_size(size, kernel_size, stride, pad))
        except ValueError as error:
            raise ValueError(f"{axis} axis: {error}") from error
    return (n, f, *out)


@graded_in("ch12_video")
def conv3d_parameter_count(in_channels: int, num_filters: int,
                           kernel_size: tuple[int, int, int]) -> int:
    """Parameters of a 3D conv layer: KT*KH*KW*C weights per filter, plus one bias per filter."""
    kt, kh, kw = kernel_size
    return kt * kh * kw * in_channels * num_filters + num_filters


@graded_in("ch12_video")
def conv3d_forward_naive(x: Array, w: Array, b: Array, conv_param: dict) -> tuple[Array, Cache]:
    """3D convolution (cross-correlation), one output position (t, i, j) at a time.

    Each position takes the window xp[:, :, tS:tS+KT, iS:iS+KH, jS:jS+KW] of the zero-padded
    input and contracts it with all filters at once (np.tensordot over C, KT, KH, KW).

    Args:
        x: clips, shape (N, C, T, H, W).
        w: filters, shape (F, C, KT, KH, KW).
        b: biases, shape (F,).
        conv_param: {"stride": S, "pad": P}, the same on T, H and W; (T + 2P - KT) must be
            divisible by S, likewise for H and W.

    Returns:
        out: shape (N, F, T', H', W') with T' = 1 + (T + 2P - KT) // S, likewise H', W'.
        cache: (x, w, b, conv_param).
    """
    s, p = conv_param["stride"], conv_param["pad"]
    if x.ndim != 5 or w.ndim != 5 or b.shape != (w.shape[0],):
        raise ValueError(f"need x (N, C, T, H, W), w (F, C, KT, KH, KW), b (F,); got {x.shape}, "
                         f"{w.shape}, {b.shape}")
    n, f, t_out, h_out, w_out = conv3d_output_shape(x.shape, w.shape, s, p)
    _, _, kt, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p), (p, p)))
    out = np.empty((n, f, t_out, h_out, w_out), dtype=np.result_type(x, w, b))
    for t in range(t_out):
        for i in range(h_out):
            for j in range(w_out):
                window = xp[:, :, t * s:t * s + kt, i * s:i * s + kh, j * s:j * s + kw]
                out[:, :, t, i, j] = np.tensordot(window, w, axes=([1, 2, 3, 4], [1, 2, 3, 4])) + b
    return out, (x, w, b, conv_param)


@graded_in("ch12_video")
def conv3d_backward_naive(dout: Array, cache: Cache) -> tuple[Array, Array, Array]:
    """Backward pass of conv3d_forward_naive, one output position at a time.

    Args:
        dout: upstream gradient, shape (N, F, T', H', W').
        cache: from conv3d_forward_naive.

    Returns:
        dx: shape (N, C, T, H, W); dw: shape (F, C, KT, KH, KW); db: shape (F,).
    """
    x, w, _, conv_param = cache
    s, p = conv_param["stride"], conv_param["pad"]
    _, _, kt, kh, kw = w.shape
    _, _, t_out, h_out, w_out = dout.shape
    xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p), (p, p)))
    dxp = np.zeros(xp.shape, dtype=np.result_type(dout, w))
    dw = np.zeros(w.shape, dtype=np.result_type(dout, x))
    for t in range(t_out):
        for i in range(h_out):
            for j in range(w_out):
                window = (slice(None), slice(None), slice(t * s, t * s + kt),
                          slice(i * s, i * s + kh), slice(j * s, j * s + kw))
                g = dout[:, :, t, i, j]                                  # (N, F)
                dw += np.tensordot(g, xp[window], axes=([0], [0]))       # (F, C, KT, KH, KW)
                dxp[window] += np.tensordot(g, w, axes=([1], [0]))       # (N, C, KT, KH, KW)
    t, h, width = x.shape[2:]
    dx = dxp[:, :, p:p + t, p:p + h, p:p + width]
    return dx, dw, dout.sum(axis=(0, 2, 3, 4))


@graded_in("ch12_video")
def inflate_conv2d_weight(w: Tensor, time_size: int) -> Tensor:
    """I3D inflation of a 2D filter bank: repeat it time_size times along time, divide by that.

    Args:
        w: torch tensor, 2D conv weights of shape (F, C, KH, KW) (e.g. conv2d.weight).
        time_size: KT >= 1, the temporal extent of the inflated filters.

    Returns:
        a new tensor (not a view) of shape (F, C, KT, KH, KW), same dtype and device, with
        out[:, :, τ] = w / KT for every τ, so that on a static clip a 3D conv with these weights
        gives the 2D conv's response (see the module docstring for the borders).
    """
    if not isinstance(w, torch.Tensor) or w.ndim != 4:
        raise ValueError(f"need a torch tensor of shape (F, C, KH, KW); got "
                         f"{type(w).__name__} {tuple(getattr(w, 'shape', ()))}")
    if time_size < 1:
        raise ValueError(f"time_size must be >= 1, got {time_size}")
    return w.unsqueeze(2).repeat(1, 1, time_size, 1, 1) / time_size


def inflate_conv2d(conv2d: nn.Conv2d, time_size: int, time_stride: int = 1,
                   time_padding: int | None = None) -> nn.Conv3d:
    """A Conv3d whose kernel is (time_size, KH, KW) with the 2D layer's weights inflated.

    Spatial stride, padding, dilation, groups, padding mode, bias, dtype and device are copied;
    time_padding defaults to time_size // 2 (same length for odd time_size, as in I3D). With
    zero padding the first and last time_padding output frames of a static clip are scaled
    towards the bias (module docstring); time_padding=0 makes every output frame equal the 2D
    response. A string padding ("same", "valid") is applied to all three axes.
    """
    if isinstance(conv2d.padding, str):
        if time_padding is not None:
            raise ValueError(f"conv2d has padding={conv2d.padding!r}; leave time_padding None")
        padding: str | tuple[int, int, int] = conv2d.padding
    else:
        time_padding = time_size // 2 if time_padding is None else time_padding
        padding = (time_padding, *conv2d.padding)
    conv3d = nn.Conv3d(conv2d.in_channels, conv2d.out_channels,
                       kernel_size=(time_size, *conv2d.kernel_size),
                       stride=(time_stride, *conv2d.stride), padding=padding,
                       dilation=(1, *conv2d.dilation), groups=conv2d.groups,
                       bias=conv2d.bias is not None, padding_mode=conv2d.padding_mode,
                       device=conv2d.weight.device, dtype=conv2d.weight.dtype)
    with torch.no_grad():
        conv3d.weight.copy_(inflate_conv2d_weight(conv2d.weight, time_size))
        if conv2d.bias is not None:
            conv3d.bias.copy_(conv2d.bias)
    return conv3d


def _pair(value: int | tuple[int, int]) -> tuple[int, int]:
    return (value, value) if isinstance(value, int) else tuple(value)


def inflate_network(network: nn.Sequential, time_size: int,
                    time_padding: int | None = None) -> nn.Sequential:
    """Inflate a Sequential of Conv2d / BatchNorm2d / ReLU / MaxPool2d / AvgPool2d / Dropout.

    Every Conv2d becomes inflate_conv2d(layer, time_size, time_padding=time_padding); pools get
    a temporal extent of 1 (time untouched, as in I3D's first layers); BatchNorm3d copies the
    affine parameters and running statistics. With time_padding=0 the inflated network maps a
    static clip to a static output whose every frame is the 2D network's output on the frame
    (the clip loses time_size - 1 frames per conv).

    Raises:
        ValueError: for any other layer (flatten and classify per frame, or pool over time,
            yourself).
    """
    layers: list[nn.Module] = []
    for layer in network:
        if isinstance(layer, nn.Conv2d):
            layers.append(inflate_conv2d(layer, time_size, time_padding=time_padding))
        elif isinstance(layer, nn.BatchNorm2d):
            norm = nn.BatchNorm3d(layer.num_features, layer.eps, layer.momentum, layer.affine,
                                  layer.track_running_stats)
            reference = layer.weight if layer.affine else layer.running_mean
            if reference is not None:
                norm = norm.to(reference.device, reference.dtype)
            norm.load_state_dict(layer.state_dict())
            layers.append(norm.train(layer.training))
        elif isinstance(layer, nn.MaxPool2d | nn.AvgPool2d):
            kernel, stride = _pair(layer.kernel_size), _pair(layer.stride or layer.kernel_size)
            padding = _pair(layer.padding)
            if isinstance(layer, nn.MaxPool2d):
                layers.append(nn.MaxPool3d((1, *kernel), (1, *stride), (0, *padding),
                                           dilation=(1, *_pair(layer.dilation)),
                                           ceil_mode=layer.ceil_mode))
            else:
                layers.append(nn.AvgPool3d((1, *kernel), (1, *stride), (0, *padding),
                                           ceil_mode=layer.ceil_mode,
                                           count_include_pad=layer.count_include_pad))
        elif isinstance(layer, nn.ReLU | nn.Dropout | nn.Identity):
            layers.append(copy.deepcopy(layer))                         # works on any shape
        else:
            raise ValueError(f"cannot inflate {type(layer).__name__}; supported: Conv2d, "
                             "BatchNorm2d, ReLU, MaxPool2d, AvgPool2d, Dropout, Identity")
    return nn.Sequential(*layers).train(network.training)


@graded_in("ch12_video")
def frame_differences(clips: Tensor) -> Tensor:
    """Differences of consecutive frames, a cheap stand-in for optical flow.

    Args:
        clips: torch tensor of shape (N, C, T, H, W), T >= 2.

    Returns:
        shape (N, C, T-1, H, W): out[:, :, t] = clips[:, :, t+1] - clips[:, :, t].
    """
    if clips.ndim != 5 or clips.shape[2] < 2:
        raise ValueError(f"need clips (N, C, T, H, W) with T >= 2; got {tuple(clips.shape)}")
    return clips[:, :, 1:] - clips[:, :, :-1]


@graded_in("ch12_video")
def two_stream_input(clips: Tensor) -> tuple[Tensor, Tensor]:
    """The two inputs of a two-stream network: one frame, and the stacked motion as channels.

    Args:
        clips: torch tensor of shape (N, C, T, H, W), T >= 2.

    Returns:
        appearance: the middle frame clips[:, :, T // 2], shape (N, C, H, W) (for even T the
            later of the two middle frames).
        motion: the T-1 frame differences stacked as channels frame by frame, as Simonyan &
            Zisserman stack flow fields: shape (N, (T-1)*C, H, W) with
            motion[:, t*C + c] = clips[:, c, t+1] - clips[:, c, t].
    """
    n, c, t, h, w = clips.shape
    differences = frame_differences(clips)                          # (N, C, T-1, H, W)
    motion = differences.transpose(1, 2).reshape(n, (t - 1) * c, h, w)
    return clips[:, :, t // 2], motion


def raw_video_bytes_per_minute(width: int, height: int, fps: float, channels: int = 3,
                               bytes_per_value: int = 1) -> float:
    """Bytes of one minute of uncompressed video: width * height * channels * bytes * fps * 60.

    The notes' figures, reproduced (GB = 10^9 bytes, GiB = 2^30):
    - 1920 x 1080 RGB at 30 fps: 11,197,440,000 B = 11.2 GB = 10.4 GiB per minute; the notes'
      "about 10 GB per minute" is right in GiB, 11 % low in GB.
    - 112 x 112 RGB at 5 fps: 11,289,600 B = 11.3 MB (10.8 MiB) per minute. The notes' 588 KB
      is not per minute: it is one training clip of 3.2 s at 5 fps = 16 frames,
      raw_clip_bytes(112, 112, 16) = 602,112 B = 588 KiB.
    """
    return float(width * height * channels * bytes_per_value) * fps * 60


def raw_clip_bytes(width: int, height: int, num_frames: int, channels: int = 3,
                   bytes_per_value: int = 1) -> int:
    """Bytes of an uncompressed clip: width * height * channels * bytes_per_value * num_frames."""
    return width * height * channels * bytes_per_value * num_frames
