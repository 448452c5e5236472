"""Images changed just enough to fool a classifier: fooling images and the fast gradient sign
method (Szegedy et al. 2014; Goodfellow et al. 2015)."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from course_utils.graded import graded_in


@graded_in("ch08_visualizing")
def make_fooling_image(X: torch.Tensor, target_y: int, model: nn.Module,
                       learning_rate: float = 0.1, max_iter: int = 100) -> torch.Tensor:
    """Gradient ascent on the unnormalised score of `target_y` until the model predicts it.

    Before each step the prediction is checked: once it is `target_y`, the image is returned
    (so an image already classified as `target_y` comes back unchanged). A step adds
    learning_rate * g / ||g||_2, where g is the gradient of the target's score with respect to
    the image and ||g||_2 its L2 norm over all its entries. Pixels are not clipped.

    Args:
        X: one image (1, C, H, W).
        target_y: the class to reach.
        model: maps images to scores (1, K), in eval mode.
        learning_rate: the L2 length of each step; max_iter: steps at most.
    Returns:
        the fooling image (1, C, H, W), detached; after max_iter steps without success, the last
        image.
    """
    X_fooling = X.detach().clone()
    for _ in range(max_iter):
        X_fooling.requires_grad_(True)
        scores = model(X_fooling)
        if scores.argmax(dim=1).item() == target_y:
            break
        (gradient,) = torch.autograd.grad(scores[0, target_y], X_fooling)
        X_fooling = (X_fooling + learning_rate * gradient / gradient.norm()).detach()
    return X_fooling.detach()


@graded_in("ch08_visualizing")
def fgsm(model: nn.Module, X: torch.Tensor, y: torch.Tensor, epsilon: float) -> torch.Tensor:
    """One step of size epsilon along the sign of the loss's gradient, clipped to [0, 1]:
    clip(X + epsilon * sign(d cross_entropy(model(X), y) / d X), 0, 1).

    Args:
        model: maps images in [0, 1] (N, C, H, W) to scores (N, K); X: (N, C, H, W);
        y: labels (N,), int64; epsilon: the L-infinity size of the perturbation.
    Returns:
        adversarial images (N, C, H, W), detached. (The cross-entropy is the batch's sum, so
        each image's gradient is its own.)
    """
    X = X.detach().clone().requires_grad_(True)
    loss = F.cross_entropy(model(X), y, reduction="sum")
    (gradient,) = torch.autograd.grad(loss, X)
    return (X + epsilon * gradient.sign()).clamp(0, 1).detach()
