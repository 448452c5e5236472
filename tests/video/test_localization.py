"""Temporal action localisation: the 1-D IoU and NMS against slow loops and chapter 9's box
versions, segments and AP on hand-made scores and detections with known answers, the
sliding-window averaging on a model whose outputs are known, and the training windows."""

import math
from types import SimpleNamespace

import matplotlib
import numpy as np
import pytest
import torch
from torch import nn

from course_utils.detection.boxes import box_iou, nms
from course_utils.synthetic.clips import make_action_sequences
from course_utils.video import localization
from course_utils.video.localization import (
    BACKGROUND,
    WindowClassifier,
    segments_from_scores,
    sliding_window_scores,
    temporal_average_precision,
    temporal_iou,
    temporal_nms,
    window_dataset,
    window_starts,
)

matplotlib.use("Agg")


def slow_temporal_iou(a, b):
    out = np.zeros((len(a), len(b)))
    for i, (s1, e1) in enumerate(a):
        for j, (s2, e2) in enumerate(b):
            inter = max(0.0, min(e1, e2) - max(s1, s2))
            union = (e1 - s1) + (e2 - s2) - inter
            out[i, j] = inter / union if union > 0 else 0.0
    return out


def as_boxes(segments: torch.Tensor) -> torch.Tensor:
    """[start, end) -> the box (start, 0, end, 1), whose IoUs are the segments' tIoUs."""
    zeros, ones = torch.zeros(len(segments)), torch.ones(len(segments))
    return torch.stack([segments[:, 0], zeros, segments[:, 1], ones], dim=1).to(segments)


def random_segments(rng, count, length=50):
    starts = rng.integers(0, length, count)
    return np.stack([starts, starts + rng.integers(1, 20, count)], axis=1).astype(np.float64)


def test_temporal_iou_known_cases():
    a = torch.tensor([[0.0, 10.0]])
    b = torch.tensor([[0.0, 10.0], [10.0, 20.0], [12.0, 15.0], [2.0, 4.0], [5.0, 15.0],
                      [-5.0, 5.0], [3.0, 3.0]])
    want = [1.0, 0.0, 0.0, 0.2, 5 / 15, 5 / 15, 0.0]
    np.testing.assert_allclose(temporal_iou(a, b)[0], want, rtol=1e-6)
    np.testing.assert_allclose(temporal_iou(b, a)[:, 0], want, rtol=1e-6)   # symmetric
    empty = torch.tensor([[4.0, 4.0]])
    assert temporal_iou(empty, empty).item() == 0.0                         # 0 / 0 -> 0
    assert temporal_iou(a, torch.zeros(0, 2)).shape == (1, 0)


def test_temporal_iou_matches_a_loop_and_the_box_iou():
    rng = np.random.default_rng(0)
    a, b = random_segments(rng, 13), random_segments(rng, 9)
    fast = temporal_iou(a, b)
    assert isinstance(fast, np.ndarray) and fast.shape == (13, 9)
    np.testing.assert_allclose(fast, slow_temporal_iou(a, b), rtol=1e-12, atol=1e-12)
    ta, tb = torch.from_numpy(a).float(), torch.from_numpy(b).float()
    as_tensor = temporal_iou(ta, tb)
    assert isinstance(as_tensor, torch.Tensor) and as_tensor.dtype == torch.float32
    torch.testing.assert_close(as_tensor, box_iou(as_boxes(ta), as_boxes(tb)))
    integers = temporal_iou(torch.tensor([[0, 4]]), torch.tensor([[2, 6]]))
    assert integers.dtype == torch.float64 and integers.item() == pytest.approx(1 / 3)


def test_temporal_nms_is_chapter_9s_nms_in_one_dimension():
    rng = np.random.default_rng(1)
    for count in (0, 1, 12, 40):
        segments = torch.from_numpy(random_segments(rng, count))
        scores = torch.from_numpy(rng.integers(0, 6, count).astype(np.float64))   # with ties
        for threshold in (0.0, 0.3, 0.5, 0.9):
            kept = temporal_nms(segments, scores, threshold)
            assert kept.dtype == torch.int64
            torch.testing.assert_close(kept, nms(as_boxes(segments), scores, threshold))
    segments = torch.tensor([[0.0, 10.0], [0.0, 5.0], [1.0, 9.0]])   # tIoUs 0.5 and 0.8
    assert temporal_nms(segments, torch.tensor([3.0, 2.0, 1.0]), 0.5).tolist() == [0, 1]


def test_segments_from_scores_finds_runs_per_class():
    scores = np.zeros((12, 2))
    scores[2:6, 0] = [0.6, 0.9, 0.9, 0.6]              # one run, mean 0.75
    scores[8, 0] = 0.7                                   # a single frame: too short
    scores[1:4, 1] = [0.5, 0.8, 0.8]                     # 0.5 reaches a threshold of 0.5
    scores[7:11, 1] = [0.9, 0.9, 0.4, 0.9]               # a dip splits it
    found = segments_from_scores(scores, threshold=0.5, min_length=2)
    assert found == [(7, 9, 1, pytest.approx(0.9)), (2, 6, 0, pytest.approx(0.75)),
                     (1, 4, 1, pytest.approx(0.7))]
    assert all(type(v) is int for d in found for v in d[:3]) and type(found[0][3]) is float
    with_single = segments_from_scores(torch.from_numpy(scores), 0.5, min_length=1)
    assert (8, 9, 0, pytest.approx(0.7)) in with_single and (10, 11, 1, 0.9) in with_single
    assert segments_from_scores(scores, 0.95) == []
    assert segments_from_scores(scores, 0.5000001, min_length=3) == [(2, 6, 0, 0.75)]


def test_several_thresholds_give_nested_runs_that_nms_thins():
    scores = np.array([[0.0, 0.4, 0.4, 0.9, 0.9, 0.4, 0.9, 0.9, 0.4, 0.0]]).T
    # 0.3: [1, 9) mean 0.65; 0.8: [3, 5) and [6, 8), mean 0.9 each; tIoU with [1, 9): 0.25
    found = segments_from_scores(scores, (0.3, 0.8), min_length=1, nms_threshold=0.5)
    assert found == [(3, 5, 0, pytest.approx(0.9)), (6, 8, 0, pytest.approx(0.9)),
                     (1, 9, 0, pytest.approx(0.65))]
    strict = segments_from_scores(scores, (0.3, 0.8), min_length=1, nms_threshold=0.2)
    assert strict == [(3, 5, 0, pytest.approx(0.9)), (6, 8, 0, pytest.approx(0.9))]
    assert segments_from_scores(scores, (0.3, 0.3, 0.8)) == found     # duplicates merged


def test_average_precision_known_answers():
    truth = [[(0, 10, 0), (20, 30, 1)]]
    perfect = [[(0, 10, 0, 0.9), (20, 30, 1, 0.8)]]
    assert temporal_average_precision(perfect, truth, 2) == (1.0, [1.0, 1.0])
    # a false positive ranked above the only true positive: precision 0 then 1/2 at recall 1
    fp_first = [[(40, 50, 0, 0.95), (1, 10, 0, 0.9)]]
    mean, per_class = temporal_average_precision(fp_first, [[(0, 10, 0)]], 1)
    assert per_class == [pytest.approx(0.5)] and mean == pytest.approx(0.5)
    # the right place but the wrong class is a false positive of that class
    wrong_class = [[(0, 10, 1, 0.9), (0, 10, 0, 0.5)]]
    mean, per_class = temporal_average_precision(wrong_class, [[(0, 10, 0)]], 3)
    assert per_class[0] == 1.0 and math.isnan(per_class[1]) and math.isnan(per_class[2])
    assert mean == 1.0                                          # classes without truth left out


def test_a_duplicate_is_a_false_positive():
    truth = [[(0, 10, 0), (20, 30, 0)]]
    # TP, duplicate of the same segment (FP), TP: precision 1, 1/2, 2/3 at recall 1/2, 1/2, 1
    found = [[(0, 10, 0, 0.9), (1, 10, 0, 0.8), (20, 30, 0, 0.7)]]
    _, per_class = temporal_average_precision(found, truth, 1)
    assert per_class[0] == pytest.approx(0.5 * 1 + 0.5 * 2 / 3)
    # the highest-scoring detection takes the segment even when a later one overlaps it more
    found = [[(2, 10, 0, 0.9), (0, 10, 0, 0.8)]]
    mean, _ = temporal_average_precision(found, [[(0, 10, 0)]], 1)
    assert mean == 1.0


def test_the_tiou_threshold_is_inclusive():
    truth = [[(0, 10, 0)]]
    half = [[(0, 5, 0, 0.9)]]                                   # tIoU exactly 0.5
    assert temporal_average_precision(half, truth, 1, iou_threshold=0.5)[0] == 1.0
    assert temporal_average_precision(half, truth, 1, iou_threshold=0.51)[0] == 0.0
    assert temporal_average_precision(half, truth, 1, iou_threshold=0.3)[0] == 1.0


def test_detections_of_several_videos_are_ranked_together():
    truth = [[(0, 10, 0)], [(5, 15, 0)], []]
    found = [[(0, 10, 0, 0.6)], [(30, 40, 0, 0.9), (5, 15, 0, 0.3)], [(0, 8, 0, 0.7)]]
    # ranked: FP 0.9, FP 0.7, TP 0.6, TP 0.3 -> precision 0, 0, 1/3, 1/2 at recall 0, 0, 1/2, 1
    mean, per_class = temporal_average_precision(found, truth, 1)
    assert mean == pytest.approx(0.5 * 1 / 2 + 0.5 * 1 / 2)
    with pytest.raises(ValueError):
        temporal_average_precision(found[:2], truth, 1)
    assert math.isnan(temporal_average_precision([[]], [[]], 2)[0])


def test_window_starts_cover_every_frame():
    assert window_starts(10, 4, 3) == [0, 3, 6]
    assert window_starts(10, 4, 4) == [0, 4, 6]
    assert window_starts(4, 4, 2) == [0]
    with pytest.raises(ValueError):
        window_starts(3, 4, 1)


class FirstFrameModel(nn.Module):
    """Logits whose softmax is [v, 1 - v], v the mean of a window's first frame."""

    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(torch.ones(()))

    def forward(self, x):
        v = x[:, :, 0].mean(dim=(1, 2, 3))
        return torch.stack([v, 1 - v], dim=1).log() * self.scale


def test_sliding_window_scores_average_over_the_covering_windows():
    length, window, stride = 11, 4, 3                         # starts 0, 3, 6, 7
    values = 0.05 + 0.9 * torch.arange(length) / length
    video = values.view(1, length, 1, 1).expand(1, length, 3, 2).clone()   # (C, L, H, W)
    model = FirstFrameModel().train()
    scores = sliding_window_scores(model, video, window, stride)
    assert model.training and scores.shape == (length, 2)
    want = np.zeros(length)
    for frame in range(length):
        covering = [s for s in (0, 3, 6, 7) if s <= frame < s + window]
        want[frame] = np.mean([values[s].item() for s in covering])
    np.testing.assert_allclose(scores[:, 0].numpy(), want, rtol=1e-5)
    np.testing.assert_allclose(scores.sum(dim=1).numpy(), 1.0, rtol=1e-6)
    batch = torch.stack([video, video.flip(1)])
    batch_scores = sliding_window_scores(model, batch.numpy(), window, stride)
    assert batch_scores.shape == (2, length, 2)
    torch.testing.assert_close(batch_scores[0], scores)
    torch.testing.assert_close(batch_scores[1], sliding_window_scores(model, batch[1], window,
                                                                      stride))


def fake_sequences(frame_labels, class_names=("a", "b"), height=2, width=3):
    """ActionSequences-like: frame t of video i is filled with the number i * L + t."""
    frame_labels = np.asarray(frame_labels)
    n, length = frame_labels.shape
    videos = np.arange(n * length, dtype=np.float32).reshape(n, 1, length, 1, 1)
    return SimpleNamespace(videos=np.broadcast_to(videos, (n, 1, length, height, width)).copy(),
                           frame_labels=frame_labels, class_names=class_names)


def test_window_dataset_labels_a_window_by_most_of_its_frames():
    b = BACKGROUND
    sequences = fake_sequences([[b, b, b, 0, 0, 0, 1, 1, 1, 1, b, b],
                                [1, 1, b, b, 0, 0, 0, 0, 0, b, b, b]])
    clips, labels = window_dataset(sequences, window=4, stride=4)   # starts 0, 4, 8
    assert clips.shape == (6, 1, 4, 2, 3) and clips.dtype == torch.float32
    assert labels.dtype == torch.int64
    # [b b b 0] -> background (2); [0 0 1 1] tie -> 0; [1 1 1 1] -> 1;
    # [1 1 b b] tie -> 1 over background; [0 0 0 0] -> 0; [0 b b b] -> background
    assert labels.tolist() == [2, 0, 1, 1, 0, 2]
    torch.testing.assert_close(clips[1, 0, :, 0, 0], torch.arange(4.0, 8.0))
    torch.testing.assert_close(clips[3, 0, :, 0, 0], torch.arange(12.0, 16.0))


def test_window_classifier_and_its_training_on_a_tiny_set():
    model = WindowClassifier(num_outputs=3, frames=4, seed=0)
    assert model(torch.rand(5, 1, 4, 16, 16)).shape == (5, 3)
    torch.testing.assert_close(WindowClassifier(3, 4, seed=0).head.weight, model.head.weight)
    state = torch.random.get_rng_state()
    WindowClassifier(3, 4, seed=1)
    assert torch.equal(torch.random.get_rng_state(), state)        # global generator untouched
    b = BACKGROUND
    sequences = fake_sequences([[b] * 6 + [0] * 6 + [1] * 6] * 4, height=8, width=8)
    trained, history = localization.train_frame_classifier(sequences, window=4, stride=2,
                                                           epochs=2, batch_size=8,
                                                           progress=False)
    assert not trained.training and len(history["train_loss"]) == 2
    assert trained.head.out_features == 3


def test_plot_localization_draws_scores_and_both_rows_of_segments():
    scores = np.random.default_rng(0).dirichlet(np.ones(3), size=20)    # 2 actions + background
    fig = localization.plot_localization(scores, [(2, 6, 0), (10, 15, 1)],
                                         [(3, 6, 0, 0.8)], ["a", "b"])
    curves, bars = fig.axes
    assert len(curves.lines) == 3 and curves.lines[2].get_linestyle() == "--"
    np.testing.assert_allclose(curves.lines[1].get_ydata(), scores[:, 1])
    assert len(bars.collections) == 3 and bars.texts[0].get_text() == "0.80"


def test_window_labels_of_generated_sequences_match_a_loop():
    sequences = make_action_sequences(3, seed=2, length=40)
    clips, labels = window_dataset(sequences, window=8, stride=5)
    starts = window_starts(40, 8, 5)
    assert starts == [0, 5, 10, 15, 20, 25, 30, 32] and len(labels) == 3 * len(starts)
    background = len(sequences.class_names)
    for i in range(3):
        for w, s in enumerate(starts):
            frames = [background if v == BACKGROUND else v
                      for v in sequences.frame_labels[i, s:s + 8].tolist()]
            counts = [frames.count(k) for k in range(background + 1)]
            assert labels[i * len(starts) + w] == counts.index(max(counts))
            torch.testing.assert_close(clips[i * len(starts) + w],
                                       sequences.videos[i, :, s:s + 8])


def test_a_tiny_localization_experiment_runs_end_to_end():
    results = localization.localization_experiment(n_train=8, n_test=3, epochs=1,
                                                   progress=False)
    num_actions = len(results["class_names"])
    assert results["frame_scores"].shape == (3, 64, num_actions + 1)
    assert len(results["per_class_ap"]) == num_actions and len(results["detections"]) == 3
    mean, per_class = temporal_average_precision(results["detections"],
                                                 results["test"].segments, num_actions)
    assert results["map"] == pytest.approx(mean, nan_ok=True)
    assert 0.0 <= results["frame_accuracy"] <= 1.0
