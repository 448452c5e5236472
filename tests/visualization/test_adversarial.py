"""Fooling images and FGSM on models whose gradients are known."""

import torch
from torch import nn

from course_utils.visualization.adversarial import fgsm, make_fooling_image


def linear_model(seed: int = 0) -> nn.Sequential:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Flatten(), nn.Linear(12, 3)).double().eval()


def test_fooling_steps_are_normalised_gradient_steps_until_the_target_wins():
    model = linear_model()
    W = model[1].weight.detach()
    X = torch.randn(1, 3, 2, 2, dtype=torch.double)
    target = (model(X).argmax().item() + 1) % 3
    fooled = make_fooling_image(X, target, model, learning_rate=0.05)
    assert model(fooled).argmax().item() == target
    # A linear model's gradient is constant, W[target]: every step is the same.
    step = 0.05 * W[target] / W[target].norm()
    steps = (fooled - X).flatten() / step
    assert torch.allclose(steps, steps[0].expand_as(steps))
    k = round(steps[0].item())
    assert abs(steps[0].item() - k) < 1e-9 and k >= 1
    assert model(X + (k - 1) * step.view_as(X)).argmax().item() != target   # k were needed


def test_fooling_an_image_already_of_the_target_class_changes_nothing():
    model = linear_model(1)
    X = torch.randn(1, 3, 2, 2, dtype=torch.double)
    target = model(X).argmax().item()
    assert torch.equal(make_fooling_image(X, target, model), X)


def test_fooling_stops_after_max_iter_steps():
    model = linear_model(2)
    X = torch.randn(1, 3, 2, 2, dtype=torch.double)
    target = (model(X).argmax().item() + 1) % 3
    fooled = make_fooling_image(X, target, model, learning_rate=1e-6, max_iter=7)
    W = model[1].weight.detach()[target]
    assert torch.allclose((fooled - X).flatten(), 7e-6 * W / W.norm())


def test_fgsm_steps_along_the_sign_of_the_loss_gradient_and_clips():
    model = linear_model(3)
    X = torch.rand(4, 3, 2, 2, dtype=torch.double)
    y = torch.tensor([0, 1, 2, 0])
    x = X.clone().requires_grad_(True)
    nn.functional.cross_entropy(model(x), y).backward()   # mean or sum: the same signs
    expected = (X + 0.1 * x.grad.sign()).clamp(0, 1)
    assert torch.allclose(fgsm(model, X, y, 0.1), expected)
    assert fgsm(model, X, y, 0.0).equal(X)
