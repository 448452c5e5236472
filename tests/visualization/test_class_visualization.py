"""Class visualisation: the update step against its formula, and the loop's prior."""

import torch
from torch import nn

from course_utils.visualization.class_visualization import (
    blur_image,
    class_visualization_update_step,
    create_class_visualization,
    jitter,
)


def test_update_step_ascends_the_regularised_score_with_a_normalised_step():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(8, 3)).double().eval()
    img = torch.randn(1, 2, 2, 2, dtype=torch.double, requires_grad=True)
    before = img.detach().clone()
    class_visualization_update_step(img, model, 2, l2_reg=0.3, learning_rate=0.7)
    gradient = model[1].weight.detach()[2].view_as(before) - 2 * 0.3 * before
    assert torch.allclose(img.detach(), before + 0.7 * gradient / gradient.norm())
    assert img.is_leaf and img.requires_grad


def test_jitter_wraps_and_blur_keeps_the_mean():
    X = torch.arange(16.0).view(1, 1, 4, 4)
    assert torch.equal(jitter(X, 1, 0)[0, 0, :, 0], X[0, 0, :, 3])
    assert torch.equal(jitter(jitter(X, 2, -1), -2, 1), X)
    blurred = blur_image(torch.rand(1, 3, 9, 9, dtype=torch.double), sigma=1.0)
    assert blurred.dtype == torch.double and blurred.shape == (1, 3, 9, 9)


def test_a_class_visualization_raises_its_class_score():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Flatten(),
                          nn.Linear(4 * 8 * 8, 3)).eval()
    img = create_class_visualization(1, model, (1, 1, 8, 8), num_iterations=30, seed=0)
    assert img.shape == (1, 1, 8, 8) and 0 <= img.min() and img.max() <= 1
    with torch.no_grad():
        assert model(img)[0, 1] > model(torch.zeros(1, 1, 8, 8))[0, 1]
    assert torch.equal(img, create_class_visualization(1, model, (1, 1, 8, 8), num_iterations=30,
                                                       seed=0))
