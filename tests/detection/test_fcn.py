"""The segmentation network: the cost formula against counted multiply-adds, shapes, the loss,
a few training steps and the evaluation's format."""

import math

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from course_utils.detection.fcn import (
    SegmentationNet,
    convolution_multiply_adds,
    evaluate_segmentation,
    full_resolution_cost,
    segment,
    semantic_maps,
    upsample,
)
from course_utils.detection.training import train_detector
from course_utils.synthetic.scenes import CLASSES, make_scenes


@pytest.fixture(scope="module")
def scenes():
    return make_scenes(8, seed=0)


def slow_multiply_adds(layer: nn.Module, height: int, width: int) -> int:
    """Count the products one image costs, output value by output value (Conv2d) or input value
    by input value (ConvTranspose2d), without groups."""
    c_out, c_in = layer.out_channels, layer.in_channels
    k_h, k_w = layer.kernel_size
    total = 0
    if isinstance(layer, nn.ConvTranspose2d):
        for _ in range(c_in * height * width):
            total += c_out * k_h * k_w         # each input value scatters a C_out x k x k kernel
    else:
        (s_h, s_w), (p_h, p_w) = layer.stride, layer.padding
        out_h, out_w = (height + 2 * p_h - k_h) // s_h + 1, (width + 2 * p_w - k_w) // s_w + 1
        for _ in range(c_out * out_h * out_w):
            total += c_in * k_h * k_w          # each output value sums C_in x k x k products
    return total


@pytest.mark.parametrize(("height", "width", "channels", "layers"),
                         [(64, 64, 32, 3), (16, 24, 8, 1), (9, 7, 5, 4)])
def test_full_resolution_cost_counts_the_convolutions(height, width, channels, layers):
    net = nn.Sequential(*[nn.Conv2d(channels, channels, 3, padding=1) for _ in range(layers)])
    counted = convolution_multiply_adds(net, torch.zeros(2, channels, height, width))
    assert counted == full_resolution_cost(height, width, channels, layers)
    assert full_resolution_cost(height, width, channels, layers) == (
        layers * height * width * channels**2 * 9)


def test_downsampling_by_f_costs_f_squared_less():
    assert full_resolution_cost(64, 64, 64, 5) == 16 * full_resolution_cost(16, 16, 64, 5)


@pytest.mark.parametrize("layer", [nn.Conv2d(3, 5, 3, stride=2, padding=1),
                                   nn.Conv2d(4, 6, (3, 1)),
                                   nn.ConvTranspose2d(4, 3, 4, stride=2, padding=1),
                                   nn.ConvTranspose2d(2, 5, 3, stride=2, padding=1,
                                                      output_padding=1)])
def test_counted_multiply_adds_match_the_slow_count(layer):
    images = torch.zeros(3, layer.in_channels, 10, 12)
    assert convolution_multiply_adds(layer, images) == slow_multiply_adds(layer, 10, 12)


def test_groups_divide_the_cost():
    grouped = nn.Conv2d(8, 8, 3, padding=1, groups=4)
    assert convolution_multiply_adds(grouped, torch.zeros(1, 8, 6, 6)) == 6 * 6 * 8 * 2 * 9


def test_upsampling_doubles_the_size_exactly():
    x = torch.zeros(1, 4, 7, 5)
    assert upsample(4, 2)(x).shape == (1, 2, 14, 10)
    # the notes' kernel 3, stride 2, padding 1 gives 2n - 1, and output_padding=1 fixes it
    assert nn.ConvTranspose2d(4, 2, 3, 2, 1)(x).shape == (1, 2, 13, 9)
    assert nn.ConvTranspose2d(4, 2, 3, 2, 1, output_padding=1)(x).shape == (1, 2, 14, 10)


@pytest.mark.parametrize("size", [64, 32, 40])
def test_logits_have_the_image_size(size):
    model = SegmentationNet().eval()
    with torch.no_grad():
        logits = model(torch.rand(2, 3, size, size))
    assert logits.shape == (2, len(CLASSES), size, size) and logits.dtype == torch.float32


def test_train_mode_returns_the_pixel_cross_entropy(scenes):
    torch.manual_seed(0)
    model = SegmentationNet().train()
    images, semantic = scenes.images[:4], scenes.semantic[:4]
    losses = model(images, semantic)
    assert list(losses) == ["loss_segmentation"]
    expected = F.cross_entropy(model.logits(images), semantic)   # batch statistics again
    assert math.isfinite(losses["loss_segmentation"].item())
    assert torch.allclose(losses["loss_segmentation"], expected)
    with pytest.raises(ValueError, match="semantic"):
        model(images)


def test_the_loss_falls_and_training_repeats(scenes):
    histories = []
    for _ in range(2):
        torch.manual_seed(0)
        model = SegmentationNet(width=8, channels=16, depth=1)
        histories.append(train_detector(model, scenes, steps=25, batch_size=4, lr=1e-2,
                                        progress=False, targets=semantic_maps)["train_loss"])
    losses = histories[0]
    assert len(losses) == 25 and all(math.isfinite(loss) for loss in losses)
    assert sum(losses[-5:]) < 0.7 * sum(losses[:5])
    assert histories[0] == histories[1]
    assert not model.training
    with pytest.raises(ValueError, match="steps"):
        train_detector(model, scenes, steps=0, targets=semantic_maps)


def test_segment_returns_labels_and_keeps_the_mode(scenes):
    model = SegmentationNet().train()
    predicted = segment(model, scenes.images, batch_size=3)
    assert predicted.shape == scenes.semantic.shape and predicted.dtype == torch.int64
    assert 0 <= predicted.min() and predicted.max() < len(CLASSES)
    assert model.training


class Oracle(nn.Module):
    """Logits that put each pixel in its true class: it looks each image up in `scenes`."""

    def __init__(self, scenes):
        super().__init__()
        self.scenes = scenes

    def forward(self, images):
        same = (images[:, None] == self.scenes.images[None]).flatten(2).all(dim=2)
        semantic = self.scenes.semantic[same.float().argmax(dim=1)]
        return F.one_hot(semantic, len(CLASSES)).permute(0, 3, 1, 2).float()


def test_evaluation_format_and_a_perfect_score(scenes):
    result = evaluate_segmentation(Oracle(scenes), scenes)
    assert set(result) == {"mIoU", "IoU per class", "pixel accuracy", "ms per image"}
    assert list(result["IoU per class"]) == list(CLASSES)
    assert result["mIoU"] == 1.0 and result["pixel accuracy"] == 1.0
    present = set(scenes.semantic.unique().tolist())
    for index, name in enumerate(CLASSES):
        iou = result["IoU per class"][name]
        assert iou == 1.0 if index in present else math.isnan(iou)
    untrained = evaluate_segmentation(SegmentationNet(), scenes)
    assert 0 <= untrained["mIoU"] <= 1 and 0 <= untrained["pixel accuracy"] <= 1
    assert untrained["ms per image"] > 0
