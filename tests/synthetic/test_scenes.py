"""The scene generator: deterministic, split-safe, and its targets describe exactly what is
visible. Objects before occlusion are rebuilt by replaying the generator's draws and layout with
the same seed."""

import dataclasses

import numpy as np
import pytest
import skimage.data
import torch

from course_utils.synthetic import scenes
from course_utils.synthetic.scenes import (
    CLASSES,
    SceneSettings,
    make_scenes,
    single_object_scenes,
)

SETTINGS = SceneSettings()


@pytest.fixture(scope="module", autouse=True)
def mnist_read_once():
    """The real MNIST, read once for the whole module (each make_scenes call reads it)."""
    arrays = scenes.load_mnist()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(scenes, "load_mnist", lambda: arrays)
        yield


@pytest.fixture(scope="module")
def many():
    return make_scenes(1000, seed=3)


@pytest.fixture(scope="module")
def replayed():
    """200 scenes (one chunk) with their layout and every object's pixels before occlusion."""
    layout = scenes._layout(scenes._draws(np.random.default_rng([5, 0]), 200, SETTINGS), SETTINGS)
    full = scenes._object_masks(layout, SETTINGS, scenes._mnist_digits("train"))
    return make_scenes(200, seed=5), layout, full


def test_shapes_dtypes_and_determinism():
    some = make_scenes(6, seed=3)
    assert some.images.shape == (6, 3, 64, 64) and some.images.dtype == torch.float32
    assert some.images.min() >= 0 and some.images.max() <= 1
    assert some.semantic.shape == (6, 64, 64) and some.semantic.dtype == torch.int64
    for boxes, labels, masks in zip(some.boxes, some.labels, some.masks, strict=True):
        assert boxes.dtype == torch.float32 and labels.dtype == torch.int64
        assert masks.dtype == torch.bool and masks.shape[1:] == (64, 64)
        assert boxes.shape == (len(labels), 4) and len(masks) == len(labels) >= 1
    again = make_scenes(6, seed=3)
    assert torch.equal(again.images, some.images) and torch.equal(again.semantic, some.semantic)
    for field in ("boxes", "labels", "masks"):
        assert all(map(torch.equal, getattr(again, field), getattr(some, field)))
    longer = make_scenes(300, seed=3)                 # a prefix, across a chunk boundary too
    assert torch.equal(longer.images[:6], some.images)
    assert torch.equal(longer.images[260:280], longer.subset(range(260, 280)).images)
    assert all(map(torch.equal, longer.masks[:6], some.masks))
    assert not torch.equal(make_scenes(6, seed=4).images, some.images)
    assert not torch.equal(make_scenes(6, seed=3, split="test").images, some.images)
    small = make_scenes(3, seed=0, settings=SceneSettings(size=32, max_side=20))
    assert small.images.shape == (3, 3, 32, 32) and small.masks[0].shape[1:] == (32, 32)
    empty = make_scenes(0)
    assert empty.images.shape == (0, 3, 64, 64) and len(empty) == 0 and empty.boxes == []


def test_boxes_are_the_tight_boxes_of_the_visible_masks(many):
    masks, boxes = torch.cat(many.masks), torch.cat(many.boxes)
    rows, cols = masks.any(dim=2), masks.any(dim=1)                  # (K, S)
    index = torch.arange(64)
    expected = torch.stack([torch.where(cols, index, 64).amin(1),
                            torch.where(rows, index, 64).amin(1),
                            torch.where(cols, index, -1).amax(1) + 1,
                            torch.where(rows, index, -1).amax(1) + 1], dim=1).float()
    assert torch.equal(boxes, expected)
    rows, cols = np.nonzero(many.masks[0][0].numpy())                 # the convention, once
    assert many.boxes[0][0].tolist() == [cols.min(), rows.min(), cols.max() + 1, rows.max() + 1]


def test_masks_are_disjoint_flat_coloured_and_make_the_semantic_map(many):
    for i in range(len(many)):
        masks, labels = many.masks[i], many.labels[i]
        assert masks.sum(dim=0).max() <= 1
        assert torch.equal((masks * labels[:, None, None]).sum(dim=0), many.semantic[i])
        for mask in masks:
            pixels = many.images[i][:, mask]                            # (3, pixels)
            assert torch.equal(pixels, pixels[:, :1].expand_as(pixels))


def test_visibility_against_a_painter_loop():
    rng = np.random.default_rng(0)
    full = rng.uniform(size=(50, 4, 1, 1)) < rng.uniform(size=(50, 4, 12, 12))
    active = rng.uniform(size=(50, 4)) < 0.9
    visible = scenes._visible_masks(full, active, 0.5)
    for i in range(50):
        covered = np.zeros((12, 12), dtype=bool)
        for j in reversed(range(4)):
            seen = full[i, j] & ~covered
            keep = active[i, j] and seen.sum() > 0 and seen.sum() >= 0.5 * full[i, j].sum()
            assert np.array_equal(visible[i, j], seen if keep else np.zeros_like(seen))
            covered |= full[i, j] if keep else False


def test_objects_keep_min_visible_of_their_pixels_and_the_hidden_are_dropped(replayed):
    generated, layout, full = replayed
    fractions = []
    for i in range(len(generated)):
        covered = np.zeros((64, 64), dtype=bool)
        kept, seen_masks = [], []
        for j in reversed(range(SETTINGS.max_objects)):      # the painter's rule, top down
            seen = full[i, j] & ~covered
            if layout["active"][i, j] and seen.sum() >= SETTINGS.min_visible * full[i, j].sum():
                kept.insert(0, j)
                seen_masks.insert(0, seen)
                covered |= full[i, j]
                fractions.append(seen.sum() / full[i, j].sum())
        assert generated.labels[i].tolist() == layout["label"][i, kept].tolist()
        assert np.array_equal(generated.masks[i].numpy(), np.array(seen_masks))
    fractions = np.array(fractions)
    assert fractions.min() >= SETTINGS.min_visible
    assert 0.1 < np.mean(fractions < 1) < 0.5          # overlaps are common, not the rule
    assert len(fractions) < layout["active"].sum()     # and some objects were dropped


def test_objects_fill_their_drawn_boxes_within_the_settings(replayed):
    _, layout, full = replayed
    active = layout["active"]
    rows, cols = full.any(axis=3)[active], full.any(axis=2)[active]      # (objects, S)
    tops, lefts = rows.argmax(axis=1), cols.argmax(axis=1)
    heights = 64 - rows[:, ::-1].argmax(axis=1) - tops
    widths = 64 - cols[:, ::-1].argmax(axis=1) - lefts
    shape = ~np.isin(layout["label"][active], list(scenes.DIGITS))
    for drawn, found in ((layout["height"], heights), (layout["width"], widths),
                         (layout["top"], tops), (layout["left"], lefts)):
        assert np.array_equal(drawn[active][shape], found[shape])
        # digits: thin strokes may fall between the sampled points, rarely by more than 1 px
        error = np.abs(drawn[active][~shape] - found[~shape])
        assert np.mean(error <= 1) > 0.9 and error.max() <= 8
    longer = np.maximum(layout["width"], layout["height"])[active]
    shorter = np.minimum(layout["width"], layout["height"])[active]
    assert longer.min() >= SETTINGS.min_side and longer.max() <= SETTINGS.max_side
    assert np.all(longer <= SETTINGS.max_aspect * (shorter + 0.5))
    assert np.all(layout["left"] + layout["width"] <= 64)
    assert np.all(layout["top"] + layout["height"] <= 64)
    assert set(np.unique(layout["orientation"][active & (layout["label"] == 2)])) == set(range(8))


def test_classes_are_balanced_and_colour_says_nothing_about_them(many):
    labels = torch.cat(many.labels)
    assert labels.min() >= 1 and labels.max() < len(CLASSES)
    frequencies = torch.bincount(labels, minlength=len(CLASSES))[1:] / len(labels)
    assert frequencies.min() > 0.13 and frequencies.max() < 0.21      # about 1/6 each
    counts = torch.tensor([len(labels) for labels in many.labels])
    assert counts.min() >= 1 and counts.max() <= SETTINGS.max_objects
    colours = torch.stack([many.images[i][:, mask].mean(dim=1)
                           for i in range(len(many)) for mask in many.masks[i]])
    for label in range(1, len(CLASSES)):
        assert (colours[labels == label].mean(0) - colours.mean(0)).abs().max() < 0.08


def fake_mnist(calls):
    """Train digits: solid squares; test digits: hollow frames (2 px wide). Labels 0-9."""
    def load_mnist():
        calls.append(1)
        solid = np.full((30, 28, 28), 255, dtype=np.uint8)
        hollow = solid.copy()
        hollow[:, 2:-2, 2:-2] = 0
        labels = np.arange(30) % 10
        return solid, labels, hollow, labels
    return load_mnist


def test_digits_come_from_their_split_once_per_call(monkeypatch):
    calls = []
    monkeypatch.setattr(scenes, "load_mnist", fake_mnist(calls))
    for split, filled in (("train", True), ("test", False)):
        single = single_object_scenes(300, seed=1, split=split)
        assert len(calls) == (1 if split == "train" else 2)    # 2 chunks, one load
        for boxes, labels, masks in zip(single.boxes, single.labels, single.masks, strict=True):
            if labels[0] >= 4:
                x1, y1, x2, y2 = boxes[0].int().tolist()
                assert (int(masks[0].sum()) == (x2 - x1) * (y2 - y1)) == filled


def test_texture_crops_stay_in_their_half(monkeypatch):
    ramp = np.repeat(np.arange(512, dtype=np.float32)[:, None], 300, axis=1)   # value = row
    monkeypatch.setattr(skimage.data, "ramp", lambda: ramp, raising=False)
    rng = np.random.default_rng(0)
    train, test = (scenes._textures(("ramp",), split) for split in ("train", "test"))
    assert train[0].shape == test[0].shape == (256, 300)
    crops_train = scenes._texture_crops(train, rng.random((200, 7)), 64)
    crops_test = scenes._texture_crops(test, rng.random((200, 7)), 64)
    assert crops_train.shape == (200, 64, 64)
    assert crops_train.max() <= train[0].max() < test[0].min() <= crops_test.min()
    # crops of CROP_SIDES px: the ramp's range over a crop is 63/64 of its side
    spans = np.ptp(crops_train.reshape(200, -1), axis=1) / (train[0][1, 0] - train[0][0, 0])
    assert spans.min() >= 63 - 1 and spans.max() <= 159


def test_single_object_scenes_subset_targets_and_bad_arguments():
    single = single_object_scenes(10, seed=0)
    assert [len(labels) for labels in single.labels] == [1] * 10
    same = make_scenes(10, seed=0, settings=dataclasses.replace(SETTINGS, min_objects=1,
                                                                max_objects=1))
    assert torch.equal(same.images, single.images)
    subset = single.subset([3, 1])
    assert len(subset) == 2 and torch.equal(subset.images[0], single.images[3])
    assert torch.equal(subset.semantic[1], single.semantic[1])
    assert subset.labels[1] is single.labels[1] and subset.masks[0] is single.masks[3]
    sliced = single.subset(slice(2, 8, 3))
    assert torch.equal(sliced.images, single.images[2:8:3]) and sliced.boxes[1] is single.boxes[5]
    targets = single.targets(4)
    assert set(targets) == {"boxes", "labels", "masks"} and targets["boxes"] is single.boxes[4]
    with pytest.raises(ValueError, match="split"):
        make_scenes(2, split="val")
    with pytest.raises(ValueError, match="settings"):
        make_scenes(2, settings=SceneSettings(min_side=40))
