"""The Vision Transformer of chapter 11, saved to course_utils/data/mnist_vit.pt.

The recipe is course_utils.pretrained.train_mnist_vit. The committed weights came from the
defaults (3 epochs, seed 0, 1 thread, 67 s): test accuracy 0.9790.
"""

from course_utils import pretrained
from instructor.weights import Weights
from instructor.weights._mnist_test import mnist_test_accuracy

WEIGHTS = Weights(__doc__.splitlines()[0],
                  lambda epochs, seed: pretrained.train_mnist_vit(epochs=epochs, seed=seed),
                  mnist_test_accuracy, pretrained.MNIST_VIT_PATH, minimum=0.97, default_length=3)
