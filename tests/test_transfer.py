"""transfer: the digit split, which parameters each strategy trains, a tiny table that learns."""

import numpy as np
import pytest
import torch

from course_utils import data, training, transfer


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Small CPU convolutions: on a busy machine one thread is several times faster than two."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def mnist():
    return data.load_mnist()


def random_images(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(n, 1, 28, 28, generator=generator), torch.arange(n) % 5


def parameters_of(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {name: p.detach().clone() for name, p in model.named_parameters()}


def test_select_digits_keeps_and_relabels_in_order():
    x = np.arange(8)[:, None] * 10
    y = np.array([7, 0, 5, 9, 1, 5, 3, 8])
    x_kept, y_kept = transfer.select_digits(x, y, (5, 7, 9))
    assert x_kept[:, 0].tolist() == [0, 20, 30, 50]
    assert y_kept.tolist() == [1, 0, 2, 0] and y_kept.dtype == np.int64
    with pytest.raises(ValueError, match="distinct"):
        transfer.select_digits(x, y, (5, 5))
    with pytest.raises(ValueError, match="matching"):
        transfer.select_digits(x, y[:3], (5,))


def test_source_and_target_digits_split_mnist_disjointly(mnist):
    _, _, x_test, y_test = mnist
    assert not set(transfer.SOURCE_DIGITS) & set(transfer.TARGET_DIGITS)
    x_source, y_source = transfer.select_digits(x_test, y_test, transfer.SOURCE_DIGITS)
    x_target, y_target = transfer.select_digits(x_test, y_test, transfer.TARGET_DIGITS)
    assert len(y_source) + len(y_target) == len(y_test)
    assert set(y_source.tolist()) == set(y_target.tolist()) == {0, 1, 2, 3, 4}
    # target label k is digit 5 + k, image for image
    target = np.isin(y_test, transfer.TARGET_DIGITS)
    np.testing.assert_array_equal(y_target, y_test[target] - 5)
    np.testing.assert_array_equal(x_target, x_test[target])


@pytest.mark.parametrize("strategy, layers", [
    ("linear", {"fc2"}),
    ("last layers", {"conv3", "fc1", "fc2"}),
    ("all", {"conv1", "conv2", "conv3", "fc1", "fc2"}),
    ("scratch", {"conv1", "conv2", "conv3", "fc1", "fc2"}),
])
def test_prepare_transfer_sets_the_trainable_layers(strategy, layers):
    source = transfer.digits_cnn(5)
    before = parameters_of(source)
    model = transfer.prepare_transfer(source, strategy, num_classes=3, seed=0)
    names = transfer.trainable_parameter_names(model)
    assert {name.split(".")[0] for name in names} == layers
    assert model.fc2.out_features == 3
    assert all(torch.equal(p, before[n]) for n, p in source.named_parameters())   # source untouched
    assert all(p.requires_grad for p in source.parameters())
    again = transfer.prepare_transfer(source, strategy, num_classes=3, seed=0)
    assert torch.equal(again.fc2.weight, model.fc2.weight)                         # seeded
    other = transfer.prepare_transfer(source, strategy, num_classes=3, seed=1)
    assert not torch.equal(other.fc2.weight, model.fc2.weight)
    copied = strategy != "scratch"
    assert torch.equal(model.conv1.weight, source.conv1.weight) == copied
    with pytest.raises(ValueError, match="strategy"):
        transfer.prepare_transfer(source, "everything", 3, 0)


@pytest.mark.parametrize("strategy", ["linear", "last layers", "all"])
def test_fine_tune_changes_exactly_the_trainable_parameters(strategy):
    torch.manual_seed(0)
    model = transfer.prepare_transfer(transfer.digits_cnn(5), strategy, num_classes=5, seed=0)
    before = parameters_of(model)
    x, y = random_images(40, seed=1)
    transfer.fine_tune(model, x, y, steps=3, batch_size=16, device="cpu")
    trainable = set(transfer.trainable_parameter_names(model))
    for name, parameter in model.named_parameters():
        changed = not torch.equal(parameter.detach(), before[name])
        expected = name in trainable
        assert changed == expected, f"{name}: changed={changed}, trainable={expected}"


def test_frozen_prefix_is_cached_exactly():
    torch.manual_seed(0)
    source = transfer.digits_cnn(5)
    model = transfer.prepare_transfer(source, "last layers", num_classes=5, seed=0)
    frozen, rest = transfer.split_frozen_prefix(model)
    assert list(dict(rest.named_children())) == ["conv3", "relu3", "pool3", "flatten", "fc1",
                                                 "relu4", "fc2"]
    x, y = random_images(32, seed=2)
    torch.testing.assert_close(rest(frozen(x)), model(x))
    # training on cached features = training the whole model with frozen layers
    reference = transfer.prepare_transfer(source, "last layers", num_classes=5, seed=0)
    transfer.fine_tune(model, x, y, steps=4, batch_size=8, device="cpu")
    loader = training.make_loader(x, y, 8, shuffle=True, seed=0)
    optimizer = torch.optim.Adam([p for p in reference.parameters() if p.requires_grad], lr=1e-3)
    training.train(reference, loader, optimizer, device="cpu", seed=0, progress=False)
    for (name, a), b in zip(model.named_parameters(), reference.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6, msg=name)


def test_committed_source_model_is_accurate_on_digits_0_to_4(mnist):
    model = transfer.load_digits_cnn()
    assert not model.training and model.fc2.out_features == 5
    _, _, x_test, y_test = mnist
    x_test, y_test = transfer.select_digits(x_test, y_test, transfer.SOURCE_DIGITS)
    logits = training.predict(model, training.images_to_tensor(x_test), batch_size=2000)
    accuracy = training.accuracy(logits, torch.from_numpy(y_test))
    assert accuracy == pytest.approx(transfer.DIGITS_CNN_ACCURACY, abs=5e-4)
    assert transfer.DIGITS_CNN_PATH.stat().st_size < 200 * 1024


def test_missing_or_modified_weights_are_explained(tmp_path, monkeypatch):
    with pytest.raises(FileNotFoundError, match="instructor.weights mnist_0to4"):
        transfer.load_digits_cnn(tmp_path / "missing.pt")
    monkeypatch.setattr(transfer, "DIGITS_CNN_SHA256", "0" * 64)
    with pytest.raises(data.DatasetError, match="corrupt"):
        transfer.load_digits_cnn()


def test_a_tiny_table_has_its_shape_and_beats_chance(mnist):
    x_train, y_train, x_test, y_test = mnist
    x_train, y_train = transfer.select_digits(x_train[:3000], y_train[:3000],
                                              transfer.TARGET_DIGITS)
    x_test, y_test = transfer.select_digits(x_test[:1000], y_test[:1000], transfer.TARGET_DIGITS)
    table = transfer.transfer_table(transfer.load_digits_cnn(), x_train, y_train, x_test, y_test,
                                    {"few": 25, "more": 100}, steps={"few": 15, "more": 20},
                                    seeds=(0, 1), device="cpu", progress=False)
    assert table.runs.shape == (2, 3, 2) and table.accuracy.shape == (2, 3)
    assert table.rows == ["few", "more"] and table.columns == ["linear", "last layers", "all"]
    assert table.label_counts == [25, 100]
    assert np.all(table.accuracy > 0.5), table.format()     # chance is 0.2 for 5 classes
    assert len(table.format().splitlines()) == 3
