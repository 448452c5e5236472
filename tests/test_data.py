import hashlib
import io
import pickle
import shutil
import socket
import tarfile

import numpy as np
import pytest

from course_utils import data


@pytest.fixture(scope="module")
def mnist():
    return data.load_mnist()


@pytest.fixture
def no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("this test must not use the network")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


# MNIST


def test_mnist_matches_the_published_checks(mnist):
    x_train, y_train, x_test, y_test = mnist
    assert x_train.shape == (60000, 28, 28) and x_test.shape == (10000, 28, 28)
    assert x_train.dtype == x_test.dtype == np.uint8
    assert y_train.shape == (60000,) and y_test.shape == (10000,)
    assert y_train.dtype == y_test.dtype == np.int64
    assert y_train[:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
    assert y_test[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
    assert np.bincount(y_train).tolist() == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851,
                                             5949]
    assert round(float(x_train.mean()), 3) == 33.318


def test_mnist_flatten(mnist):
    x_train, y_train, x_test, y_test = data.load_mnist(flatten=True)
    assert x_train.shape == (60000, 784) and x_test.shape == (10000, 784)
    np.testing.assert_array_equal(x_train[123], mnist[0][123].ravel())
    np.testing.assert_array_equal(y_test, mnist[3])


def test_mnist_checksum_is_verified_once_per_version_of_the_file(tmp_path, monkeypatch):
    copy = tmp_path / "mnist.npz"
    shutil.copy(data.MNIST_PATH, copy)
    monkeypatch.setattr(data, "MNIST_PATH", copy)
    hashed = []
    real_digest = data.file_digest
    monkeypatch.setattr(data, "file_digest",
                        lambda *args: hashed.append(args) or real_digest(*args))
    data.load_mnist()
    data.load_mnist()
    assert len(hashed) == 1
    copy.write_bytes(copy.read_bytes()[:1000])  # a new version of the file is checked again
    with pytest.raises(data.DatasetError):
        data.load_mnist()
    assert len(hashed) == 2


def test_missing_mnist_says_where_it_belongs_and_how_to_restore_it(tmp_path, monkeypatch):
    missing = tmp_path / "mnist.npz"
    monkeypatch.setattr(data, "MNIST_PATH", missing)
    with pytest.raises(FileNotFoundError) as error:
        data.load_mnist()
    assert str(missing) in str(error.value)
    assert "pip install -e ." in str(error.value) and "course repository" in str(error.value)


@pytest.mark.parametrize("content", [b"not a zip file", "truncated"])
def test_corrupt_mnist_is_reported_clearly(tmp_path, monkeypatch, content):
    corrupt = tmp_path / "mnist.npz"
    if content == "truncated":
        content = data.MNIST_PATH.read_bytes()[:1_000_000]
    corrupt.write_bytes(content)
    monkeypatch.setattr(data, "MNIST_PATH", corrupt)
    with pytest.raises(data.DatasetError, match="corrupt or incomplete") as error:
        data.load_mnist()
    assert str(corrupt) in str(error.value) and "pip install -e ." in str(error.value)


def test_unreadable_mnist_with_a_matching_checksum_is_reported_clearly(tmp_path, monkeypatch):
    unreadable = tmp_path / "mnist.npz"
    unreadable.write_bytes(b"PK\x03\x04 a broken zip")
    monkeypatch.setattr(data, "MNIST_PATH", unreadable)
    monkeypatch.setattr(data, "MNIST_SHA256", hashlib.sha256(unreadable.read_bytes()).hexdigest())
    with pytest.raises(data.DatasetError, match="cannot be read as MNIST") as error:
        data.load_mnist()
    assert error.value.__cause__ is not None


# Data sets inside scikit-learn and scikit-image


def test_digits():
    images, labels = data.load_digits()
    assert images.shape == (1797, 8, 8) and images.dtype == np.float64
    assert images.min() == 0 and images.max() == 16
    assert labels.shape == (1797,) and labels.dtype == np.int64
    assert set(labels.tolist()) == set(range(10))


def test_sample_images_load_offline(no_network):
    images = data.load_sample_images()
    assert sorted(images) == sorted(data.SAMPLE_IMAGES)
    assert images["camera"].shape == (512, 512)
    assert images["astronaut"].shape == (512, 512, 3)
    for name, image in images.items():
        assert image.dtype == np.uint8, name
        assert image.ndim == 2 or (image.ndim == 3 and image.shape[2] == 3), (name, image.shape)


def test_textures_load_offline(no_network):
    textures = data.load_textures()
    assert sorted(textures) == ["brick", "grass", "gravel"]
    for name, texture in textures.items():
        assert texture.shape == (512, 512) and texture.dtype == np.uint8, name
        assert texture.std() > 10, name  # a texture, not a flat image


# CIFAR-10, from a tiny archive in the same format (never the network)


def make_cifar_archive(path, per_batch=4, batches=data.CIFAR10_BATCHES, seed=0):
    """Write a CIFAR-10-format archive; returns {batch name: (data rows, labels)}."""
    rng = np.random.default_rng(seed)
    content = {}
    with tarfile.open(path, "w:gz") as tar:
        for name in batches:
            rows = rng.integers(0, 256, size=(per_batch, 3072), dtype=np.uint8)
            labels = rng.integers(0, 10, size=per_batch).tolist()
            content[name] = rows, labels
            payload = pickle.dumps({b"data": rows, b"labels": labels,
                                    b"batch_label": name.encode()})
            member = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            member.size = len(payload)
            tar.addfile(member, io.BytesIO(payload))
    return content


def md5_of(path):
    return hashlib.md5(path.read_bytes()).hexdigest()


@pytest.fixture
def tiny_cifar(tmp_path):
    archive = tmp_path / "server" / "cifar-10-python.tar.gz"
    archive.parent.mkdir()
    content = make_cifar_archive(archive)
    return archive, content


def check_tiny_cifar(result, content):
    x_train, y_train, x_test, y_test = result
    assert x_train.shape == (20, 32, 32, 3) and x_test.shape == (4, 32, 32, 3)
    assert x_train.dtype == x_test.dtype == np.uint8
    assert y_train.dtype == y_test.dtype == np.int64
    rows, labels = content["data_batch_2"]
    # row layout: 1024 red, 1024 green, 1024 blue values
    np.testing.assert_array_equal(x_train[4, :, :, 0], rows[0, :1024].reshape(32, 32))
    np.testing.assert_array_equal(x_train[5], rows[1].reshape(3, 32, 32).transpose(1, 2, 0))
    assert y_train[4:8].tolist() == labels
    assert y_test.tolist() == content["test_batch"][1]


def test_cifar10_from_an_archive_in_root(tmp_path, tiny_cifar, no_network):
    archive, content = tiny_cifar
    result = data.load_cifar10(root=archive.parent, md5=md5_of(archive))
    check_tiny_cifar(result, content)


def test_cifar10_download(tmp_path, tiny_cifar):
    archive, content = tiny_cifar
    root = tmp_path / "cache"
    result = data.load_cifar10(root, download=True, url=archive.as_uri(), md5=md5_of(archive))
    check_tiny_cifar(result, content)
    assert [path.name for path in root.iterdir()] == ["cifar-10-python.tar.gz"]


def test_cifar10_missing_without_download_says_how_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setattr(data, "CIFAR10_ROOT", tmp_path)
    with pytest.raises(FileNotFoundError, match=r"download=True") as error:
        data.load_cifar10()
    assert str(tmp_path / "cifar-10-python.tar.gz") in str(error.value)
    assert data.CIFAR10_URL in str(error.value)


def test_cifar10_download_with_a_wrong_checksum_keeps_nothing(tmp_path, tiny_cifar):
    archive, _ = tiny_cifar
    root = tmp_path / "cache"
    with pytest.raises(data.DatasetError, match="does not have md5"):
        data.load_cifar10(root, download=True, url=archive.as_uri())
    assert list(root.iterdir()) == []


def test_cifar10_download_offline_says_what_to_do(tmp_path):
    root = tmp_path / "cache"
    with pytest.raises(data.DatasetError, match="offline") as error:
        data.load_cifar10(root, download=True, url="http://127.0.0.1:9/cifar-10-python.tar.gz")
    assert "by hand" in str(error.value) and str(root) in str(error.value)
    assert list(root.iterdir()) == []


def test_cifar10_corrupt_archive_in_root(tmp_path, tiny_cifar):
    archive, _ = tiny_cifar
    with pytest.raises(data.DatasetError, match="corrupt or incomplete"):
        data.load_cifar10(archive.parent)  # the real CIFAR-10 checksum does not match


def test_cifar10_archive_without_a_test_batch(tmp_path):
    archive = tmp_path / "cifar-10-python.tar.gz"
    make_cifar_archive(archive, batches=data.CIFAR10_BATCHES[:5])
    with pytest.raises(data.DatasetError, match="not a CIFAR-10 python archive"):
        data.load_cifar10(tmp_path, md5=md5_of(archive))


# Splits and statistics


@pytest.fixture
def labelled():
    y = np.repeat(np.arange(4), [100, 50, 30, 20])  # imbalanced classes
    return np.arange(len(y)) * 10, y  # x identifies each sample


def test_train_val_test_split_is_disjoint_complete_and_stratified(labelled):
    x, y = labelled
    x_train, y_train, x_val, y_val, x_test, y_test = data.train_val_test_split(
        x, y, 0.2, 0.1, seed=0)
    assert (len(x_train), len(x_val), len(x_test)) == (140, 40, 20)
    assert sorted(np.concatenate([x_train, x_val, x_test]).tolist()) == x.tolist()
    for xs, ys in [(x_train, y_train), (x_val, y_val), (x_test, y_test)]:
        np.testing.assert_array_equal(ys, y[xs // 10])  # pairs stay together
    np.testing.assert_array_equal(np.bincount(y_val), [20, 10, 6, 4])
    np.testing.assert_array_equal(np.bincount(y_test), [10, 5, 3, 2])


def test_train_val_test_split_is_reproducible(labelled):
    x, y = labelled
    first = data.train_val_test_split(x, y, 0.2, 0.2, seed=1)
    again = data.train_val_test_split(x, y, 0.2, 0.2, seed=1)
    other = data.train_val_test_split(x, y, 0.2, 0.2, seed=2)
    assert all(np.array_equal(a, b) for a, b in zip(first, again, strict=True))
    assert not np.array_equal(first[0], other[0])


def test_train_val_test_split_without_stratification(labelled):
    x, y = labelled
    x_train, _, x_val, _, x_test, _ = data.train_val_test_split(x, y, 0.25, 0.25, seed=0,
                                                                  stratified=False)
    assert (len(x_train), len(x_val), len(x_test)) == (100, 50, 50)
    assert len(set(np.concatenate([x_train, x_val, x_test]).tolist())) == 200


@pytest.mark.parametrize("val, test", [(-0.1, 0.2), (0.5, 0.5), (1.0, 0.0), (0.2, 1.2)])
def test_train_val_test_split_rejects_bad_fractions(labelled, val, test):
    with pytest.raises(ValueError, match="add up to less than 1"):
        data.train_val_test_split(*labelled, val, test, seed=0)


def test_mismatched_lengths_are_rejected(labelled):
    x, y = labelled
    with pytest.raises(ValueError, match="x has 200 samples but y has 199"):
        data.train_val_test_split(x, y[:-1], 0.1, 0.1, seed=0)
    with pytest.raises(ValueError, match="x has 200 samples but y has 199"):
        data.subsample(x, y[:-1], 10, seed=0)


def test_subsample(labelled):
    x, y = labelled
    x_small, y_small = data.subsample(x, y, 20, seed=0)
    np.testing.assert_array_equal(y_small, y[x_small // 10])
    assert len(set(x_small.tolist())) == 20
    np.testing.assert_array_equal(np.bincount(y_small), [10, 5, 3, 2])
    again = data.subsample(x, y, 20, seed=0)
    np.testing.assert_array_equal(again[0], x_small)
    plain = data.subsample(x, y, 33, seed=0, stratified=False)[0]
    assert len(set(plain.tolist())) == 33


def test_subsample_keeps_the_exact_size_when_shares_are_fractional():
    y = np.array([0] * 5 + [1] * 5 + [2] * 5)
    _, y_small = data.subsample(np.arange(15), y, 4, seed=3)
    assert len(y_small) == 4 and np.bincount(y_small, minlength=3).max() == 2


@pytest.mark.parametrize("n", [-1, 201])
def test_subsample_rejects_impossible_sizes(labelled, n):
    with pytest.raises(ValueError, match="out of 200"):
        data.subsample(*labelled, n, seed=0)


def test_channel_mean_std_matches_per_channel_statistics():
    x = np.random.default_rng(0).normal([1.0, -2.0, 5.0], [0.5, 2.0, 3.0], size=(50, 6, 7, 3))
    mean, std = data.channel_mean_std(x, channel_axis=-1)
    assert mean.shape == std.shape == (3,)
    np.testing.assert_allclose(mean, [x[..., c].mean() for c in range(3)])
    np.testing.assert_allclose(std, [x[..., c].std() for c in range(3)])
    mean_first, std_first = data.channel_mean_std(x.transpose(0, 3, 1, 2), channel_axis=1)
    np.testing.assert_allclose(mean_first, mean)
    np.testing.assert_allclose(std_first, std)
    overall_mean, overall_std = data.channel_mean_std(x, channel_axis=None)
    assert overall_mean.shape == () and np.isclose(overall_std, x.std())
    with pytest.raises(ValueError, match="not an axis"):
        data.channel_mean_std(x, channel_axis=4)


def test_standardize_centres_and_scales_each_channel():
    x = np.random.default_rng(1).integers(0, 256, size=(20, 3, 5, 5)).astype(np.uint8)
    x[:, 2] = 7  # a constant channel: std 0, guarded by eps
    mean, std = data.channel_mean_std(x, channel_axis=1)
    out = data.standardize(x, mean, std, channel_axis=1)
    assert out.dtype == np.float64 and out.shape == x.shape
    out_mean, out_std = data.channel_mean_std(out, channel_axis=1)
    np.testing.assert_allclose(out_mean, 0, atol=1e-12)
    np.testing.assert_allclose(out_std, [1, 1, 0], atol=1e-12)
    assert np.isfinite(out).all()


def test_standardize_keeps_float32_and_accepts_scalars():
    x = np.linspace(0, 1, 24, dtype=np.float32).reshape(2, 2, 2, 3)
    out = data.standardize(x, 0.5, 0.25)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, (x - 0.5) / 0.25, rtol=1e-6)


def test_standardize_rejects_statistics_for_another_axis():
    x = np.zeros((4, 3, 8, 8))
    with pytest.raises(ValueError, match="pass channel_axis"):
        data.standardize(x, np.zeros(3), np.ones(3))  # channels are on axis 1, not -1
