import math

import pytest
import torch

from course_utils.generative.unet import NULL_CLASS, UNet, timestep_embedding


def _net(channels=(8, 16), image_size=14, attention=True, seed=0) -> UNet:
    """A tiny U-Net whose output layer is randomised (it starts at zero)."""
    torch.manual_seed(seed)
    net = UNet(channels, image_size, attention=attention)
    torch.nn.init.normal_(net.head[-1].weight, std=0.1)
    return net


def _batch(n=4, size=14, seed=1):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(n, 1, size, size, generator=g), torch.randint(0, 1000, (n,), generator=g),
            torch.randint(0, 10, (n,), generator=g))


def test_timestep_embedding_matches_the_formula():
    t = torch.tensor([0, 1, 7, 999])
    got = timestep_embedding(t, 8)
    assert got.shape == (4, 8) and got.dtype == torch.float32
    for n, step in enumerate(t.tolist()):
        for i in range(4):
            omega = 10000.0 ** (-i / 4)
            assert got[n, i].item() == pytest.approx(math.sin(step * omega), abs=1e-4)
            assert got[n, 4 + i].item() == pytest.approx(math.cos(step * omega), abs=1e-4)
    with pytest.raises(ValueError, match="even"):
        timestep_embedding(t, 7)
    with pytest.raises(ValueError, match="shape"):
        timestep_embedding(t[:, None], 8)


@pytest.mark.parametrize(("channels", "size"), [((8, 16), 14), ((8, 16, 16), 28), ((8,), 14)])
def test_shapes(channels, size):
    x, t, c = _batch(3, size)
    out = _net(channels, size)(x, t, c)
    assert out.shape == x.shape and out.dtype == torch.float32


def test_starts_by_predicting_zero_noise():
    x, t, c = _batch()
    torch.manual_seed(0)
    assert torch.equal(UNet((8, 16), 14)(x, t, c), torch.zeros_like(x))


def test_time_and_class_change_the_output():
    net = _net()
    x, t, c = _batch()
    out = net(x, t, c)
    assert (net(x, t + 1, c) - out).abs().max() > 1e-4
    assert (net(x, t, (c + 1) % 10) - out).abs().max() > 1e-4
    assert (net(x, t, torch.full_like(c, NULL_CLASS)) - out).abs().max() > 1e-4


def test_no_labels_means_the_null_class():
    net = _net()
    x, t, _ = _batch()
    assert torch.equal(net(x, t, None), net(x, t, torch.full((4,), NULL_CLASS)))


def test_images_do_not_interact_in_a_batch():
    # GroupNorm normalises each image alone, so a doubled batch (guidance) gives the same eps
    net = _net()
    x, t, c = _batch()
    both = net(torch.cat([x, x.flip(0)]), torch.cat([t, t.flip(0)]), torch.cat([c, c.flip(0)]))
    assert torch.allclose(both[:4], net(x, t, c), atol=1e-5)
    assert torch.allclose(both[4:], net(x, t, c).flip(0), atol=1e-5)


def test_gradient_reaches_every_parameter():
    net = _net()
    x, t, c = _batch()
    net(x, t, c).square().mean().backward()
    for name, parameter in net.named_parameters():
        assert parameter.grad is not None and parameter.grad.abs().sum() > 0, name


def test_attention_is_optional():
    with_attention, without = _net(), _net(attention=False)
    assert (sum(p.numel() for p in with_attention.parameters())
            > sum(p.numel() for p in without.parameters()))
    x, t, c = _batch()
    assert without(x, t, c).shape == x.shape


def test_bad_inputs():
    net = _net()
    x, t, c = _batch()
    with pytest.raises(ValueError, match="x must have shape"):
        net(x[:, :, :10], t, c)
    with pytest.raises(ValueError, match="t must have shape"):
        net(x, t[:2], c)
    with pytest.raises(ValueError, match="class_labels"):
        net(x, t, c[:2])
    with pytest.raises(ValueError, match="divisible"):
        UNet((8, 16, 32), 14)
