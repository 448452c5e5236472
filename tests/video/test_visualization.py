"""Visualising a video model: gradient ascent raises the class score under its regularisers,
temporal saliency equals a hand-written autograd computation, and the helpers they use."""

import matplotlib
import numpy as np
import pytest
import torch
from scipy.ndimage import gaussian_filter1d
from torch import nn

from course_utils.video.visualization import (
    blur_clip,
    class_score_gradient_ascent,
    frame_difference_energy,
    plot_clip_frames,
    temporal_saliency,
)

matplotlib.use("Agg")
SHAPE = (1, 2, 4, 8, 8)   # (1, C, T, H, W)


def small_model(seed=0, dropout=0.0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv3d(2, 4, 3, padding=1), nn.Tanh(), nn.Dropout(dropout),
                         nn.Flatten(), nn.Linear(4 * 4 * 8 * 8, 3))


class OneFrameModel(nn.Module):
    """Scores that read only frame `frame` of channel 1: a linear map of its pixels."""

    def __init__(self, frame=2, height=8, width=8):
        super().__init__()
        self.frame = frame
        self.linear = nn.Linear(height * width, 3)

    def forward(self, x):
        return self.linear(x[:, 1, self.frame].flatten(1))


def test_blur_clip_blurs_along_the_chosen_axes():
    clip = torch.rand(SHAPE)
    spatial = blur_clip(clip, spatial_sigma=1.0)
    want = gaussian_filter1d(gaussian_filter1d(clip.numpy(), 1.0, axis=3), 1.0, axis=4)
    np.testing.assert_allclose(spatial.numpy(), want, rtol=1e-6)
    temporal = blur_clip(clip, spatial_sigma=0.0, temporal_sigma=1.0)
    np.testing.assert_allclose(temporal.numpy(), gaussian_filter1d(clip.numpy(), 1.0, axis=2),
                               rtol=1e-6)
    assert torch.equal(blur_clip(clip, 0.0, 0.0), clip)


def test_frame_difference_energy_is_the_sum_of_squared_frame_changes():
    clip = torch.rand(SHAPE, dtype=torch.float64)
    want = sum(((clip[:, :, t + 1] - clip[:, :, t]) ** 2).sum() for t in range(SHAPE[2] - 1))
    assert frame_difference_energy(clip).item() == pytest.approx(want.item())
    still = torch.rand(1, 1, 1, 8, 8).expand(SHAPE)
    assert frame_difference_energy(still).item() == 0.0


def test_gradient_ascent_raises_the_target_score():
    model = small_model(dropout=0.5).train()
    for target in (0, 2):
        clip, history = class_score_gradient_ascent(model, target, SHAPE, steps=30, lr=0.3,
                                                    seed=0)
        assert model.training and clip.shape == SHAPE and not clip.requires_grad
        assert len(history) == 31 and 0.0 <= clip.min() and clip.max() <= 1.0
        model.eval()
        with torch.no_grad():
            start, end = model(torch.zeros(SHAPE))[0, target], model(clip)[0, target]
        model.train()
        assert history[0] == pytest.approx(start.item(), abs=1e-6)
        assert history[-1] == pytest.approx(end.item(), abs=1e-6)
        assert end > start + 0.05, (target, start, end)
    again, _ = class_score_gradient_ascent(model, 2, SHAPE, steps=30, lr=0.3, seed=0)
    torch.testing.assert_close(again, clip)                         # seeded
    noisy, _ = class_score_gradient_ascent(model, 2, SHAPE, steps=0, init="noise", seed=3)
    assert 0 < noisy.max() < 0.1
    with pytest.raises(ValueError):
        class_score_gradient_ascent(model, 0, SHAPE, steps=1, init="ones")


def test_the_temporal_smoothness_penalty_makes_a_steadier_clip():
    model = small_model(seed=1)
    free, _ = class_score_gradient_ascent(model, 1, SHAPE, steps=40, lr=0.3, blur_every=0)
    smooth, _ = class_score_gradient_ascent(model, 1, SHAPE, steps=40, lr=0.3, blur_every=0,
                                            temporal_smoothness=1.0)
    assert frame_difference_energy(smooth) < 0.5 * frame_difference_energy(free)
    blurred, _ = class_score_gradient_ascent(model, 1, SHAPE, steps=40, lr=0.3, blur_every=5,
                                             temporal_sigma=1.0)
    assert frame_difference_energy(blurred) < frame_difference_energy(free)


def test_temporal_saliency_is_the_gradient_magnitude_max_over_channels():
    model = small_model(dropout=0.5).train()
    clip = torch.rand(SHAPE[1:])
    saliency, per_frame = temporal_saliency(model, clip, 1)
    assert model.training and saliency.shape == SHAPE[2:] and per_frame.shape == (SHAPE[2],)
    model.eval()
    x = clip[None].clone().requires_grad_(True)
    model(x)[0, 1].backward()
    manual = x.grad[0].abs().max(dim=0).values
    torch.testing.assert_close(saliency, manual)
    torch.testing.assert_close(per_frame, manual.sum(dim=(1, 2)))
    batched, _ = temporal_saliency(model, clip[None], 1)
    torch.testing.assert_close(batched, saliency)
    assert clip.grad is None


def test_temporal_saliency_finds_the_frame_the_score_reads():
    torch.manual_seed(0)
    model = OneFrameModel(frame=2)
    saliency, per_frame = temporal_saliency(model, torch.rand(SHAPE[1:]), 0)
    assert per_frame.argmax().item() == 2
    assert torch.count_nonzero(per_frame).item() == 1
    torch.testing.assert_close(saliency[2], model.linear.weight[0].abs().view(8, 8))


def test_plot_clip_frames_shows_each_frame_on_one_scale():
    clip = torch.rand(1, 5, 6, 6) * 3
    fig = plot_clip_frames(clip, title="class 1")
    assert len(fig.axes) == 5 and fig._suptitle.get_text() == "class 1"
    shown = np.stack([ax.images[0].get_array() for ax in fig.axes])
    np.testing.assert_allclose(shown, ((clip - clip.min()) / (clip.max() - clip.min()))[0],
                               rtol=1e-5)
    colour = plot_clip_frames(torch.rand(1, 3, 2, 6, 6))
    assert colour.axes[0].images[0].get_array().shape == (6, 6, 3)
