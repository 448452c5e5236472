"""Tests of course_utils.video.conv3d: PyTorch in float64, numerical gradients, slow loops."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from course_utils.gradcheck import numerical_gradient_array, relative_error
from course_utils.video import conv3d


def _random_case(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, int, int]:
    """Random x, w, b whose filters tile the padded clip; seeds 0..8 give every stride 1..3
    with every pad 0..2."""
    rng = np.random.default_rng(seed)
    stride, pad = 1 + seed % 3, (seed // 3) % 3
    kernel = [int(k) for k in rng.integers(1, 4, size=3)]
    sizes = []
    for k in kernel:                     # size + 2 pad - k = stride * steps, size >= 1
        steps = int(rng.integers(0, 4))
        while k - 2 * pad + stride * steps < 1:
            steps += 1
        sizes.append(k - 2 * pad + stride * steps)
    n, c, f = (int(v) for v in rng.integers(1, 4, size=3))
    x = rng.normal(size=(n, c, *sizes))
    return x, rng.normal(size=(f, c, *kernel)), rng.normal(size=f), stride, pad


@pytest.mark.parametrize("seed", range(9))
def test_conv3d_matches_torch_forward_and_backward(seed: int) -> None:
    x, w, b, stride, pad = _random_case(seed)
    out, cache = conv3d.conv3d_forward_naive(x, w, b, {"stride": stride, "pad": pad})
    xt, wt, bt = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    ref = F.conv3d(xt, wt, bt, stride=stride, padding=pad)
    case = f"x {x.shape}, w {w.shape}, stride {stride}, pad {pad}"
    assert out.shape == tuple(ref.shape), case
    assert conv3d.conv3d_output_shape(x.shape, w.shape, stride, pad) == tuple(ref.shape), case
    np.testing.assert_allclose(out, ref.detach().numpy(), rtol=1e-10, atol=1e-10, err_msg=case)
    dout = np.random.default_rng(seed + 100).normal(size=out.shape)
    ref.backward(torch.tensor(dout))
    grads = conv3d.conv3d_backward_naive(dout, cache)
    for name, ours, theirs in zip(("dx", "dw", "db"), grads, (xt, wt, bt), strict=True):
        assert ours.shape == theirs.shape, f"{name}: {case}"
        np.testing.assert_allclose(ours, theirs.grad.numpy(), rtol=1e-9, atol=1e-10,
                                   err_msg=f"{name}: {case}")


def test_conv3d_backward_numerical() -> None:
    rng = np.random.default_rng(1)
    x, w, b = rng.normal(size=(2, 2, 3, 4, 4)), rng.normal(size=(3, 2, 2, 3, 3)), rng.normal(size=3)
    param = {"stride": 1, "pad": 1}
    out, cache = conv3d.conv3d_forward_naive(x, w, b, param)
    dout = rng.normal(size=out.shape)
    dx, dw, db = conv3d.conv3d_backward_naive(dout, cache)

    def forward(*arrays: np.ndarray) -> np.ndarray:
        return conv3d.conv3d_forward_naive(*arrays, param)[0]

    numerical = {
        "dx": numerical_gradient_array(lambda v: forward(v, w, b), x, dout),
        "dw": numerical_gradient_array(lambda v: forward(x, v, b), w, dout),
        "db": numerical_gradient_array(lambda v: forward(x, w, v), b, dout),
    }
    for name, analytic in (("dx", dx), ("dw", dw), ("db", db)):
        assert relative_error(analytic, numerical[name]) < 1e-7, name


def test_conv3d_with_one_frame_kernel_is_conv2d_per_frame() -> None:
    rng = np.random.default_rng(2)
    x, w, b = rng.normal(size=(2, 3, 4, 5, 5)), rng.normal(size=(2, 3, 1, 3, 3)), rng.normal(size=2)
    out, _ = conv3d.conv3d_forward_naive(x, w, b, {"stride": 1, "pad": 0})   # pad 0: T' = T
    for t in range(4):
        frame = F.conv2d(torch.tensor(x[:, :, t]), torch.tensor(w[:, :, 0]), torch.tensor(b))
        np.testing.assert_allclose(out[:, :, t], frame.numpy(), rtol=1e-12, err_msg=f"frame {t}")


@pytest.mark.parametrize("input_shape,filter_shape,stride,pad,expected", [
    ((2, 3, 16, 112, 112), (64, 3, 3, 3, 3), 1, 1, (2, 64, 16, 112, 112)),
    ((1, 3, 8, 9, 9), (4, 3, 2, 3, 3), 2, 0, None),           # T: (8 - 2) / 2 + 1 = 4; H: 4
    ((1, 1, 5, 7, 7), (1, 1, 5, 1, 1), 1, 0, (1, 1, 1, 7, 7)),
    ((4, 2, 6, 6, 10), (3, 2, 2, 2, 4), 2, 1, None),
])
def test_output_shape_matches_torch(input_shape: tuple, filter_shape: tuple, stride: int,
                                    pad: int, expected: tuple | None) -> None:
    shape = conv3d.conv3d_output_shape(input_shape, filter_shape, stride=stride, pad=pad)
    ref = F.conv3d(torch.zeros(input_shape), torch.zeros(filter_shape), stride=stride,
                   padding=pad)
    assert shape == tuple(ref.shape)
    assert expected is None or shape == expected


@pytest.mark.parametrize("input_shape,filter_shape,stride,pad,axis", [
    ((1, 3, 8, 9, 9), (4, 3, 3, 3, 3), 2, 0, "time"),         # (8 - 3) / 2
    ((1, 3, 9, 8, 9), (4, 3, 3, 3, 3), 2, 0, "height"),
    ((1, 3, 9, 9, 8), (4, 3, 3, 3, 3), 2, 0, "width"),
    ((1, 3, 2, 9, 9), (4, 3, 5, 3, 3), 1, 1, "time"),         # filter longer than padded clip
])
def test_output_shape_rejects_non_tiling(input_shape: tuple, filter_shape: tuple, stride: int,
                                         pad: int, axis: str) -> None:
    with pytest.raises(ValueError, match=axis):
        conv3d.conv3d_output_shape(input_shape, filter_shape, stride, pad)


def test_forward_rejects_bad_shapes_and_tiling() -> None:
    rng = np.random.default_rng(3)
    x, w, b = rng.normal(size=(1, 3, 8, 9, 9)), rng.normal(size=(4, 3, 3, 3, 3)), np.zeros(4)
    with pytest.raises(ValueError, match="whole number"):
        conv3d.conv3d_forward_naive(x, w, b, {"stride": 2, "pad": 0})
    with pytest.raises(ValueError, match="channels"):
        conv3d.conv3d_forward_naive(x, w[:, :2], b, {"stride": 1, "pad": 0})
    with pytest.raises(ValueError, match="need x"):
        conv3d.conv3d_forward_naive(x[:, :, 0], w, b, {"stride": 1, "pad": 0})


@pytest.mark.parametrize("in_channels,num_filters,kernel_size", [
    (3, 64, (3, 3, 3)), (3, 64, (3, 7, 7)), (64, 32, (1, 1, 1)), (5, 2, (2, 3, 4))])
def test_parameter_count_matches_torch(in_channels: int, num_filters: int,
                                       kernel_size: tuple[int, int, int]) -> None:
    layer = nn.Conv3d(in_channels, num_filters, kernel_size)
    expected = sum(p.numel() for p in layer.parameters())
    assert conv3d.conv3d_parameter_count(in_channels, num_filters, kernel_size) == expected
    assert conv3d.conv3d_parameter_count(3, 64, (3, 3, 3)) == 3 * 3 * 3 * 3 * 64 + 64


def _conv2d(seed: int = 4, **kwargs: object) -> nn.Conv2d:
    torch.manual_seed(seed)
    return nn.Conv2d(3, 4, kernel_size=3, dtype=torch.float64, **kwargs)


def _static_clip(frames: int, seed: int = 5) -> tuple[torch.Tensor, torch.Tensor]:
    """A clip (2, 3, frames, 8, 8) whose every frame is the same image (2, 3, 8, 8)."""
    image = torch.randn(2, 3, 8, 8, dtype=torch.float64,
                        generator=torch.Generator().manual_seed(seed))
    return image.unsqueeze(2).repeat(1, 1, frames, 1, 1), image


def test_inflated_weight_repeats_and_rescales() -> None:
    w = torch.randn(4, 3, 3, 5, dtype=torch.float64)
    inflated = conv3d.inflate_conv2d_weight(w, 3)
    assert inflated.shape == (4, 3, 3, 3, 5) and inflated.dtype == w.dtype
    for t in range(3):
        torch.testing.assert_close(inflated[:, :, t], w / 3, rtol=0, atol=0)
    inflated += 1                                    # a new tensor, not a view of w
    torch.testing.assert_close(conv3d.inflate_conv2d_weight(w, 1)[:, :, 0], w, rtol=0, atol=0)


@pytest.mark.parametrize("time_size,time_stride", [(3, 1), (2, 1), (4, 2), (1, 1)])
def test_inflated_conv_without_time_padding_gives_2d_output_on_every_frame(
        time_size: int, time_stride: int) -> None:
    conv2d = _conv2d(padding=1, stride=2)
    clip, image = _static_clip(8)
    conv = conv3d.inflate_conv2d(conv2d, time_size, time_stride=time_stride, time_padding=0)
    out = conv(clip)
    assert out.shape[2] == (8 - time_size) // time_stride + 1
    expected = conv2d(image)
    for t in range(out.shape[2]):
        torch.testing.assert_close(out[:, :, t], expected, rtol=1e-12, atol=1e-12,
                                   msg=f"frame {t}")


def test_inflated_conv_with_replicated_time_padding_gives_2d_output_on_every_frame() -> None:
    conv2d = _conv2d(padding=1)
    clip, image = _static_clip(6)
    conv = conv3d.inflate_conv2d(conv2d, 3, time_padding=0)
    padded = F.pad(clip, (0, 0, 0, 0, 1, 1), mode="replicate")    # time only; H, W stay zero-padded
    out = conv(padded)
    assert out.shape[2] == 6
    for t in range(6):
        torch.testing.assert_close(out[:, :, t], conv2d(image), rtol=1e-12, atol=1e-12)
    replicating = _conv2d(padding=1, padding_mode="replicate")     # every axis replicated
    out = conv3d.inflate_conv2d(replicating, 3)(clip)
    for t in range(6):
        torch.testing.assert_close(out[:, :, t], replicating(image), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("time_size,time_padding", [(3, 1), (5, 2), (3, 2)])
def test_inflated_conv_with_zero_time_padding_scales_the_border_frames(
        time_size: int, time_padding: int) -> None:
    """Output frame t sees k real frames out of time_size: (k / time_size)(y - b) + b."""
    conv2d = _conv2d(padding=1)
    frames = 6
    clip, image = _static_clip(frames)
    out = conv3d.inflate_conv2d(conv2d, time_size, time_padding=time_padding)(clip)
    y, bias = conv2d(image), conv2d.bias.view(1, -1, 1, 1)
    for t in range(out.shape[2]):
        first = t - time_padding
        real = min(first + time_size, frames) - max(first, 0)
        expected = real / time_size * (y - bias) + bias
        torch.testing.assert_close(out[:, :, t], expected, rtol=1e-12, atol=1e-12,
                                   msg=f"frame {t}, {real} real frames")
        if real == time_size:
            torch.testing.assert_close(out[:, :, t], y, rtol=1e-12, atol=1e-12)


def test_inflated_conv_on_a_moving_clip_averages_the_2d_responses() -> None:
    conv2d = _conv2d(padding=1)
    clip = torch.randn(2, 3, 5, 8, 8, dtype=torch.float64)
    out = conv3d.inflate_conv2d(conv2d, 3, time_padding=0)(clip)
    bias = conv2d.bias.view(1, -1, 1, 1)
    for t in range(3):
        responses = [conv2d(clip[:, :, t + tau]) - bias for tau in range(3)]
        torch.testing.assert_close(out[:, :, t], sum(responses) / 3 + bias, rtol=1e-12,
                                   atol=1e-12)


def test_inflate_conv2d_copies_the_layer_settings() -> None:
    conv2d = nn.Conv2d(4, 6, kernel_size=(3, 5), stride=(2, 1), padding=(1, 2), dilation=(1, 2),
                       groups=2, bias=False)
    conv = conv3d.inflate_conv2d(conv2d, 3, time_stride=2)
    assert conv.kernel_size == (3, 3, 5) and conv.stride == (2, 2, 1)
    assert conv.padding == (1, 1, 2) and conv.dilation == (1, 1, 2)
    assert conv.groups == 2 and conv.bias is None
    assert conv3d.inflate_conv2d(nn.Conv2d(3, 3, 3, padding="same"), 3).padding == "same"


def test_inflated_network_gives_2d_output_on_every_frame_of_a_static_clip() -> None:
    torch.manual_seed(6)
    network = nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(4, 5, 3, padding=1), nn.ReLU(), nn.AvgPool2d(2), nn.Dropout(0.5),
    ).double()
    network[1].running_mean.normal_()
    network[1].running_var.uniform_(0.5, 2.0)
    network.eval()
    inflated = conv3d.inflate_network(network, 3, time_padding=0)
    assert not inflated.training
    clip, image = _static_clip(7)
    out = inflated(clip)
    assert out.shape == (2, 5, 3, 2, 2)                 # each conv loses 2 frames
    for t in range(3):
        torch.testing.assert_close(out[:, :, t], network(image), rtol=1e-12, atol=1e-12)
    with pytest.raises(ValueError, match="cannot inflate Linear"):
        conv3d.inflate_network(nn.Sequential(nn.ReLU(), nn.Linear(3, 2)), 3)


def test_frame_differences_against_a_loop() -> None:
    clips = torch.randn(2, 3, 5, 4, 6, dtype=torch.float64)
    out = conv3d.frame_differences(clips)
    assert out.shape == (2, 3, 4, 4, 6)
    for t in range(4):
        torch.testing.assert_close(out[:, :, t], clips[:, :, t + 1] - clips[:, :, t])
    static, _ = _static_clip(4)
    assert conv3d.frame_differences(static).abs().max() == 0
    with pytest.raises(ValueError, match="T >= 2"):
        conv3d.frame_differences(clips[:, :, :1])


@pytest.mark.parametrize("frames,middle", [(5, 2), (4, 2), (2, 1), (16, 8)])
def test_two_stream_input(frames: int, middle: int) -> None:
    n, c, h, w = 2, 3, 4, 5
    clips = torch.randn(n, c, frames, h, w, dtype=torch.float64)
    appearance, motion = conv3d.two_stream_input(clips)
    assert appearance.shape == (n, c, h, w)
    torch.testing.assert_close(appearance, clips[:, :, middle], rtol=0, atol=0)
    assert motion.shape == (n, c * (frames - 1), h, w)
    for t in range(frames - 1):                 # difference t's C channels are adjacent
        for channel in range(c):
            torch.testing.assert_close(motion[:, t * c + channel],
                                       clips[:, channel, t + 1] - clips[:, channel, t])


def test_raw_video_sizes_of_the_notes() -> None:
    hd = conv3d.raw_video_bytes_per_minute(1920, 1080, 30)
    assert hd == 1920 * 1080 * 3 * 30 * 60 == 11_197_440_000
    assert round(hd / 1e9, 1) == 11.2 and round(hd / 2**30, 1) == 10.4
    assert conv3d.raw_video_bytes_per_minute(640, 480, 30) / 2**30 == pytest.approx(1.545, 1e-3)
    small = conv3d.raw_video_bytes_per_minute(112, 112, 5)
    assert small == 11_289_600
    assert conv3d.raw_video_bytes_per_minute(112, 112, 5 / 3.2) == pytest.approx(3_528_000)
    assert conv3d.raw_clip_bytes(112, 112, int(3.2 * 5)) == 602_112 == 588 * 1024
    assert conv3d.raw_video_bytes_per_minute(2, 2, 1, channels=1, bytes_per_value=4) == 960


def test_graded_marks() -> None:
    for name in ("conv3d_output_shape", "conv3d_parameter_count", "conv3d_forward_naive",
                 "conv3d_backward_naive", "inflate_conv2d_weight", "frame_differences",
                 "two_stream_input"):
        assert getattr(conv3d, name).__graded_in__ == "ch12_video"
