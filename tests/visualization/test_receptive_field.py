"""Receptive fields computed from geometry against the pixels a unit's gradient reaches."""

import pytest
import torch
from torch import nn

from course_utils.visualization.receptive_field import receptive_field_of, top_patches


def positive_net() -> nn.Sequential:
    layers = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.ReLU(), nn.AvgPool2d(2),
                           nn.Conv2d(2, 2, 5, stride=2, padding=2), nn.BatchNorm2d(2).eval(),
                           nn.Sequential(nn.AvgPool2d(3, stride=1), nn.Conv2d(2, 1, 3)))
    for module in layers.modules():   # positive weights: no gradient cancels by chance
        if isinstance(module, nn.Conv2d):
            nn.init.uniform_(module.weight, 0.1, 1.0)
            nn.init.constant_(module.bias, 1.0)
    return layers


def test_the_field_is_where_the_gradient_of_a_unit_reaches():
    layers = positive_net()
    field = receptive_field_of(list(layers))
    x = torch.rand(1, 1, 40, 40, requires_grad=True)
    out = layers(x)
    for row, col in [(0, 0), (1, 2), (out.shape[2] - 1, out.shape[3] - 1)]:
        (gradient,) = torch.autograd.grad(out[0, 0, row, col], x, retain_graph=True)
        rows, cols = gradient[0, 0].abs().sum(1).nonzero(), gradient[0, 0].abs().sum(0).nonzero()
        top, bottom = field.span(row)
        start, stop = field.span(col)
        assert rows.min() == max(top, 0) and rows.max() == min(bottom, 40) - 1
        assert cols.min() == max(start, 0) and cols.max() == min(stop, 40) - 1
    assert (field.size, field.jump, field.left) == (3 + 1 + 4 * 2 + 2 * 4 + 2 * 4, 4, -1 - 4)


def test_max_pooling_has_the_field_of_average_pooling():
    # (Its gradient reaches only the maxima, so the gradient test above uses average pooling.)
    assert receptive_field_of([nn.Conv2d(1, 1, 3), nn.MaxPool2d(3, stride=2, padding=1)]) == \
        receptive_field_of([nn.Conv2d(1, 1, 3), nn.AvgPool2d(3, stride=2, padding=1)])


def test_layers_without_a_field_are_refused():
    with pytest.raises(ValueError, match="Linear"):
        receptive_field_of([nn.Conv2d(1, 1, 3), nn.Linear(3, 3)])
    with pytest.raises(ValueError, match="dilated"):
        receptive_field_of([nn.Conv2d(1, 1, 3, dilation=2)])


def test_top_patches_are_the_fields_of_the_most_active_units():
    layers = nn.Sequential(nn.Conv2d(1, 1, 3, stride=2, padding=1, bias=False))
    with torch.no_grad():
        layers[0].weight.fill_(1.0)
    images = torch.zeros(2, 1, 8, 8)
    images[1, 0, 4, 6] = 5.0          # unit (2, 3) of image 1 sees rows 3..5, columns 5..7
    patches, values = top_patches(layers, 0, images, count=1)
    assert patches.shape == (1, 1, 3, 3) and values.item() == 5.0
    assert patches[0, 0, 1, 1] == 5.0 and patches.sum() == 5.0
    images[0, 0, 0, 0] = 7.0          # unit (0, 0) of image 0: its field starts in the padding
    patches, values = top_patches(layers, 0, images, count=2)
    assert values.tolist() == [7.0, 5.0]
    assert patches[0, 0, 1, 1] == 7.0 and patches[0, 0, 0].sum() == 0   # the padding row
