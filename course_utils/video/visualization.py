"""What a video model responds to: the clip that maximises a class score (gradient ascent with
an image prior stretched over time, as chapter 8's class visualisation) and the temporal
saliency of a clip, which pixels of which frames the score depends on."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure
from scipy.ndimage import gaussian_filter1d
from torch import Tensor, nn


def blur_clip(clip: Tensor, spatial_sigma: float = 0.5, temporal_sigma: float = 0.0) -> Tensor:
    """clip (N, C, T, H, W) blurred by a Gaussian of spatial_sigma pixels along H and W and of
    temporal_sigma frames along T (0: not along that axis)."""
    blurred = clip.detach().cpu().numpy()
    for axis, sigma in ((2, temporal_sigma), (3, spatial_sigma), (4, spatial_sigma)):
        if sigma > 0:
            blurred = gaussian_filter1d(blurred, sigma, axis=axis)
    return torch.from_numpy(np.ascontiguousarray(blurred)).to(clip)


def frame_difference_energy(clip: Tensor) -> Tensor:
    """Σ_t ||x_{t+1} - x_t||², the temporal-smoothness penalty of a clip (N, C, T, H, W): large
    for a clip that flickers from frame to frame, 0 for a still one."""
    return (clip[:, :, 1:] - clip[:, :, :-1]).pow(2).sum()


def class_score_gradient_ascent(model: nn.Module, target: int, clip_shape: Sequence[int],
                                steps: int = 100, lr: float = 0.5, l2_reg: float = 1e-3,
                                temporal_smoothness: float = 0.0, blur_every: int = 10,
                                spatial_sigma: float = 0.5, temporal_sigma: float = 0.0,
                                max_jitter: int = 1, init: str = "zeros",
                                clamp: tuple[float, float] | None = (0.0, 1.0),
                                seed: int = 0) -> tuple[Tensor, list[float]]:
    """A clip of `target` made by gradient ascent on its unnormalised score.

    Each step ascends S_target(x) - l2_reg ||x||² - temporal_smoothness Σ_t ||x_{t+1} - x_t||²
    with chapter 8's normalised step x += lr g / ||g||, on the clip shifted by a random jitter of
    at most max_jitter pixels (the same shift in every frame, so the motion is kept; drawn from
    `seed`), then undoes the shift and clamps to `clamp`; every blur_every steps it blurs by
    blur_clip(spatial_sigma, temporal_sigma).

    Args:
        model: clips (1, C, T, H, W) -> scores (1, K); run in eval mode, its mode kept.
        target: the class index.
        clip_shape: (1, C, T, H, W).
        init: "zeros" or "noise" (uniform in [0, 0.1), drawn from `seed`).
        clamp: the pixel range, or None for none.
    Returns:
        the clip (1, C, T, H, W), detached, and the target score S_target before each step and
        after the last one (steps + 1 floats, on the unshifted clip).
    """
    if init not in ("zeros", "noise"):
        raise ValueError(f'init must be "zeros" or "noise", got {init!r}')
    generator = torch.Generator().manual_seed(seed)
    device = next(model.parameters()).device
    clip = torch.zeros(tuple(clip_shape))
    if init == "noise":
        clip = 0.1 * torch.rand(tuple(clip_shape), generator=generator)
    clip = clip.to(device).requires_grad_(True)
    was_training = model.training
    model.eval()
    history = []
    try:
        for step in range(steps):
            dy, dx = torch.randint(-max_jitter, max_jitter + 1, (2,), generator=generator).tolist()
            with torch.no_grad():
                history.append(model(clip)[0, target].item())
                clip.copy_(torch.roll(clip, shifts=(dy, dx), dims=(3, 4)))
            objective = (model(clip)[0, target] - l2_reg * clip.pow(2).sum()
                         - temporal_smoothness * frame_difference_energy(clip))
            (gradient,) = torch.autograd.grad(objective, clip)
            with torch.no_grad():
                clip += lr * gradient / gradient.norm().clamp_min(1e-12)
                clip.copy_(torch.roll(clip, shifts=(-dy, -dx), dims=(3, 4)))
                if clamp is not None:
                    clip.clamp_(*clamp)
                if blur_every and (step + 1) % blur_every == 0:
                    clip.copy_(blur_clip(clip, spatial_sigma, temporal_sigma))
        with torch.no_grad():
            history.append(model(clip)[0, target].item())
    finally:
        model.train(was_training)
    return clip.detach(), history


def temporal_saliency(model: nn.Module, clip: Tensor, label: int) -> tuple[Tensor, Tensor]:
    """|∂ S_label / ∂ pixel| of one clip, the largest over the channels, and its total per frame.

    Args:
        model: clips (1, C, T, H, W) -> unnormalised scores (1, K); run in eval mode, its mode
            kept.
        clip: (C, T, H, W) or (1, C, T, H, W).
        label: the class whose score is differentiated.
    Returns:
        saliency (T, H, W) and per_frame (T,) = saliency summed over H and W (which frames the
        score depends on), both detached, on the model's device.
    """
    device = next(model.parameters()).device
    x = clip.detach().reshape(1, *clip.shape[-4:]).to(device).clone().requires_grad_(True)
    was_training = model.training
    model.eval()
    try:
        (gradient,) = torch.autograd.grad(model(x)[0, label], x)
    finally:
        model.train(was_training)
    saliency = gradient[0].abs().amax(dim=0)
    return saliency, saliency.sum(dim=(1, 2))


def plot_clip_frames(clip: Tensor, title: str = "", cmap: str = "gray",
                     normalise: bool = True) -> Figure:
    """The frames of a clip (C, T, H, W) or (1, C, T, H, W) in a row, frame t titled "t".

    Args:
        normalise: stretch the whole clip's values to [0, 1] (one scale for all frames, so
            brightness stays comparable between frames); False shows them as they are (0..1).
    """
    frames = clip.detach().cpu().float().reshape(*clip.shape[-4:])
    if normalise:
        frames = (frames - frames.min()) / (frames.max() - frames.min()).clamp_min(1e-8)
    num_frames = frames.shape[1]
    fig, axes = plt.subplots(1, num_frames, figsize=(1.3 * num_frames, 1.7), squeeze=False)
    for t, ax in enumerate(axes[0]):
        frame = frames[:, t]
        shown = frame[0] if len(frame) == 1 else frame.permute(1, 2, 0)
        ax.imshow(shown.numpy(), cmap=cmap if len(frame) == 1 else None, vmin=0, vmax=1)
        ax.set(xticks=[], yticks=[])
        ax.set_title(str(t), fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig
