"""Fast style transfer: the network's shapes, its training signal, and one-pass stylising."""

import numpy as np
import torch

from course_utils.visualization.fast_style import (
    TransformNet,
    perceptual_loss,
    random_crops,
    stylise,
    train_transform_net,
)
from course_utils.visualization.random_features import random_texture_cnn, relu_indices
from course_utils.visualization.style import (
    content_loss,
    extract_features,
    gram_matrix,
    style_loss,
    tv_loss,
)


def test_transform_net_keeps_the_size_and_the_range():
    out = TransformNet()(torch.rand(2, 3, 20, 24))
    assert out.shape == (2, 3, 20, 24) and 0 <= out.min() and out.max() <= 1


def test_stylise_pads_sizes_that_are_not_multiples_of_four():
    net = TransformNet().eval()
    assert stylise(net, torch.rand(1, 3, 17, 22)).shape == (1, 3, 17, 22)


def test_random_crops_are_seeded_pieces_of_the_photos():
    photos = [np.random.default_rng(k).random((20 + k, 30, 3)) for k in range(3)]
    crops = random_crops(photos, 5, 8, torch.Generator().manual_seed(0))
    assert crops.shape == (5, 3, 8, 8)
    assert torch.equal(crops, random_crops(photos, 5, 8, torch.Generator().manual_seed(0)))
    first = crops[0].permute(1, 2, 0).numpy()
    assert any(np.isclose(photo, first[0, 0]).all(-1).any() for photo in photos)


def test_perceptual_loss_is_the_mean_of_the_three_losses_per_image():
    cnn = random_texture_cnn(widths=(4, 8))
    layers = relu_indices(cnn)
    out, content = torch.rand(2, 3, 8, 8), torch.rand(2, 3, 8, 8)
    targets = [gram_matrix(f) for f in (torch.rand(1, 4, 8, 8), torch.rand(1, 8, 4, 4))]
    loss = perceptual_loss(cnn, out, content, layers[1], 0.1, layers, targets, [2.0, 3.0], 0.01)
    expected = 0.0
    for n in range(2):
        feats = extract_features(out[n:n + 1], cnn)
        original = extract_features(content[n:n + 1], cnn)[layers[1]]
        expected += (content_loss(0.1, feats[layers[1]], original)
                     + style_loss(feats, layers, targets, [2.0, 3.0]) + tv_loss(out[n:n + 1], 0.01))
    assert torch.isclose(loss, expected / 2)


def test_training_lowers_the_perceptual_loss():
    cnn = random_texture_cnn(widths=(4, 8))
    layers = relu_indices(cnn)
    style = torch.zeros(1, 3, 16, 16)
    style[:, 2, ::2] = 1.0
    photos = [np.random.default_rng(k).random((24, 24, 3)) for k in range(2)]
    net, losses = train_transform_net(cnn, style, photos, layers[1], 1e-3, layers, [1e3, 1e3],
                                      1e-3, steps=25, batch_size=2, crop=16, progress=False)
    assert not net.training and len(losses) == 25
    assert np.mean(losses[-5:]) < 0.7 * np.mean(losses[:5])


def test_an_untrained_transform_net_returns_its_input():
    images = torch.rand(2, 3, 12, 16) * 0.9 + 0.05
    assert torch.allclose(TransformNet()(images), images, atol=1e-5)
