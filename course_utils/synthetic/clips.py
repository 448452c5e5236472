"""Seeded video clips whose class is a motion, for video understanding: one object (an MNIST
digit, a square, a triangle or a notched disc) moving or turning over a still, lightly textured
background.

The classes are motions, and nothing else differs between them:

    left, right, up, down        the object slides that way all clip long
    clockwise, counterclockwise  the object turns in place, about its centre
    there_and_back               it slides one way (of the four) for half the clip, then back
    back_and_forth               out and back twice: four legs of a quarter clip each

The canvas is a torus, as in the game Asteroids: what leaves one side comes back in from the
opposite one. Every clip starts at a uniformly random position and orientation and every class
moves by translations and rotations of the torus, so the position and orientation at any frame
t are uniform in every class, and the object, its size, brightness and background are drawn
whatever the class: each single frame, even knowing t, has the same distribution in all
classes and tells nothing of the class (chance is 1 / 8). Two consecutive frames give the
direction of motion, which separates the six plain classes; telling there_and_back and
back_and_forth from them takes the order of several steps (single_frame_baseline measures one, two
and all eight frames).

"train" clips draw MNIST training digits, "test" clips MNIST test digits. 2,000 clips of 8
frames of 32 x 32 take about 0.8 s on one core (0.25 s of it reading MNIST), 250 action
sequences of 64 frames about 0.7 s.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from course_utils.data import load_mnist
from course_utils.synthetic.sampling import pick

CLASS_NAMES: tuple[str, ...] = ("left", "right", "up", "down", "clockwise", "counterclockwise",
                                "there_and_back", "back_and_forth")
BACKGROUND = -1                   # frame label of the stretches between actions
SHAPES: tuple[str, ...] = ("square", "triangle", "notched disc")
SPLITS = ("train", "test")
DIRECTIONS = np.array([[-1, 0], [1, 0], [0, -1], [0, 1]])   # (dx, dy) of left, right, up, down
# per class (turns, which, legs): slides move along DIRECTIONS[which] (-1: a random one of the
# four), turns spin in the sense `which` (+1 clockwise on screen); the steps' sign alternates
# over `legs` runs of equal length (within one step)
MOTIONS: tuple[tuple[bool, int, int], ...] = ((False, 0, 1), (False, 1, 1), (False, 2, 1),
                                              (False, 3, 1), (True, 1, 1), (True, -1, 1),
                                              (False, -1, 2), (False, -1, 4))
SPEED = (0.04, 0.08)              # translation per frame, in image sides (1.3-2.6 px at 32)
SPIN = (10.0, 25.0)               # rotation per frame, degrees (a triangle repeats at 120)
EXTENT = (0.5, 0.62)              # the 28 x 28 sprite's side, in image sides
INK = (0.65, 1.0)                 # grey level of the object
LEVEL = (0.0, 0.2)                # grey level of the background
TEXTURE = 0.06                    # largest amplitude of the background's smooth texture
TEXTURE_GRID = 4                  # the texture is bilinear over a 4 x 4 grid of random values
DIGIT_SHARE = 0.5                 # probability that the object is a digit, not a shape
DURATION = (8, 16)                # frames of an action in make_action_sequences, inclusive
MIN_GAP = 2                       # least background frames between two actions
CHUNK_FRAMES = 2048               # frames rendered at once (bounds the memory)
SPRITE = 28                       # side of the sprites, MNIST's
LOOK = 9 + TEXTURE_GRID ** 2      # uniforms that say how a clip looks and where it starts
MIN_FRAMES = 5                    # back_and_forth needs four steps


@dataclass(frozen=True)
class MotionClips:
    """N clips of one moving object and their motion classes."""

    clips: torch.Tensor           # (N, 1, T, H, W) float32 in [0, 1], as nn.Conv3d wants
    labels: torch.Tensor          # (N,) int64 index into class_names
    class_names: tuple[str, ...]


@dataclass(frozen=True)
class ActionSequences:
    """N long videos holding a few actions apart, for temporal action localisation."""

    videos: torch.Tensor          # (N, 1, L, H, W) float32 in [0, 1]
    frame_labels: torch.Tensor    # (N, L) int64: the class under way at each frame, or BACKGROUND
    segments: list[list[tuple[int, int, int]]]   # per video (start, end exclusive, class)
    class_names: tuple[str, ...]


def make_motion_clips(n: int, seed: int = 0, frames: int = 8, size: int = 32,
                      split: str = "train") -> MotionClips:
    """n random clips of frames x size x size. The same arguments give the same clips, and the
    first k of them are make_motion_clips(k, seed, frames, size, split).

    Labels are balanced: every block of 8 consecutive clips holds each class once, in random
    order. Each clip draws its object (a digit with probability DIGIT_SHARE, a random MNIST
    image of the split; else a uniformly random shape), its sprite's side (EXTENT, of the image
    side), its grey level (INK), the background (a LEVEL grey plus a smooth texture of amplitude
    up to TEXTURE), its start position (uniform on the torus) and orientation (uniform), and a
    speed uniform in SPEED (translations) or SPIN (rotations), constant in magnitude over the
    clip. there_and_back and back_and_forth slide along a random one of the four directions,
    the sign of their frames - 1 steps alternating in 2 or 4 runs of equal length (within one).

    Returns:
        MotionClips: clips (n, 1, frames, size, size), labels (n,), class_names CLASS_NAMES.
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    if frames < MIN_FRAMES or size < 8:
        raise ValueError(f"need frames >= {MIN_FRAMES} and size >= 8, got {frames}, {size}")
    rng = np.random.default_rng([seed, SPLITS.index(split), 0])
    draws = rng.random((n, LOOK + 3))
    labels = _balanced_labels(np.random.default_rng([seed, SPLITS.index(split), 1]), n)
    speed, spin, direction = draws[:, LOOK:].T
    steps = _steps(labels, np.full(n, frames), frames, speed, spin, direction, size)
    videos = _render(draws[:, :LOOK], steps, split, size)
    return MotionClips(videos, torch.from_numpy(labels), CLASS_NAMES)


def make_action_sequences(n: int, seed: int = 0, length: int = 64, size: int = 32,
                          split: str = "train", min_actions: int = 1,
                          max_actions: int = 3) -> ActionSequences:
    """n videos of `length` frames, each holding min_actions to max_actions (uniformly) actions
    apart. The same arguments give the same videos, and the first k of them are
    make_action_sequences(k, ...) with the other arguments the same.

    One object, drawn as in make_motion_clips, stays on screen the whole video. It stands
    still between actions; an action of class c over frames [start, end) looks exactly like a
    clip of class c of end - start frames (its steps run from frame start to frame end - 1).
    Durations are uniform in DURATION (shortened to fit max_actions in the length), at least
    MIN_GAP still frames lie between two actions, and k sorted uniform cuts share the spare
    frames out before, between and after the k actions. A single frame, still or not, has the
    same distribution as any other (uniform position and orientation), so only motion tells
    actions from background. Labels are balanced over the actions of all videos, taken in order:
    every block of 8 holds each class once.

    Returns:
        ActionSequences: videos (n, 1, length, size, size), frame_labels (n, length) with
        BACKGROUND where no action is under way, segments per video in time order.
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    longest = min(DURATION[1], (length - (max_actions - 1) * MIN_GAP) // max(max_actions, 1))
    if not (0 <= min_actions <= max_actions and longest >= DURATION[0] and size >= 8):
        raise ValueError(f"{max_actions} actions of at least {DURATION[0]} frames and gaps of "
                         f"{MIN_GAP} do not fit in {length} frames, or bad arguments")
    rng = np.random.default_rng([seed, SPLITS.index(split), 2])
    draws = rng.random((n, LOOK + 1 + 5 * max_actions))
    look, count, per_action = draws[:, :LOOK], draws[:, LOOK], draws[:, LOOK + 1:]
    counts = min_actions + pick(count, max_actions - min_actions + 1)
    labels = _balanced_labels(np.random.default_rng([seed, SPLITS.index(split), 3]),
                              int(counts.sum()))
    steps = np.zeros((n, length - 1, 3))
    frame_labels = np.full((n, length), BACKGROUND, dtype=np.int64)
    segments: list[list[tuple[int, int, int]]] = []
    first = 0
    for i, k in enumerate(counts.tolist()):
        u = per_action[i].reshape(5, max_actions)[:, :k]       # durations, cuts, motions
        durations = DURATION[0] + pick(u[0], longest - DURATION[0] + 1)
        spare = length - durations.sum() - (k - 1) * MIN_GAP
        cuts = np.sort(pick(u[1], spare + 1))            # k cuts: k + 1 spare stretches
        starts = cuts + np.concatenate([[0], np.cumsum(durations[:-1] + MIN_GAP)])
        classes = labels[first:first + k]
        first += k
        action_steps = _steps(classes, durations, longest, u[2], u[3], u[4], size)
        segments.append([])
        for start, duration, label, step in zip(starts.tolist(), durations.tolist(),
                                                classes.tolist(), action_steps, strict=True):
            steps[i, start:start + duration - 1] = step[:duration - 1]
            frame_labels[i, start:start + duration] = label
            segments[-1].append((start, start + duration, label))
    videos = _render(look, steps, split, size)
    return ActionSequences(videos, torch.from_numpy(frame_labels), segments, CLASS_NAMES)


def single_frame_baseline(n_train: int = 4000, n_test: int = 1000, frames_seen:
                          Sequence[int] = (1, 2), epochs: int = 8, seed: int = 0,
                          ) -> dict[int, float]:
    """Held-out accuracy of a small 2D CNN that sees k consecutive frames of each clip (from a
    random start, stacked as channels), for each k in frames_seen, trained alike (Adam, batch
    64, a new random start each epoch) on make_motion_clips(n_train) and tested on
    make_motion_clips(n_test, split="test"). The global torch random state is left as it was.

    Measured with the defaults and frames_seen=(1, 2, 8), one CPU thread, about 20 s a model:
    1 frame 0.125 (chance 1 / 8), 2 frames 0.728 (one step cannot tell there_and_back or
    back_and_forth from a plain slide, which caps it near 6 / 8), the whole 8 frames 1.000.
    """
    train, test = make_motion_clips(n_train, seed), make_motion_clips(n_test, seed, split="test")
    generator = torch.Generator().manual_seed(seed)
    results = {}
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        for k in frames_seen:
            model = _frame_cnn(k, len(CLASS_NAMES))
            optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
            for _ in range(epochs):
                inputs = _frame_windows(train.clips, k, generator)
                for batch in torch.randperm(n_train, generator=generator).split(64):
                    loss = F.cross_entropy(model(inputs[batch]), train.labels[batch])
                    optimizer.zero_grad()
                    loss.backward()
                    optimizer.step()
            with torch.no_grad():
                guesses = model(_frame_windows(test.clips, k, generator)).argmax(dim=1)
            results[k] = float((guesses == test.labels).float().mean())
    return results


def _frame_cnn(channels: int, classes: int) -> nn.Module:
    """Three 3 x 3 (first 5 x 5) conv-ReLU layers, circular padding (the torus), two max pools,
    then a global max pool: every position is treated alike."""
    def conv(inputs: int, outputs: int, kernel: int) -> nn.Conv2d:
        return nn.Conv2d(inputs, outputs, kernel, padding=kernel // 2, padding_mode="circular")

    return nn.Sequential(conv(channels, 16, 5), nn.ReLU(), nn.MaxPool2d(2),
                         conv(16, 32, 3), nn.ReLU(), nn.MaxPool2d(2),
                         conv(32, 32, 3), nn.ReLU(), nn.AdaptiveMaxPool2d(1), nn.Flatten(),
                         nn.Linear(32, classes))


def _frame_windows(clips: torch.Tensor, k: int, generator: torch.Generator) -> torch.Tensor:
    """k consecutive frames of each clip (N, 1, T, H, W) from a random start: (N, k, H, W)."""
    starts = torch.randint(0, clips.shape[2] - k + 1, (len(clips),), generator=generator)
    frames = starts[:, None] + torch.arange(k)
    return clips[torch.arange(len(clips))[:, None], 0, frames]


def _balanced_labels(rng: np.random.Generator, n: int) -> np.ndarray:
    """n labels, each block of len(CLASS_NAMES) a random permutation of the classes: (n,)."""
    blocks = -(-n // len(CLASS_NAMES))
    return np.argsort(rng.random((blocks, len(CLASS_NAMES))), axis=1).ravel()[:n]


def _steps(labels: np.ndarray, durations: np.ndarray, longest: int, speed: np.ndarray,
           spin: np.ndarray, direction: np.ndarray, size: int) -> np.ndarray:
    """The frame-to-frame motion (dx, dy in pixels, dangle in radians, clockwise on screen) of M
    actions of the given classes and durations (at most longest), from uniforms speed, spin,
    direction (M,): (M, longest - 1, 3), zero past each action's durations - 1 steps."""
    turns, sense, legs = (np.array(column)[labels] for column in zip(*MOTIONS, strict=True))
    heading = DIRECTIONS[np.where(sense >= 0, sense, pick(direction, 4))]
    j = np.arange(longest - 1)
    run = (j * legs[:, None]) // np.maximum(durations[:, None] - 1, 1)
    sign = np.where(j < durations[:, None] - 1, 1 - 2 * (run % 2), 0)       # (M, J)
    pixels = size * (SPEED[0] + (SPEED[1] - SPEED[0]) * speed) * ~turns
    radians = np.radians(SPIN[0] + (SPIN[1] - SPIN[0]) * spin) * turns * sense
    return np.stack([sign * (pixels[:, None] * heading[:, None, 0]),
                     sign * (pixels[:, None] * heading[:, None, 1]),
                     sign * radians[:, None]], axis=2)


def _render(look: np.ndarray, steps: np.ndarray, split: str, size: int) -> torch.Tensor:
    """Videos (N, 1, T, S, S) of the objects that uniforms look (N, LOOK) describe (kind,
    which image, extent, ink, level, texture amplitude, start x, start y, start angle, then the
    texture grid) moving by steps (N, T - 1, 3): frame t shows the object at
    start + steps[:t].sum()."""
    images, _, images_test, _ = load_mnist()
    digits = images if split == "train" else images_test
    shapes = _shape_sprites()
    n, frames = len(look), steps.shape[1] + 1
    chunk = max(1, CHUNK_FRAMES // frames)
    videos = torch.empty((n, 1, frames, size, size))
    for begin in range(0, n, chunk):
        u = look[begin:begin + chunk]
        is_digit = u[:, 0] < DIGIT_SHARE
        shape = pick((u[:, 0] - DIGIT_SHARE) / (1 - DIGIT_SHARE), len(SHAPES))
        sprites = np.where(is_digit[:, None, None], digits[pick(u[:, 1], len(digits))] / 255,
                           shapes[shape])
        start = np.stack([u[:, 6] * size, u[:, 7] * size, u[:, 8] * 2 * math.pi], axis=1)
        states = start[:, None] + np.concatenate(
            [np.zeros((len(u), 1, 3)), np.cumsum(steps[begin:begin + chunk], axis=1)], axis=1)
        extent = size * (EXTENT[0] + (EXTENT[1] - EXTENT[0]) * u[:, 2])
        ink = INK[0] + (INK[1] - INK[0]) * u[:, 3]
        level = LEVEL[0] + (LEVEL[1] - LEVEL[0]) * u[:, 4]
        grid = TEXTURE * u[:, 5, None] * (2 * u[:, 9:] - 1)
        texture = F.interpolate(torch.from_numpy(grid).float().view(-1, 1, *(TEXTURE_GRID,) * 2),
                                size=(size, size), mode="bilinear", align_corners=False)
        alpha = _place(torch.from_numpy(sprites).float(), torch.from_numpy(states),
                       torch.from_numpy(extent), size)                    # (B, T, S, S)
        background = torch.from_numpy(level).float()[:, None, None, None] + texture
        ink_minus = torch.from_numpy(ink).float()[:, None, None, None] - background
        videos[begin:begin + chunk, 0] = (background + alpha * ink_minus).clamp(0, 1)
    return videos


def _place(sprites: torch.Tensor, states: torch.Tensor, extent: torch.Tensor,
           size: int) -> torch.Tensor:
    """Each sprite (B, 28, 28) drawn over a torus of size x size at each state (B, T, 3) of
    centre x, y (pixels) and angle (radians, clockwise), its side `extent` (B,) pixels: the
    bilinear coverage (B, T, S, S). A pixel's centre at offset d from the object's centre,
    wrapped into [-S/2, S/2), samples the sprite at R(-angle) d scaled, so the object is whole
    wherever it lies (its turned sprite spans under S, so it never meets itself)."""
    centres = torch.arange(size, dtype=torch.float64) + 0.5
    scale = (2 / extent)[:, None, None]                       # pixels -> [-1, 1] of the sprite
    wrap = [(torch.remainder(centres - states[..., axis, None] + size / 2, size) - size / 2)
            * scale for axis in (0, 1)]                                       # (B, T, S)
    dx, dy = wrap[0].float()[..., None, :], wrap[1].float()[..., :, None]     # columns, rows
    cos = torch.cos(states[..., 2]).float()[..., None, None]
    sin = torch.sin(states[..., 2]).float()[..., None, None]
    grid = torch.stack([cos * dx + sin * dy, cos * dy - sin * dx], dim=-1)    # (B, T, S, S, 2)
    b, t = states.shape[:2]
    sampled = F.grid_sample(sprites[:, None], grid.view(b, t * size, size, 2),
                            mode="bilinear", padding_mode="zeros", align_corners=False)
    return sampled.view(b, t, size, size)


def _shape_sprites() -> np.ndarray:
    """SHAPES as 28 x 28 coverage sprites (3, 28, 28) in [0, 1], centred (the triangle on its
    centroid), 4 x 4 samples a pixel: a square of side 17, an equilateral triangle of
    circumradius 11 (apex up), a disc of radius 10 missing a 60-degree wedge (pointing right)."""
    samples = (np.arange(SPRITE * 4) + 0.5) / 4 - SPRITE / 2
    x, y = samples[None, :], samples[:, None]
    square = (np.abs(x) <= 8.5) & (np.abs(y) <= 8.5)
    triangle = np.ones_like(square)          # inside all three edges (apothem 5.5, y down)
    for normal in np.radians([90, 210, 330]):
        triangle &= x * np.cos(normal) + y * np.sin(normal) <= 5.5
    notched = (x ** 2 + y ** 2 <= 100) & ~((x > 0) & (np.abs(y) < x * np.tan(np.radians(30))))
    fine = np.stack([square, triangle, notched]).astype(np.float64)
    return fine.reshape(3, SPRITE, 4, SPRITE, 4).mean(axis=(2, 4))
