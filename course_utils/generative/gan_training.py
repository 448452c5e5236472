"""Training and sampling the GANs of gan.py on the 60,000 MNIST training digits, as CS231n does,
and the course's committed generators.

    D, G = gan.discriminator(seed=0), gan.generator(seed=0)
    history = run_a_gan(D, G, get_optimizer(D), get_optimizer(G), gan.discriminator_loss,
                        gan.generator_loss, mnist_loader(), num_epochs=1, max_steps=200)
    images = sample(G, 64, seed=0)                 # (64, 1, 28, 28) in [0, 1]
    G = load_mnist_gan()                            # committed: vanilla GAN (smaller generator)
    G = load_mnist_dcgan()                          # committed: DCGAN (smaller generator)
    G = load_mnist_lsgan()                          # committed: least-squares GAN
    classifier_scores(images)                       # quality: higher is better

The committed files hold only the generators (sampling needs no discriminator), in float32 and
narrower than CS231n's so that each file stays under 1.4 MB: CS231n's fully connected generator
(1.95 M parameters) would take 7.8 MB, 3.9 MB in float16; its DCGAN generator (6.68 M) 26.7 MB.

Quality is the MNIST classifier score (the Inception score of Salimans et al. 2016, with the
course's MNIST ResNet in place of Inception): exp(mean over images of KL(p(y|x) || p(y))), p(y)
the mean of p(y|x) over the images. It is high (at most 10) when every image is confidently one
digit and all ten digits appear equally often; the first 1,000 MNIST test digits score 9.42
(mean confidence 0.985).
"""

import math
import time

import torch
from torch import nn
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from course_utils import data, pretrained, runtime, training
from course_utils.generative import gan

Tensor = torch.Tensor

# The committed generators (made by `python -m instructor.weights mnist_gan` and friends): the
# classifier score of 1,000 samples (seed 0), and the seconds their training took here.
MNIST_GAN_HIDDEN_DIM = 256
MNIST_GAN_PATH = data.DATA_DIR / "mnist_gan.pt"
MNIST_GAN_SHA256 = "baa1350090102dcd831472176347ef71c412cee2458893c7983b15d718151c92"
MNIST_GAN_SCORE = 5.8172
MNIST_GAN_TRAIN_SECONDS = 201
MNIST_LSGAN_PATH = data.DATA_DIR / "mnist_lsgan.pt"
MNIST_LSGAN_SHA256 = "7d6006430b37db30793d58bb8abd1dbf1488a6207fd06417a0a41c282e167f18"
MNIST_LSGAN_SCORE = 6.3106
MNIST_LSGAN_TRAIN_SECONDS = 225
MNIST_DCGAN_HIDDEN_DIM, MNIST_DCGAN_CHANNELS = 128, 48
MNIST_DCGAN_PATH = data.DATA_DIR / "mnist_dcgan.pt"
MNIST_DCGAN_SHA256 = "ba98d1af76e58b820e70ca9b369565dc6349f7c942dfb52eacd844a37ab36e09"
MNIST_DCGAN_SCORE = 7.0181
MNIST_DCGAN_TRAIN_SECONDS = 618


def get_optimizer(model: nn.Module) -> torch.optim.Adam:
    """CS231n's optimiser for both players: Adam, learning rate 1e-3, betas (0.5, 0.999)."""
    return torch.optim.Adam(model.parameters(), lr=1e-3, betas=(0.5, 0.999))


def mnist_loader(batch_size: int = 128, seed: int = 0, n: int | None = None) -> DataLoader:
    """The MNIST training digits (the first n; all 60,000 by default) as batches of (images
    (B, 1, 28, 28) in [0, 1], labels (B,)), in a new order every epoch drawn from `seed`."""
    x_train, y_train, _, _ = data.load_mnist()
    if n is not None:
        x_train, y_train = x_train[:n], y_train[:n]
    return training.make_loader(training.images_to_tensor(x_train), y_train, batch_size,
                                shuffle=True, seed=seed)


def _noise(n: int, noise_dim: int, seed: int | torch.Generator) -> Tensor:
    """The draw of gan.sample_noise(n, noise_dim, seed), from a generator of its own."""
    if not isinstance(seed, torch.Generator):
        seed = torch.Generator().manual_seed(seed)
    uniform = torch.rand(n, noise_dim, generator=seed)
    return 2 * uniform - 1


@torch.no_grad()
def sample(G: nn.Module, n: int, noise_dim: int = gan.NOISE_DIM,
           seed: int | torch.Generator = 0) -> Tensor:
    """n images from the generator G: float32 (n, 1, 28, 28) in [0, 1] on the CPU.

    The noise is the draw of gan.sample_noise(n, noise_dim, seed) (torch.rand(n, noise_dim) * 2
    - 1 after seeding), taken from a torch.Generator of its own so that PyTorch's global
    generator is left alone; `seed` may also be such a Generator. G runs in eval mode (the
    DCGAN's batch norm uses its running statistics); its tanh output x becomes (x + 1) / 2.
    """
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    was_training = G.training
    G.eval()
    try:
        device = next(G.parameters()).device
        out = G(_noise(n, noise_dim, seed).to(device))
    finally:
        G.train(was_training)
    images = out.float().cpu().reshape(n, 1, gan.IMAGE_SIZE, gan.IMAGE_SIZE)
    return ((images + 1) / 2).clamp_(0, 1)


def run_a_gan(D: nn.Module, G: nn.Module, D_solver: torch.optim.Optimizer,
              G_solver: torch.optim.Optimizer, discriminator_loss, generator_loss,
              loader_train: DataLoader, show_every: int = 250, batch_size: int = 128,
              noise_size: int = gan.NOISE_DIM, num_epochs: int = 10, *,
              max_steps: int | None = None, seed: int | None = None, progress: bool = True,
              num_samples: int = 16) -> dict[str, list]:
    """CS231n's GAN training loop: per batch of real images, one step of D, then one of G.

    Each step takes a full batch of batch_size real images x in [0, 1] (shorter batches are
    skipped), scaled to 2x - 1 in [-1, 1] and flattened to (batch_size, 784), and fresh noise
    from gan.sample_noise(batch_size, noise_size) for D's step and again for G's; D's loss is
    discriminator_loss(D(real), D(G(z).detach())), G's is generator_loss(D(G(z))). The losses
    are arguments (CS231n's), so the least-squares GAN is the same loop with ls losses.

    Args:
        max_steps: stop after this many steps (of D and G) in all.
        seed: when given, runtime.seed_everything(seed) first: the noise repeats (the order of
            the digits is the loader's).
        show_every: record samples of G every show_every steps and at the end of each epoch.
        num_samples: the samples recorded, always from the same noise (sample with seed 0).

    Returns:
        history: "d_loss" and "g_loss" per step, "step_loss" (= "g_loss"), "train_loss" (the
        mean generator loss of each epoch), "epoch_seconds", and "samples": tensors
        (num_samples, 1, 28, 28) in [0, 1] taken after the steps in "sample_steps".
    """
    if show_every < 1 or batch_size < 1 or num_epochs < 1:
        raise ValueError(f"show_every, batch_size and num_epochs must be positive, got "
                         f"{show_every}, {batch_size}, {num_epochs}")
    if seed is not None:
        runtime.seed_everything(seed)
    device = next(G.parameters()).device
    full_batches = len(loader_train.dataset) // batch_size
    total = num_epochs * full_batches if max_steps is None else min(max_steps,
                                                                      num_epochs * full_batches)
    history: dict[str, list] = {name: [] for name in (
        "d_loss", "g_loss", "step_loss", "train_loss", "epoch_seconds", "samples",
        "sample_steps")}

    def record_samples(step: int) -> None:
        history["samples"].append(sample(G, num_samples, noise_size, seed=0))
        history["sample_steps"].append(step)

    D.train()
    G.train()
    bar = tqdm(total=total, desc="GAN", disable=not progress, mininterval=1)
    step = 0
    for _ in range(num_epochs):
        if step >= total:
            break
        start, epoch_g_losses = time.perf_counter(), []
        for x, _ in loader_train:
            if len(x) != batch_size:
                continue
            real = (2 * x.to(device) - 1).reshape(batch_size, -1)
            fake = G(gan.sample_noise(batch_size, noise_size).to(device)).detach()
            d_total_error = discriminator_loss(D(real), D(fake))
            D_solver.zero_grad()
            d_total_error.backward()
            D_solver.step()

            fake = G(gan.sample_noise(batch_size, noise_size).to(device))
            g_error = generator_loss(D(fake))
            G_solver.zero_grad()
            g_error.backward()
            G_solver.step()

            d_value, g_value = d_total_error.item(), g_error.item()
            if not (math.isfinite(d_value) and math.isfinite(g_value)):
                raise FloatingPointError(f"the losses became D {d_value}, G {g_value} at step "
                                         f"{step}")
            history["d_loss"].append(d_value)
            history["g_loss"].append(g_value)
            epoch_g_losses.append(g_value)
            step += 1
            bar.update()
            bar.set_postfix(D=f"{d_value:.3f}", G=f"{g_value:.3f}", refresh=False)
            if step % show_every == 0:
                record_samples(step)
            if step >= total:
                break
        history["train_loss"].append(sum(epoch_g_losses) / max(len(epoch_g_losses), 1))
        history["epoch_seconds"].append(time.perf_counter() - start)
        if not history["sample_steps"] or history["sample_steps"][-1] != step:
            record_samples(step)
    bar.close()
    history["step_loss"] = list(history["g_loss"])
    return history


def _train(D: nn.Module, G: nn.Module, loss: str, epochs: int, seed: int, progress: bool,
           max_steps: int | None) -> tuple[nn.Module, dict]:
    losses = {"gan": (gan.discriminator_loss, gan.generator_loss),
              "lsgan": (gan.ls_discriminator_loss, gan.ls_generator_loss)}
    if loss not in losses:
        raise ValueError(f'loss must be "gan" or "lsgan", got {loss!r}')
    history = run_a_gan(D, G, get_optimizer(D), get_optimizer(G), *losses[loss],
                        mnist_loader(seed=seed), num_epochs=epochs, max_steps=max_steps,
                        seed=seed, progress=progress)
    return G.eval(), history


def train_mnist_gan(epochs: int = 10, seed: int = 0, progress: bool = True, *,
                    loss: str = "gan", hidden_dim: int = MNIST_GAN_HIDDEN_DIM,
                    max_steps: int | None = None) -> tuple[nn.Module, dict]:
    """CS231n's fully connected GAN (its discriminator; its generator with hidden width
    `hidden_dim`) trained by run_a_gan on the MNIST training digits, batch 128, with the
    losses of the original GAN (loss="gan") or of the least-squares GAN ("lsgan").

    Returns:
        the generator (eval mode) and run_a_gan's history.
    """
    runtime.seed_everything(seed)
    D = gan.discriminator()
    G = gan.generator(gan.NOISE_DIM, hidden_dim=hidden_dim)
    return _train(D, G, loss, epochs, seed, progress, max_steps)


def train_mnist_dcgan(epochs: int = 2, seed: int = 0, progress: bool = True, *,
                      hidden_dim: int = MNIST_DCGAN_HIDDEN_DIM,
                      channels: int = MNIST_DCGAN_CHANNELS,
                      max_steps: int | None = None) -> tuple[nn.Module, dict]:
    """CS231n's DCGAN (its classifier; its generator with `hidden_dim` and `channels`), both
    initialised by gan.initialize_weights as CS231n's, trained as train_mnist_gan."""
    runtime.seed_everything(seed)
    D = gan.build_dc_classifier(128)
    D.apply(gan.initialize_weights)
    G = gan.build_dc_generator(gan.NOISE_DIM, hidden_dim=hidden_dim, channels=channels)
    G.apply(gan.initialize_weights)
    return _train(D, G, "gan", epochs, seed, progress, max_steps)


@torch.no_grad()
def classifier_scores(images: Tensor) -> dict[str, float]:
    """How digit-like and varied images (N, 1, 28, 28) in [0, 1] are, by the course's MNIST
    ResNet (pretrained.load_mnist_resnet): "score", the classifier score exp(mean KL(p(y|x) ||
    p(y))) (1 to 10, higher is better), and "confidence", the mean largest softmax probability
    (high for clear digits, but blind to mode collapse and fooled by noise: the ResNet calls
    uniform noise images one digit with confidence 0.99999, their score is 1.0)."""
    if images.ndim != 4 or images.shape[1:] != (1, gan.IMAGE_SIZE, gan.IMAGE_SIZE):
        raise ValueError(f"need images (N, 1, 28, 28), got shape {tuple(images.shape)}")
    probabilities = training.predict(pretrained.load_mnist_resnet(), images.float()).softmax(1)
    probabilities = probabilities.double()
    marginal = probabilities.mean(0, keepdim=True)
    kl = (probabilities * (probabilities.clamp_min(1e-30).log() - marginal.log())).sum(1)
    return {"score": kl.mean().exp().item(),
            "confidence": probabilities.amax(1).mean().item()}


def _load(G: nn.Module, path, device, name: str, minutes: str) -> nn.Module:
    prefix = f"MNIST_{name.upper()}"
    G = pretrained.load_weights(G, path, committed=globals()[f"{prefix}_PATH"],
                                sha256=globals()[f"{prefix}_SHA256"], what=f"mnist_{name} weights",
                                remake=f"`python -m instructor.weights mnist_{name}` (about "
                                       f"{minutes} CPU minutes)")
    return G.to(device).eval()


def load_mnist_gan(path=MNIST_GAN_PATH, device: torch.device | str = "cpu") -> nn.Module:
    """The committed vanilla GAN's generator (train_mnist_gan; gan.generator with hidden_dim
    MNIST_GAN_HIDDEN_DIM), checked against its sha256, in eval mode: noise (N, 96) -> (N, 784)."""
    return _load(gan.generator(gan.NOISE_DIM, hidden_dim=MNIST_GAN_HIDDEN_DIM), path, device,
                 "gan", "four")


def load_mnist_lsgan(path=MNIST_LSGAN_PATH, device: torch.device | str = "cpu") -> nn.Module:
    """The committed least-squares GAN's generator (train_mnist_gan with loss="lsgan"), as
    load_mnist_gan."""
    return _load(gan.generator(gan.NOISE_DIM, hidden_dim=MNIST_GAN_HIDDEN_DIM), path, device,
                 "lsgan", "four")


def load_mnist_dcgan(path=MNIST_DCGAN_PATH, device: torch.device | str = "cpu") -> nn.Module:
    """The committed DCGAN's generator (train_mnist_dcgan; gan.build_dc_generator with
    MNIST_DCGAN_HIDDEN_DIM and MNIST_DCGAN_CHANNELS), checked against its sha256, in eval mode
    (batch norm with its running statistics): noise (N, 96) -> (N, 784)."""
    G = gan.build_dc_generator(gan.NOISE_DIM, hidden_dim=MNIST_DCGAN_HIDDEN_DIM,
                               channels=MNIST_DCGAN_CHANNELS)
    return _load(G, path, device, "dcgan", "ten")
