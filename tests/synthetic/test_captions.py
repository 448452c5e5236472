"""The caption generator: deterministic, split-safe, and every reference caption is true of its
image, checked against the pixels (colours, shapes, positions) and the MNIST labels, by a
parser of the grammar written apart from the generator's own `describe`."""

import numpy as np
import pytest
import torch

from course_utils.synthetic import captions
from course_utils.synthetic.captions import (
    COLOURS,
    DIGIT_NAMES,
    OBJECTS,
    RELATIONS,
    SIZES,
    CaptionSettings,
    build_vocabulary,
    decode_captions,
    encode_captions,
    load_caption_data,
    make_caption_scenes,
)

SETTINGS = CaptionSettings()
PALETTE = torch.tensor(list(COLOURS.values()))


@pytest.fixture(scope="module", autouse=True)
def mnist_read_once():
    """The real MNIST, read once for the whole module (each make_caption_scenes call reads it)."""
    arrays = captions.load_mnist()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(captions, "load_mnist", lambda: arrays)
        yield arrays


@pytest.fixture(scope="module")
def many():
    return make_caption_scenes(1500, seed=2)


def parse(caption):
    """A caption of the grammar as ([(size or None, colour, name), ...], relation or None)."""
    words = caption.split()
    phrases, relation, i = [], None, 0
    while i < len(words):
        if words[i] in ("left", "right"):
            assert words[i + 1] == "of", caption
            relation, i = f"{words[i]} of", i + 2
        elif words[i] in ("above", "below"):
            relation, i = words[i], i + 1
        else:
            assert words[i] == "a", caption
            size = words[i + 1] if words[i + 1] in SIZES else None
            i += 2 if size else 1
            phrases.append((size, words[i], words[i + 1]))
            i += 2
    assert len(phrases) == (1 if relation is None else 2), caption
    return phrases, relation


def shape_of(mask):
    """square, circle or triangle from a shape's pixels: how much of its box it fills, and
    where (a triangle's apex row is narrow)."""
    rows, cols = np.nonzero(mask)
    box = mask[rows.min():rows.max() + 1, cols.min():cols.max() + 1]
    fill = box.mean()
    if fill == 1:
        return "square"
    return "triangle" if box[0].sum() < box[-1].sum() / 2 and fill < 0.65 else "circle"


def seen_relation(a, b):
    """What the tight boxes (x1, y1, x2, y2) of a and b say: the one relation of a to b."""
    left, right = a[2] + SETTINGS.gap <= b[0], b[2] + SETTINGS.gap <= a[0]
    above, below = a[3] + SETTINGS.gap <= b[1], b[3] + SETTINGS.gap <= a[1]
    share_rows, share_cols = a[1] < b[3] and b[1] < a[3], a[0] < b[2] and b[0] < a[2]
    found = [name for name, holds in zip(RELATIONS, (left and share_rows, right and share_rows,
                                                     above and share_cols, below and share_cols),
                                         strict=True) if holds]
    assert len(found) == 1 and not (share_rows and share_cols)
    return found[0]


def matches(phrase, seen):
    """Whether a parsed phrase (size or None, colour, name) says what was seen."""
    size, colour, name = phrase
    return (colour, name) == seen[1:] and size in (None, seen[0])


def test_shapes_dtypes_and_determinism():
    some = make_caption_scenes(6, seed=3)
    assert some.images.shape == (6, 3, 32, 32) and some.images.dtype == torch.float32
    assert some.images.min() >= 0 and some.images.max() <= 1 and len(some) == 6
    assert some.masks.shape == (6, 2, 32, 32) and some.masks.dtype == torch.bool
    assert some.boxes.shape == (6, 2, 4) and some.boxes.dtype == torch.float32
    for field in ("objects", "colours", "sizes", "mnist_index"):
        assert getattr(some, field).shape == (6, 2) and getattr(some, field).dtype == torch.int64
    assert some.count.shape == some.relation.shape == (6,)
    assert [len(references) for references in some.captions] == [1 + c for c in some.count.tolist()]
    again = make_caption_scenes(6, seed=3)
    longer = make_caption_scenes(1100, seed=3)             # a prefix, across a chunk boundary
    for other in (again, longer):
        assert torch.equal(other.images[:6], some.images) and other.captions[:6] == some.captions
        assert torch.equal(other.masks[:6], some.masks)
        assert torch.equal(other.mnist_index[:6], some.mnist_index)
    assert not torch.equal(make_caption_scenes(6, seed=4).images, some.images)
    assert not torch.equal(make_caption_scenes(6, seed=3, split="test").images, some.images)
    large = make_caption_scenes(3, settings=CaptionSettings(size=48, large_sides=(16, 22)))
    assert large.images.shape == (3, 3, 48, 48)
    empty = make_caption_scenes(0)
    assert empty.images.shape == (0, 3, 32, 32) and empty.captions == []


def test_masks_boxes_and_pixels(many):
    masks, boxes = many.masks, many.boxes
    assert not (masks[:, 0] & masks[:, 1]).any()
    present = masks.any(dim=(2, 3))
    assert torch.equal(present, torch.arange(2) < many.count[:, None])
    assert torch.equal(present, many.objects >= 0)
    index = torch.arange(32)
    rows, cols = masks.any(dim=3), masks.any(dim=2)                      # (N, 2, S)
    expected = torch.stack([torch.where(cols, index, 32).amin(2),
                            torch.where(rows, index, 32).amin(2),
                            torch.where(cols, index, -1).amax(2) + 1,
                            torch.where(rows, index, -1).amax(2) + 1], dim=2).float()
    assert torch.equal(boxes[present], expected[present])
    assert torch.equal(boxes[~present], torch.zeros_like(boxes[~present]))
    # the background is one colour, dark; each object one flat colour
    for i in range(0, len(many), 7):
        for region in (~masks[i].any(dim=0), *masks[i][present[i]]):
            pixels = many.images[i][:, region]
            assert torch.equal(pixels, pixels[:, :1].expand_as(pixels))
        assert many.images[i][:, ~masks[i].any(dim=0)].max() <= 0.3


def test_every_caption_is_true_of_its_image(many, mnist_read_once):
    _, y_train, _, _ = mnist_read_once
    colour_names, seen = list(COLOURS), set()
    for i in range(len(many)):
        masks, boxes = many.masks[i].numpy(), many.boxes[i].tolist()
        objects = []                                      # what the pixels and labels show
        for j in range(many.count[i]):
            colour = many.images[i][:, masks[j]].mean(dim=1)
            nearest = colour_names[int((PALETTE - colour).norm(dim=1).argmin())]
            assert (PALETTE - colour).norm(dim=1).min() < 0.1
            kind = OBJECTS[many.objects[i, j]]
            if kind in DIGIT_NAMES:
                assert DIGIT_NAMES[y_train[many.mnist_index[i, j]]] == kind
            else:
                assert many.mnist_index[i, j] == -1 and shape_of(masks[j]) == kind
            longer = max(boxes[j][2] - boxes[j][0], boxes[j][3] - boxes[j][1])
            size = "small" if longer <= SETTINGS.small_sides[1] else "large"
            low = SETTINGS.small_sides[0] if size == "small" else SETTINGS.large_sides[0]
            assert longer >= low - (2 if kind in DIGIT_NAMES else 0)
            objects.append((size, nearest, kind))
        for caption in many.captions[i]:
            phrases, said = parse(caption)
            orders = [[0]] if said is None else [[0, 1], [1, 0]]
            assert len(phrases) == len(objects) and any(
                all(matches(phrase, objects[j]) for phrase, j in zip(phrases, order, strict=True))
                and (said is None or seen_relation(boxes[order[0]], boxes[order[1]]) == said)
                for order in orders), caption
            seen.add((len(phrases), said))
        first = parse(many.captions[i][0])[0]
        assert all(size is not None for size, _, _ in first)   # the first names every size
    assert len(seen) == 5                                       # one object, and each relation


def test_attributes_cover_the_grammar(many):
    objects = many.objects[many.objects >= 0]
    assert set(objects.tolist()) == set(range(len(OBJECTS)))
    assert abs((objects >= 3).float().mean() - SETTINGS.digits) < 0.05
    assert abs((many.count == 2).float().mean() - SETTINGS.two_objects) < 0.05
    assert set(many.colours[many.colours >= 0].tolist()) == set(range(len(COLOURS)))
    assert set(many.sizes[many.sizes >= 0].tolist()) == {0, 1}
    assert set(many.relation.tolist()) == {-1, 0, 1, 2, 3}


def fake_mnist(calls):
    """Train digits: solid squares; test digits: hollow frames (4 px wide). Labels 0-9."""
    def load_mnist():
        calls.append(1)
        solid = np.full((30, 28, 28), 255, dtype=np.uint8)
        hollow = solid.copy()
        hollow[:, 4:-4, 4:-4] = 0
        labels = np.arange(30) % 10
        return solid, labels, hollow, labels[::-1].copy()
    return load_mnist


def test_digits_come_from_their_split(monkeypatch):
    calls = []
    monkeypatch.setattr(captions, "load_mnist", fake_mnist(calls))
    settings = CaptionSettings(digits=1.0)
    for split, filled, labels in (("train", True, np.arange(30) % 10),
                                  ("test", False, (np.arange(30) % 10)[::-1])):
        scenes = make_caption_scenes(1100, seed=1, split=split, settings=settings)
        assert len(calls) == (1 if split == "train" else 2)    # 2 chunks, one load
        first = scenes.masks[:, 0]
        x1, y1, x2, y2 = scenes.boxes[:, 0].int().T
        assert torch.equal(first.sum(dim=(1, 2)) == (x2 - x1) * (y2 - y1),
                           torch.full((1100,), filled))
        present = scenes.objects >= 0
        names = [DIGIT_NAMES[label] for label in labels[scenes.mnist_index[present]]]
        assert names == [OBJECTS[k] for k in scenes.objects[present]]


def test_vocabulary_and_round_trip(many):
    word_to_idx, idx_to_word = build_vocabulary()
    assert idx_to_word[:4] == ["<NULL>", "<START>", "<END>", "<UNK>"] and len(idx_to_word) == 30
    assert all(word_to_idx[word] == i for i, word in enumerate(idx_to_word))
    references = [caption for captions_ in many.captions for caption in captions_]
    assert build_vocabulary(references)[1] == idx_to_word          # the grammar says them all
    encoded = encode_captions(references, word_to_idx, max_length=10)
    assert encoded.shape == (len(references), 12) and encoded.dtype == np.int64
    assert (encoded[:, 0] == word_to_idx["<START>"]).all()
    lengths = np.array([len(caption.split()) for caption in references])
    assert (encoded[np.arange(len(references)), lengths + 1] == word_to_idx["<END>"]).all()
    assert ((encoded == 0) == (np.arange(12) > lengths[:, None] + 1)).all()
    assert decode_captions(encoded, idx_to_word) == references
    assert decode_captions(torch.from_numpy(encoded[3]), idx_to_word) == references[3]
    assert encode_captions(["a red square"], word_to_idx).shape == (1, 5)
    odd = encode_captions(["A purple Square", ""], word_to_idx, max_length=4)
    assert odd.tolist() == [[1, word_to_idx["a"], 3, word_to_idx["square"], 2, 0],
                            [1, 2, 0, 0, 0, 0]]
    assert decode_captions(odd, idx_to_word) == ["a <UNK> square", ""]
    with pytest.raises(ValueError, match="max_length"):
        encode_captions(["a small red square"], word_to_idx, max_length=3)
    custom_to_idx, custom = build_vocabulary(["b a", "a c"])
    assert custom == ["<NULL>", "<START>", "<END>", "<UNK>", "a", "b", "c"]
    assert custom_to_idx["c"] == 6


def test_load_caption_data():
    data = load_caption_data(n_train=50, n_val=20, seed=1,
                             featurize=lambda images: images.mean(dim=(2, 3)).numpy())
    for split, n in (("train", 50), ("val", 20)):
        scenes, rows = data[f"{split}_scenes"], data[f"{split}_captions"]
        idxs = data[f"{split}_image_idxs"]
        assert rows.shape == (sum(map(len, scenes.captions)), 12) and idxs.shape == rows.shape[:1]
        assert data[f"{split}_images"] is scenes.images and len(scenes) == n
        assert data[f"{split}_references"] is scenes.captions
        assert data[f"{split}_features"].shape == (n, 3)
        decoded = decode_captions(rows, data["idx_to_word"])
        assert [c for refs in scenes.captions for c in refs] == decoded
        assert all(caption in scenes.captions[i] for caption, i in zip(decoded, idxs, strict=True))
    assert torch.equal(data["train_images"], make_caption_scenes(50, seed=1).images)
    assert torch.equal(data["val_images"], make_caption_scenes(20, seed=1, split="test").images)
    assert "train_features" not in load_caption_data(n_train=2, n_val=2)


def test_bad_arguments():
    with pytest.raises(ValueError, match="split"):
        make_caption_scenes(2, split="val")
    with pytest.raises(ValueError, match="settings"):
        make_caption_scenes(2, settings=CaptionSettings(large_sides=(13, 16)))
    with pytest.raises(ValueError, match="settings"):
        make_caption_scenes(2, settings=CaptionSettings(small_sides=(9, 13)))
