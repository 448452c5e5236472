"""Chapter 13's PixelCNN of binarised 14 x 14 MNIST, saved to course_utils/data/mnist_pixelcnn.pt.

The recipe is course_utils.generative.pixelcnn.train_pixelcnn; the score is MINUS the model's
bits per dimension on the 10,000 binarised test digits (pixelcnn.nll_bits_per_dim), because
instructor.weights saves from a minimum score up and lower bits/dim is better: --minimum -0.25
saves only models at or below 0.25 bits/dim. The committed weights came from the defaults
(5 epochs, seed 0, 1 thread, 260 s on the shared 2-core machine): test bits/dim 0.2112; the
independent-Bernoulli baseline (pixelcnn.bernoulli_baseline_bits_per_dim) scores 0.3647.
"""

import torch

from course_utils import data
from course_utils.generative import pixelcnn
from instructor.weights import Weights


def negative_test_bits_per_dim(model: torch.nn.Module) -> float:
    """-(bits per dimension) on the binarised 14 x 14 MNIST test digits: higher is better."""
    x_test = pixelcnn.binarize_mnist(data.load_mnist()[2])
    return -pixelcnn.nll_bits_per_dim(model, x_test)


WEIGHTS = Weights(__doc__.splitlines()[0],
                  lambda epochs, seed: pixelcnn.train_pixelcnn(epochs=epochs, seed=seed),
                  negative_test_bits_per_dim, pixelcnn.MNIST_PIXELCNN_PATH, minimum=-0.25,
                  metric="negative test bits/dim", default_length=5)
