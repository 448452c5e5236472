"""The VAE: the graded reparametrisation and loss against torch.distributions and PyTorch's
binary cross-entropy, the model's layout, training, the ELBO, sampling, the latent grid and
traversal, the explorer's figures and widget, and the committed weights."""

import math

import ipywidgets
import matplotlib
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.distributions import Normal, kl_divergence

from course_utils import data
from course_utils.generative import vae, vae_explorer

matplotlib.use("Agg")


def small_vae(latent_size: int = 3, seed: int = 0) -> vae.VAE:
    torch.manual_seed(seed)
    return vae.VAE(784, latent_size, hidden_size=16)


def test_reparametrize_is_mu_plus_sigma_times_one_randn_like_draw():
    mu, logvar = torch.randn(4, 3), torch.randn(4, 3)
    torch.manual_seed(5)
    z = vae.reparametrize(mu, logvar)
    torch.manual_seed(5)
    eps = torch.randn_like(mu)
    assert z.shape == (4, 3) and z.dtype == torch.float32
    torch.testing.assert_close(z, mu + torch.sqrt(torch.exp(logvar)) * eps)
    after_one_draw = torch.rand(1)                     # nothing else was drawn
    torch.manual_seed(5)
    vae.reparametrize(mu, logvar)
    assert torch.equal(torch.rand(1), after_one_draw)


def test_reparametrize_has_the_posterior_moments():
    mu = torch.tensor([[1.5, -2.0]]).expand(200_000, 2)
    logvar = torch.tensor([[math.log(0.25), math.log(4.0)]]).expand(200_000, 2)
    torch.manual_seed(0)
    z = vae.reparametrize(mu, logvar)
    torch.testing.assert_close(z.mean(0), torch.tensor([1.5, -2.0]), atol=0.02, rtol=0)
    torch.testing.assert_close(z.std(0), torch.tensor([0.5, 2.0]), atol=0.02, rtol=0)


def test_reparametrize_gradients_match_numerical_ones_in_float64():
    mu = torch.randn(3, 2, dtype=torch.float64, requires_grad=True)
    logvar = torch.randn(3, 2, dtype=torch.float64, requires_grad=True)

    def seeded(m, lv):
        torch.manual_seed(1)
        return vae.reparametrize(m, lv)

    assert torch.autograd.gradcheck(seeded, (mu, logvar))
    with pytest.raises(ValueError, match="same shape"):
        vae.reparametrize(torch.zeros(3, 2), torch.zeros(3, 1))


def random_batch(n: int = 5, z: int = 4, dtype=torch.float32, seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 1, 28, 28, generator=generator, dtype=dtype)
    x_hat = torch.rand(n, 1, 28, 28, generator=generator, dtype=dtype) * 0.98 + 0.01
    mu = torch.randn(n, z, generator=generator, dtype=dtype)
    logvar = torch.randn(n, z, generator=generator, dtype=dtype)
    return x_hat, x, mu, logvar


def test_vae_loss_is_summed_bce_plus_the_kl_divergence_over_the_batch_size():
    x_hat, x, mu, logvar = random_batch()
    loss = vae.vae_loss(x_hat, x, mu, logvar)
    assert loss.shape == () and loss.dtype == torch.float32
    bce = F.binary_cross_entropy(x_hat, x, reduction="sum")
    kl = kl_divergence(Normal(mu, torch.exp(0.5 * logvar)), Normal(0.0, 1.0)).sum()
    torch.testing.assert_close(loss, (bce + kl) / 5)
    # The parts alone: a perfect posterior (mu = 0, sigma = 1) has no KL; x_hat = x has the
    # reconstruction term only.
    zeros = torch.zeros_like(mu)
    torch.testing.assert_close(vae.vae_loss(x_hat, x, zeros, zeros), bce / 5)
    binary = (x > 0.5).float()
    torch.testing.assert_close(vae.vae_loss(binary, binary, mu, logvar), kl / 5)


def test_vae_loss_accepts_flat_and_image_layouts():
    x_hat, x, mu, logvar = random_batch()
    expected = vae.vae_loss(x_hat, x, mu, logvar)
    flat = (x_hat.reshape(5, 784), x.reshape(5, 784))
    torch.testing.assert_close(vae.vae_loss(*flat, mu, logvar), expected)
    torch.testing.assert_close(vae.vae_loss(x_hat, flat[1], mu, logvar), expected)
    with pytest.raises(ValueError, match="same N images"):
        vae.vae_loss(x_hat[:4], x, mu, logvar)


def test_vae_loss_gradients_match_numerical_ones_in_float64():
    x_hat, x, mu, logvar = random_batch(n=2, z=2, dtype=torch.float64)
    x_hat = x_hat[:, :, :3, :3].clone().requires_grad_()
    x = x[:, :, :3, :3]
    mu, logvar = mu.requires_grad_(), logvar.requires_grad_()
    assert torch.autograd.gradcheck(lambda a, m, lv: vae.vae_loss(a, x, m, lv),
                                    (x_hat, mu, logvar))


def test_the_vae_has_cs231n_layout_and_calls_reparametrize_through_the_module(monkeypatch):
    model = vae.VAE(784, 15)
    layers = [type(layer) for layer in model.encoder]
    assert layers == [nn.Flatten, nn.Linear, nn.ReLU, nn.Linear, nn.ReLU, nn.Linear, nn.ReLU]
    assert [type(layer) for layer in model.decoder] == [
        nn.Linear, nn.ReLU, nn.Linear, nn.ReLU, nn.Linear, nn.ReLU, nn.Linear, nn.Sigmoid,
        nn.Unflatten]
    assert model.encoder[1].weight.shape == (400, 784)
    assert model.mu_layer.weight.shape == model.logvar_layer.weight.shape == (15, 400)
    assert model.decoder[0].weight.shape == (400, 15)
    encoder = 784 * 400 + 400 + 2 * (400 * 400 + 400) + 2 * (400 * 15 + 15)
    decoder = 15 * 400 + 400 + 2 * (400 * 400 + 400) + 400 * 784 + 784
    assert sum(p.numel() for p in model.parameters()) == encoder + decoder
    x = torch.rand(3, 1, 28, 28)
    x_hat, mu, logvar = model(x)
    assert x_hat.shape == (3, 1, 28, 28) and mu.shape == logvar.shape == (3, 15)
    assert 0 <= x_hat.min() and x_hat.max() <= 1
    monkeypatch.setattr(vae, "reparametrize", lambda m, lv: m)   # as the notebook rebinds it
    x_hat, mu, _ = model(x.reshape(3, 784))
    torch.testing.assert_close(x_hat, model.decoder(mu))
    with pytest.raises(ValueError, match="784"):
        vae.VAE(100, 2)


def test_train_vae_lowers_the_loss_reproducibly_through_vae_loss(monkeypatch, few_digits):
    calls = []
    original = vae.vae_loss
    monkeypatch.setattr(vae, "vae_loss", lambda *args: calls.append(1) or original(*args))
    model, history = vae.train_vae(latent_size=2, epochs=4, max_steps=25, hidden_size=32,
                                   lr=3e-3, progress=False, device="cpu")   # 8 batches/epoch
    assert len(calls) == len(history["step_loss"]) == 25
    assert len(history["train_loss"]) == 4 and not model.training
    assert np.mean(history["step_loss"][-5:]) < 0.7 * np.mean(history["step_loss"][:5])
    assert history["train_loss"][0] == pytest.approx(np.mean(history["step_loss"][:8]))
    assert history["train_loss"][3] == pytest.approx(history["step_loss"][24])
    _, again = vae.train_vae(latent_size=2, epochs=1, max_steps=3, hidden_size=32,
                             lr=3e-3, progress=False, device="cpu")
    assert again["step_loss"] == history["step_loss"][:3]


def test_elbo_is_minus_vae_loss_averaged_over_draws_and_leaves_the_global_generator():
    model = small_vae()
    x = torch.rand(30, 1, 28, 28)
    torch.manual_seed(123)
    state = torch.get_rng_state()
    got = vae.elbo(model, x, n_samples=2, seed=7, batch_size=20)
    assert torch.equal(torch.get_rng_state(), state)
    torch.manual_seed(7)
    total = 0.0
    with torch.no_grad():
        for batch in (x[:20], x[20:]):
            mu, logvar = model.encode(batch)
            for _ in range(2):
                x_hat = model.decoder(mu + torch.exp(logvar / 2) * torch.randn_like(mu))
                total -= vae.vae_loss(x_hat, batch, mu, logvar).item() * len(batch) / 2
    assert got == pytest.approx(total / 30, rel=1e-5)
    assert vae.elbo(model, x, seed=7) == vae.elbo(model, x, seed=7) != vae.elbo(model, x, seed=8)
    uint8 = (x[:, 0] * 255).round().to(torch.uint8).numpy()
    assert vae.elbo(model, uint8) == pytest.approx(vae.elbo(model, uint8.reshape(30, 1, 28, 28)
                                                          .astype(np.float32) / 255), rel=1e-6)
    assert vae.bits_per_dim(-784 * math.log(2)) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="n_samples"):
        vae.elbo(model, x, n_samples=0)


def test_kl_per_dimension_matches_torch_distributions():
    model, x = small_vae(), torch.rand(10, 1, 28, 28)
    with torch.no_grad():
        mu, logvar = model.encode(x)
    expected = kl_divergence(Normal(mu, torch.exp(logvar / 2)), Normal(0.0, 1.0)).mean(0)
    torch.testing.assert_close(vae.kl_per_dimension(model, x), expected)


def test_sample_decodes_seeded_prior_draws_on_the_cpu_in_eval_mode():
    model = small_vae().train()
    images = vae.sample(model, 6, seed=3)
    assert images.shape == (6, 1, 28, 28) and images.dtype == torch.float32
    assert images.device.type == "cpu" and model.training
    assert 0 <= images.min() and images.max() <= 1
    z = torch.randn((6, 3), generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        torch.testing.assert_close(images, model.decoder(z))
    assert torch.equal(images, vae.sample(model, 6, seed=3))
    assert not torch.equal(images, vae.sample(model, 6, seed=4))
    with pytest.raises(ValueError, match="n must"):
        vae.sample(model, 0)


def test_reconstruct_decodes_the_posterior_mean():
    model, x = small_vae(), torch.rand(4, 1, 28, 28)
    with torch.no_grad():
        torch.testing.assert_close(vae.reconstruct(model, x), model.decoder(model.encode(x)[0]))
    torch.testing.assert_close(vae.posterior_means(model, x.reshape(4, 784)),
                               model.encode(x)[0].detach())


def test_the_latent_grid_runs_through_normal_quantiles_z2_upwards():
    points = vae.latent_grid_points(n=3, span=0.9)
    low, high = Normal(0.0, 1.0).icdf(torch.tensor([0.05, 0.95])).tolist()
    expected = [[low, high], [0, high], [high, high], [low, 0], [0, 0], [high, 0],
                [low, low], [0, low], [high, low]]
    torch.testing.assert_close(points, torch.tensor(expected), atol=1e-6, rtol=0)
    model2d = small_vae(latent_size=2)
    images = vae.latent_grid(model2d, n=4, span=0.5)
    assert images.shape == (16, 1, 28, 28)
    with torch.no_grad():
        torch.testing.assert_close(images, model2d.decoder(vae.latent_grid_points(4, 0.5)))
    with pytest.raises(ValueError, match="latent_size 2"):
        vae.latent_grid(small_vae(latent_size=3))
    with pytest.raises(ValueError, match="span"):
        vae.latent_grid_points(5, span=1.0)


def test_traverse_moves_one_coordinate_only():
    model, z = small_vae(), torch.tensor([0.5, -1.0, 2.0])
    images = vae.traverse(model, z, 1, [-2.0, 0.0, 3.0])
    codes = torch.tensor([[0.5, -2.0, 2.0], [0.5, 0.0, 2.0], [0.5, 3.0, 2.0]])
    with torch.no_grad():
        torch.testing.assert_close(images, model.decoder(codes))
    with pytest.raises(ValueError, match="dim"):
        vae.traverse(model, z, 3, [0.0])


def test_the_explorer_figures_show_the_grid_codes_and_traversal():
    model2d = small_vae(latent_size=2)
    grid = vae_explorer.plot_latent_grid(model2d, n=5, span=0.8)
    shown = grid.axes[0].images[0].get_array()
    np.testing.assert_allclose(shown, vae_explorer.mosaic(vae.latent_grid(model2d, 5, 0.8), 5),
                               rtol=1e-5)
    assert shown.shape == (140, 140)
    np.testing.assert_allclose(shown[28:56, :28], vae.latent_grid(model2d, 5, 0.8)[5, 0],
                               rtol=1e-5)
    codes = vae_explorer.plot_latent_codes(model2d, torch.rand(20, 1, 28, 28),
                                           np.arange(20) % 10)
    assert len(codes.axes[0].collections) == 10
    figure = vae_explorer.plot_traversal(small_vae(), torch.zeros(3), 2, 1.5, [-1.0, 0.0, 1.0])
    start, moved, bars, strip = figure.axes
    np.testing.assert_allclose(moved.images[0].get_array(),
                               vae.traverse(small_vae(), torch.zeros(3), 2, [1.5])[0, 0],
                               rtol=1e-5)
    assert [bar.get_height() for bar in bars.patches] == [0, 0, 1.5]
    assert strip.images[0].get_array().shape == (28, 84)
    with pytest.raises(ValueError, match="fill rows"):
        vae_explorer.mosaic(torch.zeros(5, 1, 2, 2), 2)


def test_the_traversal_widget_draws_the_chosen_start_dimension_and_value(spy_on):
    model, images = small_vae(), torch.rand(3, 1, 28, 28)
    calls = spy_on(vae_explorer, "plot_traversal")
    widget = vae_explorer.latent_traversal_widget(model, images, span=2.0, steps=5)
    assert isinstance(widget, ipywidgets.VBox)
    image, dim, value = widget.children[0].children
    kl = vae.kl_per_dimension(model, images)
    assert [d for _, d in dim.options] == torch.argsort(kl, descending=True).tolist()
    second = dim.options[1][1]                                 # not the first shown
    image.value, dim.value, value.value = 2, second, -1.0
    starts = vae.posterior_means(model, images)
    (drawn_model, z, drawn_dim, drawn_value, values), _ = calls[-1]
    assert drawn_model is model and (drawn_dim, drawn_value) == (second, -1.0)
    torch.testing.assert_close(z, starts[2])
    np.testing.assert_allclose(values, np.linspace(-2, 2, 5))
    assert len(calls) == 4                                     # drawn once, then per change
    prior = vae_explorer.latent_traversal_widget(model)
    assert prior.children[0].children[0].disabled
    assert torch.equal(calls[-1][0][1], torch.zeros(3))


def test_the_committed_vaes_load_and_score_what_their_constants_say(tmp_path, monkeypatch,
                                                                    mnist):
    _, _, x_test, _ = mnist
    for load, path, score in [(vae.load_mnist_vae, vae.MNIST_VAE_PATH, vae.MNIST_VAE_TEST_ELBO),
                              (vae.load_mnist_vae2d, vae.MNIST_VAE2D_PATH,
                               vae.MNIST_VAE2D_TEST_ELBO)]:
        model = load()
        assert not model.training and path.stat().st_size < 1_500_000
        assert vae.elbo(model, x_test) == pytest.approx(score, abs=0.01)
    assert vae.load_mnist_vae2d().latent_size == 2
    with pytest.raises(FileNotFoundError, match="instructor.weights mnist_vae"):
        vae.load_mnist_vae(tmp_path / "missing.pt")
    monkeypatch.setattr(vae, "MNIST_VAE2D_SHA256", "0" * 64)
    with pytest.raises(data.DatasetError, match="corrupt"):
        vae.load_mnist_vae2d()
