"""Seeded scenes for detection and segmentation: shapes and MNIST digits on tinted textures.

Each image holds a few objects of six classes (circles, triangles, rectangles and the MNIST
digits 2, 5 and 7) of varied size and aspect ratio, in colours that say nothing about the class,
painted in order over a tinted scikit-image texture, so that later objects may hide parts of
earlier ones. The targets describe what is visible, exactly: per-object masks, their tight boxes
(x1, y1, x2, y2) in pixels as torchvision has them (pixel (r, c) covers [c, c + 1) x [r, r + 1)),
class labels, and the semantic map.

The drawing is vectorised over chunks of scenes and loops only over the few object slots:
2,000 scenes take about a second on one core.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import skimage.data
import torch

from course_utils.data import load_mnist
from course_utils.synthetic.sampling import bilinear, pick

CLASSES: tuple[str, ...] = ("background", "circle", "triangle", "rectangle", "two", "five",
                            "seven")
DIGITS = {4: 2, 5: 5, 6: 7}       # class index -> MNIST digit
SPLITS = ("train", "test")
CROP_SIDES = (64, 160)            # texture crops, in texture pixels, before resampling
CONTRAST = 0.3                    # least _contrast of an object's colour to what lies beneath
CANDIDATES = 32                   # random colours tried per object
CHUNK = 256                       # scenes drawn at once (bounds the memory)
LUMINANCE = np.array([0.299, 0.587, 0.114], dtype=np.float32)


@dataclass(frozen=True)
class SceneSettings:
    """How scenes are drawn."""

    size: int = 64                # images are size x size RGB
    min_objects: int = 1
    max_objects: int = 4
    min_side: int = 12            # the longer side of an object's box, in pixels, before occlusion
    max_side: int = 36
    max_aspect: float = 2.0       # width / height drawn log-uniformly in [1/max_aspect, max_aspect]
    min_visible: float = 0.5      # objects hidden below this fraction of their pixels are dropped
    textures: tuple[str, ...] = ("brick", "grass", "gravel")   # skimage.data functions


@dataclass
class Scenes:
    """N scenes and their targets."""

    images: torch.Tensor          # (N, 3, S, S) float32 in [0, 1]
    boxes: list[torch.Tensor]     # per image (K_i, 4) float32, tight boxes of the VISIBLE pixels
    labels: list[torch.Tensor]    # per image (K_i,) int64 in 1..len(CLASSES) - 1
    masks: list[torch.Tensor]     # per image (K_i, S, S) bool, the visible pixels of each object
    semantic: torch.Tensor        # (N, S, S) int64: the class seen at each pixel, 0 elsewhere

    def __len__(self) -> int:
        return len(self.images)

    def subset(self, indices: Sequence[int] | slice) -> Scenes:
        """The scenes at `indices` (a sequence of ints or a slice), in that order."""
        chosen = list(range(len(self))[indices]) if isinstance(indices, slice) else [
            int(i) for i in indices]
        index = torch.tensor(chosen, dtype=torch.int64)
        return Scenes(self.images[index], [self.boxes[i] for i in chosen],
                      [self.labels[i] for i in chosen], [self.masks[i] for i in chosen],
                      self.semantic[index])

    def targets(self, i: int) -> dict[str, torch.Tensor]:
        """{"boxes", "labels", "masks"} of image i, the form the detectors train on."""
        return {"boxes": self.boxes[i], "labels": self.labels[i], "masks": self.masks[i]}


def make_scenes(n: int, seed: int = 0, split: str = "train",
                settings: SceneSettings = SceneSettings()) -> Scenes:
    """n random scenes. The same (n, seed, split, settings) give the same scenes, and the
    first k of them are make_scenes(k, seed, split, settings).

    Each scene draws min_objects to max_objects objects (uniformly), each of a uniformly random
    class, its box's longer side log-uniform in [min_side, max_side] and its width / height
    log-uniform in [1 / max_aspect, max_aspect] (digits in [1 / max_aspect, 1]: a digit drawn
    wider than tall is hard to read), placed uniformly inside the image. Shapes fill their box:
    ellipses, rectangles, triangles in 8 orientations (apex at the middle of a side, or the
    right angle at a corner); digits are the ink of a random MNIST digit of the class, resized
    to the box (bilinear) and thresholded at grey level 128.

    Objects are painted in order, later ones on top, each in one flat random colour, drawn
    whatever the class, that stands at least CONTRAST apart (the larger of the luminance
    difference and half the RGB distance) from the mean background under it and from the
    earlier objects whose boxes meet its box (the best of CANDIDATES random colours where none
    does). An object that later ones hide below min_visible of its pixels is dropped: not
    painted, so its pixels show what lies beneath, and absent from the targets. A scene may so
    hold fewer than min_objects, but never none when min_objects >= 1 (the top one is whole).

    The background is a square crop of CROP_SIDES px of a random settings.textures image
    (standardised grey), bilinearly resampled to the scene, flipped and transposed at random,
    its standard deviation scaled to 0.04-0.1 and added to a random tint.

    "train" scenes use MNIST training digits and crops of the top half of each texture, "test"
    scenes MNIST test digits and the bottom half, so the two share no digit or texture patch.

    Returns:
        Scenes whose masks are the visible pixels of each kept object (disjoint), boxes their
        tight boxes, labels their classes (in painting order) and semantic the labels painted.
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    s = settings
    if not (0 <= s.min_objects <= s.max_objects and s.max_objects >= 1 and s.textures
            and 2 <= s.min_side <= s.max_side <= s.size and s.max_aspect >= 1
            and 0 <= s.min_visible <= 1):
        raise ValueError(f"inconsistent settings: {settings}")
    rng = np.random.default_rng([seed, SPLITS.index(split)])
    digits = _mnist_digits(split)
    textures = _textures(s.textures, split)
    images = np.empty((n, 3, s.size, s.size), dtype=np.float32)
    semantic = np.empty((n, s.size, s.size), dtype=np.int64)
    boxes, labels, masks = [], [], []
    for start in range(0, n, CHUNK):
        chunk = slice(start, min(start + CHUNK, n))
        draws = _draws(rng, len(images[chunk]), s)
        targets = _draw_chunk(images[chunk], semantic[chunk], draws, s, digits, textures)
        for target, pieces in zip((boxes, labels, masks), targets, strict=True):
            target += pieces
    return Scenes(torch.from_numpy(images), boxes, labels, masks, torch.from_numpy(semantic))


def single_object_scenes(n: int, seed: int = 0, split: str = "train",
                         settings: SceneSettings = SceneSettings()) -> Scenes:
    """n scenes of exactly one object each (classification + localisation): make_scenes with
    min_objects = max_objects = 1."""
    return make_scenes(n, seed, split, replace(settings, min_objects=1, max_objects=1))


def _mnist_digits(split: str) -> dict[int, np.ndarray]:
    """{class index: the split's MNIST images of that digit, (count, 28, 28) uint8}."""
    x_train, y_train, x_test, y_test = load_mnist()
    images, labels = (x_train, y_train) if split == "train" else (x_test, y_test)
    return {label: images[labels == digit] for label, digit in DIGITS.items()}


def _textures(names: Sequence[str], split: str) -> list[np.ndarray]:
    """The top ("train") or bottom ("test") half of each grey texture, standardised over the
    whole texture (mean 0, standard deviation 1), float32."""
    halves = []
    for name in names:
        image = np.asarray(getattr(skimage.data, name)(), dtype=np.float32)
        image = image.mean(axis=2) if image.ndim == 3 else image
        image = (image - image.mean()) / max(float(image.std()), 1e-6)
        half = image.shape[0] // 2
        halves.append(image[:half] if split == "train" else image[half:])
    return halves


def _texture_crops(textures: list[np.ndarray], uniforms: np.ndarray, size: int) -> np.ndarray:
    """Random square crops (CROP_SIDES, at most the texture) of random textures, bilinearly
    resampled to size x size, each flipped and transposed at random: (n, size, size), from
    uniforms (n, 7). Samples stay inside each crop, so no crop reads outside its texture."""
    which = pick(uniforms[:, 0], len(textures))
    crops = np.empty((len(uniforms), size, size), dtype=np.float32)
    centres = (np.arange(size) + 0.5) / size
    flips = uniforms[:, 4:] < 0.5                                      # rows, columns, transpose
    for t, texture in enumerate(textures):
        height, width = texture.shape
        high = min(CROP_SIDES[1], height, width)
        low = min(CROP_SIDES[0], high)
        for transpose in (False, True):
            chosen = np.flatnonzero((which == t) & (flips[:, 2] == transpose))
            sides = low + pick(uniforms[chosen, 1:2], high - low + 1)
            tops = pick(uniforms[chosen, 2:3], height - sides + 1)
            lefts = pick(uniforms[chosen, 3:4], width - sides + 1)
            # output pixel centres mapped into the crop, clamped to its first and last pixels
            rows = np.clip(tops + centres * sides - 0.5, tops, tops + sides - 1)
            cols = np.clip(lefts + centres * sides - 0.5, lefts, lefts + sides - 1)
            rows = np.where(flips[chosen, :1], rows[:, ::-1], rows)
            cols = np.where(flips[chosen, 1:2], cols[:, ::-1], cols)
            rows, cols = (rows[:, None, :], cols[:, :, None]) if transpose else (
                rows[:, :, None], cols[:, None, :])
            crops[chosen] = bilinear(texture, 0, rows, cols)
    return crops


def _draws(rng: np.random.Generator, n: int, s: SceneSettings) -> dict[str, np.ndarray]:
    """All the random numbers of n scenes, uniform in [0, 1): one row of rng.random per scene,
    cut into named fields (n, *shape). A scene depends only on its row, so the first k of n
    scenes are the k scenes that the same seed gives, however the scenes are chunked."""
    slots = (s.max_objects,)
    shapes = {"count": (), "label": slots, "longer": slots, "aspect": slots, "left": slots,
              "top": slots, "orientation": slots, "pick": slots,
              "colour": (*slots, CANDIDATES, 3), "tint": (3,), "saturation": (),
              "strength": (), "crop": (7,)}
    sizes = [int(np.prod(shape)) for shape in shapes.values()]
    fields = np.split(rng.random((n, sum(sizes))), np.cumsum(sizes)[:-1], axis=1)
    return {name: field.reshape(n, *shape)
            for (name, shape), field in zip(shapes.items(), fields, strict=True)}


def _layout(draws: dict[str, np.ndarray], s: SceneSettings) -> dict[str, np.ndarray]:
    """The object slots (n, max_objects): active, label, width, height, left, top,
    orientation (of triangles, 0-7), pick (which digit, in [0, 1))."""
    count = s.min_objects + pick(draws["count"], s.max_objects - s.min_objects + 1)
    active = np.arange(s.max_objects) < count[:, None]
    labels = 1 + pick(draws["label"], len(CLASSES) - 1)
    log_longer = np.log(s.min_side) + draws["longer"] * np.log((s.max_side + 1) / s.min_side)
    longer = np.minimum(np.exp(log_longer).astype(np.int64), s.max_side)
    aspect = np.exp((2 * draws["aspect"] - 1) * np.log(s.max_aspect))   # width / height
    # digits stay upright, no wider than tall: a 2 stretched twice as wide is hard to read
    aspect = np.where(np.isin(labels, list(DIGITS)), np.minimum(aspect, 1 / aspect), aspect)
    shorter = np.maximum(2, np.rint(longer / np.maximum(aspect, 1 / aspect))).astype(np.int64)
    widths, heights = np.where(aspect >= 1, longer, shorter), np.where(aspect >= 1, shorter, longer)
    return {"active": active, "label": labels, "width": widths, "height": heights,
            "left": pick(draws["left"], s.size - widths + 1),
            "top": pick(draws["top"], s.size - heights + 1),
            "orientation": pick(draws["orientation"], 8), "pick": draws["pick"]}


def _object_masks(layout: dict[str, np.ndarray], s: SceneSettings,
                  digits: dict[int, np.ndarray]) -> np.ndarray:
    """Every object's pixels before occlusion, (n, max_objects, S, S) bool (inactive: none).

    Drawn in a max_side x max_side window at the box's top-left corner (pixel (r, c) of the
    window), ellipses in box coordinates u = 2 (c + 0.5) / w - 1, v = 2 (r + 0.5) / h - 1
    (u^2 + v^2 <= 1), triangles and digits in pixel-centre coordinates x = c / (w - 1),
    y = r / (h - 1), so that every shape reaches all four sides of its box: the mask's tight box
    is the drawn box (digits, whose thin strokes may fall between samples, nearly always)."""
    label = layout["label"]
    w, h = layout["width"][..., None, None], layout["height"][..., None, None]
    r, c = np.ogrid[:s.max_side, :s.max_side]
    inside = (r < h) & (c < w)
    u = ((2 * c + 1) / w - 1).astype(np.float32)                       # in (-1, 1) inside
    v = ((2 * r + 1) / h - 1).astype(np.float32)
    x = np.minimum(c / (w - 1), 1).astype(np.float32)                 # 0 and 1 at the edges
    y = np.minimum(r / (h - 1), 1).astype(np.float32)
    # triangles in canonical coordinates (p, q): apex at the middle of the top side (flipped and
    # transposed to the other sides; half a step of slack keeps both pixels of an apex that
    # falls between two), or the right angle at the top-left corner (flipped to the others)
    o = layout["orientation"][..., None, None]
    swap, flip_p = (o == 2) | (o == 3), (o >= 4) & (o % 2 == 1)
    flip_q = (o == 1) | (o == 3) | (o >= 6)
    p, q = np.where(swap, y, x), np.where(swap, x, y)
    p, q = np.where(flip_p, 1 - p, p), np.where(flip_q, 1 - q, q)
    slack = np.where(swap, 1 / (h - 1), 1 / (w - 1)).astype(np.float32)
    triangle = np.where(o < 4, np.abs(2 * p - 1) - slack <= q, p + q <= 1)
    local = np.select([label[..., None, None] == 1, label[..., None, None] == 2],
                      [u ** 2 + v ** 2 <= 1, triangle], default=True)
    for digit_label, pool in digits.items():
        index = np.nonzero(layout["active"] & (label == digit_label))
        images = pool[(layout["pick"][index] * len(pool)).astype(np.int64)]
        ink = images >= 128
        rows, cols = ink.any(axis=2), ink.any(axis=1)                  # (D, 28)
        r0, r1 = rows.argmax(axis=1), 27 - rows[:, ::-1].argmax(axis=1)
        c0, c1 = cols.argmax(axis=1), 27 - cols[:, ::-1].argmax(axis=1)
        sample_rows = r0[:, None, None] + y[index] * (r1 - r0)[:, None, None]
        sample_cols = c0[:, None, None] + x[index] * (c1 - c0)[:, None, None]
        grey = bilinear(images.astype(np.float32), np.arange(len(images))[:, None, None],
                         sample_rows, sample_cols)
        local[index] = grey >= 128
    local &= inside & layout["active"][..., None, None]
    # each window into its place in a canvas padded by max_side, which no object reaches
    n, slots = label.shape
    side = s.size + s.max_side
    corner = (np.arange(n * slots).reshape(n, slots) * side + layout["top"]) * side + layout["left"]
    padded = np.zeros((n, slots, side, side), dtype=bool)
    padded.ravel()[corner[..., None, None] + r * side + c] = local
    return padded[:, :, :s.size, :s.size]


def _visible_masks(full: np.ndarray, active: np.ndarray, min_visible: float) -> np.ndarray:
    """Visible pixels (n, J, S, S) of the objects kept, from their pixels `full` (n, J, S, S)
    painted in slot order: from the top object down, an object keeps what the kept ones above it
    leave uncovered and is dropped (all False) below min_visible of its pixels or with none."""
    visible = np.zeros_like(full)
    covered = np.zeros_like(full[:, 0])
    for j in reversed(range(full.shape[1])):
        seen = full[:, j] & ~covered
        area, shown = full[:, j].sum(axis=(1, 2)), seen.sum(axis=(1, 2))
        keep = active[:, j] & (shown > 0) & (shown >= min_visible * area)
        visible[:, j] = seen & keep[:, None, None]
        covered |= full[:, j] & keep[:, None, None]
    return visible


def _contrast(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """How well colours a and b (..., 3) in [0, 1] stand apart: the larger of their luminance
    difference and half their RGB distance (which sees hue too)."""
    return np.maximum(np.abs((a - b) @ LUMINANCE), np.linalg.norm(a - b, axis=-1) / 2)


def _colours(background: np.ndarray, full: np.ndarray, kept: np.ndarray,
             candidates: np.ndarray) -> np.ndarray:
    """The colour (n, J, 3) of each kept object, whose pixels `full` (n, J, S, S) are painted
    in slot order over `background` (n, S, S, 3): the first of its candidates (n, J, C, 3) at
    least CONTRAST (_contrast) from the mean background under it and from the earlier objects
    whose boxes meet its box, else the candidate farthest from them."""
    n, slots, size = full.shape[:3]
    rows, cols = full.any(axis=3), full.any(axis=2)                    # (n, J, S)
    low = np.stack([cols.argmax(axis=2), rows.argmax(axis=2)], axis=2)
    high = np.stack([size - cols[..., ::-1].argmax(axis=2),
                     size - rows[..., ::-1].argmax(axis=2)], axis=2)
    area = np.maximum(full.sum(axis=(2, 3)), 1)[..., None]
    under = full.reshape(n, slots, -1).astype(np.float32) @ background.reshape(n, -1, 3) / area
    colours = np.full((n, slots, 3), np.nan, dtype=np.float32)
    for j in range(slots):
        meets = (low[:, :j] <= high[:, j, None]).all(2) & (low[:, j, None] <= high[:, :j]).all(2)
        others = np.where((meets & kept[:, :j])[..., None], colours[:, :j], np.nan)
        references = np.concatenate([under[:, j, None], others], axis=1)  # (n, 1 + j, 3)
        gap = np.nanmin(_contrast(candidates[:, j, :, None], references[:, None]), axis=2)
        good = gap >= CONTRAST                                         # (n, C)
        choice = np.where(good.any(axis=1), good.argmax(axis=1), gap.argmax(axis=1))
        colours[:, j] = np.where(kept[:, j, None], candidates[np.arange(n), j, choice], np.nan)
    return colours


def _draw_chunk(images: np.ndarray, semantic: np.ndarray, draws: dict[str, np.ndarray],
                s: SceneSettings, digits: dict[int, np.ndarray], textures: list[np.ndarray],
                ) -> tuple[list[torch.Tensor], list[torch.Tensor], list[torch.Tensor]]:
    """Draw len(images) scenes at once from their draws (_draws) into images (n, 3, S, S) and
    semantic (n, S, S); return their boxes, labels and masks."""
    layout = _layout(draws, s)
    # the background: a texture crop on a random tint of partly reduced saturation
    tint, saturation, strength = (draws[name].astype(np.float32)
                                  for name in ("tint", "saturation", "strength"))
    grey = tint.mean(axis=1, keepdims=True)
    tint = grey + (0.2 + 0.8 * saturation[:, None]) * (tint - grey)
    texture = (0.04 + 0.06 * strength[:, None, None]) * _texture_crops(textures, draws["crop"],
                                                                        s.size)
    background = tint[:, None, None, :] + texture[..., None]
    np.clip(background, 0, 1, out=background)
    full = _object_masks(layout, s, digits)
    visible = _visible_masks(full, layout["active"], s.min_visible)
    kept = visible.any(axis=(2, 3))
    colours = _colours(background, full, kept, draws["colour"].astype(np.float32))
    # each pixel shows its visible object (the masks are disjoint), else the background
    images[:] = background.transpose(0, 3, 1, 2)
    painted = np.zeros(semantic.shape, dtype=np.int8)
    for j in range(s.max_objects):
        np.copyto(images, colours[:, j, :, None, None], where=visible[:, j, None])
        painted += visible[:, j] * layout["label"][:, j, None, None].astype(np.int8)
    semantic[:] = painted
    rows, cols = visible.any(axis=3), visible.any(axis=2)              # (n, J, S)
    boxes = np.stack([cols.argmax(axis=2), rows.argmax(axis=2),
                      s.size - cols[..., ::-1].argmax(axis=2),
                      s.size - rows[..., ::-1].argmax(axis=2)], axis=2).astype(np.float32)
    slots = [np.flatnonzero(k) for k in kept]
    return ([torch.from_numpy(boxes[i, k]) for i, k in enumerate(slots)],
            [torch.from_numpy(layout["label"][i, k]) for i, k in enumerate(slots)],
            [torch.from_numpy(visible[i, k]) for i, k in enumerate(slots)])
