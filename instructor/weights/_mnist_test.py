"""Accuracy on the 10,000 MNIST test digits, shared by the MNIST models' scripts."""

import torch

from course_utils import data, training


def mnist_test_accuracy(model: torch.nn.Module) -> float:
    """Accuracy of `model` (images in [0, 1] -> logits) on the MNIST test digits."""
    _, _, x_test, y_test = data.load_mnist()
    test_loader = training.make_loader(training.images_to_tensor(x_test), y_test, batch_size=1000)
    return training.evaluate(model, test_loader)["accuracy"]
