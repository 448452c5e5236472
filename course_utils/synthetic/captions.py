"""Seeded scenes with true captions, for image captioning: one or two objects on a plain, dark,
lightly tinted background, described by a small grammar.

An object is a shape (square, circle, triangle) or an MNIST digit, in one flat colour of a
small palette, small or large. Two objects stand apart along one axis, and only that one, so
that exactly one relation holds between them. Each image has 2 or 3 reference captions:

    one object:   "a small red square"                  "a red square"
    two objects:  "a small red square left of a large blue seven"
                  "a large blue seven right of a small red square"
                  "a red square left of a blue seven"

The grammar is
    caption  := object | object relation object
    object   := "a" [size] colour name
    size     := "small" | "large"
    colour   := "red" | "green" | "blue" | "yellow" | "white"
    name     := "square" | "circle" | "triangle" | "zero" | "one" | ... | "nine"
    relation := "left of" | "right of" | "above" | "below"
so the vocabulary holds 26 words and the 4 special tokens of CS231n's COCO data (<NULL> = 0,
<START>, <END>, <UNK>). Captions encode as CS231n's do: `<START> words <END> <NULL> ...`.

"train" scenes draw MNIST training digits, "test" scenes MNIST test digits. 5,000 scenes take
about a second on one core.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from course_utils.data import load_mnist
from course_utils.synthetic.sampling import bilinear, pick

SHAPES: tuple[str, ...] = ("square", "circle", "triangle")
DIGIT_NAMES: tuple[str, ...] = ("zero", "one", "two", "three", "four", "five", "six", "seven",
                                "eight", "nine")
OBJECTS: tuple[str, ...] = SHAPES + DIGIT_NAMES      # object kind k >= 3 is the digit k - 3
COLOURS: dict[str, tuple[float, float, float]] = {
    "red": (0.9, 0.15, 0.15), "green": (0.15, 0.8, 0.2), "blue": (0.2, 0.35, 1.0),
    "yellow": (0.95, 0.85, 0.15), "white": (0.95, 0.95, 0.95)}
SIZES: tuple[str, ...] = ("small", "large")
RELATIONS: tuple[str, ...] = ("left of", "right of", "above", "below")
INVERSE = (1, 0, 3, 2)                                # RELATIONS[INVERSE[r]] swaps the objects
SPECIAL_TOKENS: tuple[str, ...] = ("<NULL>", "<START>", "<END>", "<UNK>")
NULL, START, END, UNK = range(4)
SPLITS = ("train", "test")
CHUNK = 1024                                          # scenes drawn at once (bounds the memory)
INK = 64                              # least mean grey level of a resampled digit pixel
MAX_WORDS = 10                        # "a small red square left of a large blue seven"


@dataclass(frozen=True)
class CaptionSettings:
    """How caption scenes are drawn. Sides are the longer side of an object's box, in pixels,
    drawn uniformly from the inclusive range of its size."""

    size: int = 32                       # images are size x size RGB
    two_objects: float = 0.5             # probability that an image holds two objects
    digits: float = 0.5                  # probability that an object is a digit, not a shape
    small_sides: tuple[int, int] = (9, 11)
    large_sides: tuple[int, int] = (13, 15)
    gap: int = 2                         # least empty pixels between two objects on their axis
    background: tuple[float, float] = (0.0, 0.25)   # grey level of the background
    tint: float = 0.05                   # largest shift of a background channel from its grey
    jitter: float = 0.05                 # largest shift of an object channel from its palette


@dataclass
class CaptionScenes:
    """N images, their reference captions and what the captions describe. Slot 1 of the
    per-object fields is empty (-1, or zeros) in images of one object."""

    images: torch.Tensor          # (N, 3, S, S) float32 in [0, 1]
    captions: list[list[str]]     # per image its 2 or 3 references, the first the fullest
    count: torch.Tensor           # (N,) int64, 1 or 2 objects
    objects: torch.Tensor         # (N, 2) int64 index into OBJECTS
    colours: torch.Tensor         # (N, 2) int64 index into COLOURS
    sizes: torch.Tensor           # (N, 2) int64 index into SIZES
    relation: torch.Tensor        # (N,) int64 index into RELATIONS: object 0 <relation> object 1
    boxes: torch.Tensor           # (N, 2, 4) float32 tight boxes (x1, y1, x2, y2) of the pixels
    masks: torch.Tensor           # (N, 2, S, S) bool, each object's pixels (disjoint)
    mnist_index: torch.Tensor     # (N, 2) int64 row of the digit in its split's MNIST arrays

    def __len__(self) -> int:
        return len(self.images)


def make_caption_scenes(n: int, seed: int = 0, split: str = "train",
                        settings: CaptionSettings = CaptionSettings()) -> CaptionScenes:
    """n random captioned scenes. The same (n, seed, split, settings) give the same scenes, and
    the first k of them are make_caption_scenes(k, seed, split, settings).

    Each image holds two objects with probability settings.two_objects, else one. Each object
    is a digit with probability settings.digits (the digit uniform, then a random MNIST image
    of it), else a uniformly random shape; its colour and size are uniform, its longer side
    uniform in the size's range. Squares and circles fill a side x side box, triangles (apex
    up) too; a digit's ink box (grey level >= 128) is resampled, aspect kept, so that its
    longer side is the side (its pixels' tight box may be a pixel or two smaller). The
    relation of two objects is uniform: along its axis their tight boxes are at least
    settings.gap pixels apart, along the other axis they share at least one row (or column),
    so no other relation holds.

    Returns:
        CaptionScenes; masks and boxes are exact (the objects never overlap).
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    s = settings
    (small_low, small_high), (large_low, large_high) = s.small_sides, s.large_sides
    if not (3 <= small_low <= small_high < large_low <= large_high
            and 2 * large_high + s.gap <= s.size and s.gap >= 0
            and 0 <= s.two_objects <= 1 and 0 <= s.digits <= 1):
        raise ValueError(f"inconsistent settings: {settings}")
    rng = np.random.default_rng([seed, SPLITS.index(split)])
    digits, labels = _mnist(split)
    images = np.empty((n, 3, s.size, s.size), dtype=np.float32)
    masks = np.empty((n, 2, s.size, s.size), dtype=bool)
    fields = {name: np.empty((n, 2), dtype=np.int64)
              for name in ("objects", "colours", "sizes", "mnist_index")}
    count, relation = np.empty(n, dtype=np.int64), np.empty(n, dtype=np.int64)
    boxes = np.empty((n, 2, 4), dtype=np.float32)
    for start in range(0, n, CHUNK):
        chunk = slice(start, min(start + CHUNK, n))
        draws = _draws(rng, len(count[chunk]))
        layout = _layout(draws, s, labels)
        local = _object_masks(layout, s, digits)
        masks[chunk], boxes[chunk] = _place(local, layout, draws, s)
        images[chunk] = _paint(masks[chunk], layout, draws, s)
        count[chunk], relation[chunk] = layout["count"], layout["relation"]
        for name, field in fields.items():
            field[chunk] = layout[name]
    captions = [describe(*row) for row in zip(count.tolist(), fields["objects"].tolist(),
                                              fields["colours"].tolist(),
                                              fields["sizes"].tolist(), relation.tolist(),
                                              strict=True)]
    tensors = {name: torch.from_numpy(field) for name, field in fields.items()}
    return CaptionScenes(torch.from_numpy(images), captions, torch.from_numpy(count),
                         relation=torch.from_numpy(relation), boxes=torch.from_numpy(boxes),
                         masks=torch.from_numpy(masks), **tensors)


def describe(count: int, objects: Sequence[int], colours: Sequence[int], sizes: Sequence[int],
             relation: int) -> list[str]:
    """The reference captions of one image from its attributes (as in CaptionScenes), the
    fullest first: 2 for one object, 3 for two."""
    colour_names = list(COLOURS)

    def phrase(j: int, with_size: bool = True) -> str:
        size = f"{SIZES[sizes[j]]} " if with_size else ""
        return f"a {size}{colour_names[colours[j]]} {OBJECTS[objects[j]]}"

    if count == 1:
        return [phrase(0), phrase(0, with_size=False)]
    forward, backward = RELATIONS[relation], RELATIONS[INVERSE[relation]]
    return [f"{phrase(0)} {forward} {phrase(1)}", f"{phrase(1)} {backward} {phrase(0)}",
            f"{phrase(0, False)} {forward} {phrase(1, False)}"]


def build_vocabulary(captions: Iterable[str] | None = None) -> tuple[dict[str, int], list[str]]:
    """The 4 special tokens (<NULL> = 0, <START>, <END>, <UNK>), then the words of `captions`
    (default: every word the grammar can say) sorted alphabetically.

    Returns:
        word_to_idx: {word: index}.
        idx_to_word: the words by index.
    """
    if captions is None:
        captions = [*OBJECTS, *COLOURS, *SIZES, *RELATIONS, "a"]
    words = sorted({word for caption in captions for word in caption.lower().split()})
    idx_to_word = [*SPECIAL_TOKENS, *(word for word in words if word not in SPECIAL_TOKENS)]
    return {word: i for i, word in enumerate(idx_to_word)}, idx_to_word


def encode_captions(captions: Sequence[str], word_to_idx: dict[str, int],
                    max_length: int | None = None) -> np.ndarray:
    """Captions as CS231n's COCO data holds them: `<START> words <END> <NULL> ...`, words
    lower-cased and split on white space, unknown ones <UNK>.

    Args:
        captions: N strings.
        word_to_idx: a vocabulary as build_vocabulary makes it.
        max_length: the most words a caption may have (default: the longest caption's).

    Returns:
        int64 array of shape (N, max_length + 2).
    """
    tokens = [caption.lower().split() for caption in captions]
    longest = max(map(len, tokens), default=0)
    max_length = longest if max_length is None else max_length
    if longest > max_length:
        raise ValueError(f"a caption has {longest} words, more than max_length = {max_length}")
    encoded = np.full((len(tokens), max_length + 2), word_to_idx["<NULL>"], dtype=np.int64)
    for i, words in enumerate(tokens):
        row = [word_to_idx.get(word, word_to_idx["<UNK>"]) for word in words]
        encoded[i, :len(row) + 2] = [word_to_idx["<START>"], *row, word_to_idx["<END>"]]
    return encoded


def decode_captions(captions: np.ndarray | torch.Tensor,
                    idx_to_word: Sequence[str]) -> str | list[str]:
    """Token indices back to text, as CS231n's decode_captions but without the special tokens:
    each row stops at its first <END> and skips <NULL> and <START>.

    Args:
        captions: int array of shape (N, T), or (T,) for one caption.
        idx_to_word: the words by index.

    Returns:
        N strings, or one string for a 1-D input.
    """
    rows = np.asarray(captions)
    decoded = []
    for row in np.atleast_2d(rows).tolist():
        words = []
        for index in row:
            word = idx_to_word[index]
            if word == "<END>":
                break
            if word not in ("<NULL>", "<START>"):
                words.append(word)
        decoded.append(" ".join(words))
    return decoded[0] if rows.ndim == 1 else decoded


def load_caption_data(n_train: int = 4000, n_val: int = 500, seed: int = 0,
                      settings: CaptionSettings = CaptionSettings(),
                      featurize: Callable[[torch.Tensor], np.ndarray] | None = None,
                      ) -> dict[str, object]:
    """A data dict in the form of CS231n's load_coco_data: every reference caption is one row,
    and *_image_idxs says which image it describes. Train images use MNIST training digits,
    val images MNIST test digits.

    Args:
        n_train, n_val: how many images of each split.
        seed: the seed of both splits.
        settings: how the scenes are drawn.
        featurize: optional (N, 3, S, S) images -> (N, D) features (a trained CNN, say); when
            given, the dict also holds train_features and val_features.

    Returns:
        {"train_captions": (Nc, T + 2) int64, "train_image_idxs": (Nc,) int64,
         "val_captions", "val_image_idxs" likewise, "word_to_idx", "idx_to_word",
         "train_images", "val_images": (N, 3, S, S) float32 tensors, "train_references",
         "val_references": the captions per image (for BLEU), "train_scenes", "val_scenes":
         the CaptionScenes}, T the longest caption the grammar makes (10 words).
    """
    word_to_idx, idx_to_word = build_vocabulary()
    data: dict[str, object] = {"word_to_idx": word_to_idx, "idx_to_word": idx_to_word}
    for name, n, split in (("train", n_train, "train"), ("val", n_val, "test")):
        scenes = make_caption_scenes(n, seed, split, settings)
        rows = [(i, caption) for i, captions in enumerate(scenes.captions) for caption in captions]
        data[f"{name}_captions"] = encode_captions([caption for _, caption in rows], word_to_idx,
                                                   MAX_WORDS)
        data[f"{name}_image_idxs"] = np.array([i for i, _ in rows], dtype=np.int64)
        data[f"{name}_images"] = scenes.images
        data[f"{name}_references"] = scenes.captions
        data[f"{name}_scenes"] = scenes
        if featurize is not None:
            data[f"{name}_features"] = featurize(scenes.images)
    return data


def _mnist(split: str) -> tuple[np.ndarray, np.ndarray]:
    """The split's MNIST images (M, 28, 28) uint8 and labels (M,)."""
    x_train, y_train, x_test, y_test = load_mnist()
    return (x_train, y_train) if split == "train" else (x_test, y_test)


def _draws(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    """All the random numbers of n scenes, uniform in [0, 1): one row of rng.random per scene,
    cut into named fields (n, *shape), so that the first k of n scenes do not depend on n."""
    shapes = {"count": (), "relation": (), "is_digit": (2,), "digit": (2,), "shape": (2,),
              "size": (2,), "side": (2,), "pick": (2,), "colour": (2,), "jitter": (2, 3),
              "place": (2, 2), "grey": (), "tint": (3,)}
    sizes = [int(np.prod(shape)) for shape in shapes.values()]
    fields = np.split(rng.random((n, sum(sizes))), np.cumsum(sizes)[:-1], axis=1)
    return {name: field.reshape(n, *shape)
            for (name, shape), field in zip(shapes.items(), fields, strict=True)}


def _layout(draws: dict[str, np.ndarray], s: CaptionSettings, labels: np.ndarray,
            ) -> dict[str, np.ndarray]:
    """What n scenes hold: count and relation (-1 for one object), (n,); per object slot
    (n, 2): objects, colours, sizes, side and mnist_index (-1, side 0, in an empty slot;
    mnist_index -1 for shapes too)."""
    count = 1 + (draws["count"] < s.two_objects)
    present = np.arange(2) < count[:, None]
    digit = pick(draws["digit"], 10)
    is_digit = present & (draws["is_digit"] < s.digits)
    sizes = pick(draws["size"], len(SIZES))
    low = np.where(sizes == 0, s.small_sides[0], s.large_sides[0])
    high = np.where(sizes == 0, s.small_sides[1], s.large_sides[1])
    # a random MNIST image of the digit: the pick-th of that digit's images
    order = np.argsort(labels, kind="stable")
    starts, totals = np.searchsorted(labels[order], digit), np.bincount(labels, minlength=10)[digit]
    mnist_index = order[np.minimum(starts + pick(draws["pick"], totals), len(order) - 1)]
    return {"count": count, "relation": np.where(count == 2, pick(draws["relation"], 4), -1),
            "objects": np.where(present, np.where(is_digit, len(SHAPES) + digit,
                                                  pick(draws["shape"], len(SHAPES))), -1),
            "colours": np.where(present, pick(draws["colour"], len(COLOURS)), -1),
            "sizes": np.where(present, sizes, -1),
            "side": np.where(present, low + pick(draws["side"], high - low + 1), 0),
            "mnist_index": np.where(is_digit, mnist_index, -1)}


def _object_masks(layout: dict[str, np.ndarray], s: CaptionSettings,
                  digits: np.ndarray) -> np.ndarray:
    """Each object's pixels in a window of W = large_sides[1] px, (n, 2, W, W) bool (an empty
    slot: none). Squares, circles and triangles fill the side x side box at the window's
    corner; a digit's ink box is resampled (bilinear, 2 x 2 samples a pixel, kept where the
    mean grey level is >= INK) so that its longer side spans the side."""
    window = s.large_sides[1]
    side = layout["side"][..., None, None]
    r, c = np.ogrid[:window, :window]
    inside = (r < side) & (c < side)
    u = (2 * c + 1) / np.maximum(side, 1) - 1                      # in (-1, 1) inside the box
    v = (2 * r + 1) / np.maximum(side, 1) - 1
    x, y = np.minimum(c / np.maximum(side - 1, 1), 1), np.minimum(r / np.maximum(side - 1, 1), 1)
    slack = 1 / np.maximum(side - 1, 1)          # keeps both pixels of an apex between two
    kind = layout["objects"][..., None, None]
    local = inside & np.select([kind == 1, kind == 2],
                               [u ** 2 + v ** 2 <= 1, np.abs(2 * x - 1) - slack <= y],
                               default=True)
    index = np.nonzero(layout["mnist_index"] >= 0)
    images = digits[layout["mnist_index"][index]].astype(np.float32)
    ink = images >= 128
    rows, cols = ink.any(axis=2), ink.any(axis=1)                  # (D, 28)
    r0, c0 = rows.argmax(axis=1)[:, None, None], cols.argmax(axis=1)[:, None, None]
    height = (28 - rows[:, ::-1].argmax(axis=1) - r0[:, 0, 0])[:, None, None]
    width = (28 - cols[:, ::-1].argmax(axis=1) - c0[:, 0, 0])[:, None, None]
    step = np.maximum(height, width) / side[index]                 # ink pixels per pixel
    grey = np.zeros(images.shape[:1] + (window, window), dtype=np.float32)
    for offset_r, offset_c in ((0.25, 0.25), (0.25, 0.75), (0.75, 0.25), (0.75, 0.75)):
        sample_r = np.clip(r0 + (r + offset_r) * step - 0.5, 0, 27)
        sample_c = np.clip(c0 + (c + offset_c) * step - 0.5, 0, 27)
        grey += bilinear(images, np.arange(len(images))[:, None, None], sample_r, sample_c) / 4
    local[index] = (grey >= INK) & (r * step < height) & (c * step < width)
    return local


def _place(local: np.ndarray, layout: dict[str, np.ndarray], draws: dict[str, np.ndarray],
           s: CaptionSettings) -> tuple[np.ndarray, np.ndarray]:
    """The objects' windows `local` (n, 2, W, W) placed in the image: masks (n, 2, S, S) and
    tight boxes (n, 2, 4), zeros in an empty slot.

    One object lies uniformly inside the image. Two, whose relation has axis a (x for left /
    right, y for above / below): the lower one's tight box starts uniformly where both fit
    with the gap, the higher one's uniformly after it; on the other axis object 0 lies
    uniformly, object 1 uniformly where the two share a row (a column)."""
    n, _, window = local.shape[:3]
    rows, cols = local.any(axis=3), local.any(axis=2)              # (n, 2, W)
    offset = np.stack([cols.argmax(axis=2), rows.argmax(axis=2)], axis=2)        # (n, 2, 2)
    extent = np.stack([window - cols[..., ::-1].argmax(axis=2),
                       window - rows[..., ::-1].argmax(axis=2)], axis=2) - offset
    present = local.any(axis=(2, 3))
    extent *= present[..., None]
    place = draws["place"]                                         # (n, 2 slots, 2 axes)
    start = pick(place[:, 0], s.size - extent[:, 0] + 1)          # one object: anywhere
    relation = layout["relation"]
    two = np.flatnonzero(relation >= 0)
    axis = (relation[two] >= 2).astype(np.int64)                   # 0: x, 1: y
    low = np.isin(relation[two], (1, 3)).astype(np.int64)          # the slot nearer 0 on axis
    along = extent[two, :, axis]                                   # (m, 2)
    other = extent[two, :, 1 - axis]
    free = s.size - along.sum(axis=1) - s.gap
    first = pick(place[two, 0, 0], free + 1)
    m = np.arange(len(two))
    second = first + along[m, low] + s.gap + pick(place[two, 1, 0], free - first + 1)
    across0 = pick(place[two, 0, 1], s.size - other[:, 0] + 1)
    lowest = np.maximum(0, across0 - other[:, 1] + 1)
    highest = np.minimum(s.size - other[:, 1], across0 + other[:, 0] - 1)
    across1 = lowest + pick(place[two, 1, 1], highest - lowest + 1)
    corner = np.zeros((n, 2, 2), dtype=np.int64)
    corner[:, 0] = start
    corner[two, low, axis] = first
    corner[two, 1 - low, axis] = second
    corner[two, 0, 1 - axis] = across0
    corner[two, 1, 1 - axis] = across1
    boxes = np.concatenate([corner, corner + extent], axis=2) * present[..., None]
    # each window into a canvas padded by W, at its tight box's corner
    side = s.size + 2 * window
    origin = corner - offset + window                              # (n, 2, 2): x, y
    flat = (np.arange(n * 2).reshape(n, 2) * side + origin[..., 1]) * side + origin[..., 0]
    r, c = np.ogrid[:window, :window]
    padded = np.zeros((n, 2, side, side), dtype=bool)
    padded.ravel()[flat[..., None, None] + r * side + c] = local
    return (padded[:, :, window:window + s.size, window:window + s.size],
            boxes.astype(np.float32))


def _paint(masks: np.ndarray, layout: dict[str, np.ndarray], draws: dict[str, np.ndarray],
           s: CaptionSettings) -> np.ndarray:
    """Images (n, 3, S, S): a grey background shifted by a small tint, each object's pixels in
    its palette colour shifted by up to settings.jitter per channel."""
    grey = s.background[0] + (s.background[1] - s.background[0]) * draws["grey"]
    background = grey[:, None] + s.tint * (2 * draws["tint"] - 1)                # (n, 3)
    palette = np.array(list(COLOURS.values()))
    colours = palette[layout["colours"]] + s.jitter * (2 * draws["jitter"] - 1)  # (n, 2, 3)
    images = np.broadcast_to(background[:, :, None, None], masks.shape[:1] + (3,) + masks.shape[2:])
    images = np.clip(images, 0, 1).astype(np.float32)
    for j in range(2):
        np.copyto(images, np.clip(colours[:, j], 0, 1).astype(np.float32)[:, :, None, None],
                  where=masks[:, j, None])
    return images
