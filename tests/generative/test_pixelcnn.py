"""Tests of course_utils.generative.pixelcnn: masks, receptive fields by autograd, the likelihood
against torch.distributions, the samplers against a slow obvious one, the committed weights."""

import math

import numpy as np
import pytest
import torch
from torch import nn

from course_utils import data
from course_utils.generative import pixelcnn


def _tiny_model(seed: int = 0, dtype: torch.dtype = torch.float32) -> pixelcnn.PixelCNN:
    torch.manual_seed(seed)
    return pixelcnn.PixelCNN(channels=4, num_blocks=2, head_channels=4).to(dtype).eval()


def _random_binary(shape: tuple[int, ...], seed: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return (torch.rand(shape, generator=generator) < 0.3).float()


# binarize_mnist


def test_binarize_mnist_matches_block_means() -> None:
    images = np.random.default_rng(0).integers(0, 256, size=(5, 28, 28), dtype=np.uint8)
    images[0, :2, :2] = [[255, 255], [0, 0]]        # block mean exactly 0.5 -> 1
    images[0, :2, 2:4] = [[255, 254], [0, 0]]       # just below -> 0
    out = pixelcnn.binarize_mnist(images)
    assert out.shape == (5, 1, 14, 14) and out.dtype == torch.float32
    expected = np.zeros((5, 14, 14), np.float32)
    for n in range(5):
        for i in range(14):
            for j in range(14):
                block = images[n, 2 * i:2 * i + 2, 2 * j:2 * j + 2].astype(np.float64)
                expected[n, i, j] = block.mean() / 255 >= 0.5
    np.testing.assert_array_equal(out[:, 0].numpy(), expected)
    assert out[0, 0, 0, 0] == 1 and out[0, 0, 0, 1] == 0
    full = pixelcnn.binarize_mnist(torch.from_numpy(images), size=28)
    assert full.shape == (5, 1, 28, 28)
    np.testing.assert_array_equal(full[:, 0].numpy(), images / 255 >= 0.5)


def test_binarize_mnist_rejects_bad_input() -> None:
    images = np.zeros((2, 28, 28), np.uint8)
    with pytest.raises(ValueError, match="size"):
        pixelcnn.binarize_mnist(images, size=7)
    with pytest.raises(ValueError, match="28, 28"):
        pixelcnn.binarize_mnist(np.zeros((2, 14, 14), np.uint8))


# MaskedConv2d


def _slow_mask(mask_type: str, k: int) -> np.ndarray:
    """1 at kernel positions before the centre in raster order (and at the centre for B)."""
    centre = (k // 2) * k + k // 2
    return np.array([[float(r * k + c < centre or (mask_type == "B" and r * k + c == centre))
                      for c in range(k)] for r in range(k)])


def test_mask_pattern_3x3_written_out() -> None:
    a = pixelcnn.MaskedConv2d("A", 1, 1, 3).mask[0, 0]
    b = pixelcnn.MaskedConv2d("B", 1, 1, 3).mask[0, 0]
    np.testing.assert_array_equal(a.numpy(), [[1, 1, 1], [1, 0, 0], [0, 0, 0]])
    np.testing.assert_array_equal(b.numpy(), [[1, 1, 1], [1, 1, 0], [0, 0, 0]])


@pytest.mark.parametrize("mask_type", ["A", "B"])
@pytest.mark.parametrize("k", [3, 5, 7])
def test_mask_pattern(mask_type: str, k: int) -> None:
    layer = pixelcnn.MaskedConv2d(mask_type, 2, 3, k, padding=k // 2)
    assert isinstance(layer, nn.Conv2d)
    assert layer.mask.shape == layer.weight.shape == (3, 2, k, k)
    assert "mask" in dict(layer.named_buffers())
    expected = np.broadcast_to(_slow_mask(mask_type, k), (3, 2, k, k))
    np.testing.assert_array_equal(layer.mask.numpy(), expected)
    assert layer.mask.sum() == 3 * 2 * ((k * k) // 2 + (mask_type == "B"))


def test_masked_conv_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="mask_type"):
        pixelcnn.MaskedConv2d("C", 1, 1, 3)
    for k in (2, 4, (3, 4)):
        with pytest.raises(ValueError, match="odd"):
            pixelcnn.MaskedConv2d("A", 1, 1, k)


def test_masked_conv_matches_conv2d_with_masked_weight() -> None:
    torch.manual_seed(0)
    layer = pixelcnn.MaskedConv2d("B", 3, 4, 5, padding=2).double()
    x = torch.randn(2, 3, 6, 7, dtype=torch.float64)
    reference = nn.Conv2d(3, 4, 5, padding=2).double()
    with torch.no_grad():
        reference.weight.copy_(layer.weight * layer.mask)
        reference.bias.copy_(layer.bias)
    out = layer(x)
    torch.testing.assert_close(out, reference(x), rtol=1e-12, atol=1e-12)
    dout = torch.randn_like(out)
    out.backward(dout)
    reference(x).backward(dout)
    assert layer.weight.grad[layer.mask == 0].abs().max() == 0   # masked weights stay put
    torch.testing.assert_close(layer.weight.grad, reference.weight.grad * layer.mask)
    torch.testing.assert_close(layer.bias.grad, reference.bias.grad)


def _input_gradients(net: nn.Module, size: int) -> torch.Tensor:
    """(size, size, size, size): d out[0, :, i, j].sum() / d x[0, 0, r, c], random x (float64)."""
    x = torch.randn(1, 1, size, size, dtype=torch.float64, requires_grad=True)
    out = net(x)
    grads = torch.zeros(size, size, size, size, dtype=torch.float64)
    for i in range(size):
        for j in range(size):
            (grad,) = torch.autograd.grad(out[0, :, i, j].sum(), x, retain_graph=True)
            grads[i, j] = grad[0, 0]
    return grads


def test_single_layer_sees_exactly_its_mask() -> None:
    torch.manual_seed(1)
    for mask_type in ("A", "B"):
        layer = pixelcnn.MaskedConv2d(mask_type, 1, 2, 5, padding=2).double()
        grads = _input_gradients(layer, 9)
        seen = (grads[4, 4, 2:7, 2:7] != 0).double().numpy()   # an interior pixel
        np.testing.assert_array_equal(seen, _slow_mask(mask_type, 5), err_msg=mask_type)


def test_stack_of_a_then_b_layers_is_causal() -> None:
    torch.manual_seed(2)
    size = 6
    net = nn.Sequential(pixelcnn.MaskedConv2d("A", 1, 3, 5, padding=2), nn.Tanh(),
                        pixelcnn.MaskedConv2d("B", 3, 3, 3, padding=1), nn.Tanh(),
                        pixelcnn.MaskedConv2d("B", 3, 2, 3, padding=1)).double()
    grads = _input_gradients(net, size)
    order = torch.arange(size * size).view(size, size)
    for i in range(size):
        for j in range(size):
            later = order >= i * size + j
            assert grads[i, j][later].count_nonzero() == 0, f"output ({i}, {j}) sees its future"
            if j > 0:
                assert grads[i, j, i, j - 1] != 0, f"output ({i}, {j}) misses its left pixel"
            if i > 0:
                assert grads[i, j, i - 1, j] != 0, f"output ({i}, {j}) misses the pixel above"
    # the same stack without masks does see the future, so the check above can fail
    plain = nn.Sequential(nn.Conv2d(1, 3, 5, padding=2), nn.Tanh(), nn.Conv2d(3, 2, 3, padding=1))
    assert _input_gradients(plain.double(), size)[2, 2, 2, 2] != 0


# PixelCNN


def test_pixelcnn_shapes_and_receptive_field() -> None:
    model = _tiny_model(dtype=torch.float64)
    assert model(torch.zeros(3, 1, 14, 14, dtype=torch.float64)).shape == (3, 1, 14, 14)
    size = 9
    grads = _input_gradients(model, size)
    order = torch.arange(size * size).view(size, size)
    rows = torch.arange(size)[:, None].expand(size, size)
    for i in range(size):
        for j in range(size):
            assert grads[i, j][order >= i * size + j].count_nonzero() == 0, (i, j)
            assert grads[i, j][rows < i - model.rows_above].count_nonzero() == 0, (i, j)
    assert grads[8, 4, 8 - model.rows_above].abs().max() > 0   # rows_above is not too small


# likelihood


def test_nll_bits_per_dim_matches_torch_distributions() -> None:
    model = _tiny_model().train()
    x = _random_binary((7, 1, 14, 14), seed=3)
    with torch.no_grad():
        log_p = torch.distributions.Bernoulli(logits=model(x).double()).log_prob(x.double())
    expected = (-log_p.sum(dim=(1, 2, 3)) / (14 * 14 * math.log(2))).mean().item()
    for batch_size in (2, 1000):
        assert pixelcnn.nll_bits_per_dim(model, x, batch_size=batch_size) == pytest.approx(
            expected, rel=1e-5)
    assert model.training                               # the mode is restored
    with pytest.raises(ValueError, match="0 and 1"):
        pixelcnn.nll_bits_per_dim(model, x * 0.5)


def test_bernoulli_baseline_matches_slow_version() -> None:
    train, test = _random_binary((50, 1, 4, 4), seed=4), _random_binary((9, 1, 4, 4), seed=5)
    train[:, 0, 0, 0], test[0, 0, 0, 0] = 0, 1           # never lit in training: finite cost
    p = (train.double().numpy().sum(axis=0) + 1) / 52
    bits = [-np.log2(np.where(image == 1, p, 1 - p)).sum() / 16 for image in test.numpy()]
    result = pixelcnn.bernoulli_baseline_bits_per_dim(train, test)
    assert math.isfinite(result)
    assert result == pytest.approx(float(np.mean(bits)), rel=1e-12)


# sampling


def _slow_sample(model: nn.Module, x: torch.Tensor, first_row: int, seed: int) -> torch.Tensor:
    """The obvious sampler: the whole image through the model for every pixel."""
    generator = torch.Generator().manual_seed(seed)
    x = x.clone()
    with torch.no_grad():
        for i in range(first_row, x.shape[2]):
            for j in range(x.shape[3]):
                p = torch.sigmoid(model(x)[:, 0, i, j].double())
                x[:, 0, i, j] = (torch.rand(len(x), generator=generator,
                                            dtype=torch.float64) < p).float()
    return x


def test_sample_matches_slow_sampler_and_is_seeded() -> None:
    model = _tiny_model(seed=6).train()
    images = pixelcnn.sample(model, 5, size=12, seed=7)
    assert images.shape == (5, 1, 12, 12) and images.dtype == torch.float32
    assert set(images.unique().tolist()) == {0.0, 1.0}
    assert model.training
    torch.testing.assert_close(images, _slow_sample(model.eval(), torch.zeros(5, 1, 12, 12), 0, 7))
    torch.testing.assert_close(images, pixelcnn.sample(model, 5, size=12, seed=7))
    assert not torch.equal(images, pixelcnn.sample(model, 5, size=12, seed=8))


def test_sample_follows_the_logits() -> None:
    class Constant(nn.Module):   # p(x_ij = 1) = sigmoid(logit) everywhere, whatever came before
        def __init__(self, logit: float) -> None:
            super().__init__()
            self.logit = nn.Parameter(torch.tensor(logit))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.logit.expand_as(x)

    images = pixelcnn.sample(Constant(math.log(0.2 / 0.8)), 400, size=10, seed=0)
    assert images.mean().item() == pytest.approx(0.2, abs=0.01)
    assert pixelcnn.sample(Constant(-50.0), 2, size=3).sum() == 0


def test_complete_keeps_the_given_rows() -> None:
    model = _tiny_model(seed=9)
    images = _random_binary((4, 1, 10, 10), seed=10)
    completed = pixelcnn.complete(model, images, rows_given=6, seed=11)
    assert completed.shape == (4, 1, 10, 10) and completed.dtype == torch.float32
    torch.testing.assert_close(completed[:, :, :6], images[:, :, :6])
    start = images.clone()
    start[:, :, 6:] = 0
    torch.testing.assert_close(completed, _slow_sample(model, start, 6, 11))
    torch.testing.assert_close(pixelcnn.complete(model, images, 10), images)
    torch.testing.assert_close(pixelcnn.complete(model, torch.zeros(3, 1, 8, 8), 0, seed=2),
                               pixelcnn.sample(model, 3, size=8, seed=2))
    with pytest.raises(ValueError, match="rows_given"):
        pixelcnn.complete(model, images, 11)


# training and the committed weights


def test_train_pixelcnn_few_steps() -> None:
    options = {"channels": 4, "num_blocks": 1, "head_channels": 4, "lr": 1e-2}
    model, history = pixelcnn.train_pixelcnn(epochs=1, max_steps=20, progress=False, **options)
    assert not model.training
    assert len(history["step_loss"]) == 20 and len(history["train_loss"]) == 1
    assert np.mean(history["step_loss"][-5:]) < 0.9 * np.mean(history["step_loss"][:5])
    _, again = pixelcnn.train_pixelcnn(epochs=1, max_steps=20, progress=False, **options)
    assert again["step_loss"] == history["step_loss"]            # seeded


def test_committed_pixelcnn_beats_the_bernoulli_baseline() -> None:
    x_train, _, x_test, _ = data.load_mnist()
    test = pixelcnn.binarize_mnist(x_test[:500])
    model = pixelcnn.load_mnist_pixelcnn()
    assert not model.training
    bits = pixelcnn.nll_bits_per_dim(model, test)
    baseline = pixelcnn.bernoulli_baseline_bits_per_dim(pixelcnn.binarize_mnist(x_train), test)
    assert bits < 0.8 * baseline                         # 0.2077 against 0.3511
    assert bits == pytest.approx(0.2077, abs=5e-4)       # the first 500 of the test digits
    assert pixelcnn.MNIST_PIXELCNN_BITS_PER_DIM == pytest.approx(bits, abs=0.01)


def test_load_mnist_pixelcnn_missing_file(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match="instructor.weights mnist_pixelcnn"):
        pixelcnn.load_mnist_pixelcnn(tmp_path / "missing.pt")
