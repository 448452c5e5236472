"""CS231n's GAN loop and the samplers: one step by hand, the history, seeds, the losses passed as
arguments, the sampler's draw and modes, the classifier score, and the committed generators."""

import pytest
import torch
from torch import nn

from course_utils import data, runtime, training
from course_utils.generative import gan
from course_utils.generative import gan_training as gt

torch.set_num_threads(1)

NOISE = 8


def tiny_loader(n: int = 70, batch_size: int = 16, seed: int = 0):
    x_train, y_train, _, _ = data.load_mnist()
    return training.make_loader(training.images_to_tensor(x_train[:n]), y_train[:n], batch_size,
                                shuffle=True, seed=seed)


def tiny_models(seed: int = 0) -> tuple[nn.Module, nn.Module]:
    torch.manual_seed(seed)
    D = nn.Sequential(nn.Flatten(), nn.Linear(784, 16), nn.LeakyReLU(0.01), nn.Linear(16, 1))
    G = nn.Sequential(nn.Linear(NOISE, 32), nn.ReLU(), nn.BatchNorm1d(32), nn.Linear(32, 784),
                      nn.Tanh())
    return D, G


def run(seed: int | None = 0, losses=(gan.discriminator_loss, gan.generator_loss), **options):
    D, G = tiny_models()
    options = {"batch_size": 16, "noise_size": NOISE, "num_epochs": 2, "progress": False,
               "show_every": 3, "num_samples": 4} | options
    history = gt.run_a_gan(D, G, gt.get_optimizer(D), gt.get_optimizer(G), *losses,
                           tiny_loader(), seed=seed, **options)
    return D, G, history


def test_get_optimizer_is_cs231ns_adam():
    optimizer = gt.get_optimizer(nn.Linear(3, 2))
    assert isinstance(optimizer, torch.optim.Adam)
    assert optimizer.defaults["lr"] == 1e-3 and optimizer.defaults["betas"] == (0.5, 0.999)


def test_the_first_step_is_cs231ns_step_by_hand():
    _, _, history = run(max_steps=1)
    D, G = tiny_models()
    D_solver = gt.get_optimizer(D)
    x, _ = next(iter(tiny_loader()))
    runtime.seed_everything(0)
    real = (x * 2 - 1).reshape(16, 784)
    d_loss = gan.discriminator_loss(D(real), D(G(gan.sample_noise(16, NOISE)).detach()))
    D_solver.zero_grad()
    d_loss.backward()
    D_solver.step()
    g_loss = gan.generator_loss(D(G(gan.sample_noise(16, NOISE))))
    assert history["d_loss"] == [pytest.approx(d_loss.item(), abs=1e-6)]
    assert history["g_loss"] == [pytest.approx(g_loss.item(), abs=1e-6)]


def test_history_per_step_per_epoch_and_samples():
    _, _, history = run()   # 70 digits: 4 full batches of 16 a epoch, the last 6 skipped
    assert len(history["d_loss"]) == len(history["g_loss"]) == 8
    assert history["step_loss"] == history["g_loss"]
    assert history["train_loss"] == [pytest.approx(sum(history["g_loss"][:4]) / 4),
                                     pytest.approx(sum(history["g_loss"][4:]) / 4)]
    assert len(history["epoch_seconds"]) == 2
    assert history["sample_steps"] == [3, 4, 6, 8]   # every 3 steps and at each epoch's end
    for images in history["samples"]:
        assert images.shape == (4, 1, 28, 28) and images.min() >= 0 and images.max() <= 1
    _, _, again = run()
    assert again["d_loss"] == history["d_loss"]
    assert torch.equal(again["samples"][-1], history["samples"][-1])
    _, _, short = run(max_steps=5)
    assert len(short["g_loss"]) == 5 and len(short["train_loss"]) == 2
    assert short["d_loss"] == history["d_loss"][:5]


def test_the_losses_are_arguments_and_the_real_images_reach_d_in_minus_one_one():
    seen = {"d": 0, "g": 0, "low": 1.0, "high": -1.0}

    def d_loss(logits_real, logits_fake):
        seen["d"] += 1
        return gan.ls_discriminator_loss(logits_real, logits_fake)

    def g_loss(logits_fake):
        seen["g"] += 1
        return gan.ls_generator_loss(logits_fake)

    D, G = tiny_models()
    inner = D.forward

    def forward(x):
        seen["low"], seen["high"] = min(seen["low"], x.min().item()), max(seen["high"],
                                                                          x.max().item())
        return inner(x)

    D.forward = forward
    gt.run_a_gan(D, G, gt.get_optimizer(D), gt.get_optimizer(G), d_loss, g_loss, tiny_loader(),
                 batch_size=16, noise_size=NOISE, num_epochs=1, progress=False)
    assert seen["d"] == seen["g"] == 4
    assert seen["low"] == -1.0 and seen["high"] == 1.0


def test_a_broken_loss_stops_training_with_a_clear_error():
    with pytest.raises(FloatingPointError, match="step 0"):
        run(losses=(gan.discriminator_loss, lambda logits: logits.mean() * float("nan")))
    with pytest.raises(ValueError, match="positive"):
        run(show_every=0)


def test_the_recipes_call_the_module_losses_at_call_time(monkeypatch):
    calls = []

    def generator_loss(logits_fake):
        calls.append(len(logits_fake))
        return torch.nn.functional.softplus(-logits_fake).mean()

    monkeypatch.setattr(gan, "generator_loss", generator_loss)
    G, history = gt.train_mnist_gan(max_steps=2, hidden_dim=8, progress=False)
    assert calls == [128, 128] and len(history["g_loss"]) == 2
    assert not G.training
    with pytest.raises(ValueError, match="lsgan"):
        gt.train_mnist_gan(max_steps=1, hidden_dim=8, progress=False, loss="wgan")


# --- sampling ------------------------------------------------------------------------------------

def test_sample_is_g_of_sample_noise_mapped_to_zero_one_in_eval_mode():
    _, G = tiny_models()
    G.train()
    state = torch.random.get_rng_state()
    images = gt.sample(G, 5, NOISE, seed=3)
    assert torch.equal(torch.random.get_rng_state(), state)   # the global generator untouched
    assert G.training   # the mode is restored
    assert images.shape == (5, 1, 28, 28) and images.dtype == torch.float32
    G.eval()
    with torch.no_grad():
        expected = (G(gan.sample_noise(5, NOISE, seed=3)) + 1) / 2
    assert torch.allclose(images, expected.reshape(5, 1, 28, 28))
    assert torch.equal(gt.sample(G, 5, NOISE, seed=3), images)
    assert not torch.equal(gt.sample(G, 5, NOISE, seed=4), images)
    generator = torch.Generator().manual_seed(3)
    assert torch.equal(gt.sample(G, 5, NOISE, seed=generator), images)
    with pytest.raises(ValueError, match="n must"):
        gt.sample(G, 0, NOISE)


def test_classifier_scores_rank_real_digits_above_copies_and_uniform_noise():
    _, _, x_test, _ = data.load_mnist()
    real = gt.classifier_scores(training.images_to_tensor(x_test[:300]))
    assert real["score"] > 8.5 and real["confidence"] > 0.95
    copies = gt.classifier_scores(training.images_to_tensor(x_test[:1]).repeat(300, 1, 1, 1))
    assert copies["score"] == pytest.approx(1.0, abs=1e-6)   # one digit only: no variety
    noise = gt.classifier_scores(torch.rand(300, 1, 28, 28, generator=torch.Generator()
                                            .manual_seed(0)))
    # the ResNet calls every noise image the same digit, confidently: the confidence alone is
    # fooled, the score (which asks for all ten digits) is not
    assert noise["score"] < 1.5 < 8.5 < real["score"]
    with pytest.raises(ValueError, match="28, 28"):
        gt.classifier_scores(torch.rand(3, 28, 28))


# --- the committed generators --------------------------------------------------------------------

@pytest.mark.parametrize("name", ["gan", "lsgan", "dcgan"])
def test_committed_generators_load_and_repeat_their_score(name):
    G = getattr(gt, f"load_mnist_{name}")()
    assert not G.training
    assert getattr(gt, f"MNIST_{name.upper()}_PATH").stat().st_size < 1.5e6
    images = gt.sample(G, 1000, seed=0)
    assert images.shape == (1000, 1, 28, 28)
    scores = gt.classifier_scores(images)
    assert scores["score"] == pytest.approx(getattr(gt, f"MNIST_{name.upper()}_SCORE"), abs=1e-3)
    assert scores["score"] > 5.5 and scores["confidence"] > 0.8


def test_a_missing_weight_file_says_how_to_remake_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="instructor.weights mnist_dcgan"):
        gt.load_mnist_dcgan(tmp_path / "none.pt")
