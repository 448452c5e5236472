"""training: loaders, metrics, the train loop on a tiny problem it must solve."""

import numpy as np
import pytest
import torch
from torch import nn

from course_utils import training


def blobs(n: int = 200, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Two well separated Gaussian blobs in 2-D, labels 0 and 1."""
    generator = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 2
    x = torch.randn(n, 2, generator=generator) * 0.5 + (y[:, None] * 2 - 1) * 2.0
    return x, y


def test_images_to_tensor_scales_and_moves_channels_first():
    grey = np.full((2, 4, 5), 255, dtype=np.uint8)
    assert training.images_to_tensor(grey).shape == (2, 1, 4, 5)
    assert training.images_to_tensor(grey).max() == 1.0
    colour = np.zeros((2, 4, 5, 3), dtype=np.uint8)
    colour[..., 2] = 51
    tensor = training.images_to_tensor(colour)
    assert tensor.shape == (2, 3, 4, 5) and tensor.dtype == torch.float32
    assert torch.allclose(tensor[:, 2], torch.tensor(0.2))
    with pytest.raises(ValueError, match="uint8"):
        training.images_to_tensor(np.zeros((2, 4, 5)))


def test_make_loader_repeats_its_order_with_a_seed():
    x, y = np.arange(10, dtype=np.float32)[:, None], np.arange(10)

    def order(seed: int) -> list[list[int]]:
        loader = training.make_loader(x, y, 4, shuffle=True, seed=seed)
        return [batch[1].tolist() for batch in loader]

    assert order(1) == order(1) and order(1) != order(2)
    assert sorted(sum(order(1), [])) == list(range(10))
    assert [len(b[1]) for b in training.make_loader(x, y, 4)] == [4, 4, 2]
    with pytest.raises(ValueError, match="same length"):
        training.make_loader(x, y[:5], 4)


def test_accuracy():
    logits = torch.tensor([[2.0, 1.0], [0.0, 3.0], [5.0, 1.0], [0.0, 1.0]])
    assert training.accuracy(logits, torch.tensor([0, 1, 1, 1])) == 0.75
    with pytest.raises(ValueError, match="logits"):
        training.accuracy(logits, torch.tensor([0, 1]))


def test_evaluate_and_predict_in_eval_mode_and_restore_mode():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(2, 2), nn.Dropout(0.9))
    x, y = blobs(50)
    model.train()
    first = training.predict(model, x, batch_size=7)
    # no dropout (eval mode); batches of 7 and of 50 may round differently in the last bit
    torch.testing.assert_close(first, training.predict(model, x), rtol=0, atol=1e-6)
    assert model.training
    scores = training.evaluate(model, training.make_loader(x, y, 16))
    expected = nn.functional.cross_entropy(first, y).item()
    assert scores["loss"] == pytest.approx(expected, rel=1e-5)
    assert scores["accuracy"] == training.accuracy(first, y)
    assert model.training


def test_train_solves_a_separable_problem_and_reports_history():
    x, y = blobs()
    model = nn.Linear(2, 2)
    loader = training.make_loader(x, y, 32, shuffle=True, seed=0)
    history = training.train(model, loader, torch.optim.SGD(model.parameters(), lr=0.5), epochs=3,
                             val_loader=training.make_loader(x, y, 100), device="cpu", seed=0,
                             progress=False)
    assert len(history["step_loss"]) == 3 * len(loader)
    for key in ("train_loss", "train_accuracy", "val_loss", "val_accuracy", "seconds"):
        assert len(history[key]) == 3, key
    assert history["train_loss"][-1] < history["train_loss"][0]
    assert history["val_accuracy"][-1] == 1.0
    assert history["seconds"] == sorted(history["seconds"])


def test_train_with_a_seed_repeats_exactly():
    x, y = blobs()

    def run() -> list[float]:
        torch.manual_seed(3)
        model = nn.Sequential(nn.Linear(2, 8), nn.Dropout(0.5), nn.Linear(8, 2))
        loader = training.make_loader(x, y, 32, shuffle=True, seed=0)
        return training.train(model, loader, torch.optim.SGD(model.parameters(), lr=0.1), epochs=2,
                              device="cpu", seed=5, progress=False)["step_loss"]

    assert run() == run()


def test_max_steps_stops_inside_an_epoch_and_the_scheduler_steps_per_batch():
    x, y = blobs()
    model = nn.Linear(2, 2)
    optimizer = torch.optim.SGD(model.parameters(), lr=1.0)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.5)
    history = training.train(model, training.make_loader(x, y, 20), optimizer, epochs=5,
                             scheduler=scheduler, max_steps=13, device="cpu", progress=False)
    assert len(history["step_loss"]) == 13 and len(history["train_loss"]) == 2
    assert optimizer.param_groups[0]["lr"] == 0.5**13


def test_train_stops_with_a_clear_error_when_the_loss_diverges():
    x, y = blobs()
    model = nn.Linear(2, 2)
    with torch.no_grad():
        model.weight.fill_(float("nan"))
    loader, optimizer = training.make_loader(x, y, 10), torch.optim.SGD(model.parameters(), lr=1.0)
    with pytest.raises(FloatingPointError, match="learning rate"):
        training.train(model, loader, optimizer, device="cpu", progress=False)
    with pytest.raises(ValueError, match="epochs"):
        training.train(model, loader, optimizer, epochs=0)
