"""Saliency maps, occlusion and guided backprop against slow, obvious versions."""

import pytest
import torch
from torch import nn

from course_utils.visualization.saliency import (
    compute_saliency_maps,
    guided_backprop,
    neuron_gradient,
    occlusion_saliency,
)


def small_cnn(inplace: bool = False) -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(2, 4, 3, padding=1), nn.ReLU(inplace), nn.Conv2d(4, 3, 3),
                         nn.ReLU(inplace), nn.Flatten(), nn.Linear(3 * 4 * 4, 5)).double().eval()


def test_saliency_of_a_linear_model_is_its_weights_largest_over_channels():
    torch.manual_seed(1)
    linear = nn.Linear(2 * 3 * 3, 4).double()
    model = nn.Sequential(nn.Flatten(), linear).eval()
    X, y = torch.randn(5, 2, 3, 3, dtype=torch.double), torch.tensor([0, 3, 1, 1, 2])
    expected = linear.weight[y].detach().view(5, 2, 3, 3).abs().amax(dim=1)
    assert torch.allclose(compute_saliency_maps(X, y, model), expected)


def test_saliency_matches_finite_differences_and_leaves_inputs_alone():
    model = small_cnn()
    X, y = torch.randn(3, 2, 6, 6, dtype=torch.double), torch.tensor([4, 0, 2])
    before = X.clone()
    saliency = compute_saliency_maps(X, y, model)
    assert saliency.shape == (3, 6, 6) and torch.equal(X, before) and X.grad is None
    h = 1e-6
    for n, c, i, j in [(0, 1, 2, 3), (2, 0, 5, 0), (1, 1, 0, 4)]:
        step = torch.zeros_like(X)
        step[n, c, i, j] = h
        numeric = (model(X + step)[n, y[n]] - model(X - step)[n, y[n]]) / (2 * h)
        assert saliency[n, i, j] >= abs(numeric.item()) - 1e-6   # the max over channels


def test_occlusion_measures_the_drop_where_the_only_pixel_that_matters_is_covered():
    # The score of class 1 is 10 * pixel (2, 5); class 0 scores 0: covering that pixel with 0
    # drops p(class 1) from sigmoid(10 x) to 1/2, covering anything else changes nothing.
    class OnePixel(nn.Module):
        def forward(self, x):
            return torch.stack([torch.zeros(len(x)), 10 * x[:, 0, 2, 5]], dim=1)

    X = torch.ones(1, 1, 8, 8)
    drops = occlusion_saliency(OnePixel(), X, torch.tensor([1]), patch_size=3, stride=2)
    assert drops.shape == (1, 3, 3)
    covers = torch.zeros(3, 3, dtype=torch.bool)
    for i, row in enumerate(range(0, 6, 2)):
        for j, col in enumerate(range(0, 6, 2)):
            covers[i, j] = row <= 2 < row + 3 and col <= 5 < col + 3
    expected = torch.where(covers, torch.sigmoid(torch.tensor(10.0)) - 0.5, torch.tensor(0.0))
    assert torch.allclose(drops[0], expected, atol=1e-6)


def test_occlusion_uses_fill_and_positions_that_fit():
    model = small_cnn().float()
    X = torch.rand(2, 2, 6, 6)
    drops = occlusion_saliency(model, X, torch.tensor([0, 1]), patch_size=4, stride=3, fill=0.5)
    assert drops.shape == (2, 1, 1)
    covered = X.clone()
    covered[:, :, :4, :4] = 0.5
    with torch.no_grad():
        p, q = model(X).softmax(1), model(covered).softmax(1)
    assert torch.allclose(drops[:, 0, 0], p[[0, 1], [0, 1]] - q[[0, 1], [0, 1]])


class GuidedReLU(torch.autograd.Function):
    """The slow, obvious guided ReLU: gradient passed where input > 0 and gradient > 0."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x.clamp(min=0)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * (x > 0) * (grad > 0)


def test_guided_backprop_equals_a_network_of_guided_relus():
    model = small_cnn()
    X = torch.randn(2, 2, 6, 6, dtype=torch.double)
    guided = guided_backprop(model, X, model[2], channel=1)

    x = X.clone().requires_grad_(True)
    activation = model[2](GuidedReLU.apply(model[0](x)))[:, 1].flatten(1).amax(dim=1)
    activation.sum().backward()
    assert torch.allclose(guided, x.grad)
    assert (guided != neuron_gradient(model, X, model[2], 1)).any()   # the guide changed it


def test_guided_backprop_leaves_the_model_as_it_was():
    model = small_cnn(inplace=True)
    X = torch.randn(2, 2, 6, 6, dtype=torch.double)
    plain = neuron_gradient(model, X, model[4], channel=7)
    guided_backprop(model, X, model[4], channel=7)
    assert all(relu.inplace for relu in (model[1], model[3]))
    assert all(not relu._backward_hooks for relu in (model[1], model[3]))
    assert torch.equal(neuron_gradient(model, X, model[4], channel=7), plain)


def test_guided_backprop_needs_relu_modules():
    class FunctionalReLU(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(1, 2, 3)

        def forward(self, x):
            return torch.relu(self.conv(x)).flatten(1)

    model = FunctionalReLU()
    with pytest.raises(ValueError, match="nn.ReLU"):
        guided_backprop(model, torch.rand(1, 1, 5, 5), model.conv, 0)
