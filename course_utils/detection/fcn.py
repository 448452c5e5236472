"""Semantic segmentation with a fully convolutional network (Long et al. 2015, "Fully
Convolutional Networks for Semantic Segmentation"), with one U-Net-like skip of features, added
rather than concatenated.

Every pixel gets a class: images (N, 3, H, W) -> logits (N, 7, H, W) over
synthetic.scenes.CLASSES (0 is the background), trained with per-pixel cross-entropy against
Scenes.semantic. 3 x 3 convolutions at full resolution cost too much (full_resolution_cost), so
the network downsamples as a classifier's backbone does, upsamples again with learnable
transposed convolutions, and adds the features of the finer levels back in (skip connections)
to recover sharp boundaries.

Unlike the detectors, the network takes and returns tensors rather than a dict per image: a
semantic map has the same shape for every image, so `model(images, semantic)` (train mode, the
loss) and `model(images)` (eval mode, the logits) batch as plain tensors, and the metrics read
`logits.argmax(1)` directly.
"""

from __future__ import annotations

import time

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from course_utils.detection import metrics, training
from course_utils.detection.backbone import Backbone, conv_bn_relu
from course_utils.synthetic.scenes import CLASSES, Scenes


def full_resolution_cost(height: int, width: int, channels: int, layers: int,
                         kernel_size: int = 3) -> int:
    """Multiply-adds of `layers` k x k convolutions of `channels` channels in and out, stride 1,
    'same' padding, on one height x width image:

        L * H * W * C^2 * k^2          (each of the H * W * C outputs sums C * k^2 products).

    A network that runs the same layers at 1 / f of the resolution costs f^2 times less:
    full_resolution_cost(H // f, W // f, C, L). Biases, batch norm and ReLU are not counted.
    """
    return layers * height * width * channels**2 * kernel_size**2


def convolution_multiply_adds(model: nn.Module, images: Tensor) -> int:
    """Multiply-adds of every nn.Conv2d and nn.ConvTranspose2d of `model` on `images`
    (N, C, H, W), per image, counted with forward hooks: a convolution costs
    H_out * W_out * C_out * (C_in / groups) * k_h * k_w, a transposed convolution
    H_in * W_in * C_in * (C_out / groups) * k_h * k_w (each input value scatters one kernel)."""
    total = 0

    def count(module: nn.Module, inputs: tuple[Tensor], output: Tensor) -> None:
        nonlocal total
        kernel = module.weight[0].numel()   # (C_in or C_out) / groups * k_h * k_w
        values = inputs[0] if isinstance(module, nn.ConvTranspose2d) else output
        total += values.numel() * kernel

    hooks = [module.register_forward_hook(count) for module in model.modules()
             if isinstance(module, nn.Conv2d | nn.ConvTranspose2d)]
    try:
        with torch.no_grad():
            model(images)
    finally:
        for hook in hooks:
            hook.remove()
    return total // len(images)


def upsample(in_channels: int, out_channels: int) -> nn.Sequential:
    """Transposed convolution that doubles the size exactly, batch norm, ReLU.

    Kernel 4, stride 2, padding 1: H_out = (H - 1) * 2 - 2 + 4 = 2H. The notes' kernel 3,
    stride 2, padding 1 gives (H - 1) * 2 - 2 + 3 = 2H - 1 and needs output_padding=1 (one more
    row and column at the bottom right) to reach 2H.
    """
    return nn.Sequential(nn.ConvTranspose2d(in_channels, out_channels, 4, 2, 1, bias=False),
                         nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True))


class SegmentationNet(nn.Module):
    """Images (N, 3, H, W) (H, W multiples of 4) -> logits (N, num_classes, H, W).

    Encoder: the Backbone's layers, read at full resolution (`width` channels), 1/2 (`width`)
    and 1/4 (`channels`; receptive field 9 + 8 * depth px, 33 by default). Decoder: a transposed
    convolution up to 1/2, plus the encoder's 1/2 features (a skip connection), a 3 x 3
    convolution, then a transposed convolution straight to the class logits at full resolution,
    plus a 1 x 1 convolution of the full-resolution features (FCN's skip, which adds class
    scores rather than features: 3 x 3 convolutions at full resolution would cost the most).
    A further stride-2 stage to 1/8 (three times the parameters) gained nothing measurable.

    Train mode: model(images, semantic (N, H, W) int64) -> {"loss_segmentation": mean per-pixel
    cross-entropy}; eval mode: model(images) -> logits.
    """

    def __init__(self, num_classes: int = len(CLASSES), width: int = 32, channels: int = 64,
                 depth: int = 3) -> None:
        super().__init__()
        self.backbone = Backbone(width, channels, depth)
        self.up_to_half = upsample(channels, width)
        self.fuse_half = conv_bn_relu(width, width)
        self.up_to_full = nn.ConvTranspose2d(width, num_classes, 4, 2, 1)   # to logits
        self.full_scores = nn.Conv2d(width, num_classes, 1)

    def logits(self, images: Tensor) -> Tensor:
        """images (N, 3, H, W) -> (N, num_classes, H, W)."""
        layers = self.backbone.layers
        full = layers[0](images)                              # (N, width, H, W)
        half = layers[1](full)                                # (N, width, H/2, W/2)
        quarter = layers[2:](half)                            # (N, channels, H/4, W/4)
        x = self.fuse_half(self.up_to_half(quarter) + half)   # (N, width, H/2, W/2)
        return self.up_to_full(x) + self.full_scores(full)

    def forward(self, images: Tensor, semantic: Tensor | None = None):
        logits = self.logits(images)
        if self.training:
            if semantic is None:
                raise ValueError("in train mode the model needs the semantic maps (N, H, W)")
            return {"loss_segmentation": F.cross_entropy(logits, semantic)}
        return logits


@torch.no_grad()
def segment(model: nn.Module, images: Tensor, batch_size: int = 64) -> Tensor:
    """The class of each pixel, (N, H, W) int64: the argmax of the logits, in eval mode."""
    was_training = model.training
    model.eval()
    try:
        return torch.cat([model(images[start:start + batch_size]).argmax(dim=1)
                          for start in range(0, len(images), batch_size)])
    finally:
        model.train(was_training)


def semantic_maps(scenes: Scenes, batch: list[int]) -> Tensor:
    """What the segmentation network trains on: the batch's semantic maps (B, H, W)."""
    return scenes.semantic[batch]


def train_segmentation_net(steps: int = 2000, seed: int = 0, progress: bool = True
                           ) -> tuple[SegmentationNet, dict]:
    """The recipe of the committed weights: SegmentationNet trained from scratch on
    training.training_scenes()."""
    torch.manual_seed(seed)
    model = SegmentationNet()
    history = training.train_detector(model, training.training_scenes(), steps, batch_size=16,
                                      lr=6e-3, seed=seed, progress=progress,
                                      description="segmentation", targets=semantic_maps)
    return model, history


def evaluate_segmentation(model: nn.Module, scenes: Scenes) -> dict:
    """Mean IoU over the classes (background included), the IoU of each class, the fraction of
    pixels classified right, and the CPU milliseconds per image, on `scenes`."""
    start = time.perf_counter()
    predicted = segment(model, scenes.images)
    milliseconds = 1000 * (time.perf_counter() - start) / len(scenes)
    confusion = metrics.pixel_confusion_matrix(predicted, scenes.semantic, len(CLASSES))
    return {"mIoU": metrics.mean_iou(predicted, scenes.semantic, len(CLASSES)),
            "IoU per class": dict(zip(CLASSES, metrics.per_class_iou(confusion).tolist(),
                                      strict=True)),
            "pixel accuracy": (confusion.diag().sum() / confusion.sum()).item(),
            "ms per image": milliseconds}
