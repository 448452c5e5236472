"""The motion clips: deterministic, split-safe, balanced; every single frame is uninformative
(its distribution is the same in every class), while two frames give the motion and the whole
clip the class. Motion is measured from the pixels by statistics written apart from the
generator: the circular centroid of the object and a least-squares rotation rate."""

import math

import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression

from course_utils.synthetic import clips
from course_utils.synthetic.clips import (
    BACKGROUND,
    CLASS_NAMES,
    DURATION,
    MIN_GAP,
    SPEED,
    make_action_sequences,
    make_motion_clips,
)

PLAIN = range(6)                   # the classes that one step tells apart
CHANCE = 1 / len(CLASS_NAMES)


@pytest.fixture(scope="module", autouse=True)
def mnist_read_once():
    """The real MNIST, read once for the whole module (each generator call reads it)."""
    arrays = clips.load_mnist()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(clips, "load_mnist", lambda: arrays)
        yield arrays


@pytest.fixture(scope="module")
def train():
    return make_motion_clips(2000, seed=0)


@pytest.fixture(scope="module")
def held_out():
    return make_motion_clips(1000, seed=0, split="test")


def centroids(frames):
    """Circular centroid (x, y) in pixels of each frame's ink, its grey level above the median
    (the background) by more than the texture's swing, (..., 2)."""
    size = frames.shape[-1]
    ink = (frames - frames.flatten(-2).median(-1).values[..., None, None] - 0.15).clamp(min=0)
    phase = torch.arange(size) * 2 * math.pi / size
    x = torch.atan2((ink * phase.sin()).sum((-2, -1)), (ink * phase.cos()).sum((-2, -1)))
    y = torch.atan2((ink * phase.sin()[:, None]).sum((-2, -1)),
                    (ink * phase.cos()[:, None]).sum((-2, -1)))
    return torch.remainder(torch.stack([x, y], -1) * size / (2 * math.pi), size)


def motion(before, after):
    """(dx, dy, spin) from frames before to after (N, S, S): the centroid's step (wrapped) and
    the least-squares rotation rate about it, clockwise positive, from the brightness
    constancy after - before = -grad(mean) . spin * (-(y - cy), x - cx). (N, 3)."""
    size = before.shape[-1]
    start, end = centroids(before), centroids(after)
    step = torch.remainder(end - start + size / 2, size) - size / 2
    mean = (before + after) / 2
    gx = (mean.roll(-1, -1) - mean.roll(1, -1)) / 2
    gy = (mean.roll(-1, -2) - mean.roll(1, -2)) / 2
    centres = torch.arange(size) + 0.5
    rx = torch.remainder(centres - start[:, None, 0] + size / 2, size) - size / 2   # (N, S)
    ry = torch.remainder(centres - start[:, None, 1] + size / 2, size) - size / 2
    along = -gx * ry[:, :, None] + gy * rx[:, None, :]
    spin = -((after - before) * along).sum((1, 2)) / (along ** 2).sum((1, 2))
    return torch.cat([step, spin[:, None]], 1)


def random_frames(data, seed, offset=0):
    """Frame t and frame t + offset of each clip, t random: two (N, S, S)."""
    n, frames = len(data.labels), data.clips.shape[2]
    t = torch.from_numpy(np.random.default_rng(seed).integers(0, frames - offset, n))
    return data.clips[torch.arange(n), 0, t], data.clips[torch.arange(n), 0, t + offset]


def held_out_accuracy(features, labels, test_features, test_labels, c=1.0):
    model = LogisticRegression(C=c, max_iter=1000).fit(features, labels)
    return model.score(test_features, test_labels)


def test_shapes_dtypes_ranges(train):
    assert train.clips.shape == (2000, 1, 8, 32, 32) and train.clips.dtype == torch.float32
    assert train.labels.shape == (2000,) and train.labels.dtype == torch.int64
    assert 0 <= train.clips.min() and train.clips.max() <= 1 and train.clips.std() > 0.1
    assert train.class_names == CLASS_NAMES and len(CLASS_NAMES) == 8
    other = make_motion_clips(5, seed=1, frames=12, size=24, split="test")
    assert other.clips.shape == (5, 1, 12, 24, 24)
    assert make_motion_clips(0).clips.shape == (0, 1, 8, 32, 32)
    for bad in ({"split": "val"}, {"frames": 4}, {"size": 4}):
        with pytest.raises(ValueError):
            make_motion_clips(3, **bad)


def test_determinism_prefix_and_seeds(train):
    some = make_motion_clips(20, seed=0)
    assert torch.equal(some.clips, train.clips[:20]) and torch.equal(some.labels, train.labels[:20])
    assert torch.equal(make_motion_clips(20, seed=0).clips, some.clips)
    assert not torch.equal(make_motion_clips(20, seed=1).clips, some.clips)
    assert not torch.equal(make_motion_clips(20, seed=0, split="test").clips, some.clips)


def test_labels_balanced(train):
    assert torch.bincount(train.labels).tolist() == [250] * 8
    blocks = train.labels.view(-1, 8).sort(dim=1).values
    assert torch.equal(blocks, torch.arange(8).expand_as(blocks))
    counts = torch.bincount(make_motion_clips(13).labels, minlength=8)
    assert counts.max() - counts.min() <= 1


def test_train_and_test_use_different_digits(monkeypatch):
    """With MNIST's training images all ink and its test images blank, train clips always show
    an object and test clips of a digit show none."""
    ink = np.full((10, 28, 28), 255, dtype=np.uint8)
    marked = (ink, np.arange(10), np.zeros_like(ink), np.arange(10))
    monkeypatch.setattr(clips, "load_mnist", lambda: marked)

    def blank(data):
        return (data.clips.amax((1, 2, 3, 4)) - data.clips.amin((1, 2, 3, 4)) < 0.3).float()

    assert blank(make_motion_clips(400, seed=2)).mean() == 0
    assert 0.4 < blank(make_motion_clips(400, seed=2, split="test")).mean() < 0.6


def test_each_class_moves_as_named(train):
    """Per step, the centroid moves SPEED image sides a frame in the named direction (the two
    composite classes turning back 1 and 3 times), and turning classes turn that way."""
    first = train.clips[:400, 0]
    steps = torch.stack([motion(first[:, t], first[:, t + 1]) for t in range(7)], 1)
    labels = train.labels[:400]
    low, high = 32 * SPEED[0] - 0.5, 32 * SPEED[1] + 0.5
    for label, axis, sign in ((0, 0, -1), (1, 0, 1), (2, 1, -1), (3, 1, 1)):
        moves = steps[labels == label, :, axis] * sign
        assert (moves > low).all() and (moves < high).all(), CLASS_NAMES[label]
        assert steps[labels == label, :, 1 - axis].abs().max() < 0.75
    for label, sign in ((4, 1), (5, -1)):
        assert steps[labels == label, :, :2].abs().max() < 1.5
        assert (steps[labels == label, :, 2] * sign > 0).float().mean() > 0.95, CLASS_NAMES[label]
    for label, turns in ((6, 1), (7, 3)):
        slide = steps[labels == label, :, :2]
        along = slide[torch.arange(len(slide)), :, slide[:, 0].abs().argmax(1)]   # (M, 7)
        assert (along.abs() > low).all()
        assert ((along[:, 1:] * along[:, :-1] < 0).sum(1) == turns).all(), CLASS_NAMES[label]


def test_single_frames_look_alike_in_every_class(train, held_out):
    """Mean frames and per-frame statistics agree across classes, at a random frame and at
    frames 0 and 7, and a linear classifier of single frames stays near chance."""
    labels = train.labels
    for frames in (random_frames(train, 0)[0], train.clips[:, 0, 0], train.clips[:, 0, 7]):
        means = torch.stack([frames[labels == c].mean(0) for c in range(8)])
        assert (means - frames.mean(0)).abs().max() < 0.05
        ink = (frames - frames.flatten(1).median(1).values[:, None, None]).clamp(min=0)
        place = centroids(frames) * 2 * math.pi / 32
        stats = torch.cat([ink.sum((1, 2))[:, None], place.cos(), place.sin()], 1)
        z = torch.stack([stats[labels == c].mean(0) for c in range(8)]) - stats.mean(0)
        assert (z / stats.std(0)).abs().max() < 0.25
    for pick in (lambda data: random_frames(data, 1)[0], lambda data: data.clips[:, 0, 0]):
        accuracy = held_out_accuracy(pick(train).flatten(1), train.labels,
                                     pick(held_out).flatten(1), held_out.labels, c=0.1)
        assert accuracy < CHANCE + 0.04


def test_two_frames_tell_the_motion(train, held_out):
    """(dx, dy, spin) of one random step: the six plain classes nearly always, the two
    composite ones taken for slides (at most 6/8 = 0.75 right in all)."""
    features = motion(*random_frames(train, 2, offset=1))
    test_features = motion(*random_frames(held_out, 3, offset=1))
    model = LogisticRegression(max_iter=1000).fit(features, train.labels)
    guesses = torch.from_numpy(model.predict(test_features))
    assert (guesses == held_out.labels).float().mean() > 0.65
    plain = held_out.labels < len(PLAIN)
    assert (guesses[plain] == held_out.labels[plain]).float().mean() > 0.9


def test_whole_clip_tells_the_class(train, held_out):
    """The steps of the whole clip, with each step's agreement with the first (a dot product
    that does not care where the slide goes), separate all eight classes linearly."""
    def features(data):
        frames = data.clips[:, 0]
        steps = torch.stack([motion(frames[:, t], frames[:, t + 1]) for t in range(7)], 1)
        agreement = (steps[:, 1:, :2] * steps[:, :1, :2]).sum(2)
        return torch.cat([steps.flatten(1), agreement], 1)

    assert held_out_accuracy(features(train), train.labels, features(held_out),
                             held_out.labels) > 0.95


@pytest.fixture(scope="module")
def sequences():
    return make_action_sequences(120, seed=4)


def test_sequences_shapes_and_determinism(sequences):
    assert sequences.videos.shape == (120, 1, 64, 32, 32)
    assert sequences.videos.dtype == torch.float32 and sequences.frame_labels.dtype == torch.int64
    assert sequences.frame_labels.shape == (120, 64) and len(sequences.segments) == 120
    assert 0 <= sequences.videos.min() and sequences.videos.max() <= 1
    assert sequences.class_names == CLASS_NAMES
    some = make_action_sequences(10, seed=4)
    assert torch.equal(some.videos, sequences.videos[:10])
    assert some.segments == sequences.segments[:10]
    assert not torch.equal(make_action_sequences(10, seed=5).videos, some.videos)
    assert not torch.equal(make_action_sequences(10, seed=4, split="test").videos, some.videos)
    short = make_action_sequences(4, length=20, size=24, min_actions=0, max_actions=1)
    assert short.videos.shape == (4, 1, 20, 24, 24)
    with pytest.raises(ValueError):
        make_action_sequences(2, length=27, max_actions=3)


def test_segments_match_frame_labels(sequences):
    labels = []
    for segments, frame_labels in zip(sequences.segments, sequences.frame_labels, strict=True):
        assert 1 <= len(segments) <= 3
        expected = torch.full((64,), BACKGROUND)
        previous_end = -MIN_GAP
        for start, end, label in segments:
            assert start >= previous_end + MIN_GAP and end <= 64
            assert DURATION[0] <= end - start <= DURATION[1] and 0 <= label < 8
            expected[start:end] = label
            previous_end = end
            labels.append(label)
        assert torch.equal(frame_labels, expected)
    counts = np.bincount(labels, minlength=8)
    assert counts.max() - counts.min() <= 1


def test_still_between_actions_moving_within(sequences):
    """Background frames repeat exactly; every step inside an action moves the object, the way
    its class says (slides: the centroid; turns: the rotation rate)."""
    videos = sequences.videos[:, 0]
    moved = (videos[:, 1:] - videos[:, :-1]).abs().amax((2, 3)) > 0.01      # (N, L - 1)
    for i, segments in enumerate(sequences.segments):
        inside = torch.zeros(63, dtype=torch.bool)
        for start, end, label in segments:
            inside[start:end - 1] = True
            frames = videos[i, start:end]
            steps = motion(frames[:-1], frames[1:])
            if label in (0, 1, 2, 3):
                axis, sign = divmod(label, 2)
                assert (steps[:, axis] * (2 * sign - 1) > 0.5).all(), (i, label)
            elif label in (4, 5):
                assert (steps[:, 2] * (1 - 2 * (label - 4)) > 0).float().mean() > 0.8
        assert torch.equal(moved[i], inside), i
