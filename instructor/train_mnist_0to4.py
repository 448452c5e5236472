"""Pretrain the transfer-learning CNN on MNIST digits 0-4; save course_utils/data/mnist_0to4_cnn.pt.

Usage: python -m instructor.train_mnist_0to4 [--epochs 2] [--seed 0] [--threads 1] [--output PATH]

The recipe is course_utils.transfer.train_digits_cnn. The committed weights came from the defaults
(2 epochs, seed 0, 1 thread). The weights are saved only when the test accuracy on digits 0-4
reaches --min-accuracy; after saving, copy the printed sha256 and accuracy into
course_utils/transfer.py.
"""

import torch

from course_utils import data, training, transfer
from instructor.weights import train_and_save


def test_accuracy(model: torch.nn.Module) -> float:
    """Accuracy on the MNIST test images of digits 0-4."""
    _, _, x_test, y_test = data.load_mnist()
    x_test, y_test = transfer.select_digits(x_test, y_test, transfer.SOURCE_DIGITS)
    logits = training.predict(model, training.images_to_tensor(x_test))
    return training.accuracy(logits, torch.from_numpy(y_test))


if __name__ == "__main__":
    train_and_save(__doc__.splitlines()[0],
                   lambda epochs, seed: transfer.train_digits_cnn(epochs=epochs, seed=seed),
                   test_accuracy, transfer.DIGITS_CNN_PATH, min_accuracy=0.99)
