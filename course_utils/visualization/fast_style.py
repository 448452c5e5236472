"""Fast style transfer (Johnson et al. 2016, with instance normalisation as in Ulyanov et al.
2016): a small feed-forward network trained, for one style, on the perceptual losses of style
transfer, then stylising any image in one forward pass instead of hundreds of optimisation
steps.

The course's committed network (`pretrained.load_hubble_style`) stylises photos with the Hubble
deep field through the random CNN of `random_features`: `train_hubble_style` made it, on crops of
scikit-image's photos of a cat, a coffee cup and a rocket; the astronaut is held out.
"""

from __future__ import annotations

import numpy as np
import torch
from skimage import data as skimage_data
from skimage.transform import resize
from torch import nn
from torch.nn import functional as F
from tqdm.auto import tqdm

from course_utils.visualization.random_features import random_texture_cnn, relu_indices
from course_utils.visualization.style import (
    content_loss,
    extract_features,
    gram_matrix,
    style_loss,
    tv_loss,
)


def _conv(in_channels: int, out_channels: int, kernel: int, stride: int = 1) -> nn.Sequential:
    """Reflection-padded convolution, instance norm, ReLU."""
    return nn.Sequential(nn.ReflectionPad2d(kernel // 2),
                         nn.Conv2d(in_channels, out_channels, kernel, stride),
                         nn.InstanceNorm2d(out_channels, affine=True), nn.ReLU())


class ResidualBlock(nn.Module):
    """x + (conv-norm-ReLU, conv-norm)(x), at constant width."""

    def __init__(self, channels: int):
        super().__init__()
        self.body = nn.Sequential(_conv(channels, channels, 3), nn.ReflectionPad2d(1),
                                  nn.Conv2d(channels, channels, 3),
                                  nn.InstanceNorm2d(channels, affine=True))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class TransformNet(nn.Module):
    """Images (N, 3, H, W) in [0, 1] -> stylised images of the same size in [0, 1] (H and W
    multiples of 4): a 9x9 convolution, two stride-2 convolutions, residual blocks, two
    nearest-neighbour upsamplings with convolutions and a 9x9 convolution, whose output is
    added to the input's logit before a sigmoid.

    Unlike Johnson et al.'s network, the whole of it is a residual: its last convolution starts
    at zero, so an untrained network returns its input and training only has to learn the
    change of style. A few hundred CPU steps then suffice, where they trained 40,000 on a GPU.
    """

    def __init__(self, widths: tuple[int, int, int] = (8, 16, 32), blocks: int = 3):
        super().__init__()
        a, b, c = widths
        self.encode = nn.Sequential(_conv(3, a, 9), _conv(a, b, 3, 2), _conv(b, c, 3, 2))
        self.residual = nn.Sequential(*(ResidualBlock(c) for _ in range(blocks)))
        self.decode = nn.Sequential(nn.Upsample(scale_factor=2), _conv(c, b, 3),
                                    nn.Upsample(scale_factor=2), _conv(b, a, 3),
                                    nn.ReflectionPad2d(4), nn.Conv2d(a, 3, 9))
        nn.init.zeros_(self.decode[-1].weight)
        nn.init.zeros_(self.decode[-1].bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        change = self.decode(self.residual(self.encode(x)))
        return torch.sigmoid(torch.logit(x, eps=1e-3) + change)


def random_crops(images: list[np.ndarray], count: int, size: int,
                 generator: torch.Generator) -> torch.Tensor:
    """`count` random size x size crops of float colour images (H, W, 3) in [0, 1], drawn with
    `generator` (image, then corner), as (count, 3, size, size)."""
    crops = []
    for _ in range(count):
        image = images[int(torch.randint(len(images), (1,), generator=generator))]
        top = int(torch.randint(image.shape[0] - size + 1, (1,), generator=generator))
        left = int(torch.randint(image.shape[1] - size + 1, (1,), generator=generator))
        crops.append(torch.from_numpy(image[top:top + size, left:left + size]).float())
    return torch.stack(crops).permute(0, 3, 1, 2).contiguous()


def perceptual_loss(cnn: nn.Sequential, output: torch.Tensor, content: torch.Tensor,
                    content_layer: int, content_weight: float, style_layers: list[int],
                    style_targets: list[torch.Tensor], style_weights: list[float],
                    tv_weight: float) -> torch.Tensor:
    """The style-transfer loss of a batch of outputs (N, 3, H, W) against their content images,
    averaged over the batch; style_targets are Gram matrices (1, C, C)."""
    total = output.new_zeros(())
    output_features = extract_features(output, cnn)
    with torch.no_grad():
        content_features = extract_features(content, cnn)[content_layer]
    for n in range(len(output)):
        features = [f[n:n + 1] for f in output_features]
        total = total + (content_loss(content_weight, features[content_layer],
                                      content_features[n:n + 1])
                         + style_loss(features, style_layers, style_targets, style_weights)
                         + tv_loss(output[n:n + 1], tv_weight))
    return total / len(output)


def train_transform_net(cnn: nn.Sequential, style_image: torch.Tensor,
                        photos: list[np.ndarray], content_layer: int, content_weight: float,
                        style_layers: list[int], style_weights: list[float], tv_weight: float,
                        steps: int = 300, batch_size: int = 4, crop: int = 64,
                        learning_rate: float = 3e-3, seed: int = 0,
                        progress: bool = True) -> tuple[TransformNet, list[float]]:
    """Train a TransformNet for `style_image` (1, 3, H, W) on random crops of `photos` with
    Adam, the loss network `cnn` frozen. Returns the network (eval mode) and the loss per step.
    """
    torch.manual_seed(seed)
    net = TransformNet()
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        features = extract_features(style_image, cnn)
        targets = [gram_matrix(features[layer]) for layer in style_layers]
    optimizer = torch.optim.Adam(net.parameters(), lr=learning_rate)
    losses = []
    for _ in tqdm(range(steps), desc="fast style", disable=not progress, mininterval=1):
        content = random_crops(photos, batch_size, crop, generator)
        loss = perceptual_loss(cnn, net(content), content, content_layer, content_weight,
                               style_layers, targets, style_weights, tv_weight)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return net.eval(), losses


def stylise(net: TransformNet, image: torch.Tensor) -> torch.Tensor:
    """One forward pass: image (N, 3, H, W) in [0, 1], H and W padded by reflection to
    multiples of 4 and cropped back."""
    height, width = image.shape[2:]
    pad_h, pad_w = -height % 4, -width % 4
    padded = F.pad(image, (0, pad_w, 0, pad_h), mode="reflect") if pad_h or pad_w else image
    with torch.no_grad():
        return net(padded)[:, :, :height, :width]


TRAINING_PHOTOS = ("chelsea", "coffee", "rocket")
HELD_OUT_PHOTO = "astronaut"


def photo(name: str, side: int | None = None) -> np.ndarray:
    """A scikit-image colour photo as float (H, W, 3) in [0, 1], resized to side x side when
    given (the Hubble deep field: its top-left 400 x 400 pixels)."""
    image = getattr(skimage_data, name)()
    if name == "hubble_deep_field":
        image = image[:400, :400]
    if side is None:
        return image.astype(np.float64) / 255
    return resize(image, (side, side), anti_aliasing=True)


def as_batch(image: np.ndarray) -> torch.Tensor:
    """(H, W, 3) -> float32 (1, 3, H, W)."""
    return torch.from_numpy(image).float().permute(2, 0, 1)[None].contiguous()


def hubble_settings() -> dict:
    """The loss network and weights of the course's style: the random CNN (seed 0), content at
    its third ReLU, style at every ReLU, as the chapter's optimisation-based style transfer."""
    cnn = random_texture_cnn(in_channels=3, seed=0)
    relus = relu_indices(cnn)
    return {"cnn": cnn, "content_layer": relus[2], "content_weight": 1e-3, "style_layers": relus,
            "style_weights": [1e3] * len(relus), "tv_weight": 1e-3}


def train_hubble_style(steps: int = 300, seed: int = 0, progress: bool = True
                       ) -> tuple[TransformNet, dict]:
    """The recipe of the committed weights: `steps` Adam steps on batches of four 64 x 64
    crops of the training photos (at half their size), the style image at 128 x 128. Returns
    the network and {"train_loss": loss per step}."""
    photos = []
    for name in TRAINING_PHOTOS:
        image = photo(name)
        photos.append(resize(image, (image.shape[0] // 2, image.shape[1] // 2), anti_aliasing=True))
    net, losses = train_transform_net(style_image=as_batch(photo("hubble_deep_field", 128)),
                                      photos=photos, steps=steps, seed=seed, progress=progress,
                                      **hubble_settings())
    return net, {"train_loss": losses}


def held_out_loss_reduction(net: TransformNet, side: int = 96) -> float:
    """1 - (perceptual loss of the stylised held-out photo) / (that of the photo unchanged), at
    side x side pixels: 0 for a network that changes nothing, towards 1 as it matches the style
    at little cost in content."""
    settings = hubble_settings()
    cnn = settings.pop("cnn")
    with torch.no_grad():
        style_features = extract_features(as_batch(photo("hubble_deep_field", 128)), cnn)
        targets = [gram_matrix(style_features[layer]) for layer in settings["style_layers"]]
        content = as_batch(photo(HELD_OUT_PHOTO, side))
        losses = [perceptual_loss(cnn, output, content, style_targets=targets, **settings).item()
                  for output in (stylise(net, content), content)]
    return 1 - losses[0] / losses[1]
