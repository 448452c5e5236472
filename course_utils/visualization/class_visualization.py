"""What a class looks like to a network: an image made by gradient ascent on its score, with an
L2 penalty, jitter and blur as the image prior (Simonyan et al. 2014; Yosinski et al. 2015)."""

from __future__ import annotations

from collections.abc import Callable

import torch
from scipy.ndimage import gaussian_filter1d
from torch import nn

from course_utils.graded import graded_in


@graded_in("ch08_visualizing")
def class_visualization_update_step(img: torch.Tensor, model: nn.Module, target_y: int,
                                    l2_reg: float, learning_rate: float) -> None:
    """One step of gradient ascent, in place, on S_y(img) - l2_reg * ||img||_2^2.

    S_y is the unnormalised score of `target_y` and ||img||_2^2 the sum of the squared pixels.
    The step is CS231n's normalised one: img += learning_rate * g / ||g||_2, g the objective's
    gradient with respect to img (||g||_2 over all its entries).

    Args:
        img: the image (1, C, H, W), a leaf tensor with requires_grad=True, changed in place.
        model: maps images to scores (1, K), in eval mode.
    """
    objective = model(img)[0, target_y] - l2_reg * img.pow(2).sum()
    (gradient,) = torch.autograd.grad(objective, img)
    with torch.no_grad():
        img += learning_rate * gradient / gradient.norm()


def jitter(X: torch.Tensor, ox: int, oy: int) -> torch.Tensor:
    """X (N, C, H, W) shifted by ox columns and oy rows, wrapping around."""
    return torch.roll(X, shifts=(oy, ox), dims=(2, 3))


def blur_image(X: torch.Tensor, sigma: float = 0.5) -> torch.Tensor:
    """X (N, C, H, W) blurred by a Gaussian of width sigma (pixels) along H and along W."""
    blurred = gaussian_filter1d(X.detach().cpu().numpy(), sigma, axis=2)
    blurred = gaussian_filter1d(blurred, sigma, axis=3)
    return torch.from_numpy(blurred).to(X)


UpdateStep = Callable[[torch.Tensor, nn.Module, int, float, float], None]


def create_class_visualization(target_y: int, model: nn.Module, image_shape: tuple[int, ...],
                               update_step: UpdateStep = class_visualization_update_step,
                               l2_reg: float = 1e-3, learning_rate: float = 0.5,
                               num_iterations: int = 200, blur_every: int = 10,
                               max_jitter: int = 2, blur_sigma: float = 0.5,
                               clamp: tuple[float, float] = (0.0, 1.0),
                               seed: int = 0) -> torch.Tensor:
    """An image of `target_y` made from zeros by `update_step` (the notebook passes yours).

    Each iteration: jitter by a random shift of at most max_jitter pixels (drawn from `seed`),
    one update step, undo the shift, clamp the pixels to `clamp`; every blur_every iterations,
    blur by a Gaussian of blur_sigma pixels.

    Args:
        image_shape: (1, C, H, W).
    Returns:
        the image (1, C, H, W), detached.
    """
    generator = torch.Generator().manual_seed(seed)
    device = next(model.parameters()).device
    img = torch.zeros(image_shape, device=device).requires_grad_(True)
    for step in range(num_iterations):
        ox, oy = torch.randint(-max_jitter, max_jitter + 1, (2,), generator=generator).tolist()
        with torch.no_grad():
            img.copy_(jitter(img, ox, oy))
        update_step(img, model, target_y, l2_reg, learning_rate)
        with torch.no_grad():
            img.copy_(jitter(img, -ox, -oy).clamp(*clamp))
            if (step + 1) % blur_every == 0:
                img.copy_(blur_image(img, blur_sigma))
    return img.detach()
