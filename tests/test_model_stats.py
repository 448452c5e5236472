"""model_stats: hand-computed counts on tiny models, published figures on the ImageNet nets."""

import pytest
import torch
from torch import nn

from course_utils import architectures, model_stats
from course_utils.architectures import blocks


def test_tiny_cnn_counts_by_hand():
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(inplace=True), nn.MaxPool2d(2),
                          nn.Flatten(), nn.Linear(8 * 4 * 4, 10))
    stats = model_stats.layer_stats(model, (3, 8, 8))
    conv, relu, pool, flatten, linear = stats
    assert [row.name for row in stats] == ["0", "1", "2", "3", "4"]
    assert conv.output_shape == (8, 8, 8) and pool.output_shape == (8, 4, 4)
    assert linear.output_shape == (10,)
    assert conv.parameters == 8 * 3 * 3 * 3 + 8 and linear.parameters == 128 * 10 + 10
    assert conv.macs == (8 * 8 * 8) * (3 * 3 * 3)   # each output value: a 3x3x3 dot product
    assert linear.macs == 10 * 128
    assert relu.macs == pool.macs == 0
    assert conv.activation_bytes == 8 * 8 * 8 * 4 and pool.activation_bytes == 8 * 4 * 4 * 4
    assert relu.activation_bytes == 0 and flatten.activation_bytes == 0   # in place, and a view
    assert model_stats.totals(stats) == {"parameters": 224 + 1290, "macs": 13824 + 1280,
                                         "activation_bytes": 2048 + 512 + 40}


def test_grouped_strided_and_transposed_convolutions():
    grouped = nn.Conv2d(8, 16, 3, stride=2, padding=1, groups=4, bias=False)
    (row,) = model_stats.layer_stats(grouped, (8, 10, 10))
    assert row.output_shape == (16, 5, 5)
    assert row.parameters == 16 * 2 * 9
    assert row.macs == 16 * 5 * 5 * 2 * 9
    transposed = nn.ConvTranspose2d(4, 6, 2, stride=2)
    (row,) = model_stats.layer_stats(transposed, (4, 3, 3))
    assert row.output_shape == (6, 6, 6)
    assert row.macs == 4 * 3 * 3 * 6 * 2 * 2   # each input value meets C_out * k * k weights


def test_shared_module_counts_its_parameters_once():
    layer = nn.Linear(5, 5)

    class Twice(nn.Module):
        def __init__(self):
            super().__init__()
            self.layer = layer

        def forward(self, x):
            return self.layer(self.layer(x))

    stats = model_stats.layer_stats(Twice(), (5,))
    assert len(stats) == 2
    assert [row.parameters for row in stats] == [30, 0]
    assert [row.macs for row in stats] == [25, 25]


def test_modules_with_their_own_parameters_are_recorded():
    class Scale(nn.Module):
        def __init__(self):
            super().__init__()
            self.weight = nn.Parameter(torch.ones(3))
            self.linear = nn.Linear(3, 3)

        def forward(self, x):
            return self.linear(x * self.weight)

    stats = model_stats.layer_stats(Scale(), (3,))
    assert [(row.name, row.parameters) for row in stats] == [("linear", 12), ("", 3)]
    assert model_stats.totals(stats)["parameters"] == 3 + 12
    assert model_stats.totals(stats)["activation_bytes"] == 3 * 4   # the linear output, once


def test_model_is_left_in_its_mode_with_batchnorm_statistics_untouched():
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.Dropout())
    model.train()
    model[2].eval()
    before = model[1].running_mean.clone()
    model_stats.layer_stats(model, (1, 5, 5))
    assert model.training and model[1].training and not model[2].training
    assert torch.equal(model[1].running_mean, before)


def test_bad_input_size_is_explained():
    with pytest.raises(ValueError, match="without the batch"):
        model_stats.layer_stats(nn.Linear(2, 2), (0, 2))


def test_inception_costs_of_the_lecture_example():
    # 28 x 28 x 256 input; naive: 1x1 128, 3x3 192, 5x5 96 (the lecture's 854 M ops).
    naive_module = blocks.InceptionNaive(256, 128, 192, 96)
    naive = model_stats.totals(model_stats.layer_stats(naive_module, (256, 28, 28)))
    assert naive["macs"] == 28 * 28 * 256 * (128 * 1 + 192 * 9 + 96 * 25) == 854_196_224
    # Bottleneck: 64-channel 1x1 reductions before the 3x3 and 5x5 and after the pool.
    module = blocks.InceptionBottleneck(256, 128, 64, 192, 64, 96, 64)
    bottleneck = model_stats.totals(model_stats.layer_stats(module, (256, 28, 28)))
    by_hand = 28 * 28 * (256 * (128 + 64 + 64 + 64) + 64 * 192 * 9 + 64 * 96 * 25)
    assert bottleneck["macs"] == by_hand == 271_351_808   # the lecture's slide says 358 M


# name: (builder, input size, exact parameters, published MACs in G, tolerance)
PUBLISHED = {
    "AlexNet": (architectures.alexnet, (3, 227, 227), 60_965_224, 0.72, 0.02),
    "VGG-16": (architectures.vgg16, (3, 224, 224), 138_357_544, 15.5, 0.1),
    "VGG-19": (architectures.vgg19, (3, 224, 224), 143_667_240, 19.6, 0.1),
    "GoogLeNet": (architectures.googlenet, (3, 224, 224), 6_998_552, 1.5, 0.1),
    "ResNet-18": (lambda: architectures.resnet(18), (3, 224, 224), 11_689_512, 1.8, 0.05),
    "ResNet-50": (lambda: architectures.resnet(50), (3, 224, 224), 25_557_032, 4.1, 0.05),
    "ResNet-152": (lambda: architectures.resnet(152), (3, 224, 224), 60_192_808, 11.5, 0.1),
    "MobileNet": (architectures.mobilenet, (3, 224, 224), 4_231_976, 0.569, 0.005),
}


@pytest.mark.parametrize("name", PUBLISHED)
def test_imagenet_models_match_published_figures(name):
    builder, size, parameters, gmacs, tolerance = PUBLISHED[name]
    model = model_stats.build_on_meta(builder)
    stats = model_stats.layer_stats(model, size)
    total = model_stats.totals(stats)
    assert total["parameters"] == parameters == sum(p.numel() for p in model.parameters())
    assert abs(total["macs"] / 1e9 - gmacs) < tolerance
    assert stats[-1].output_shape == (1000,)


def test_vgg16_memory_early_parameters_late():
    stats = model_stats.layer_stats(model_stats.build_on_meta(architectures.vgg16), (3, 224, 224))
    convs = [row for row in stats if row.kind == "Conv2d"]
    linears = [row for row in stats if row.kind == "Linear"]
    total = model_stats.totals(stats)
    # The two 224 x 224 x 64 maps hold about 40 % of the activations ...
    assert sum(row.activation_bytes for row in convs[:2]) / total["activation_bytes"] > 0.35
    # ... the three fully connected layers about 90 % of the parameters.
    assert sum(row.parameters for row in linears) / total["parameters"] > 0.85
    assert linears[0].parameters == 25088 * 4096 + 4096


def test_meta_and_real_tensors_give_the_same_report():
    real = model_stats.layer_stats(architectures.staged_cnn(1, residual=True), (1, 16, 16))
    meta_model = model_stats.build_on_meta(architectures.staged_cnn, 1, residual=True)
    meta = model_stats.layer_stats(meta_model, (1, 16, 16))
    assert real == meta


def test_format_report_lists_layers_and_totals():
    stats = model_stats.layer_stats(nn.Sequential(nn.Linear(4, 3), nn.ReLU(inplace=True)), (4,))
    lines = model_stats.format_report(stats).splitlines()
    assert lines[1].startswith("0") and "Linear" in lines[1] and "15" in lines[1]
    assert lines[-1].startswith("total") and len(lines) == 3   # the in-place ReLU is skipped
    assert len(model_stats.format_report(stats, skip_empty=False).splitlines()) == 4
