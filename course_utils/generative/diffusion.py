"""Denoising diffusion (Ho et al. 2020) with DDIM sampling (Song et al. 2021) and
classifier-free guidance (Ho & Salimans 2022), as functions of a schedule passed last:

    schedule = make_schedule(1000)                             # linear betas 1e-4 .. 0.02
    x_t = q_sample(x_start, t, noise, schedule)                # closed-form forward process
    loss = p_losses(model, x_start, t, noise, schedule, class_labels)   # eps-prediction MSE
    images = ddim_sample(model, (16, 1, 14, 14), schedule, steps=25,
                         class_labels=labels, guidance_scale=1.0, seed=0)   # (16, 1, 14, 14)

Conventions: timesteps t are 0-based integers in [0, T) (t = 0 is the first noising step, so
x_t has noise level alphas_cumprod[t]); a batch's timesteps are an int64 tensor (N,). Data live
on the scale [-1, 1] (images in [0, 1] map by 2x - 1); the samplers start from N(0, I), clip the
final x_0 to [-1, 1] and return float32 CPU images (N, 1, H, W) in [0, 1]. The model is
eps(x_t, t, class_labels) (unet.UNet); class label unet.NULL_CLASS = 10 means "no label".

The committed model (load_mnist_ddpm: UNet(channels=(32, 64)), 264,353 parameters) works on
MNIST downsampled to 14 x 14 (2 x 2 block means), so its samplers return 14 x 14 images
(upsample them bilinearly for 28 x 28 classifiers). At 28 x 28 a U-Net cheap enough to train in
ten CPU minutes and to sample 256 digits in seconds (channels (8, 16, 32)) drew only noise-like
strokes (classifier accuracy 0.27 at guidance scale 1), where this one reaches 0.98.
"""

from __future__ import annotations

import copy
import math
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F
from tqdm.auto import tqdm

from course_utils import data, pretrained, runtime, training
from course_utils.generative.unet import NULL_CLASS, UNet
from course_utils.graded import graded_in

Tensor = torch.Tensor

MNIST_DDPM_PATH = data.DATA_DIR / "mnist_ddpm.pt"
MNIST_DDPM_SHA256 = "7a69d5fcb296b014f5ff9924bdce58cea581e94d4950d10867fb664bbbfcb1d3"
# Accuracy of the committed MNIST ResNet on 500 DDIM samples (25 steps, 50 per class, guidance
# scale 1, seed 0), upsampled to 28 x 28; see instructor/weights/mnist_ddpm.py.
MNIST_DDPM_ACCURACY = 0.978
MNIST_DDPM_TRAIN_SECONDS = 537   # 3600 steps, 1 thread, on a shared 2-core machine
MNIST_DDPM_TIMESTEPS = 1000
MNIST_DDPM_IMAGE_SIZE = 14


@dataclass(frozen=True, eq=False)   # tensors: compare fields, not schedules
class DiffusionSchedule:
    """The noise schedule's per-timestep constants, each a float32 tensor (T,) indexed by the
    0-based timestep t: betas[t] is the variance of noising step t (x_t from x_{t-1}, with
    x_{-1} = x_0 the data), alphas = 1 - betas, alphas_cumprod[t] = prod_{s <= t} alphas[s]
    (abar_t), alphas_cumprod_prev[t] = abar_{t-1} (1 at t = 0), and the variance of the
    posterior q(x_{t-1} | x_t, x_0), posterior_variance[t] = betas[t] (1 - abar_{t-1}) /
    (1 - abar_t) (0 at t = 0)."""

    kind: str
    betas: Tensor
    alphas: Tensor
    alphas_cumprod: Tensor
    alphas_cumprod_prev: Tensor
    sqrt_alphas_cumprod: Tensor
    sqrt_one_minus_alphas_cumprod: Tensor
    posterior_variance: Tensor

    @property
    def timesteps(self) -> int:
        """T, the number of noising steps."""
        return len(self.betas)


def make_schedule(timesteps: int = 1000, kind: str = "linear") -> DiffusionSchedule:
    """The DDPM schedule of `timesteps` steps, computed in float64 and stored as float32.

    kind="linear": betas evenly spaced from 1e-4 to 0.02 for T = 1000, both ends scaled by
    1000 / T for other T (so T must be above 20). kind="cosine" (Nichol & Dhariwal 2021):
    abar(t) = f(t + 1) / f(0) with f(u) = cos((u / T + 0.008) / 1.008 * pi / 2)^2, betas
    1 - abar_t / abar_{t-1} clipped to at most 0.999.
    """
    if timesteps < 1:
        raise ValueError(f"timesteps must be at least 1, got {timesteps}")
    if kind == "linear":
        scale = 1000 / timesteps
        betas = torch.linspace(1e-4 * scale, 0.02 * scale, timesteps, dtype=torch.float64)
        if betas[-1] >= 1:
            raise ValueError(f"the linear schedule needs more than 20 timesteps, got {timesteps}")
    elif kind == "cosine":
        u = torch.arange(timesteps + 1, dtype=torch.float64) / timesteps
        f = torch.cos((u + 0.008) / 1.008 * math.pi / 2) ** 2
        betas = (1 - f[1:] / f[:-1]).clamp(max=0.999)
    else:
        raise ValueError(f'kind must be "linear" or "cosine", got {kind!r}')
    alphas = 1 - betas
    abar = torch.cumprod(alphas, dim=0)
    abar_prev = torch.cat([torch.ones(1, dtype=torch.float64), abar[:-1]])
    values = {"betas": betas, "alphas": alphas, "alphas_cumprod": abar,
              "alphas_cumprod_prev": abar_prev, "sqrt_alphas_cumprod": abar.sqrt(),
              "sqrt_one_minus_alphas_cumprod": (1 - abar).sqrt(),
              "posterior_variance": betas * (1 - abar_prev) / (1 - abar)}
    return DiffusionSchedule(kind, **{name: v.float() for name, v in values.items()})


def extract(values: Tensor, t: Tensor, shape: torch.Size | tuple[int, ...]) -> Tensor:
    """values[t] shaped (N, 1, ..., 1) to broadcast against a batch of `shape` (N, ...).

    Args:
        values: (T,) one of a DiffusionSchedule's tensors.
        t: (N,) integer timesteps in [0, T), N = shape[0].

    Returns:
        (N, 1, ..., 1) with len(shape) axes, on t's device, values' dtype.
    """
    if t.dtype.is_floating_point or t.dtype == torch.bool or t.dim() != 1:
        raise ValueError(f"t must be an integer tensor (N,), got {t.dtype} {tuple(t.shape)}")
    if len(t) != shape[0]:
        raise ValueError(f"t has {len(t)} timesteps for a batch of {shape[0]}")
    if len(t) and (t.min() < 0 or t.max() >= len(values)):
        raise ValueError(f"timesteps must lie in [0, {len(values)}), got {t.min()} .. {t.max()}")
    return values.to(t.device)[t].reshape(len(t), *([1] * (len(shape) - 1)))


def _check_like(x: Tensor, noise: Tensor) -> None:
    if noise.shape != x.shape:
        raise ValueError(f"noise must have the shape of the images {tuple(x.shape)}, got "
                         f"{tuple(noise.shape)}")


@graded_in("ch13_generative")
def q_sample(x_start: Tensor, t: Tensor, noise: Tensor, schedule: DiffusionSchedule) -> Tensor:
    """Sample x_t ~ q(x_t | x_0) in closed form: sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps.

    Args:
        x_start: clean images x_0 (N, C, H, W) on the scale [-1, 1].
        t: (N,) int64 timesteps in [0, T), one per image.
        noise: eps (N, C, H, W), standard normal draws (given, so nothing is drawn here).
        schedule: its sqrt_alphas_cumprod and sqrt_one_minus_alphas_cumprod, indexed by t and
            broadcast over (C, H, W) (`extract` does that).

    Returns:
        x_t (N, C, H, W), the dtype of x_start * a float32 coefficient.
    """
    _check_like(x_start, noise)
    keep = extract(schedule.sqrt_alphas_cumprod, t, x_start.shape)
    spread = extract(schedule.sqrt_one_minus_alphas_cumprod, t, x_start.shape)
    return keep * x_start + spread * noise


@graded_in("ch13_generative")
def predict_start_from_noise(x_t: Tensor, t: Tensor, noise: Tensor,
                             schedule: DiffusionSchedule) -> Tensor:
    """Invert q_sample for x_0 given the noise: x_0 = (x_t - sqrt(1 - abar_t) eps) / sqrt(abar_t).

    Args:
        x_t: noisy images (N, C, H, W).
        t: (N,) int64 timesteps in [0, T).
        noise: eps (N, C, H, W), true or predicted.
        schedule: as in q_sample.

    Returns:
        the estimate of x_0, (N, C, H, W) (not clipped).
    """
    _check_like(x_t, noise)
    root_keep = extract(schedule.sqrt_alphas_cumprod, t, x_t.shape)
    root_spread = extract(schedule.sqrt_one_minus_alphas_cumprod, t, x_t.shape)
    return (x_t - root_spread * noise) / root_keep


@graded_in("ch13_generative")
def p_losses(model: nn.Module, x_start: Tensor, t: Tensor, noise: Tensor,
             schedule: DiffusionSchedule, class_labels: Tensor | None = None) -> Tensor:
    """The simplified DDPM loss: || eps - eps_model(x_t, t, c) ||^2, x_t = q_sample(x_0, t, eps).

    Args:
        model: eps_model(x_t, t, class_labels) -> (N, C, H, W).
        x_start: x_0 (N, C, H, W) on the scale [-1, 1].
        t: (N,) int64 timesteps in [0, T).
        noise: eps (N, C, H, W), the standard normal draws (the training loop draws t and eps).
        schedule: the DiffusionSchedule.
        class_labels: (N,) int64 labels (unet.NULL_CLASS for "no label"), passed to the model
            as they are (None too).

    Returns:
        scalar tensor: the mean squared error over all N * C * H * W elements.
    """
    noisy = q_sample(x_start, t, noise, schedule)
    return F.mse_loss(model(noisy, t, class_labels), noise)


def guided_noise(model: nn.Module, x: Tensor, t: Tensor, class_labels: Tensor | None,
                 guidance_scale: float) -> Tensor:
    """The classifier-free guided noise estimate (1 + w) eps(x, t, c) - w eps(x, t, null).

    With class_labels None (unconditional: every label null) or w = 0 this is one model call,
    model(x, t, class_labels). Otherwise one call on the doubled batch: images [x; x],
    timesteps [t; t], labels [class_labels; NULL_CLASS ...]; its first half is eps(x, t, c).

    Args:
        x: (N, C, H, W); t: (N,) int64; class_labels: (N,) int64 or None; guidance_scale: w.

    Returns:
        (N, C, H, W).
    """
    if class_labels is None or guidance_scale == 0:
        return model(x, t, class_labels)
    null = torch.full_like(class_labels, NULL_CLASS)
    both = model(torch.cat([x, x]), torch.cat([t, t]), torch.cat([class_labels, null]))
    conditional, unconditional = both.chunk(2)
    return conditional + guidance_scale * (conditional - unconditional)


@graded_in("ch13_generative")
def p_sample(model: nn.Module, x: Tensor, t: int, schedule: DiffusionSchedule,
             class_labels: Tensor | None = None, guidance_scale: float = 0.0,
             generator: torch.Generator | None = None) -> Tensor:
    """One ancestral step x_t -> x_{t-1} ~ N(mu, beta~_t I) of the learned reverse process.

    eps = guided_noise(model, x, t as an (N,) int64 tensor, class_labels, guidance_scale);
    mu = (x_t - betas[t] / sqrt(1 - abar_t) * eps) / sqrt(alphas[t]); the variance is the
    posterior variance beta~_t = schedule.posterior_variance[t].

    Args:
        x: x_t (N, C, H, W).
        t: the current timestep, a Python int in [0, T), the same for the whole batch.
        class_labels: (N,) int64 or None (unconditional).
        guidance_scale: w of classifier-free guidance.
        generator: for the noise: after the model call, one
            z = torch.randn(x.shape, generator=generator, dtype=x.dtype) on the CPU, moved to
            x's device; x_{t-1} = mu + sqrt(beta~_t) z. At t = 0 nothing is drawn: the step
            returns mu.

    Returns:
        x_{t-1} (N, C, H, W).
    """
    if not 0 <= t < schedule.timesteps:
        raise ValueError(f"t must lie in [0, {schedule.timesteps}), got {t}")
    eps = guided_noise(model, x, torch.full((len(x),), t, dtype=torch.long, device=x.device),
                       class_labels, guidance_scale)
    scaled = schedule.betas[t] / schedule.sqrt_one_minus_alphas_cumprod[t]
    mean = (x - scaled * eps) / schedule.alphas[t].sqrt()
    if t == 0:
        return mean
    z = torch.randn(x.shape, generator=generator, dtype=x.dtype).to(x.device)
    return mean + schedule.posterior_variance[t].sqrt() * z


@contextmanager
def _sampling(model: nn.Module):
    """Eval mode and no gradients, the model's mode restored afterwards."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            yield
    finally:
        model.train(was_training)


def _labels_for(class_labels: Tensor | list[int] | None, n: int,
                device: torch.device) -> Tensor | None:
    if class_labels is None:
        return None
    labels = torch.as_tensor(class_labels, dtype=torch.long, device=device)
    if labels.shape != (n,):
        raise ValueError(f"class_labels must have shape ({n},), got {tuple(labels.shape)}")
    return labels


def to_images(x: Tensor) -> Tensor:
    """Samples on the scale [-1, 1] -> float32 CPU images in [0, 1] (clipped first)."""
    return ((x.clamp(-1, 1) + 1) / 2).float().cpu()


def _model_device(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


def p_sample_loop(model: nn.Module, shape: tuple[int, int, int, int],
                  schedule: DiffusionSchedule, class_labels: Tensor | None = None,
                  guidance_scale: float = 0.0, seed: int = 0, progress: bool = True) -> Tensor:
    """Ancestral sampling with all T steps: x_{T-1} ~ N(0, I), then p_sample for t = T-1 .. 0.

    The draws come from torch.Generator().manual_seed(seed) in this order: x_{T-1} =
    torch.randn(shape), then p_sample's one draw per step (none at t = 0). Eval mode, no
    gradients, on the model's device.

    Returns:
        float32 CPU images (N, C, H, W) in [0, 1] (x_0 clipped to [-1, 1], then (x + 1) / 2).
    """
    generator = torch.Generator().manual_seed(seed)
    device = _model_device(model)
    labels = _labels_for(class_labels, shape[0], device)
    x = torch.randn(shape, generator=generator).to(device)
    with _sampling(model):
        for t in tqdm(range(schedule.timesteps - 1, -1, -1), desc="DDPM sampling",
                      disable=not progress, mininterval=1):
            x = p_sample(model, x, t, schedule, labels, guidance_scale, generator)
    return to_images(x)


def ddim_timesteps(timesteps: int, steps: int) -> list[int]:
    """`steps` timesteps evenly spaced from T - 1 down to 0 (rounded; both ends included when
    steps > 1), in the order DDIM visits them."""
    if not 1 <= steps <= timesteps:
        raise ValueError(f"steps must lie in [1, {timesteps}], got {steps}")
    return torch.linspace(timesteps - 1, 0, steps, dtype=torch.float64).round().long().tolist()


def ddim_sample(model: nn.Module, shape: tuple[int, int, int, int], schedule: DiffusionSchedule,
                steps: int = 25, eta: float = 0.0, class_labels: Tensor | None = None,
                guidance_scale: float = 0.0, seed: int = 0, progress: bool = False) -> Tensor:
    """DDIM sampling (Song et al. 2021) over the sub-sequence ddim_timesteps(T, steps).

    From timestep t to the next one s (abar_s = 1 after the last): eps = guided_noise(...),
    x0 = predict_start_from_noise(x, t, eps) clipped to [-1, 1], eps recomputed from that x0,
    sigma = eta sqrt((1 - abar_s) / (1 - abar_t)) sqrt(1 - abar_t / abar_s) and
    x_s = sqrt(abar_s) x0 + sqrt(1 - abar_s - sigma^2) eps + sigma z. eta = 0 is deterministic;
    eta = 1 has the DDPM posterior's variance. Draws from torch.Generator().manual_seed(seed):
    x_{T-1} = torch.randn(shape), then one z per step when sigma > 0.

    Returns:
        float32 CPU images (N, C, H, W) in [0, 1].
    """
    if eta < 0:
        raise ValueError(f"eta must be non-negative, got {eta}")
    generator = torch.Generator().manual_seed(seed)
    device = _model_device(model)
    labels = _labels_for(class_labels, shape[0], device)
    visits = ddim_timesteps(schedule.timesteps, steps)
    abar = schedule.alphas_cumprod.double().tolist() + [1.0]   # abar[-1] = 1: the clean image
    x = torch.randn(shape, generator=generator).to(device)
    with _sampling(model):
        for now, later in tqdm(list(zip(visits, visits[1:] + [-1], strict=True)),
                               desc="DDIM sampling", disable=not progress, mininterval=1):
            t = torch.full((shape[0],), now, dtype=torch.long, device=device)
            eps = guided_noise(model, x, t, labels, guidance_scale)
            x0 = predict_start_from_noise(x, t, eps, schedule).clamp(-1, 1)
            eps = (x - math.sqrt(abar[now]) * x0) / math.sqrt(1 - abar[now])
            sigma = eta * math.sqrt((1 - abar[later]) / (1 - abar[now])
                                    * (1 - abar[now] / abar[later]))
            x = (math.sqrt(abar[later]) * x0
                 + math.sqrt(max(1 - abar[later] - sigma ** 2, 0.0)) * eps)
            if sigma > 0:
                x = x + sigma * torch.randn(shape, generator=generator).to(device)
    return to_images(x)


def mnist_ddpm() -> UNet:
    """The committed model's U-Net: 14 x 14 inputs, 32 then 64 channels, attention at 7 x 7;
    264,353 parameters, about 18 million multiply-adds per image."""
    return UNet(channels=(32, 64), image_size=MNIST_DDPM_IMAGE_SIZE, attention=True)


def mnist_training_images(image_size: int = MNIST_DDPM_IMAGE_SIZE) -> tuple[Tensor, Tensor]:
    """The 60,000 MNIST training digits on the scale [-1, 1], (N, 1, S, S) float32 (S = 28, or
    14 by 2 x 2 block means), and their labels (N,) int64."""
    if image_size not in (14, 28):
        raise ValueError(f"image_size must be 14 or 28, got {image_size}")
    x_train, y_train, _, _ = data.load_mnist()
    images = training.images_to_tensor(x_train)
    if image_size == 14:
        images = F.avg_pool2d(images, 2)
    return images * 2 - 1, torch.as_tensor(y_train, dtype=torch.long)


def train_ddpm(epochs: int = 2, seed: int = 0, progress: bool = True,
               max_steps: int | None = None, p_uncond: float = 0.15, timesteps: int = 1000,
               kind: str = "linear", batch_size: int = 64, lr: float = 2e-3,
               ema_decay: float = 0.999, model: nn.Module | None = None,
               image_size: int = MNIST_DDPM_IMAGE_SIZE) -> tuple[nn.Module, dict[str, list[float]]]:
    """Train an eps-prediction model on the MNIST training digits with p_losses.

    Each step: a shuffled batch x_0 with labels (each replaced by NULL_CLASS with probability
    p_uncond, for classifier-free guidance), t ~ U{0..T-1}, eps ~ N(0, I); Adam at `lr` with a
    linear warm-up (100 steps, or a tenth of a shorter run) and a cosine decay to 0 over the
    run; an exponential moving average of the weights (decay min(ema_decay, (1 + k) / (10 + k))
    at step k).

    Args:
        model: the network to train (mnist_ddpm() by default, built after seeding); it is
            made channels-last (faster CPU convolutions) and trained in place.
        max_steps: stop after this many steps in all (the schedule of the learning rate then
            spans max_steps).

    Returns:
        the averaged (EMA) model in eval mode on the CPU, and a history with "step_loss" (each
        step's loss), "train_loss" (mean per epoch) and "seconds" (at the end of each epoch).
    """
    if not 0 <= p_uncond <= 1:
        raise ValueError(f"p_uncond must lie in [0, 1], got {p_uncond}")
    schedule = make_schedule(timesteps, kind)
    images, labels = mnist_training_images(image_size)
    runtime.seed_everything(seed)
    net = (model if model is not None else mnist_ddpm()).to(memory_format=torch.channels_last)
    net.train()   # channels-last convolutions are faster on a CPU
    average = copy.deepcopy(net).requires_grad_(False)
    loader = training.make_loader(images, labels, batch_size, shuffle=True, seed=seed)
    total = len(loader) * epochs if max_steps is None else min(max_steps, len(loader) * epochs)
    optimizer = torch.optim.Adam(net.parameters(), lr=lr)
    warmup = min(100, total // 10 + 1)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda k: min(
        (k + 1) / warmup, 0.5 * (1 + math.cos(math.pi * min(k, total) / total))))
    draws = torch.Generator().manual_seed(seed)
    history: dict[str, list[float]] = {"step_loss": [], "train_loss": [], "seconds": []}
    start = time.perf_counter()
    bar = tqdm(total=total, desc="DDPM", disable=not progress, mininterval=1)
    while len(history["step_loss"]) < total:
        epoch_losses = []
        for x0, y in loader:
            t = torch.randint(0, timesteps, (len(x0),), generator=draws)
            noise = torch.randn(x0.shape, generator=draws)
            dropped = torch.rand(len(x0), generator=draws) < p_uncond
            loss = p_losses(net, x0, t, noise, schedule, y.masked_fill(dropped, NULL_CLASS))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            k = len(history["step_loss"])
            decay = min(ema_decay, (1 + k) / (10 + k))
            with torch.no_grad():
                for kept, live in zip(average.parameters(), net.parameters(), strict=True):
                    kept.lerp_(live, 1 - decay)
            history["step_loss"].append(loss.item())
            epoch_losses.append(loss.item())
            bar.set_postfix(loss=f"{loss.item():.4f}", refresh=False)
            bar.update()
            if len(history["step_loss"]) >= total:
                break
        history["train_loss"].append(sum(epoch_losses) / len(epoch_losses))
        history["seconds"].append(time.perf_counter() - start)
    bar.close()
    return average.to(memory_format=torch.contiguous_format).eval(), history


def load_mnist_ddpm(path: Path = MNIST_DDPM_PATH, device: torch.device | str = "cpu") -> UNet:
    """mnist_ddpm() with the weights `python -m instructor.weights mnist_ddpm` made (EMA weights,
    checked against their sha256), in eval mode, its convolutions channels-last (faster on a
    CPU): use it with make_schedule(MNIST_DDPM_TIMESTEPS) on 14 x 14 images."""
    model = pretrained.load_weights(mnist_ddpm(), path, committed=MNIST_DDPM_PATH,
                                    sha256=MNIST_DDPM_SHA256, what="MNIST diffusion U-Net weights",
                                    remake="`python -m instructor.weights mnist_ddpm` (about "
                                           "ten CPU minutes)")
    return model.to(device, memory_format=torch.channels_last).eval()
