"""The transfer-learning CNN of chapter 7, pretrained on MNIST digits 0-4, saved to
course_utils/data/mnist_0to4_cnn.pt.

The recipe is course_utils.transfer.train_digits_cnn. The committed weights came from the
defaults (2 epochs, seed 0, 1 thread).
"""

import torch

from course_utils import data, training, transfer
from instructor.weights import Weights


def test_accuracy(model: torch.nn.Module) -> float:
    """Accuracy on the MNIST test images of digits 0-4."""
    _, _, x_test, y_test = data.load_mnist()
    x_test, y_test = transfer.select_digits(x_test, y_test, transfer.SOURCE_DIGITS)
    logits = training.predict(model, training.images_to_tensor(x_test))
    return training.accuracy(logits, torch.from_numpy(y_test))


WEIGHTS = Weights("The transfer-learning CNN of chapter 7, pretrained on MNIST digits 0-4",
                  lambda epochs, seed: transfer.train_digits_cnn(epochs=epochs, seed=seed),
                  test_accuracy, transfer.DIGITS_CNN_PATH, minimum=0.99)
