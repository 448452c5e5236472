"""Which pixels a prediction depends on: gradients, occlusion and guided backprop."""

from __future__ import annotations

import torch
from torch import nn

from course_utils.graded import graded_in


@graded_in("ch08_visualizing")
def compute_saliency_maps(X: torch.Tensor, y: torch.Tensor, model: nn.Module) -> torch.Tensor:
    """|d score_y / d pixel|, the largest over the colour channels (Simonyan et al. 2014).

    Args:
        X: images (N, C, H, W).
        y: labels (N,), int64: the score whose gradient is taken, per image.
        model: maps X to unnormalised scores (N, K), in eval mode.
    Returns:
        saliency (N, H, W), same dtype as X.
    """
    X = X.detach().clone().requires_grad_(True)
    scores = model(X).gather(1, y.view(-1, 1)).sum()   # images do not interact: one backward
    (gradient,) = torch.autograd.grad(scores, X)
    return gradient.abs().amax(dim=1)


@graded_in("ch08_visualizing")
def occlusion_saliency(model: nn.Module, X: torch.Tensor, y: torch.Tensor, patch_size: int,
                       stride: int, fill: float = 0.0) -> torch.Tensor:
    """How much the probability of the true class drops when a square patch is covered
    (Zeiler and Fergus 2014).

    The patch (patch_size x patch_size, filled with `fill`) has its top-left corner at rows and
    columns 0, stride, 2 * stride, ... as long as it fits inside the image.

    Args:
        model: maps images (N, C, H, W) to unnormalised scores (N, K).
        X: images (N, C, H, W); y: labels (N,), int64.
    Returns:
        drops (N, H_out, W_out), H_out = (H - patch_size) // stride + 1 (W likewise):
        softmax(model(X))[y] - softmax(model(X occluded there))[y]; positive where covering
        the patch hurts the prediction.
    """
    _, _, height, width = X.shape
    rows = range(0, height - patch_size + 1, stride)
    cols = range(0, width - patch_size + 1, stride)
    index = y.view(-1, 1)
    drops = X.new_empty(len(X), len(rows), len(cols))
    with torch.no_grad():
        base = model(X).softmax(dim=1).gather(1, index)[:, 0]
        for i, row in enumerate(rows):
            for j, col in enumerate(cols):
                covered = X.clone()
                covered[:, :, row:row + patch_size, col:col + patch_size] = fill
                drops[:, i, j] = base - model(covered).softmax(dim=1).gather(1, index)[:, 0]
    return drops


def neuron_gradient(model: nn.Module, X: torch.Tensor, layer: nn.Module,
                    channel: int) -> torch.Tensor:
    """Plain backprop of one intermediate neuron to the pixels.

    The neuron is channel `channel` of `layer`'s output, at the position where it is largest in
    each image (for a layer with spatial output (N, C', H', W'); a (N, C') output has one).

    Returns:
        d neuron / d X, (N, C, H, W).
    """
    captured: list[torch.Tensor] = []
    handle = layer.register_forward_hook(lambda module, inputs, output: captured.append(output))
    images = X.detach().clone().requires_grad_(True)
    try:
        model(images)
    finally:
        handle.remove()
    if not captured:
        raise ValueError("`layer` did not run in model(X): pass one of the model's own modules")
    activation = captured[0][:, channel]
    neuron = activation.flatten(1).amax(dim=1) if activation.dim() > 1 else activation
    (gradient,) = torch.autograd.grad(neuron.sum(), images)
    return gradient


@graded_in("ch08_visualizing")
def guided_backprop(model: nn.Module, X: torch.Tensor, layer: nn.Module,
                    channel: int) -> torch.Tensor:
    """Guided backprop of one intermediate neuron (Springenberg et al. 2015): neuron_gradient
    while every nn.ReLU module's backward keeps only the positive gradients (where its input
    was positive, as usual), through a full backward hook. In-place ReLUs are switched to out
    of place meanwhile (hooks need their input); the model is unchanged afterwards.

    Returns:
        (N, C, H, W), like neuron_gradient.
    """
    relus = [module for module in model.modules() if isinstance(module, nn.ReLU)]
    if not relus:
        raise ValueError("guided backprop changes the backward of nn.ReLU modules and this model "
                         "has none (a functional torch.relu cannot be hooked)")
    inplace = [relu.inplace for relu in relus]
    handles = []
    try:
        for relu in relus:
            relu.inplace = False
            handles.append(relu.register_full_backward_hook(
                lambda module, grad_input, grad_output: (grad_input[0].clamp(min=0),)))
        return neuron_gradient(model, X, layer, channel)
    finally:
        for handle in handles:
            handle.remove()
        for relu, flag in zip(relus, inplace, strict=True):
            relu.inplace = flag
