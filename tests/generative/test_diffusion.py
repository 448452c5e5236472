import math

import pytest
import torch
from torch import nn

from course_utils.generative import diffusion
from course_utils.generative.diffusion import (
    ddim_sample,
    ddim_timesteps,
    guided_noise,
    make_schedule,
    p_losses,
    p_sample,
    p_sample_loop,
    predict_start_from_noise,
    q_sample,
)
from course_utils.generative.unet import NULL_CLASS, UNet

SCHEDULE = make_schedule(50)   # linear, betas 2e-3 .. 0.4


def _tiny_unet(seed=0) -> UNet:
    torch.manual_seed(seed)
    net = UNet((8, 16), 14, attention=False)
    nn.init.normal_(net.head[-1].weight, std=0.1)
    return net


class PointMassOracle(nn.Module):
    """The exact eps-prediction when all data equal the constant `value`:
    eps = (x_t - sqrt(abar_t) value) / sqrt(1 - abar_t). Every sampler must then return value."""

    def __init__(self, schedule, value):
        super().__init__()
        self.schedule, self.value = schedule, value
        self.dummy = nn.Parameter(torch.zeros(()))   # gives the samplers a device

    def forward(self, x, t, class_labels=None):
        abar = self.schedule.alphas_cumprod.double()[t].view(-1, 1, 1, 1)
        return ((x.double() - abar.sqrt() * self.value) / (1 - abar).sqrt()).to(x.dtype)


class GaussianOracle(nn.Module):
    """The exact eps-prediction when the data are N(0, std^2 I): x_t ~ N(0, v I) with
    v = abar std^2 + 1 - abar, and E[eps | x_t] = sqrt(1 - abar) x_t / v."""

    def __init__(self, schedule, std):
        super().__init__()
        self.schedule, self.std = schedule, std
        self.dummy = nn.Parameter(torch.zeros(()))

    def forward(self, x, t, class_labels=None):
        abar = self.schedule.alphas_cumprod[t].view(-1, 1, 1, 1)
        return (1 - abar).sqrt() * x / (abar * self.std ** 2 + 1 - abar)


class LabelNoise(nn.Module):
    """eps(x, t, c) = x * (c + 1) / 10: a model whose output depends on the label."""

    def __init__(self):
        super().__init__()
        self.calls = []
        self.dummy = nn.Parameter(torch.zeros(()))

    def forward(self, x, t, class_labels=None):
        labels = (torch.full((len(x),), NULL_CLASS) if class_labels is None else class_labels)
        self.calls.append(len(x))
        return x * (labels.to(x.dtype).view(-1, 1, 1, 1) + 1) / 10


def test_linear_schedule():
    s = make_schedule(1000)
    assert s.timesteps == 1000 and s.kind == "linear"
    for name in ("betas", "alphas", "alphas_cumprod", "alphas_cumprod_prev",
                 "sqrt_alphas_cumprod", "sqrt_one_minus_alphas_cumprod", "posterior_variance"):
        value = getattr(s, name)
        assert value.shape == (1000,) and value.dtype == torch.float32, name
    assert s.betas[0].item() == pytest.approx(1e-4) and s.betas[-1].item() == pytest.approx(0.02)
    assert torch.allclose(s.alphas_cumprod, torch.cumprod(1 - s.betas.double(), 0).float())
    assert s.alphas_cumprod_prev[0] == 1 and torch.equal(s.alphas_cumprod_prev[1:],
                                                         s.alphas_cumprod[:-1])
    assert s.posterior_variance[0] == 0
    t = 500
    expected = s.betas[t] * (1 - s.alphas_cumprod[t - 1]) / (1 - s.alphas_cumprod[t])
    assert s.posterior_variance[t].item() == pytest.approx(expected.item(), rel=1e-5)
    scaled = make_schedule(100)   # both ends scaled by 1000 / T
    assert scaled.betas[0].item() == pytest.approx(1e-3)
    assert scaled.betas[-1].item() == pytest.approx(0.2)


def test_cosine_schedule():
    s = make_schedule(100, "cosine")
    f = [math.cos((u / 100 + 0.008) / 1.008 * math.pi / 2) ** 2 for u in range(101)]
    for t in (0, 10, 50, 98):
        assert s.alphas_cumprod[t].item() == pytest.approx(f[t + 1] / f[0], rel=1e-5)
    assert s.betas.max() <= 0.999 + 1e-7 and s.betas.min() > 0


def test_schedule_errors():
    with pytest.raises(ValueError, match="kind"):
        make_schedule(100, "quadratic")
    with pytest.raises(ValueError, match="20 timesteps"):
        make_schedule(20)


def slow_q_sample(x_start, t, noise, betas):
    """From the betas alone, one image at a time."""
    out = torch.empty_like(x_start)
    for n in range(len(x_start)):
        abar = 1.0
        for s in range(int(t[n]) + 1):
            abar *= 1 - float(betas[s])
        out[n] = math.sqrt(abar) * x_start[n] + math.sqrt(1 - abar) * noise[n]
    return out


def test_q_sample_matches_a_slow_version():
    g = torch.Generator().manual_seed(0)
    x0, noise = torch.rand(5, 1, 3, 4, generator=g) * 2 - 1, torch.randn(5, 1, 3, 4, generator=g)
    t = torch.tensor([0, 3, 17, 30, 49])
    got = q_sample(x0, t, noise, SCHEDULE)
    assert got.shape == x0.shape and got.dtype == torch.float32
    assert torch.allclose(got, slow_q_sample(x0, t, noise, SCHEDULE.betas), atol=1e-5)


def test_q_sample_is_t_noising_steps_in_distribution():
    # x_t = sqrt(1 - beta_t) x_{t-1} + sqrt(beta_t) z, t + 1 times from x_0, over many draws
    g = torch.Generator().manual_seed(1)
    draws, t = 20000, 20
    x0 = torch.tensor([-1.0, -0.3, 0.5, 1.0]).double().view(1, 1, 2, 2).expand(draws, 1, 2, 2)
    x = x0.clone()
    for s in range(t + 1):
        beta = SCHEDULE.betas[s].double()
        x = (1 - beta).sqrt() * x + beta.sqrt() * torch.randn(x.shape, generator=g,
                                                              dtype=torch.float64)
    closed = q_sample(x0, torch.full((draws,), t), torch.randn(x0.shape, generator=g,
                                                              dtype=torch.float64), SCHEDULE)
    abar = SCHEDULE.alphas_cumprod[t].double()
    for sample in (x, closed):
        assert torch.allclose(sample.mean(0), abar.sqrt() * x0[0], atol=0.025)
        assert torch.allclose(sample.var(0), (1 - abar).expand(1, 2, 2), atol=0.03)
    assert torch.allclose(x.mean(0), closed.mean(0), atol=0.035)


def test_q_sample_checks_its_inputs():
    x0 = torch.zeros(2, 1, 4, 4)
    with pytest.raises(ValueError, match="lie in"):
        q_sample(x0, torch.tensor([0, 50]), torch.zeros_like(x0), SCHEDULE)
    with pytest.raises(ValueError, match="integer"):
        q_sample(x0, torch.tensor([0.0, 1.0]), torch.zeros_like(x0), SCHEDULE)
    with pytest.raises(ValueError, match="batch of 2"):
        q_sample(x0, torch.tensor([0, 1, 2]), torch.zeros_like(x0), SCHEDULE)
    with pytest.raises(ValueError, match="noise"):
        q_sample(x0, torch.tensor([0, 1]), torch.zeros(2, 1, 4, 5), SCHEDULE)


def test_predict_start_from_noise_inverts_q_sample():
    g = torch.Generator().manual_seed(2)
    x0 = torch.rand(6, 1, 5, 5, generator=g, dtype=torch.float64) * 2 - 1
    noise = torch.randn(6, 1, 5, 5, generator=g, dtype=torch.float64)
    t = torch.tensor([0, 1, 10, 25, 48, 49])
    x_t = q_sample(x0, t, noise, SCHEDULE)
    assert torch.allclose(predict_start_from_noise(x_t, t, noise, SCHEDULE), x0, atol=1e-10)
    s = make_schedule(1000)
    t = torch.tensor([0, 999, 500, 3, 998, 100])
    back = predict_start_from_noise(q_sample(x0, t, noise, s), t, noise, s)
    assert torch.allclose(back, x0, atol=1e-10)


def test_p_losses_is_the_mean_squared_noise_error():
    g = torch.Generator().manual_seed(3)
    x0 = torch.rand(4, 1, 14, 14, generator=g) * 2 - 1
    noise = torch.randn(4, 1, 14, 14, generator=g)
    t, labels = torch.tensor([0, 5, 20, 49]), torch.tensor([1, 2, NULL_CLASS, 3])
    net = _tiny_unet()
    loss = p_losses(net, x0, t, noise, SCHEDULE, labels)
    expected = (net(q_sample(x0, t, noise, SCHEDULE), t, labels) - noise).square().mean()
    assert loss.shape == () and loss.item() == pytest.approx(expected.item(), rel=1e-6)
    loss.backward()
    assert net.head[-1].weight.grad.abs().sum() > 0
    # the exact noise gives zero loss; predicting zero gives the mean of eps^2
    assert p_losses(PointMassOracle(SCHEDULE, 0.25), torch.full_like(x0, 0.25), t, noise,
                    SCHEDULE).item() == pytest.approx(0.0, abs=1e-10)
    assert p_losses(UNet((8, 16), 14), x0, t, noise, SCHEDULE).item() == pytest.approx(
        noise.square().mean().item(), rel=1e-6)


def test_guided_noise():
    model = LabelNoise()
    x, t, c = torch.ones(3, 1, 2, 2), torch.tensor([1, 2, 3]), torch.tensor([0, 4, 9])
    conditional = (c.float() + 1).view(-1, 1, 1, 1) / 10 * x
    unconditional = (NULL_CLASS + 1) / 10 * x
    got = guided_noise(model, x, t, c, 2.0)
    assert torch.allclose(got, 3 * conditional - 2 * unconditional)
    assert model.calls == [6]   # one call on the doubled batch
    assert torch.allclose(guided_noise(model, x, t, c, 0.0), conditional)
    assert torch.allclose(guided_noise(model, x, t, None, 5.0), unconditional)
    assert model.calls == [6, 3, 3]


def test_p_sample_mean_is_the_posterior_mean_and_the_noise_one_draw():
    net = _tiny_unet()
    g = torch.Generator().manual_seed(4)
    x = torch.randn(3, 1, 14, 14, generator=g)
    labels = torch.tensor([1, 7, NULL_CLASS])
    s, t = SCHEDULE, 30
    with torch.no_grad():
        eps = guided_noise(net, x, torch.full((3,), t), labels, 1.5)
        x0 = predict_start_from_noise(x, torch.full((3,), t), eps, s)
        abar, abar_prev = s.alphas_cumprod[t], s.alphas_cumprod[t - 1]
        mean = (s.betas[t] * abar_prev.sqrt() * x0
                + (1 - abar_prev) * s.alphas[t].sqrt() * x) / (1 - abar)   # q(x_{t-1}|x_t, x_0)
        z = torch.randn(x.shape, generator=torch.Generator().manual_seed(9))
        got = p_sample(net, x, t, s, labels, 1.5, torch.Generator().manual_seed(9))
    assert torch.allclose(got, mean + s.posterior_variance[t].sqrt() * z, atol=1e-5)
    generator = torch.Generator().manual_seed(9)
    with torch.no_grad():
        last = p_sample(net, x, 0, s, labels, 1.5, generator)
        eps0 = guided_noise(net, x, torch.zeros(3, dtype=torch.long), labels, 1.5)
    assert torch.allclose(last, (x - s.betas[0] / s.sqrt_one_minus_alphas_cumprod[0] * eps0)
                          / s.alphas[0].sqrt(), atol=1e-6)
    assert torch.equal(generator.get_state(), torch.Generator().manual_seed(9).get_state())
    with pytest.raises(ValueError, match="t must lie"):
        p_sample(net, x, 50, s)


def test_p_sample_loop_draw_order_and_output():
    net = _tiny_unet()
    labels = torch.tensor([0, 3])
    images = p_sample_loop(net, (2, 1, 14, 14), SCHEDULE, labels, 1.0, seed=5, progress=False)
    assert images.shape == (2, 1, 14, 14) and images.dtype == torch.float32
    assert images.min() >= 0 and images.max() <= 1
    generator = torch.Generator().manual_seed(5)
    x = torch.randn(2, 1, 14, 14, generator=generator)
    with torch.no_grad():
        for t in range(49, -1, -1):
            x = p_sample(net, x, t, SCHEDULE, labels, 1.0, generator)
    assert torch.allclose(images, (x.clamp(-1, 1) + 1) / 2, atol=1e-5)
    assert net.training   # the mode is restored
    again = p_sample_loop(net, (2, 1, 14, 14), SCHEDULE, labels, 1.0, seed=6, progress=False)
    assert not torch.allclose(images, again)


@pytest.mark.parametrize("kind", ["linear", "cosine"])
def test_samplers_return_the_point_mass_for_the_exact_noise(kind):
    s = make_schedule(60, kind)
    oracle = PointMassOracle(s, 0.4)
    expected = torch.full((3, 1, 4, 4), 0.7)   # (0.4 + 1) / 2
    assert torch.allclose(p_sample_loop(oracle, (3, 1, 4, 4), s, progress=False), expected,
                          atol=1e-4)
    for steps, eta in ((1, 0.0), (7, 0.0), (60, 0.0), (7, 1.0)):
        got = ddim_sample(oracle, (3, 1, 4, 4), s, steps=steps, eta=eta)
        assert torch.allclose(got, expected, atol=5e-4), (steps, eta)


def test_samplers_draw_the_data_distribution_for_the_exact_noise():
    # with T = 1000 small steps both samplers follow the true reverse process closely (few
    # DDIM steps shrink the variance of such narrow data: a first-order discretisation)
    s = make_schedule(1000)
    oracle = GaussianOracle(s, 0.1)
    ancestral = p_sample_loop(oracle, (4000, 1, 1, 1), s, progress=False) * 2 - 1
    deterministic = ddim_sample(oracle, (4000, 1, 1, 1), s, steps=1000) * 2 - 1
    for x in (ancestral, deterministic):
        assert abs(x.mean().item()) < 0.01 and x.std().item() == pytest.approx(0.1, rel=0.06)


def test_ddim_with_every_step_and_eta_one_is_the_ancestral_sampler():
    # sigma^2 = (1 - abar_{t-1}) / (1 - abar_t) (1 - abar_t / abar_{t-1}) is the posterior
    # variance, the DDIM step's mean the posterior mean, and both draw one z per step but the last
    oracle = GaussianOracle(SCHEDULE, 0.1)
    ancestral = p_sample_loop(oracle, (8, 1, 3, 3), SCHEDULE, seed=3, progress=False)
    ddim = ddim_sample(oracle, (8, 1, 3, 3), SCHEDULE, steps=50, eta=1.0, seed=3)
    assert torch.allclose(ancestral, ddim, atol=1e-5)
    assert not torch.allclose(ddim, ddim_sample(oracle, (8, 1, 3, 3), SCHEDULE, steps=50, seed=3),
                              atol=1e-3)


def test_ddim_timesteps():
    visits = ddim_timesteps(1000, 25)
    assert len(visits) == 25 and visits[0] == 999 and visits[-1] == 0
    assert all(a > b for a, b in zip(visits, visits[1:], strict=False))
    assert ddim_timesteps(50, 50) == list(range(49, -1, -1)) and ddim_timesteps(50, 1) == [49]
    with pytest.raises(ValueError, match="steps"):
        ddim_timesteps(50, 51)


def test_ddim_sample_is_seeded_and_deterministic_at_eta_zero():
    net = _tiny_unet()
    labels = torch.tensor([2, 5, 8])
    first = ddim_sample(net, (3, 1, 14, 14), SCHEDULE, steps=5, class_labels=labels,
                        guidance_scale=2.0, seed=1)
    assert first.shape == (3, 1, 14, 14) and first.dtype == torch.float32
    assert first.min() >= 0 and first.max() <= 1
    assert torch.equal(first, ddim_sample(net, (3, 1, 14, 14), SCHEDULE, steps=5,
                                          class_labels=labels, guidance_scale=2.0, seed=1))
    assert not torch.allclose(first, ddim_sample(net, (3, 1, 14, 14), SCHEDULE, steps=5,
                                                 class_labels=labels, guidance_scale=2.0, seed=2))
    stochastic = ddim_sample(net, (3, 1, 14, 14), SCHEDULE, steps=5, eta=1.0,
                             class_labels=labels, guidance_scale=2.0, seed=1)
    assert not torch.allclose(first, stochastic)
    with pytest.raises(ValueError, match="class_labels"):
        ddim_sample(net, (3, 1, 14, 14), SCHEDULE, steps=5, class_labels=labels[:2])


def test_train_ddpm_calls_p_losses_through_the_module(monkeypatch):
    calls = []

    def counting(*args, **kwargs):
        calls.append(args[2])
        return p_losses(*args, **kwargs)

    monkeypatch.setattr(diffusion, "p_losses", counting)
    torch.manual_seed(0)
    model, history = diffusion.train_ddpm(max_steps=3, progress=False, batch_size=8,
                                          timesteps=50, model=UNet((8, 16), 14, attention=False))
    assert len(calls) == 3 and all(t.shape == (8,) and t.max() < 50 for t in calls)
    assert len(history["step_loss"]) == 3 and len(history["train_loss"]) == 1
    assert history["train_loss"][0] == pytest.approx(sum(history["step_loss"]) / 3)
    assert not model.training
    assert not any(p.requires_grad for p in model.parameters())


def test_mnist_training_images():
    images, labels = diffusion.mnist_training_images(14)
    assert images.shape == (60000, 1, 14, 14) and labels.shape == (60000,)
    assert images.min() == -1 and images.max() <= 1
    with pytest.raises(ValueError, match="14 or 28"):
        diffusion.mnist_training_images(7)


def test_committed_weights_make_the_asked_digits():
    from course_utils import pretrained

    model = diffusion.load_mnist_ddpm()
    labels = torch.arange(10).repeat(2)
    images = ddim_sample(model, (20, 1, 14, 14), make_schedule(diffusion.MNIST_DDPM_TIMESTEPS),
                         steps=10, class_labels=labels, guidance_scale=1.0, seed=0)
    upsampled = nn.functional.interpolate(images, size=(28, 28), mode="bilinear")
    with torch.no_grad():
        predicted = pretrained.load_mnist_resnet()(upsampled).argmax(1)
    assert (predicted == labels).float().mean() >= 0.7
