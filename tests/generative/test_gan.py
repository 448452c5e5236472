"""CS231n's GAN pieces: the noise draw, the models' layers and parameter counts (computed from
the layer list), the losses against their formulas, PyTorch and numerical gradients, and the
saturating versus non-saturating generator loss."""

import math

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from matplotlib.figure import Figure
from torch import nn

from course_utils.generative import gan

torch.set_num_threads(1)


def linear(n_in: int, n_out: int) -> int:
    return n_in * n_out + n_out


def conv(c_in: int, c_out: int, k: int) -> int:   # Conv2d and ConvTranspose2d alike
    return c_in * c_out * k * k + c_out


def batch_norm(c: int) -> int:
    return 2 * c


def fc_generator_count(noise_dim: int, hidden: int = 1024) -> int:
    return linear(noise_dim, hidden) + linear(hidden, hidden) + linear(hidden, 784)


def dc_generator_count(noise_dim: int, hidden: int = 1024, channels: int = 128) -> int:
    return (linear(noise_dim, hidden) + batch_norm(hidden) + linear(hidden, 49 * channels)
            + batch_norm(49 * channels) + conv(channels, channels // 2, 4)
            + batch_norm(channels // 2) + conv(channels // 2, 1, 4))


def layer_types(model: nn.Module) -> list[type]:
    return [type(layer) for layer in model]


# --- noise ---------------------------------------------------------------------------------------

def test_sample_noise_is_torch_rand_scaled_to_minus_one_one_after_seeding():
    noise = gan.sample_noise(3, 5, seed=231)
    torch.manual_seed(231)
    expected = torch.rand(3, 5) * 2 - 1
    assert noise.shape == (3, 5) and noise.dtype == torch.float32
    assert torch.equal(noise, expected)
    big = gan.sample_noise(4000, 8, seed=0)
    assert big.min() >= -1 and big.max() < 1
    assert abs(big.mean().item()) < 0.02 and abs(big.var().item() - 1 / 3) < 0.01   # U(-1, 1)


def test_sample_noise_without_a_seed_continues_the_global_generator():
    torch.manual_seed(7)
    first, second = gan.sample_noise(2, 3), gan.sample_noise(2, 3)
    torch.manual_seed(7)
    draws = torch.rand(4, 3) * 2 - 1
    assert torch.equal(torch.cat([first, second]), draws)
    assert not torch.equal(first, second)


# --- models --------------------------------------------------------------------------------------

def test_discriminator_is_cs231ns_mlp_with_267009_parameters():
    D = gan.discriminator()
    assert layer_types(D) == [nn.Flatten, nn.Linear, nn.LeakyReLU, nn.Linear, nn.LeakyReLU,
                              nn.Linear]
    assert [(m.in_features, m.out_features) for m in D if isinstance(m, nn.Linear)] == [
        (784, 256), (256, 256), (256, 1)]
    assert all(m.negative_slope == 0.01 for m in D if isinstance(m, nn.LeakyReLU))
    expected = linear(784, 256) + linear(256, 256) + linear(256, 1)
    assert gan.count_params(D) == expected == 267_009


def test_generator_counts_match_cs231n_and_the_layer_list():
    G = gan.generator()
    assert layer_types(G) == [nn.Linear, nn.ReLU, nn.Linear, nn.ReLU, nn.Linear, nn.Tanh]
    assert gan.count_params(G) == fc_generator_count(96) == 1_952_528
    # CS231n's test counts generator(4): 1,858,320.
    assert gan.count_params(gan.generator(4)) == fc_generator_count(4) == 1_858_320
    assert gan.count_params(gan.generator(96, hidden_dim=256)) == fc_generator_count(96, 256)


def test_dc_models_match_cs231n_and_the_layer_list():
    D = gan.build_dc_classifier(128)
    assert layer_types(D) == [gan.Unflatten, nn.Conv2d, nn.LeakyReLU, nn.MaxPool2d, nn.Conv2d,
                              nn.LeakyReLU, nn.MaxPool2d, nn.Flatten, nn.Linear, nn.LeakyReLU,
                              nn.Linear]
    expected = conv(1, 32, 5) + conv(32, 64, 5) + linear(1024, 1024) + linear(1024, 1)
    assert gan.count_params(D) == expected == 1_102_721
    G = gan.build_dc_generator()
    assert layer_types(G) == [nn.Linear, nn.ReLU, nn.BatchNorm1d, nn.Linear, nn.ReLU,
                              nn.BatchNorm1d, gan.Unflatten, nn.ConvTranspose2d, nn.ReLU,
                              nn.BatchNorm2d, nn.ConvTranspose2d, nn.Tanh, nn.Flatten]
    assert gan.count_params(G) == dc_generator_count(96) == 6_675_009
    assert gan.count_params(gan.build_dc_generator(4)) == dc_generator_count(4) == 6_580_801
    small = gan.build_dc_generator(96, hidden_dim=128, channels=48)
    assert gan.count_params(small) == dc_generator_count(96, 128, 48)


def test_models_map_images_and_noise_to_the_documented_shapes():
    torch.manual_seed(0)
    images = torch.rand(5, 1, 28, 28) * 2 - 1
    z = gan.sample_noise(5, 96, seed=1)
    for D in (gan.discriminator(seed=0), gan.build_dc_classifier(128)):
        logits = D(images)
        assert logits.shape == (5, 1)
        assert torch.allclose(D(images.reshape(5, 784)), logits)   # flat images too
    for G in (gan.generator(seed=0), gan.build_dc_generator().eval()):
        fake = G(z)
        assert fake.shape == (5, 784) and fake.abs().max() < 1
    with pytest.raises(RuntimeError):
        gan.build_dc_classifier(128)(torch.rand(5, 700))


def test_seeds_repeat_the_initialisation():
    for build in (gan.discriminator, gan.generator):
        a, b, c = build(seed=3), build(seed=3), build(seed=4)
        for (name, pa), pb, pc in zip(a.named_parameters(), b.parameters(), c.parameters(),
                                      strict=True):
            assert torch.equal(pa, pb), name
            assert not torch.equal(pa, pc), name
    torch.manual_seed(3)
    layer = nn.Linear(784, 256)   # the seed is taken just before the first layer is made
    assert torch.equal(gan.discriminator(seed=3)[1].weight, layer.weight)


def test_initialize_weights_is_xavier_uniform_of_linear_and_transposed_convolutions():
    G = gan.build_dc_generator(8, hidden_dim=16, channels=8)
    D = gan.build_dc_classifier(4)
    conv_before = D[1].weight.clone()
    torch.manual_seed(0)
    G.apply(gan.initialize_weights)
    D.apply(gan.initialize_weights)
    for m in [*G, *D]:
        if isinstance(m, (nn.Linear, nn.ConvTranspose2d)):
            fan_in, fan_out = nn.init._calculate_fan_in_and_fan_out(m.weight)
            bound = math.sqrt(6 / (fan_in + fan_out))
            assert m.weight.abs().max() <= bound
            assert m.weight.abs().max() > 0.9 * bound   # spread over the whole range
    assert torch.equal(D[1].weight, conv_before)   # Conv2d keeps PyTorch's default


# --- losses --------------------------------------------------------------------------------------

def logits_pair(n_real: int = 6, n_fake: int = 4, seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    return (3 * torch.randn(n_real, generator=generator, dtype=torch.float64),
            3 * torch.randn(n_fake, generator=generator, dtype=torch.float64))


def test_bce_losses_match_their_formulas_and_pytorch():
    real, fake = logits_pair()
    expected_d = -torch.log(torch.sigmoid(real)).mean() - torch.log(1 - torch.sigmoid(fake)).mean()
    assert torch.allclose(gan.discriminator_loss(real, fake), expected_d)
    torch_d = (F.binary_cross_entropy(torch.sigmoid(real), torch.ones_like(real))
               + F.binary_cross_entropy(torch.sigmoid(fake), torch.zeros_like(fake)))
    assert torch.allclose(gan.discriminator_loss(real, fake), torch_d)
    assert torch.allclose(gan.generator_loss(fake), -torch.log(torch.sigmoid(fake)).mean())
    assert torch.allclose(gan.minimax_generator_loss(fake),
                          torch.log(1 - torch.sigmoid(fake)).mean())
    assert torch.allclose(gan.minimax_generator_loss(fake),
                          -F.binary_cross_entropy_with_logits(fake, torch.zeros_like(fake)))
    # a column of logits, as the discriminators return, gives the same means
    assert torch.allclose(gan.discriminator_loss(real[:, None], fake[:, None]), expected_d)
    assert torch.allclose(gan.generator_loss(fake[:, None]), gan.generator_loss(fake))


def test_bce_losses_are_stable_for_huge_logits():
    real = torch.tensor([200.0, -200.0])
    fake = torch.tensor([-300.0, 300.0])
    # -log sigmoid(x) = softplus(-x): 0 for +200, 200 for -200
    assert torch.allclose(gan.discriminator_loss(real, fake), torch.tensor(100.0 + 150.0))
    assert torch.allclose(gan.generator_loss(fake), torch.tensor(150.0))
    assert torch.allclose(gan.minimax_generator_loss(fake), torch.tensor(-150.0))
    loss = gan.discriminator_loss(real.requires_grad_(), fake)
    loss.backward()
    assert torch.isfinite(real.grad).all()


def test_least_squares_losses_by_hand():
    scores_real = torch.tensor([1.0, 3.0, 0.0])
    scores_fake = torch.tensor([0.0, 2.0])
    # 0.5 * mean([0, 4, 1]) + 0.5 * mean([0, 4]) = 5/6 + 1
    assert torch.isclose(gan.ls_discriminator_loss(scores_real, scores_fake),
                         torch.tensor(5 / 6 + 1))
    assert torch.isclose(gan.ls_generator_loss(scores_fake), torch.tensor(0.5 * (1 + 1) / 2))
    real, fake = logits_pair(seed=2)
    assert torch.allclose(gan.ls_discriminator_loss(real, fake),
                          0.5 * F.mse_loss(real, torch.ones_like(real))
                          + 0.5 * F.mse_loss(fake, torch.zeros_like(fake)))


@pytest.mark.parametrize("loss", [gan.discriminator_loss, gan.ls_discriminator_loss])
def test_discriminator_losses_have_the_numerical_gradient(loss):
    real, fake = logits_pair(seed=3)
    assert torch.autograd.gradcheck(loss, (real.requires_grad_(), fake.requires_grad_()))


@pytest.mark.parametrize("loss", [gan.generator_loss, gan.minimax_generator_loss,
                                  gan.ls_generator_loss])
def test_generator_losses_have_the_numerical_gradient(loss):
    _, fake = logits_pair(seed=4)
    assert torch.autograd.gradcheck(loss, (fake.requires_grad_(),))


# --- why the non-saturating loss -----------------------------------------------------------------

def test_generator_loss_curves_show_the_saturating_loss_flat_where_d_rejects_the_fakes():
    curves = gan.generator_loss_curves(51)
    d = curves["d_fake"]
    assert len(d) == 51 and d[0] == pytest.approx(0.005) and d[-1] == pytest.approx(0.995)
    np.testing.assert_allclose(curves["minimax_loss"], np.log(1 - d), rtol=1e-10)
    np.testing.assert_allclose(curves["non_saturating_loss"], -np.log(d), rtol=1e-10)
    np.testing.assert_allclose(curves["minimax_grad"], -d, rtol=1e-8)
    np.testing.assert_allclose(curves["non_saturating_grad"], -(1 - d), rtol=1e-8)
    assert abs(curves["minimax_grad"][0]) < 0.01 < 0.99 < abs(curves["non_saturating_grad"][0])
    with pytest.raises(ValueError, match="num_points"):
        gan.generator_loss_curves(1)


def test_generator_loss_curves_use_the_module_losses_at_call_time(monkeypatch):
    monkeypatch.setattr(gan, "generator_loss", lambda logits: 2 * F.softplus(-logits).mean())
    curves = gan.generator_loss_curves(5)
    np.testing.assert_allclose(curves["non_saturating_grad"], -2 * (1 - curves["d_fake"]),
                               rtol=1e-8)


def test_plot_generator_losses_draws_both_losses_in_two_panels():
    figure = gan.plot_generator_losses(21)
    try:
        assert isinstance(figure, Figure)
        left, right = figure.axes
        assert len(left.get_lines()) >= 2 and len(right.get_lines()) >= 2
        assert "saturating" in left.get_legend().get_texts()[0].get_text()
    finally:
        plt.close(figure)
