"""The MNIST autoencoder: its shapes, the shared training loop, codes, the few-label
classifier and its balanced subsets, PCA, and the committed weights."""

import math

import numpy as np
import pytest
import torch
from torch import nn

from course_utils import data
from course_utils.generative import autoencoder


def test_the_autoencoder_maps_digits_to_codes_and_back_into_0_1():
    torch.manual_seed(0)
    model = autoencoder.Autoencoder(bottleneck=8)
    x = torch.rand(3, 1, 28, 28)
    assert model.encoder(x).shape == (3, 8)
    x_hat = model(x)
    assert x_hat.shape == (3, 1, 28, 28) and 0 <= x_hat.min() and x_hat.max() <= 1
    assert 100_000 < sum(p.numel() for p in autoencoder.Autoencoder().parameters()) < 120_000
    with pytest.raises(ValueError, match="bottleneck"):
        autoencoder.Autoencoder(0)


def test_as_images_accepts_the_mnist_layouts():
    digits = np.arange(2 * 28 * 28, dtype=np.int64).reshape(2, 28, 28) % 256
    images = autoencoder.as_images(digits.astype(np.uint8))
    assert images.shape == (2, 1, 28, 28) and images.dtype == torch.float32
    torch.testing.assert_close(images, torch.from_numpy(digits).float()[:, None] / 255)
    assert torch.equal(autoencoder.as_images(images.reshape(2, 784)), images)
    with pytest.raises(ValueError, match="MNIST images"):
        autoencoder.as_images(torch.zeros(2, 3, 28, 28))


class Tiny(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.tensor(0.0))

    def forward(self, x):
        return self.scale * x


def test_fit_autoencoder_visits_seeded_orders_and_stops_at_max_steps():
    images = torch.rand(10, 1, 28, 28)
    seen = []

    def loss(model, batch):
        seen.append(batch.clone())
        return ((model(batch) - batch) ** 2).mean()

    history = autoencoder.fit_autoencoder(Tiny(), images, loss, epochs=3, lr=0.1, batch_size=4,
                                          seed=2, max_steps=7, progress=False, device="cpu")
    assert len(history["step_loss"]) == 7 and len(history["train_loss"]) == 3
    assert [len(b) for b in seen] == [4, 4, 2, 4, 4, 2, 4]
    generator = torch.Generator().manual_seed(2)
    first_epoch = images[torch.randperm(10, generator=generator)]
    torch.testing.assert_close(torch.cat(seen[:3]), first_epoch)
    assert history["step_loss"][-1] < history["step_loss"][0]
    losses = history["step_loss"]
    assert history["train_loss"][0] == pytest.approx((4 * losses[0] + 4 * losses[1]
                                                      + 2 * losses[2]) / 10)
    assert history["train_loss"][2] == pytest.approx(losses[6])
    with pytest.raises(FloatingPointError, match="learning rate"):
        autoencoder.fit_autoencoder(Tiny(), images, lambda m, b: m.scale * math.nan, epochs=1,
                                    progress=False, device="cpu")
    with pytest.raises(ValueError, match="epochs"):
        autoencoder.fit_autoencoder(Tiny(), images, loss, epochs=0, progress=False)


def test_train_autoencoder_lowers_the_error_reproducibly(few_digits):
    model, history = autoencoder.train_autoencoder(epochs=4, max_steps=30, bottleneck=4,
                                                   progress=False, device="cpu")
    assert not model.training and model.bottleneck == 4
    assert np.mean(history["step_loss"][-5:]) < 0.8 * np.mean(history["step_loss"][:5])
    _, again = autoencoder.train_autoencoder(epochs=1, max_steps=3, bottleneck=4,
                                             progress=False, device="cpu")
    assert again["step_loss"] == history["step_loss"][:3]


def test_encode_reconstruct_and_the_error_in_eval_mode_on_the_cpu():
    torch.manual_seed(0)
    model = autoencoder.Autoencoder(bottleneck=5).train()
    digits = np.random.default_rng(0).integers(0, 256, size=(7, 28, 28), dtype=np.uint8)
    x = autoencoder.as_images(digits)
    codes = autoencoder.encode(model, digits)
    assert codes.shape == (7, 5) and codes.dtype == torch.float32 and model.training
    with torch.no_grad():
        torch.testing.assert_close(codes, model.encoder(x))
        x_hat = model(x)
    torch.testing.assert_close(autoencoder.reconstruct(model, x), x_hat)
    assert autoencoder.reconstruction_mse(model, x) == pytest.approx(
        ((x_hat - x) ** 2).mean().item(), rel=1e-6)
    assert autoencoder.psnr(0.01) == pytest.approx(20.0)
    with pytest.raises(ValueError, match="positive"):
        autoencoder.psnr(0.0)


def test_balanced_subset_draws_each_class_equally_without_repeats():
    labels = np.repeat(np.arange(4), [5, 9, 6, 7])
    subset = autoencoder.balanced_subset(labels, 3, seed=1)
    assert len(set(subset.tolist())) == 12
    np.testing.assert_array_equal(labels[subset], np.repeat(np.arange(4), 3))
    np.testing.assert_array_equal(subset, autoencoder.balanced_subset(labels, 3, seed=1))
    assert not np.array_equal(subset, autoencoder.balanced_subset(labels, 3, seed=2))
    with pytest.raises(ValueError, match="class 0 has only 5"):
        autoencoder.balanced_subset(labels, 6, seed=0)


def test_few_label_accuracy_is_a_standardised_logistic_regression_on_the_subset():
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    y_train, y_test = rng.integers(0, 3, 300), rng.integers(0, 3, 200)
    centres = 1000 * rng.normal(size=(3, 6))                  # far apart, a large scale
    x_train = centres[y_train] + 300 * rng.normal(size=(300, 6))
    x_test = centres[y_test] + 300 * rng.normal(size=(200, 6))
    accuracy = autoencoder.few_label_accuracy(x_train, y_train, x_test, y_test, 5, seed=3)
    subset = autoencoder.balanced_subset(y_train, 5, seed=3)
    mean, std = x_train[subset].mean(0), x_train[subset].std(0)
    classifier = LogisticRegression(max_iter=2000).fit((x_train[subset] - mean) / std,
                                                       y_train[subset])
    assert accuracy == pytest.approx(classifier.score((x_test - mean) / std, y_test))
    assert accuracy > 0.9
    torch_features = torch.from_numpy(x_train).float()
    assert autoencoder.few_label_accuracy(torch_features, y_train, x_test, y_test, 5, 3) > 0.9
    with pytest.raises(ValueError, match="differ in length"):
        autoencoder.few_label_accuracy(x_train, y_train[:10], x_test, y_test, 5)
    with pytest.raises(ValueError, match="differ in dimension"):
        autoencoder.few_label_accuracy(x_train, y_train, x_test[:, :3], y_test, 5)


def test_pca_features_project_on_the_leading_principal_directions():
    digits = np.random.default_rng(1).integers(0, 256, size=(60, 28, 28), dtype=np.uint8)
    train, test = autoencoder.pca_features(digits[:50], digits[50:], 4)
    assert train.shape == (50, 4) and test.shape == (10, 4)
    pixels = digits.reshape(60, -1) / 255
    mean = pixels[:50].mean(0)
    _, _, vt = np.linalg.svd(pixels[:50] - mean, full_matrices=False)
    expected = (pixels[50:] - mean) @ vt[:4].T
    np.testing.assert_allclose(np.abs(test), np.abs(expected), rtol=1e-3, atol=1e-3)


def test_few_label_table_compares_pixels_pca_and_codes():
    digits = np.random.default_rng(2).integers(0, 256, size=(80, 28, 28), dtype=np.uint8)
    labels = np.arange(80) % 4
    torch.manual_seed(0)
    model = autoencoder.Autoencoder(bottleneck=3)
    table = autoencoder.few_label_table(model, digits[:60], labels[:60], digits[60:],
                                        labels[60:], labels_per_class=(2, 5), seeds=(0, 1))
    assert list(table) == ["pixels", "PCA 3", "codes 3"]
    codes = autoencoder.encode(model, digits)
    expected = np.mean([autoencoder.few_label_accuracy(codes[:60], labels[:60], codes[60:],
                                                       labels[60:], 5, seed) for seed in (0, 1)])
    assert table["codes 3"][5] == pytest.approx(expected)
    text = autoencoder.format_few_label_table(table)
    assert text.splitlines()[0].split() == ["features", "2", "labels/class", "5",
                                            "labels/class"]
    assert f"{100 * table['pixels'][2]:.1f}%" in text.splitlines()[1]


def test_the_committed_autoencoder_loads_and_scores_what_its_constants_say(monkeypatch,
                                                                          tmp_path, mnist):
    model = autoencoder.load_mnist_autoencoder()
    assert not model.training
    assert autoencoder.MNIST_AUTOENCODER_PATH.stat().st_size < 1_500_000
    _, _, x_test, _ = mnist
    mse = autoencoder.reconstruction_mse(model, x_test)
    assert mse == pytest.approx(autoencoder.MNIST_AUTOENCODER_TEST_MSE, rel=1e-3)
    assert autoencoder.psnr(mse) == pytest.approx(autoencoder.MNIST_AUTOENCODER_TEST_PSNR,
                                                  abs=1e-3)
    with pytest.raises(FileNotFoundError, match="instructor.weights mnist_autoencoder"):
        autoencoder.load_mnist_autoencoder(tmp_path / "missing.pt")
    monkeypatch.setattr(autoencoder, "MNIST_AUTOENCODER_SHA256", "0" * 64)
    with pytest.raises(data.DatasetError, match="corrupt"):
        autoencoder.load_mnist_autoencoder()
