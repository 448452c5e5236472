"""Feature inversion and DeepDream do what they claim on a small random network."""

import torch

from course_utils.visualization.inversion import deepdream, invert_features, relative_error
from course_utils.visualization.random_features import random_texture_cnn


def test_inversion_of_a_shallow_layer_comes_close_to_the_image():
    layers = random_texture_cnn(in_channels=1, widths=(16,))
    image = torch.zeros(1, 1, 12, 12)
    image[:, :, 3:9, 3:9] = 1.0
    noise = torch.rand(image.shape, generator=torch.Generator().manual_seed(0))
    out = invert_features(layers, image, steps=100, progress=False)
    assert out.shape == image.shape
    assert relative_error(out, image) < 0.5 * relative_error(noise, image)


def test_deepdream_amplifies_the_layer_and_keeps_the_image_size():
    layers = random_texture_cnn(widths=(8, 8))
    image = torch.rand(1, 3, 20, 20, generator=torch.Generator().manual_seed(0)) * 0.5
    out = deepdream(layers, image, steps=5, octaves=2, progress=False)
    assert out.shape == image.shape and 0 <= out.min() and out.max() <= 1
    with torch.no_grad():
        assert layers(out).pow(2).sum() > 1.5 * layers(image).pow(2).sum()
