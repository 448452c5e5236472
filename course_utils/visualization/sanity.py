"""Sanity checks for saliency maps (Adebayo et al. 2018): does a map change when the weights it
should explain are destroyed?

A method whose map barely changes when the network's layers are re-initialised, from the top
down, shows something about the image (edges) rather than what the network learned.
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import numpy as np
import torch
from scipy.stats import spearmanr
from torch import nn


def weight_layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """The model's convolutions and linear layers, by name, in the order they are defined."""
    return [(name, module) for name, module in model.named_modules()
            if isinstance(module, (nn.Conv2d, nn.Linear))]


def rank_correlation(first: torch.Tensor, second: torch.Tensor) -> float:
    """Mean over images of the Spearman rank correlation of two maps' absolute values.

    Args:
        first, second: maps (N, ...) of the same shape.
    """
    values = []
    for a, b in zip(first.abs().flatten(1).numpy(), second.abs().flatten(1).numpy(),
                    strict=True):
        constant = a.min() == a.max() or b.min() == b.max()   # a constant map ranks nothing
        values.append(0.0 if constant else spearmanr(a, b).statistic)
    return float(np.mean(values))


def cascading_randomization(model: nn.Module, method: Callable[[nn.Module], torch.Tensor],
                            seed: int = 0) -> list[tuple[str, float]]:
    """Re-initialise the weight layers from the last to the first, one more at each step, and
    compare the maps each time with the trained model's.

    Args:
        model: the trained model (not modified: a copy is randomised).
        method: the saliency method on fixed inputs, model -> maps (N, ...), for example
            `lambda m: compute_saliency_maps(X, y, m)`.
        seed: the seed of the new weights (Kaiming-normal, biases zero).
    Returns:
        [(name of the last layer randomised, rank correlation with the trained model's maps)],
        one per weight layer, top layer first.
    """
    reference = method(model).detach()
    randomised = copy.deepcopy(model)
    generator = torch.Generator().manual_seed(seed)
    results = []
    for name, layer in reversed(weight_layers(randomised)):
        with torch.no_grad():
            weight = torch.empty(layer.weight.shape)   # drawn on the CPU, for any device
            nn.init.kaiming_normal_(weight, generator=generator)
            layer.weight.copy_(weight)
            if layer.bias is not None:
                layer.bias.zero_()
        results.append((name, rank_correlation(reference, method(randomised).detach())))
    return results
