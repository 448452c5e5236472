"""The committed MNIST ResNet: loads offline and is as accurate as promised."""

import pickle

import pytest
import torch

from course_utils import data, pretrained, training


def test_mnist_resnet_reaches_its_test_accuracy():
    model = pretrained.load_mnist_resnet()
    assert not model.training
    _, _, x_test, y_test = data.load_mnist()
    logits = training.predict(model, training.images_to_tensor(x_test), batch_size=2000)
    accuracy = training.accuracy(logits, torch.from_numpy(y_test))
    assert accuracy >= 0.992
    assert accuracy == pytest.approx(pretrained.MNIST_RESNET_ACCURACY, abs=2e-4)


def test_weights_file_is_small():
    assert pretrained.MNIST_RESNET_PATH.stat().st_size < 1_000_000


def test_a_corrupt_or_missing_file_is_explained(tmp_path):
    with pytest.raises(FileNotFoundError, match="instructor.weights mnist_resnet"):
        pretrained.load_mnist_resnet(tmp_path / "missing.pt")
    broken = tmp_path / "broken.pt"
    broken.write_bytes(b"not a checkpoint")
    with pytest.raises(pickle.UnpicklingError):
        pretrained.load_mnist_resnet(broken)


def test_a_modified_committed_file_fails_its_checksum(monkeypatch):
    monkeypatch.setattr(pretrained, "MNIST_RESNET_SHA256", "0" * 64)
    with pytest.raises(data.DatasetError, match="corrupt"):
        pretrained.load_mnist_resnet()
