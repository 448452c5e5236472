"""The losses of neural texture synthesis and style transfer (Gatys et al. 2015, 2016), with
CS231n's definitions, and the feature extractor they run on.

The notes write layer l's style loss as E_l = sum (G - G_hat)^2 / (4 N_l^2 M_l^2), with
unnormalised Gram matrices of N_l channels and M_l = H_l * W_l positions. With Gram matrices
normalised by N_l * M_l, as here, sum (G / (N_l M_l) - G_hat / (N_l M_l))^2 = 4 E_l: the two
differ by a constant per layer, which the layer's weight absorbs.
"""

from __future__ import annotations

import torch
from torch import nn

from course_utils.graded import graded_in


def extract_features(x: torch.Tensor, cnn: nn.Sequential) -> list[torch.Tensor]:
    """The output of every module of `cnn` in turn, for images x (N, C, H, W)."""
    features = []
    for module in cnn:
        x = module(x)
        features.append(x)
    return features


@graded_in("ch08_visualizing")
def gram_matrix(features: torch.Tensor, normalize: bool = True) -> torch.Tensor:
    """G[n, c, d] = sum over positions of features[n, c] * features[n, d].

    Args:
        features: (N, C, H, W).
        normalize: divide by C * H * W.
    Returns:
        (N, C, C).
    """
    n, c, h, w = features.shape
    flat = features.reshape(n, c, h * w)
    gram = flat @ flat.transpose(1, 2)
    return gram / (c * h * w) if normalize else gram


@graded_in("ch08_visualizing")
def content_loss(content_weight: float, content_current: torch.Tensor,
                 content_original: torch.Tensor) -> torch.Tensor:
    """content_weight * sum of the squared differences of two feature maps (1, C, H, W); a
    scalar tensor."""
    return content_weight * (content_current - content_original).pow(2).sum()


@graded_in("ch08_visualizing")
def style_loss(feats: list[torch.Tensor], style_layers: list[int],
               style_targets: list[torch.Tensor], style_weights: list[float]) -> torch.Tensor:
    """Sum over i of style_weights[i] * sum((gram_matrix(feats[style_layers[i]]) -
    style_targets[i]) ** 2), Gram matrices normalised.

    Args:
        feats: the current image's features, one (1, C_l, H_l, W_l) tensor per layer.
        style_layers: indices into feats of the layers used.
        style_targets: the style image's normalised Gram matrices (1, C_l, C_l), one per index.
        style_weights: one weight per index.
    Returns:
        a scalar tensor.
    """
    loss = feats[0].new_zeros(())
    for layer, target, weight in zip(style_layers, style_targets, style_weights, strict=True):
        loss = loss + weight * (gram_matrix(feats[layer]) - target).pow(2).sum()
    return loss


@graded_in("ch08_visualizing")
def tv_loss(img: torch.Tensor, tv_weight: float) -> torch.Tensor:
    """Total variation: tv_weight * (sum of the squared differences of vertically neighbouring
    pixels + the same for horizontal neighbours), over all channels of img (1, C, H, W)."""
    vertical = (img[:, :, 1:, :] - img[:, :, :-1, :]).pow(2).sum()
    horizontal = (img[:, :, :, 1:] - img[:, :, :, :-1]).pow(2).sum()
    return tv_weight * (vertical + horizontal)
