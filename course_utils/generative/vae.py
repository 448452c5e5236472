"""The variational autoencoder of CS231n's 2022 assignment 3 (Kingma & Welling 2014), on MNIST.

Three distributions, named as in Kingma & Welling:
    p(z) = N(0, I)           the prior over latent codes z (Z numbers)
    q(z|x) = N(mu, sigma^2)  the approximate posterior: the encoder maps an image x to mu and
                             log sigma^2 (diagonal)
    p(x|z)                   the likelihood: the decoder maps z to x_hat, the probabilities of
                             independent Bernoulli pixels
(The chapter's notes swap the names "prior" and "posterior"; these are the right ones.)

Training maximises the evidence lower bound of every training image,

    ELBO(x) = E_q(z|x)[log p(x|z)] - KL(q(z|x) || p(z)) <= log p(x),

estimated with one reparametrised draw z = mu + sigma * eps per image (reparametrize), the KL
term in closed form; vae_loss is the negative ELBO averaged over the batch. As in CS231n, the
Bernoulli likelihood is applied to MNIST's grey levels in [0, 1] (binary cross-entropy against
a non-binary target), so the ELBO here bounds that likelihood, not the density of a discrete
8-bit image; it compares models of this course with each other only.

    model = vae.load_mnist_vae()                   # latent 15; load_mnist_vae2d(): latent 2
    vae.elbo(model, x_test)                        # mean ELBO per test image, nats
    images = vae.sample(model, 64, seed=0)         # (64, 1, 28, 28) from the prior

vae_explorer.py draws the 2-D latent grid and the latent-traversal widget.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from course_utils import data, pretrained, runtime, training
from course_utils.generative.autoencoder import as_images, evaluating, fit_autoencoder
from course_utils.graded import graded_in

Tensor = torch.Tensor

INPUT_SIZE = 28 * 28
# The committed VAEs are 128 wide instead of CS231n's 400, which would make 5 MB files.
COMMITTED_HIDDEN_SIZE = 128
MNIST_VAE_PATH = data.DATA_DIR / "mnist_vae.pt"
MNIST_VAE_SHA256 = "8867b86a8a92a67fa54e61916654688a0193227190e03ae1757cbc175e9e3c94"
# Mean ELBO per image (nats) of the committed weights on the 10,000 MNIST test digits
# (elbo(model, x_test, n_samples=1, seed=0)), and the seconds training took (1 CPU thread on a
# shared machine).
MNIST_VAE_TEST_ELBO = -110.5099   # 0.2034 bits per pixel
MNIST_VAE_TRAIN_SECONDS = 445
MNIST_VAE2D_PATH = data.DATA_DIR / "mnist_vae2d.pt"
MNIST_VAE2D_SHA256 = "c2779e14b46fbd6f5b68e9a4c56add4d53acc2fd4b2df73bf75609830a98be33"
MNIST_VAE2D_TEST_ELBO = -139.6401   # 0.2570 bits per pixel
MNIST_VAE2D_TRAIN_SECONDS = 342


@graded_in("ch13_generative")
def reparametrize(mu: Tensor, logvar: Tensor) -> Tensor:
    """Draw z ~ q(z|x) = N(mu, diag(sigma^2)) so that gradients flow into mu and logvar.

    z = mu + sigma * eps with sigma = exp(logvar / 2) and eps ~ N(0, I) drawn by ONE call
    torch.randn_like(mu) (so torch.manual_seed(s) before the call fixes z; draw nothing else).

    Args:
        mu: posterior means, shape (N, Z).
        logvar: posterior log-variances log sigma^2, shape (N, Z).

    Returns:
        z, shape (N, Z), same dtype and device as mu.
    """
    if mu.shape != logvar.shape:
        raise ValueError(f"mu {tuple(mu.shape)} and logvar {tuple(logvar.shape)} must have the "
                         "same shape (N, Z)")
    sigma = torch.exp(logvar / 2)
    eps = torch.randn_like(mu)
    return mu + sigma * eps


@graded_in("ch13_generative")
def vae_loss(x_hat: Tensor, x: Tensor, mu: Tensor, logvar: Tensor) -> Tensor:
    """The negative ELBO averaged over the batch (CS231n's loss_function).

    reconstruction = binary cross-entropy of x_hat against x, SUMMED over pixels and batch
        (F.binary_cross_entropy(..., reduction="sum")): -log p(x|z) for Bernoulli pixels;
    KL = -1/2 * sum(1 + logvar - mu^2 - exp(logvar)), SUMMED over latent dims and batch: the
        closed form of KL(N(mu, sigma^2) || N(0, I));
    loss = (reconstruction + KL) / N.

    Args:
        x_hat: decoder outputs in [0, 1], shape (N, 1, 28, 28) or (N, 784).
        x: the images in [0, 1], shape (N, 1, 28, 28) or (N, 784) (either layout for either).
        mu, logvar: the encoder's outputs, shape (N, Z).

    Returns:
        a scalar tensor: the loss per image, in nats.
    """
    n = x.shape[0]
    if x_hat.shape[0] != n or x_hat.numel() != x.numel() or mu.shape != logvar.shape:
        raise ValueError(f"x_hat {tuple(x_hat.shape)} and x {tuple(x.shape)} must hold the same "
                         f"N images, mu {tuple(mu.shape)} and logvar {tuple(logvar.shape)} be "
                         "(N, Z)")
    x_hat, x = x_hat.reshape(n, -1), x.reshape(n, -1)
    reconstruction = F.binary_cross_entropy(x_hat, x, reduction="sum")
    kl = -0.5 * torch.sum(1 + logvar - mu ** 2 - torch.exp(logvar))
    return (reconstruction + kl) / n


class VAE(nn.Module):
    """CS231n's fully connected VAE.

    Encoder q(z|x): Flatten -> Linear(input_size, H) -> ReLU -> Linear(H, H) -> ReLU ->
    Linear(H, H) -> ReLU, then mu_layer and logvar_layer, Linear(H, Z) each.
    Decoder p(x|z): Linear(Z, H) -> ReLU -> Linear(H, H) -> ReLU -> Linear(H, H) -> ReLU ->
    Linear(H, input_size) -> Sigmoid -> Unflatten to (1, 28, 28).
    H = hidden_size (400 in CS231n), Z = latent_size.
    """

    def __init__(self, input_size: int = INPUT_SIZE, latent_size: int = 15,
                 hidden_size: int = 400) -> None:
        super().__init__()
        if input_size != INPUT_SIZE or latent_size < 1 or hidden_size < 1:
            raise ValueError(f"input_size must be {INPUT_SIZE} (28 x 28 digits) and latent_size "
                             f"and hidden_size positive, got {input_size}, {latent_size}, "
                             f"{hidden_size}")
        self.input_size, self.latent_size, self.hidden_size = input_size, latent_size, hidden_size
        h = hidden_size
        self.encoder = nn.Sequential(nn.Flatten(), nn.Linear(input_size, h), nn.ReLU(),
                                     nn.Linear(h, h), nn.ReLU(), nn.Linear(h, h), nn.ReLU())
        self.mu_layer = nn.Linear(h, latent_size)
        self.logvar_layer = nn.Linear(h, latent_size)
        self.decoder = nn.Sequential(nn.Linear(latent_size, h), nn.ReLU(), nn.Linear(h, h),
                                     nn.ReLU(), nn.Linear(h, h), nn.ReLU(),
                                     nn.Linear(h, input_size), nn.Sigmoid(),
                                     nn.Unflatten(1, (1, 28, 28)))

    def encode(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Images (N, 1, 28, 28) or (N, 784) -> q(z|x)'s mu and logvar, (N, Z) each."""
        features = self.encoder(x)
        return self.mu_layer(features), self.logvar_layer(features)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Images x -> (x_hat (N, 1, 28, 28), mu (N, Z), logvar (N, Z)), with z drawn by
        reparametrize (one torch.randn_like)."""
        mu, logvar = self.encode(x)
        return self.decoder(reparametrize(mu, logvar)), mu, logvar


def negative_elbo(model: VAE, batch: Tensor) -> Tensor:
    """The training loss of a batch of images: vae_loss of the model's outputs."""
    x_hat, mu, logvar = model(batch)
    return vae_loss(x_hat, batch, mu, logvar)


def train_vae(latent_size: int = 15, epochs: int = 10, seed: int = 0, progress: bool = True,
              max_steps: int | None = None, lr: float = 1e-3, hidden_size: int = 400,
              batch_size: int = 128, device: torch.device | str | None = None
              ) -> tuple[VAE, dict[str, list[float]]]:
    """VAE(784, latent_size, hidden_size) trained on the 60,000 MNIST training digits (no labels)
    with Adam at `lr`, batches of 128, to minimise vae_loss (autoencoder.fit_autoencoder: a new
    seeded order every epoch, the global generators seeded with `seed` for the noise).

    Returns:
        the model in eval mode on `device` (runtime.pick_device() when None), and the history:
        "train_loss" per epoch (the loss per image, nats), "step_loss", "seconds".
    """
    x_train, _, _, _ = data.load_mnist()
    runtime.seed_everything(seed)
    model = VAE(INPUT_SIZE, latent_size, hidden_size)
    history = fit_autoencoder(model, training.images_to_tensor(x_train), negative_elbo, epochs,
                              lr=lr, batch_size=batch_size, seed=seed, max_steps=max_steps,
                              progress=progress, device=device,
                              description=f"MNIST VAE (latent {latent_size})")
    return model.eval(), history


def elbo(model: VAE, x: np.ndarray | Tensor, n_samples: int = 1, seed: int = 0,
         batch_size: int = 1000) -> float:
    """The mean ELBO per image of `x` in nats (higher is better): -vae_loss, averaged over
    `n_samples` draws of z per image (the KL term in closed form either way).

    The draws come from reparametrize under torch.manual_seed(seed) inside torch.random.fork_rng
    (the caller's generators are left as they were): batch by batch, n_samples draws each.

    Args:
        x: MNIST images, uint8 (N, 28, 28) or float (N, 1, 28, 28) / (N, 784) in [0, 1].
    """
    if n_samples < 1:
        raise ValueError(f"n_samples must be at least 1, got {n_samples}")
    images = as_images(x)
    total = 0.0
    with evaluating(model) as device:
        devices = [device] if device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(seed)
            for batch in images.split(batch_size):
                batch = batch.to(device)
                mu, logvar = model.encode(batch)
                for _ in range(n_samples):
                    x_hat = model.decoder(reparametrize(mu, logvar))
                    total -= vae_loss(x_hat, batch, mu, logvar).item() * len(batch) / n_samples
    return total / len(images)


def bits_per_dim(nats_per_image: float, dims: int = INPUT_SIZE) -> float:
    """A log-likelihood (or ELBO) per image in nats as bits per pixel: -nats / (dims ln 2)."""
    return -nats_per_image / (dims * math.log(2))


def kl_per_dimension(model: VAE, x: np.ndarray | Tensor, batch_size: int = 1000) -> Tensor:
    """The mean over the images of KL(q(z_d|x) || p(z_d)) for every latent dimension d, in nats,
    shape (Z,). A dimension near 0 is one the encoder does not use: the decoder ignores it."""
    images, total = as_images(x), 0.0
    with evaluating(model) as device:
        for batch in images.split(batch_size):
            mu, logvar = model.encode(batch.to(device))
            total = total + 0.5 * (mu.square() + logvar.exp() - 1 - logvar).sum(dim=0).cpu()
    return total / len(images)


def decode(model: VAE, z: Tensor) -> Tensor:
    """The decoder's images of codes z (N, Z): float32 (N, 1, 28, 28) in [0, 1], on the CPU."""
    z = torch.as_tensor(z, dtype=torch.float32)
    if z.ndim != 2 or z.shape[1] != model.latent_size:
        raise ValueError(f"z must be (N, {model.latent_size}), got {tuple(z.shape)}")
    with evaluating(model) as device:
        return model.decoder(z.to(device)).float().cpu()


def sample(model: VAE, n: int, seed: int = 0) -> Tensor:
    """n images decoded from codes of the prior, z ~ p(z) = N(0, I), drawn on the CPU by
    torch.randn((n, Z), generator=torch.Generator().manual_seed(seed)): float32
    (n, 1, 28, 28) in [0, 1] (the Bernoulli means, not binary draws)."""
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    generator = torch.Generator().manual_seed(seed)
    return decode(model, torch.randn((n, model.latent_size), generator=generator))


def reconstruct(model: VAE, images: np.ndarray | Tensor) -> Tensor:
    """The decoder's image of every image's posterior mean mu (no noise): float32
    (N, 1, 28, 28) in [0, 1], CPU."""
    return decode(model, posterior_means(model, images))


def latent_grid_points(n: int = 15, span: float = 0.9) -> Tensor:
    """A regular n x n grid of 2-D codes through the normal quantiles, as in Kingma & Welling's
    figure of the MNIST manifold: each axis takes the standard normal's quantiles at n
    probabilities evenly spaced over the central `span` of its mass (0.05 to 0.95 by default).

    Returns:
        float32 (n * n, 2), row-major: row r, column c is (z1, z2) = (q[c], q[n - 1 - r]), so z1
        grows to the right and z2 upwards.
    """
    if n < 2 or not 0 < span < 1:
        raise ValueError(f"need n >= 2 and 0 < span < 1, got n={n}, span={span}")
    probabilities = torch.linspace((1 - span) / 2, (1 + span) / 2, n, dtype=torch.float64)
    q = torch.distributions.Normal(0.0, 1.0).icdf(probabilities).float()
    z2, z1 = torch.meshgrid(q.flip(0), q, indexing="ij")
    return torch.stack([z1.reshape(-1), z2.reshape(-1)], dim=1)


def latent_grid(model2d: VAE, n: int = 15, span: float = 0.9) -> Tensor:
    """The decoder's images of latent_grid_points(n, span) of a VAE with a 2-D latent space:
    float32 (n * n, 1, 28, 28) in [0, 1], row-major as the points."""
    if model2d.latent_size != 2:
        raise ValueError(f"latent_grid needs a VAE with latent_size 2, got "
                         f"{model2d.latent_size}")
    return decode(model2d, latent_grid_points(n, span))


def traverse(model: VAE, z: Tensor, dim: int, values) -> Tensor:
    """Decode copies of one code z (Z,) or (1, Z) with its coordinate `dim` set to each of
    `values` in turn (the others kept): float32 (len(values), 1, 28, 28) in [0, 1]."""
    z = torch.as_tensor(z, dtype=torch.float32).reshape(-1)
    if len(z) != model.latent_size or not 0 <= dim < model.latent_size:
        raise ValueError(f"z must hold {model.latent_size} numbers and 0 <= dim < "
                         f"{model.latent_size}, got {len(z)} numbers and dim={dim}")
    values = torch.as_tensor(np.asarray(values, dtype=np.float32)).reshape(-1)
    codes = z.repeat(len(values), 1)
    codes[:, dim] = values
    return decode(model, codes)


def posterior_means(model: VAE, images: np.ndarray | Tensor) -> Tensor:
    """q(z|x)'s means mu of the images: float32 (N, Z), CPU."""
    images = as_images(images)
    with evaluating(model) as device:
        return torch.cat([model.encode(batch.to(device))[0].float().cpu()
                          for batch in images.split(1000)])


def _load(path: Path, latent_size: int, name: str, device: torch.device | str) -> VAE:
    prefix = name.upper()
    model = pretrained.load_weights(
        VAE(INPUT_SIZE, latent_size, COMMITTED_HIDDEN_SIZE), path,
        committed=globals()[f"{prefix}_PATH"], sha256=globals()[f"{prefix}_SHA256"],
        what=f"{name} weights", remake=f"`python -m instructor.weights {name}` (a few CPU "
                                       "minutes)")
    return model.to(device).eval()


def load_mnist_vae(path: Path = MNIST_VAE_PATH, device: torch.device | str = "cpu") -> VAE:
    """VAE(784, 15, COMMITTED_HIDDEN_SIZE) with the weights that `python -m instructor.weights
    mnist_vae` made (checked against their sha256), in eval mode."""
    return _load(path, 15, "mnist_vae", device)


def load_mnist_vae2d(path: Path = MNIST_VAE2D_PATH, device: torch.device | str = "cpu") -> VAE:
    """VAE(784, 2, COMMITTED_HIDDEN_SIZE), the 2-D latent space of latent_grid, with the weights
    that `python -m instructor.weights mnist_vae2d` made, in eval mode."""
    return _load(path, 2, "mnist_vae2d", device)
