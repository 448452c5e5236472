"""The chapter's video classifiers: shapes, what each is blind to (the order of the frames), the
convolutional GRU step by hand, and the attention costs of joint and factorised attention."""

import math

import numpy as np
import pytest
import torch
from torch import nn

from course_utils import model_stats
from course_utils.attention import multi_head
from course_utils.video import conv3d, models, space_time
from course_utils.video.experiments import VIDEO_MODELS, build_video_model

torch.set_num_threads(1)

FRAMES, SIZE, CLASSES = 8, 32, 8
ORDER_BLIND = {"single frame", "late fusion (average)"}


def random_clips(n: int = 3, frames: int = FRAMES, size: int = SIZE, seed: int = 0) -> torch.Tensor:
    return torch.rand(n, 1, frames, size, size, generator=torch.Generator().manual_seed(seed))


def made(name: str, seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return build_video_model(name, CLASSES, FRAMES, SIZE).eval()


@pytest.mark.parametrize("name", list(VIDEO_MODELS))
def test_every_model_maps_clips_to_logits(name):
    model = made(name)
    with torch.no_grad():
        logits = model(random_clips(5))
    assert logits.shape == (5, CLASSES), name
    assert torch.isfinite(logits).all()
    parameters = sum(p.numel() for p in model.parameters())
    assert 1_000 <= parameters <= 50_000, f"{name}: {parameters} parameters"


def test_models_take_other_sizes_and_class_counts():
    clips = random_clips(2, frames=6, size=16)
    for name in VIDEO_MODELS:
        torch.manual_seed(0)
        model = build_video_model(name, 5, frames=6, size=16).eval()
        with torch.no_grad():
            assert model(clips).shape == (2, 5), name


@pytest.mark.parametrize("name", list(VIDEO_MODELS))
def test_only_the_frame_averaging_models_ignore_the_order_of_frames(name):
    model = made(name)
    clips = random_clips(4)
    shuffled = clips[:, :, torch.tensor([5, 2, 7, 0, 4, 1, 6, 3])]
    with torch.no_grad():
        same = torch.allclose(model(clips), model(shuffled), atol=1e-5)
    assert same == (name in ORDER_BLIND), (
        f"{name}: order of frames {'ignored' if same else 'seen'}")


def test_single_frame_scores_are_per_frame_and_averaged():
    model = made("single frame")
    clips = random_clips(2)
    with torch.no_grad():
        scores = model.frame_scores(clips)
        alone = torch.stack([model.head(model.features(clips[:, :, t])) for t in range(FRAMES)],
                            dim=1)
        torch.testing.assert_close(scores, alone)
        torch.testing.assert_close(model(clips), scores.mean(dim=1))
        model.average = "probabilities"
        torch.testing.assert_close(model(clips).softmax(1), scores.softmax(2).mean(dim=1))


def test_average_scores_of_probabilities_is_the_log_of_the_mean_softmax():
    scores = torch.randn(4, 3, 6, dtype=torch.float64)
    averaged = models.average_scores(scores, dim=1, average="probabilities")
    torch.testing.assert_close(averaged.exp(), scores.softmax(-1).mean(dim=1))
    torch.testing.assert_close(models.average_scores(scores, 1), scores.mean(dim=1))
    with pytest.raises(ValueError, match="average"):
        models.average_scores(scores, 1, "votes")


def test_fold_time_puts_the_frames_of_a_clip_together():
    clips = torch.rand(2, 3, 4, 8, 8)           # three channels: C and T must not mix
    frames = models.fold_time(clips)
    assert frames.shape == (8, 3, 8, 8)
    torch.testing.assert_close(frames[1 * 4 + 3], clips[1, :, 3])


def test_early_fusion_reads_all_frames_in_its_first_layer_and_only_there():
    model = made("early fusion")
    first = model.features[0]
    assert first.weight.shape == (8, FRAMES, 3, 3)
    assert all(not isinstance(m, nn.Conv3d) for m in model.modules())
    clips = random_clips(2)
    n, c, t, h, w = clips.shape
    with torch.no_grad():
        by_hand = model.head(model.features[1:](first(clips.reshape(n, c * t, h, w))))
        torch.testing.assert_close(model(clips), by_hand)


def test_late_fusion_mlp_sees_every_frame_through_the_same_cnn():
    model = made("late fusion (MLP)")
    assert model.fusion[0].in_features == FRAMES * 8 * 4 * 4
    clips = random_clips(2)
    changed = clips.clone()
    changed[:, :, 6] = 0
    with torch.no_grad():
        assert not torch.allclose(model(clips), model(changed))


def test_c3d_keeps_time_in_its_first_layers():
    model = made("C3D")
    shapes = []
    hooks = [layer.register_forward_hook(lambda m, i, o: shapes.append(tuple(o.shape[1:])))
             for layer in model.features if isinstance(layer, (nn.Conv3d, nn.MaxPool3d))]
    with torch.no_grad():
        model(random_clips(1))
    for hook in hooks:
        hook.remove()
    assert shapes == [(8, 8, 16, 16), (16, 8, 8, 8), (16, 4, 4, 4), (32, 4, 4, 4)]
    assert all(layer.kernel_size == (3, 3, 3) for layer in model.modules()
               if isinstance(layer, nn.Conv3d))


def test_two_stream_reads_the_middle_frame_and_the_differences(monkeypatch):
    model = made("two-stream")
    clips = random_clips(2)
    with torch.no_grad():
        frame, motion = conv3d.two_stream_input(clips)
        expected = torch.stack([model.appearance(frame), model.motion(motion)], dim=1)
        torch.testing.assert_close(model.stream_scores(clips), expected)
        torch.testing.assert_close(model(clips), expected.mean(dim=1))
        # a still clip: no motion, whatever the frames look like
        still = clips[:, :, 4:5].expand(-1, -1, FRAMES, -1, -1)
        zero = model.motion(torch.zeros(2, FRAMES - 1, SIZE, SIZE))
        torch.testing.assert_close(model.stream_scores(still)[:, 1], zero)
    calls = []

    def spy(x):
        calls.append(x.shape)
        return frame, motion

    monkeypatch.setattr(conv3d, "two_stream_input", spy)   # looked up at call time
    with torch.no_grad():
        model(clips)
    assert calls == [clips.shape]


# --- the convolutional GRU -----------------------------------------------------------------


def sigmoid(x: float) -> float:
    return 1 / (1 + math.exp(-x))


def test_conv_gru_step_on_one_pixel_by_hand():
    # D = C = 1, a 1 x 1 map and 1 x 1 filters: the GRU equations on scalars
    x, h = 0.7, -0.4
    wx = {"r": 0.5, "z": -1.2, "n": 0.9}
    wh = {"r": -0.8, "z": 0.3, "n": 1.5}
    b = {"r": 0.1, "z": 0.2, "n": -0.3}
    r = sigmoid(wx["r"] * x + wh["r"] * h + b["r"])
    z = sigmoid(wx["z"] * x + wh["z"] * h + b["z"])
    n = math.tanh(wx["n"] * x + wh["n"] * (r * h) + b["n"])
    expected = (1 - z) * n + z * h
    order = ("r", "z", "n")
    next_h = models.conv_gru_step(
        torch.tensor([[[[x]]]], dtype=torch.float64), torch.tensor([[[[h]]]], dtype=torch.float64),
        torch.tensor([wx[g] for g in order], dtype=torch.float64).view(3, 1, 1, 1),
        torch.tensor([wh[g] for g in order], dtype=torch.float64).view(3, 1, 1, 1),
        torch.tensor([b[g] for g in order], dtype=torch.float64))
    assert next_h.shape == (1, 1, 1, 1)
    assert next_h.item() == pytest.approx(expected, rel=1e-12)


def conv_same(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Plain loops: x (D, H, W), w (C, D, K, K), zero padding K // 2 -> (C, H, W)."""
    c, _, k, _ = w.shape
    pad = k // 2
    padded = np.pad(x, ((0, 0), (pad, pad), (pad, pad)))
    out = np.zeros((c, *x.shape[1:]))
    for o in range(c):
        for i in range(x.shape[1]):
            for j in range(x.shape[2]):
                out[o, i, j] = np.sum(w[o] * padded[:, i:i + k, j:j + k])
    return out


def test_conv_gru_step_with_3x3_filters_against_loops():
    rng = np.random.default_rng(0)
    d, c, size = 2, 3, 5
    x, h = rng.normal(size=(d, size, size)), rng.normal(size=(c, size, size))
    wx, wh = rng.normal(size=(3 * c, d, 3, 3)) * 0.3, rng.normal(size=(3 * c, c, 3, 3)) * 0.3
    b = rng.normal(size=3 * c)
    gates_x = conv_same(x, wx) + b[:, None, None]

    def sig(v):
        return 1 / (1 + np.exp(-v))

    r = sig(gates_x[:c] + conv_same(h, wh[:c]))
    z = sig(gates_x[c:2 * c] + conv_same(h, wh[c:2 * c]))
    n = np.tanh(gates_x[2 * c:] + conv_same(r * h, wh[2 * c:]))
    expected = (1 - z) * n + z * h
    got = models.conv_gru_step(*(torch.from_numpy(a) for a in (x[None], h[None], wx, wh, b)))
    np.testing.assert_allclose(got[0].numpy(), expected, rtol=1e-10, atol=1e-12)


def test_conv_gru_cell_is_the_step_with_its_weights():
    torch.manual_seed(0)
    cell = models.ConvGRUCell(4, 6, kernel_size=3).double()
    assert cell.Wx.shape == (18, 4, 3, 3) and cell.Wh.shape == (18, 6, 3, 3)
    assert cell.b.shape == (18,)
    assert cell.gate_weight_shapes() == {"W_x": (6, 4, 3, 3), "W_h": (6, 6, 3, 3)}
    x, h = torch.randn(2, 4, 5, 5, dtype=torch.float64), torch.randn(2, 6, 5, 5,
                                                                       dtype=torch.float64)
    torch.testing.assert_close(cell(x, h), models.conv_gru_step(x, h, cell.Wx, cell.Wh, cell.b))
    with pytest.raises(ValueError, match="odd"):
        models.ConvGRUCell(4, 6, kernel_size=2)


def test_recurrent_conv_net_runs_the_cell_over_time_from_zero():
    model = made("ConvGRU")
    assert model.feature_shapes(SIZE) == {"x_t": (16, 8, 8), "h_t": (16, 8, 8)}
    clips = random_clips(2)
    with torch.no_grad():
        states = model.hidden_states(clips)
        assert states.shape == (2, FRAMES, 16, 8, 8)
        h = torch.zeros(2, 16, 8, 8)
        for t in range(FRAMES):
            h = model.cell(model.features(clips[:, :, t]), h)
            torch.testing.assert_close(states[:, t], h)
        torch.testing.assert_close(model(clips), model.head(h))
        # the last state depends on the first frame
        changed = clips.clone()
        changed[:, :, 0] = 0
        assert not torch.allclose(model(changed), model(clips))


# --- space-time attention ------------------------------------------------------------------


def test_attention_score_counts_formulas():
    # the notes' counts without the class token: (T P)^2 against T P^2 + P T^2
    assert space_time.attention_score_counts(8, 16, "joint", class_token=False) == 128 ** 2
    assert space_time.attention_score_counts(8, 16, "factorised", class_token=False) == \
        8 * 16 ** 2 + 16 * 8 ** 2
    assert space_time.attention_score_counts(8, 16, "joint") == 129 ** 2
    assert space_time.attention_score_counts(8, 16, "factorised") == 16 * 8 ** 2 + 8 * 17 ** 2
    assert space_time.attention_score_counts(16, 196, "joint", False) / \
        space_time.attention_score_counts(16, 196, "factorised", False) == pytest.approx(
            16 * 196 / (196 + 16))
    with pytest.raises(ValueError):
        space_time.attention_score_counts(8, 16, "local")


def count_scores(model: nn.Module, clips: torch.Tensor) -> tuple[int, int]:
    """Scores every MultiHeadAttention call computes (batch * heads * queries * keys), counted
    with hooks, and the number of calls."""
    counts = []

    def hook(module, inputs, output):
        query, key = inputs[0], inputs[1]
        counts.append(query.shape[0] * module.n_head * query.shape[1] * key.shape[1])

    handles = [m.register_forward_hook(hook) for m in model.modules()
               if isinstance(m, multi_head.MultiHeadAttention)]
    with torch.no_grad():
        model(clips)
    for handle in handles:
        handle.remove()
    return sum(counts), len(counts)


@pytest.mark.parametrize("attention", ["joint", "factorised"])
@pytest.mark.parametrize("patch_embedding", ["conv", "linear"])
def test_attention_scores_counted_while_running(attention, patch_embedding):
    torch.manual_seed(0)
    model = space_time.SpaceTimeTransformer(CLASSES, attention, FRAMES, SIZE, num_layers=3,
                                        num_heads=2, patch_embedding=patch_embedding).eval()
    clips = random_clips(2)
    assert model.patches == 16
    assert model.tokens(clips).shape == (2, 1 + FRAMES * 16, 32)
    scores, calls = count_scores(model, clips)
    assert calls == (3 if attention == "joint" else 6)
    assert scores == 2 * 3 * 2 * model.scores_per_layer()
    assert model.scores_per_layer() == space_time.attention_score_counts(FRAMES, 16, attention)
    assert model.attention_macs() == 3 * model.scores_per_layer() * 32 * 2


def _block_with_only(block: space_time.DividedSpaceTimeBlock, keep: str) -> None:
    """Silence every sub-layer of the block but `keep` ("time_attn" or "space_attn")."""
    class Zero(nn.Module):
        def forward(self, x, *rest, **kwargs):
            return torch.zeros_like(x)

    for name in ("time_attn", "space_attn", "ffn"):
        if name != keep:
            setattr(block, name, Zero())


@pytest.mark.parametrize("keep", ["time_attn", "space_attn"])
def test_divided_attention_mixes_only_along_its_axis(keep):
    torch.manual_seed(0)
    t, p, e = 4, 6, 8
    block = space_time.DividedSpaceTimeBlock(e, 2, 16, frames=t).eval()
    _block_with_only(block, keep)
    tokens = torch.randn(1, 1 + t * p, e)
    poked = tokens.clone()
    frame, patch = 2, 3
    poked[0, 1 + frame * p + patch] += torch.randn(e)     # not a constant: LayerNorm would undo it
    with torch.no_grad():
        moved = (block(poked) - block(tokens)).abs().sum(-1)[0] > 1e-6    # (1 + T*P,)
    grid = moved[1:].view(t, p)
    if keep == "time_attn":      # the same patch position in every frame; not the class token
        expected = torch.zeros(t, p, dtype=torch.bool)
        expected[:, patch] = True
        assert not moved[0]
    else:                        # every patch of the same frame, and the class token
        expected = torch.zeros(t, p, dtype=torch.bool)
        expected[frame] = True
        assert moved[0]
    assert torch.equal(grid, expected)


def test_transformer_uses_the_course_attention_looked_up_when_made(monkeypatch):
    made_with = []

    class Recording(multi_head.MultiHeadAttention):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            made_with.append(args)

    monkeypatch.setattr(multi_head, "MultiHeadAttention", Recording)
    for attention in ("joint", "factorised"):
        space_time.SpaceTimeTransformer(CLASSES, attention, num_layers=2)
    assert len(made_with) == 2 + 4


def test_transformer_checks_its_arguments():
    with pytest.raises(ValueError, match="attention"):
        space_time.SpaceTimeTransformer(CLASSES, "divided")
    with pytest.raises(ValueError, match="patch_embedding"):
        space_time.SpaceTimeTransformer(CLASSES, patch_embedding="tubelet")
    with pytest.raises(ValueError, match="frames"):
        space_time.SpaceTimeTransformer(CLASSES, frames=8)(random_clips(1, frames=6))
    with pytest.raises(ValueError, match="pooling"):
        models.LateFusion(CLASSES, "max")


def test_c3d_original_layers():
    model = model_stats.build_on_meta(models.c3d_original)
    convs = [m for m in model if isinstance(m, nn.Conv3d)]
    assert [c.out_channels for c in convs] == [64, 128, 256, 256, 512, 512, 512, 512]
    assert sum(p.numel() for p in model.parameters()) == 79_991_015


def test_frame_averaging_models_check_how_they_average():
    for model in (models.SingleFrameCNN, models.TwoStream):
        with pytest.raises(ValueError, match="average"):
            model(CLASSES, average="median")
