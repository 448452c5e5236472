"""PixelCNN (van den Oord et al. 2016), an explicit density model of binarised MNIST digits.

The model factorises the probability of an image x (H x W pixels, each 0 or 1) in raster order,
row by row from the top and left to right within a row:

    p(x) = prod_k p(x_k | x_1, ..., x_{k-1}),   k = i * W + j for pixel (row i, column j).

Every factor is a Bernoulli whose logit the network outputs at pixel k. Masked convolutions keep
that output blind to pixel k itself and to every later pixel: the first layer (mask "A") hides
the centre of its kernel, later layers (mask "B") may see the centre, since there it only
carries information from earlier pixels. One forward pass gives all H * W conditionals of a
training image at once; sampling needs H * W passes, one pixel each, which is why the chapter
works with 14 x 14 digits (196 steps).

The log-likelihood is reported in bits per dimension: -log2 p(x) / (H * W), averaged over
images. A model that ignores the context (an independent Bernoulli per pixel) is the baseline.

    x = binarize_mnist(x_train)                    # (60000, 1, 14, 14) of 0/1
    model = load_mnist_pixelcnn()                  # the committed weights
    nll_bits_per_dim(model, binarize_mnist(x_test))
    images = sample(model, 16, seed=0)             # (16, 1, 14, 14) of 0/1

The committed model reaches 0.211 test bits/dim against the baseline's 0.365, and samples 256
digits in about 3 s on two idle CPU threads (a busy machine samples faster on one thread).
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from course_utils import data, pretrained, runtime
from course_utils.graded import graded_in

MNIST_PIXELCNN_PATH = data.DATA_DIR / "mnist_pixelcnn.pt"
MNIST_PIXELCNN_SHA256 = "89f6f5af4059cfda8db43ddcb9eec6d9fcaabadd5e36f4901ef738affb78fdd6"
# Test bits/dim of the committed weights on the 10,000 binarised 14 x 14 MNIST test digits, and
# the seconds its training took (`python -m instructor.weights mnist_pixelcnn`, 1 thread).
MNIST_PIXELCNN_BITS_PER_DIM = 0.2112
MNIST_PIXELCNN_TRAIN_SECONDS = 260


def binarize_mnist(images_uint8: np.ndarray | torch.Tensor, size: int = 14) -> torch.Tensor:
    """MNIST digits as binary images.

    Args:
        images_uint8: grey levels 0-255, shape (N, 28, 28) (NumPy or torch, any integer dtype).
        size: 14 averages each 2 x 2 block of pixels first; 28 keeps the full resolution.

    Returns:
        float32 tensor (N, 1, size, size) of 0.0 / 1.0: 1 where the (block) mean grey level / 255
        is >= 0.5. The comparison is done exactly, in integers (a block's sum >= 2 * 255).
    """
    images = np.asarray(images_uint8)
    if images.ndim != 3 or images.shape[1:] != (28, 28):
        raise ValueError(f"need MNIST images (N, 28, 28), got shape {images.shape}")
    if size == 28:
        lit = images >= 128                        # x / 255 >= 0.5
    elif size == 14:
        corners = (images[:, r::2, c::2].astype(np.int16) for r in (0, 1) for c in (0, 1))
        lit = 2 * sum(corners) >= 4 * 255          # block sum >= 2 * 255
    else:
        raise ValueError(f"size must be 14 or 28, got {size}")
    return torch.from_numpy(lit[:, None].astype(np.float32))


class MaskedConv2d(nn.Conv2d):
    """A 2D convolution whose kernel sees only the pixels before the centre, in raster order.

    With a kernel of KH x KW (both odd) and centre (ch, cw) = (KH // 2, KW // 2), the mask is 1
    on every row above the centre, on the centre row left of the centre, and at the centre
    itself for type "B" only; it is 0 elsewhere (the centre row right of the centre, and every
    row below). Type "A" is for the first layer, which must not see the pixel it predicts;
    type "B" for the layers after it. MNIST has one channel, so there is a single channel group:
    the mask is the same for every (output, input) channel pair (no R, G, B ordering).

    Attributes:
        mask: a registered buffer of the weight's shape (out_channels, in_channels // groups,
            KH, KW), float 0/1. forward convolves with weight * mask, so masked weights get a
            zero gradient.

    Args:
        mask_type: "A" or "B".
        in_channels, out_channels, kernel_size: as nn.Conv2d (kernel_size an odd int or a pair
            of odd ints).
        **conv_kwargs: passed to nn.Conv2d (padding, bias, ...); the padding defaults to 0 as
            there, so pass padding=kernel_size // 2 to keep the image size.

    Raises:
        ValueError: for a mask type other than "A" or "B", or an even kernel size.
    """

    @graded_in("ch13_generative")
    def __init__(self, mask_type: str, in_channels: int, out_channels: int,
                 kernel_size: int | tuple[int, int], **conv_kwargs) -> None:
        if mask_type not in ("A", "B"):
            raise ValueError(f'mask_type must be "A" or "B", got {mask_type!r}')
        kh, kw = (kernel_size, kernel_size) if isinstance(kernel_size, int) else kernel_size
        if kh % 2 == 0 or kw % 2 == 0:
            raise ValueError(f"the kernel size must be odd, got {kernel_size}")
        super().__init__(in_channels, out_channels, kernel_size, **conv_kwargs)
        mask = torch.ones_like(self.weight)
        mask[:, :, kh // 2, kw // 2 + (mask_type == "B"):] = 0
        mask[:, :, kh // 2 + 1:] = 0
        self.register_buffer("mask", mask)

    @graded_in("ch13_generative")
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Convolve (N, in_channels, H, W) with the masked weight, as nn.Conv2d would."""
        return self._conv_forward(x, self.weight * self.mask, self.bias)


class PixelCNN(nn.Module):
    """PixelCNN for binary images: one Bernoulli logit per pixel.

    Layers: `input`, a 7 x 7 type-A masked convolution (1 -> channels); `blocks`, residual
    blocks h + conv(relu(h)) with 3 x 3 type-B masked convolutions (channels -> channels);
    `head`, ReLU, 1 x 1 convolution, ReLU, 1 x 1 convolution to one logit. All keep the image
    size (zero padding), and the logit at pixel (i, j) depends only on pixels before (i, j) in
    raster order, within rows i - rows_above .. i (3 rows for the 7 x 7 layer, one per block).
    The defaults (48,929 parameters) are the committed model's.
    """

    def __init__(self, channels: int = 32, num_blocks: int = 5, head_channels: int = 32
                 ) -> None:
        super().__init__()
        self.input = MaskedConv2d("A", 1, channels, 7, padding=3)
        self.blocks = nn.ModuleList(MaskedConv2d("B", channels, channels, 3, padding=1)
                                    for _ in range(num_blocks))
        self.head = nn.Sequential(nn.ReLU(), nn.Conv2d(channels, head_channels, 1), nn.ReLU(),
                                  nn.Conv2d(head_channels, 1, 1))
        self.rows_above = 3 + num_blocks

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Binary images (N, 1, H, W) of 0/1 -> logits (N, 1, H, W) of p(x_ij = 1 | earlier)."""
        h = self.input(x)
        for block in self.blocks:
            h = h + block(F.relu(h))
        return self.head(h)


def _fast_layout(x: torch.Tensor) -> torch.Tensor:
    """x in channels_last memory order, which PyTorch's CPU convolutions run fastest in."""
    return x.contiguous(memory_format=torch.channels_last)


def _check_binary(x: torch.Tensor) -> None:
    if x.ndim != 4 or x.shape[1] != 1:
        raise ValueError(f"need binary images (N, 1, H, W), got shape {tuple(x.shape)}")
    if not bool(((x == 0) | (x == 1)).all()):
        raise ValueError("the images must hold only 0 and 1 (see binarize_mnist)")


def nll_bits_per_dim(model: nn.Module, x: torch.Tensor, batch_size: int = 1000) -> float:
    """Mean negative log-likelihood of binary images in bits per dimension.

    For each image, the Bernoulli cross-entropy of the model's logits summed over its H * W
    pixels (that is -ln p(x)), divided by H * W * ln 2; then the mean over the N images. Runs in
    eval mode without gradients, `batch_size` images at a time, on the model's device.

    Args:
        x: images (N, 1, H, W) of 0/1.
    """
    _check_binary(x)
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    total = 0.0
    try:
        with torch.no_grad():
            for batch in x.split(batch_size):
                batch = batch.to(device)
                logits = model(_fast_layout(batch))
                nats = F.binary_cross_entropy_with_logits(logits, batch, reduction="sum")
                total += nats.item()
    finally:
        model.train(was_training)
    return total / (len(x) * x.shape[2] * x.shape[3] * math.log(2))


def bernoulli_baseline_bits_per_dim(x_train: torch.Tensor, x_test: torch.Tensor) -> float:
    """Bits per dimension on `x_test` of independent Bernoullis, one per pixel, fitted to
    `x_train` (both (N, 1, H, W) of 0/1): p_ij = (ones at (i, j) + 1) / (N_train + 2), the
    training mean with add-one smoothing so that a pixel never lit in training costs finite
    bits. Mean over test images of -sum_ij log2 p(x_ij), divided by H * W."""
    _check_binary(x_train)
    _check_binary(x_test)
    p = (x_train.double().sum(dim=0) + 1) / (len(x_train) + 2)
    x = x_test.double()
    bits = -(x * torch.log2(p) + (1 - x) * torch.log2(1 - p))
    return bits.mean().item()


def _fill_pixels(model: nn.Module, x: torch.Tensor, first_row: int,
                 generator: torch.Generator) -> torch.Tensor:
    """Draw rows first_row .. H-1 of x in place, pixel by pixel in raster order.

    The logits at row i see only rows 0 .. i, or only i - model.rows_above .. i where the model
    says so: feeding just those rows gives the same logits at row i, for less work.
    """
    rows_above = getattr(model, "rows_above", x.shape[2])
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            for i in range(first_row, x.shape[2]):
                top = max(0, i - rows_above)
                for j in range(x.shape[3]):
                    logit = model(_fast_layout(x[:, :, top:i + 1]))[:, 0, i - top, j]
                    draw = torch.rand(len(x), generator=generator, dtype=torch.float64)
                    p = torch.sigmoid(logit.double()).cpu()
                    x[:, 0, i, j] = (draw < p).to(x.device, x.dtype)
    finally:
        model.train(was_training)
    return x


def sample(model: nn.Module, n: int, size: int = 14, seed: int = 0) -> torch.Tensor:
    """Draw n binary images from the model, pixel by pixel.

    Starting from zeros, pixels are drawn in raster order (row 0 left to right, then row 1, ...);
    for pixel (i, j) the model is run on the images drawn so far and pixel (i, j) of every
    image becomes 1 where u < sigmoid(logit), with u = torch.rand(n, dtype=torch.float64) from a
    CPU torch.Generator seeded with `seed` (one such draw per pixel, in that order, whatever the
    model's device). Eval mode, no gradients; the model runs on its own device.

    Returns:
        float32 CPU tensor (n, 1, size, size) of 0.0 / 1.0.
    """
    parameter = next(model.parameters())
    x = torch.zeros(n, 1, size, size, dtype=parameter.dtype, device=parameter.device)
    return _fill_pixels(model, x, 0, torch.Generator().manual_seed(seed)).float().cpu()


def complete(model: nn.Module, images: torch.Tensor, rows_given: int, seed: int = 0
             ) -> torch.Tensor:
    """Keep rows 0 .. rows_given-1 of binary images (N, 1, H, W) and draw the rest as `sample`
    does (the same generator and order, starting at pixel (rows_given, 0)).

    Returns:
        float32 CPU tensor (N, 1, H, W) of 0.0 / 1.0; the given rows are unchanged.
    """
    _check_binary(images)
    if not 0 <= rows_given <= images.shape[2]:
        raise ValueError(f"rows_given must be in [0, {images.shape[2]}], got {rows_given}")
    parameter = next(model.parameters())
    x = images.to(parameter.device, parameter.dtype).clone()
    x[:, :, rows_given:] = 0
    return _fill_pixels(model, x, rows_given, torch.Generator().manual_seed(seed)).float().cpu()


def train_pixelcnn(epochs: int = 5, seed: int = 0, progress: bool = True,
                   max_steps: int | None = None, batch_size: int = 64, lr: float = 4e-3,
                   size: int = 14, **model_options) -> tuple[PixelCNN, dict[str, list[float]]]:
    """Train PixelCNN(**model_options) on the 60,000 binarised MNIST training digits, on the CPU.

    Adam at `lr`, decayed to 0 by a cosine over the run's steps; minibatches shuffled by a
    generator seeded with `seed` (the weights are initialised after seeding with it too); the
    loss is the bits per dimension of the batch. `max_steps` stops early (all epochs' steps
    counted together).

    Returns:
        the model (eval mode) and a history: "step_loss" (each batch's bits/dim), "train_loss"
        (mean bits/dim per epoch, measured while training), "seconds" (since the start, per epoch).
    """
    if epochs < 1:
        raise ValueError(f"epochs must be at least 1, got {epochs}")
    x_train = binarize_mnist(data.load_mnist()[0], size)
    runtime.seed_everything(seed)
    model = PixelCNN(**model_options)
    generator = torch.Generator().manual_seed(seed)
    steps_per_epoch = math.ceil(len(x_train) / batch_size)
    total = epochs * steps_per_epoch if max_steps is None else min(max_steps, epochs *
                                                                    steps_per_epoch)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=total)
    history: dict[str, list[float]] = {"step_loss": [], "train_loss": [], "seconds": []}
    start = time.perf_counter()
    model.train()
    with tqdm(total=total, desc="PixelCNN", disable=not progress, mininterval=1) as bar:
        while len(history["step_loss"]) < total:
            epoch_losses = []
            for index in torch.randperm(len(x_train), generator=generator).split(batch_size):
                batch = x_train[index]
                logits = model(_fast_layout(batch))
                loss = F.binary_cross_entropy_with_logits(logits, batch) / math.log(2)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                scheduler.step()
                epoch_losses.append(loss.item())
                history["step_loss"].append(epoch_losses[-1])
                bar.set_postfix(bits_per_dim=f"{epoch_losses[-1]:.3f}", refresh=False)
                bar.update()
                if len(history["step_loss"]) >= total:
                    break
            history["train_loss"].append(float(np.mean(epoch_losses)))
            history["seconds"].append(time.perf_counter() - start)
    return model.eval(), history


def load_mnist_pixelcnn(path: Path = MNIST_PIXELCNN_PATH,
                        device: torch.device | str = "cpu") -> PixelCNN:
    """PixelCNN() with the weights that `python -m instructor.weights mnist_pixelcnn` made
    (checked against their sha256), in eval mode: binary 14 x 14 digits (N, 1, 14, 14) ->
    logits (N, 1, 14, 14)."""
    model = pretrained.load_weights(PixelCNN(), path, committed=MNIST_PIXELCNN_PATH,
                                    sha256=MNIST_PIXELCNN_SHA256, what="MNIST PixelCNN weights",
                                    remake="`python -m instructor.weights mnist_pixelcnn` "
                                           "(about five CPU minutes)")
    return model.to(device).eval()
