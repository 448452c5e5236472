"""The plain VGG-style MNIST net of chapter 8, saved to course_utils/data/mnist_vgg.pt.

The recipe is course_utils.pretrained.train_mnist_vgg. The committed weights came from the
defaults (2 epochs, seed 0, 1 thread): test accuracy 0.9923.
"""

from course_utils import pretrained
from instructor.weights import Weights
from instructor.weights._mnist_test import mnist_test_accuracy

WEIGHTS = Weights(__doc__.splitlines()[0],
                  lambda epochs, seed: pretrained.train_mnist_vgg(epochs=epochs, seed=seed),
                  mnist_test_accuracy, pretrained.MNIST_VGG_PATH, minimum=0.99)
