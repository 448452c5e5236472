"""The clip player: its data and figure, and the widget redrawing the chosen clip, frame and
saliency target, with the Play button driving the frame slider."""

import ipywidgets
import matplotlib
import numpy as np
import pytest
import torch
from torch import nn

from course_utils.video import clip_player
from course_utils.video.visualization import temporal_saliency

matplotlib.use("Agg")
NAMES = ["left", "right", "up"]


def small_model(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv3d(1, 4, 3, padding=1), nn.Tanh(), nn.Dropout(0.5),
                         nn.Flatten(), nn.Linear(4 * 5 * 6 * 6, 3))


def test_player_data_is_the_temporal_saliency():
    model, clip = small_model(), torch.rand(1, 5, 6, 6)
    data = clip_player.player_data(model, clip, 2)
    saliency, per_frame = temporal_saliency(model, clip, 2)
    np.testing.assert_array_equal(data["saliency"], saliency.numpy())
    np.testing.assert_array_equal(data["per_frame"], per_frame.numpy())


def test_plot_player_frame_shows_the_frame_its_saliency_the_bars_and_the_curve():
    rng = np.random.default_rng(0)
    clip = torch.rand(1, 5, 6, 6)
    saliency, per_frame = rng.random((5, 6, 6)), rng.random(5)
    probabilities = np.array([0.2, 0.7, 0.1])
    fig = clip_player.plot_player_frame(clip, 3, saliency, per_frame, probabilities, NAMES, 0,
                                        "a title")
    image, heat, bars, curve = fig.axes[:4]
    np.testing.assert_allclose(image.images[0].get_array(), clip[0, 3].numpy())
    np.testing.assert_allclose(heat.images[0].get_array(), saliency[3])
    assert heat.images[0].get_clim() == pytest.approx((0, saliency.max()))   # one clip scale
    widths = [patch.get_width() for patch in bars.patches]
    np.testing.assert_allclose(widths, probabilities)
    assert bars.patches[0].get_linewidth() == 2                       # the true class outlined
    assert [t.get_text() for t in bars.get_yticklabels()] == NAMES
    line, marker = curve.lines
    np.testing.assert_allclose(line.get_ydata(), per_frame)
    assert marker.get_xdata()[0] == 3
    assert fig._suptitle.get_text() == "a title"


def test_the_widget_redraws_the_chosen_clip_frame_and_target(spy_on, monkeypatch):
    model = small_model().train()
    torch.manual_seed(1)
    clips, labels = torch.rand(3, 1, 5, 6, 6), torch.tensor([2, 0, 1])
    calls = spy_on(clip_player, "plot_player_frame")
    widget = clip_player.clip_player_widget(model, clips, labels, NAMES)
    assert isinstance(widget, ipywidgets.VBox) and model.training      # its mode is kept
    clip, play, frame, whose = widget.children[0].children
    assert isinstance(play, ipywidgets.Play) and (play.max, frame.max, clip.max) == (4, 4, 2)
    assert [c.description for c in (clip, frame, whose)] == ["clip", "frame", "saliency of"]

    clip.value = 2
    frame.value = 3
    play.value = 1                                                    # Play moves the slider
    assert frame.value == 1
    whose.value = clip_player.TRUE
    clip.value = 1
    model.eval()
    with torch.no_grad():
        probabilities = model(clips).softmax(dim=1)
    predicted = probabilities.argmax(dim=1)
    assert (predicted[1:] != labels[1:]).all()           # so "true" is another target here
    expected = [(0, 0, clip_player.PREDICTED), (2, 0, clip_player.PREDICTED),
                (2, 3, clip_player.PREDICTED), (2, 1, clip_player.PREDICTED),
                (2, 1, clip_player.TRUE), (1, 1, clip_player.TRUE)]
    assert len(calls) == len(expected)
    for (args, figure), (n, t, who) in zip(calls, expected, strict=True):
        drawn_clip, drawn_frame, saliency, per_frame, probs, names, label, title = args
        target = int(predicted[n]) if who == clip_player.PREDICTED else int(labels[n])
        want_saliency, want_per_frame = temporal_saliency(model, clips[n], target)
        assert torch.equal(drawn_clip, clips[n]) and drawn_frame == t and label == labels[n]
        np.testing.assert_allclose(saliency, want_saliency.numpy(), rtol=1e-5, atol=1e-8)
        np.testing.assert_allclose(per_frame, want_per_frame.numpy(), rtol=1e-5)
        np.testing.assert_allclose(probs, probabilities[n].numpy(), rtol=1e-5)
        assert list(names) == NAMES
        assert title.startswith(f"predicted {NAMES[int(predicted[n])]}, true "
                                f"{NAMES[int(labels[n])]}")
        assert title.endswith(f"saliency of {NAMES[target]}")
        np.testing.assert_allclose(figure.axes[1].images[0].get_array(),
                                   want_saliency[t].numpy(), rtol=1e-5, atol=1e-8)
