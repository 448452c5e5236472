"""The architectures: shapes at the real input sizes (on the meta device), block behaviour on
small real tensors, and the exercise references against the library blocks."""

import pytest
import torch
from torch import nn

from course_utils import architectures, model_stats
from course_utils.architectures import blocks, exercises, stacks


def output_shape(model: nn.Module, size: tuple[int, ...]) -> tuple[int, ...]:
    with torch.no_grad():
        return tuple(model(torch.zeros((2, *size), device="meta")).shape)


@pytest.mark.parametrize("builder, size", [
    (architectures.alexnet, (3, 227, 227)), (architectures.vgg16, (3, 224, 224)),
    (architectures.vgg19, (3, 224, 224)), (architectures.googlenet, (3, 224, 224)),
    (lambda: architectures.resnet(34), (3, 224, 224)),
    (lambda: architectures.resnet(101), (3, 224, 224)),
    (architectures.resnext50, (3, 224, 224)), (architectures.mobilenet, (3, 224, 224)),
])
def test_imagenet_models_give_logits(builder, size):
    assert output_shape(model_stats.build_on_meta(builder), size) == (2, 1000)


def test_alexnet_maps_have_the_papers_sizes():
    stats = model_stats.layer_stats(model_stats.build_on_meta(architectures.alexnet), (3, 227, 227))
    convs = [row.output_shape for row in stats if row.kind == "Conv2d"]
    assert convs == [(96, 55, 55), (256, 27, 27), (384, 13, 13), (384, 13, 13), (256, 13, 13)]
    ungrouped = model_stats.build_on_meta(architectures.alexnet, groups=1)
    assert sum(p.numel() for p in ungrouped.parameters()) == 62_378_344


def test_googlenet_inception_depths_follow_table_1():
    model = model_stats.build_on_meta(architectures.googlenet)
    depths = {name: module.branch1[0].out_channels + module.branch3[1][0].out_channels
              + module.branch5[1][0].out_channels + module.branch_pool[1][0].out_channels
              for name, module in model.named_children() if name.startswith("inception")}
    assert depths == {"inception3a": 256, "inception3b": 480, "inception4a": 512,
                      "inception4b": 512, "inception4c": 512, "inception4d": 528,
                      "inception4e": 832, "inception5a": 832, "inception5b": 1024}


def test_se_resnext_adds_the_se_parameters():
    plain = model_stats.build_on_meta(architectures.resnext50)
    squeezed = model_stats.build_on_meta(architectures.resnext50, se_reduction=16)
    count = lambda model: sum(p.numel() for p in model.parameters())   # noqa: E731
    assert count(plain) == 25_028_904
    # Each block adds two linear layers C -> C/16 -> C; 3, 4, 6, 3 blocks of C = 256 ... 2048.
    extra = sum(n * (2 * c * c // 16 + c // 16 + c)
                for n, c in zip([3, 4, 6, 3], [256, 512, 1024, 2048], strict=True))
    assert count(squeezed) - count(plain) == extra


@pytest.mark.parametrize("bad", [
    lambda: architectures.resnet(20), lambda: stacks.vgg(11),
    lambda: architectures.alexnet(groups=3),
    lambda: architectures.staged_cnn(0, True), lambda: blocks.SEBlock(10, 16),
    lambda: architectures.mobilenet(width_multiplier=0)])
def test_bad_configurations_are_refused(bad):
    with pytest.raises(ValueError):
        bad()


def test_blocks_shapes_on_real_tensors():
    x = torch.randn(2, 8, 6, 6)
    assert blocks.BasicBlock(8, 8)(x).shape == (2, 8, 6, 6)
    assert blocks.BasicBlock(8, 16, stride=2)(x).shape == (2, 16, 3, 3)
    assert blocks.Bottleneck(8, 4, 32, stride=2, groups=2, se_reduction=4)(x).shape == (2, 32, 3, 3)
    assert blocks.InceptionNaive(8, 2, 3, 4)(x).shape == (2, 2 + 3 + 4 + 8, 6, 6)
    assert blocks.InceptionBottleneck(8, 2, 3, 4, 1, 5, 6)(x).shape == (2, 2 + 4 + 5 + 6, 6, 6)
    assert blocks.DepthwiseSeparableConv(8, 12, stride=2)(x).shape == (2, 12, 3, 3)
    assert blocks.DenseBlock(8, growth_rate=4, num_layers=3)(x).shape == (2, 8 + 3 * 4, 6, 6)


def test_basic_block_is_identity_plus_residual():
    torch.manual_seed(0)
    block = blocks.BasicBlock(4, 4).eval()
    nn.init.zeros_(block.bn2.weight)   # the residual branch outputs bn2's bias, here 0
    x = torch.randn(3, 4, 5, 5)
    torch.testing.assert_close(block(x), torch.relu(x))
    assert isinstance(blocks.BasicBlock(4, 4).shortcut, nn.Identity)
    assert isinstance(blocks.BasicBlock(4, 8).shortcut[0], nn.Conv2d)


def test_plain_block_has_the_same_layers_without_the_shortcut():
    plain, residual = blocks.PlainBlock(4, 8, stride=2), blocks.BasicBlock(4, 8, stride=2)
    residual_keys = {k for k in residual.state_dict() if not k.startswith("shortcut")}
    assert set(plain.state_dict()) == residual_keys


def test_se_block_gates_each_channel_between_0_and_1():
    torch.manual_seed(0)
    block = blocks.SEBlock(16, reduction=4)
    x = torch.rand(2, 16, 3, 3) + 0.1
    ratio = block(x) / x
    assert torch.allclose(ratio, ratio[:, :, :1, :1].expand_as(ratio))   # one factor per channel
    assert (ratio > 0).all() and (ratio < 1).all()


def test_depthwise_conv_mixes_no_channels():
    block = blocks.DepthwiseSeparableConv(3, 5)
    assert block.depthwise.weight.shape == (3, 1, 3, 3)
    assert block.pointwise.weight.shape == (5, 3, 1, 1)


def test_dense_block_keeps_its_input_channels_in_front():
    x = torch.randn(1, 3, 4, 4)
    torch.testing.assert_close(blocks.DenseBlock(3, 2, 2)(x)[:, :3], x)


@pytest.mark.parametrize("n", [1, 3])
def test_staged_cnn_has_6n_plus_2_weight_layers(n):
    for residual in (False, True):
        model = architectures.staged_cnn(n, residual)
        main_path = [m for name, m in model.named_modules()
                     if isinstance(m, (nn.Conv2d, nn.Linear)) and "shortcut" not in name]
        assert len(main_path) == 6 * n + 2
        assert model(torch.zeros(2, 1, 16, 16)).shape == (2, 10)


def test_mnist_resnet_takes_unit_range_images():
    model = architectures.mnist_resnet().eval()
    assert model(torch.rand(3, 1, 28, 28)).shape == (3, 10)
    assert sum(p.numel() for p in model.parameters()) == 77_754


# The exercise references against known values and against the library blocks.

def test_receptive_field():
    assert exercises.receptive_field([3, 3, 3]) == 7
    assert exercises.receptive_field([3] * 5) == 11
    assert exercises.receptive_field([11, 3], [4, 2]) == 11 + 2 * 4
    assert exercises.receptive_field([]) == 1
    with pytest.raises(ValueError, match="one stride per layer"):
        exercises.receptive_field([3, 3], [1])


def test_receptive_field_against_a_gradient():
    # The input pixels that affect the centre output are those with a nonzero gradient.
    convs = nn.Sequential(nn.Conv2d(1, 1, 3, stride=2), nn.Conv2d(1, 1, 5),
                          nn.Conv2d(1, 1, 3, stride=2))
    for conv in convs:
        nn.init.constant_(conv.weight, 1.0)
    x = torch.zeros(1, 1, 41, 41, requires_grad=True)
    out = convs(x)
    out[0, 0, out.shape[2] // 2, out.shape[3] // 2].backward()
    rows = x.grad[0, 0].abs().sum(dim=1).nonzero()
    assert rows.max() - rows.min() + 1 == exercises.receptive_field([3, 5, 3], [2, 1, 2])


@pytest.mark.parametrize("args", [(3, 96, 11, True), (64, 128, 3, False), (1, 1, 1, True)])
def test_conv_parameter_count_matches_pytorch(args):
    in_channels, out_channels, kernel_size, bias = args
    layer = nn.Conv2d(in_channels, out_channels, kernel_size, bias=bias)
    assert exercises.conv_parameter_count(*args) == sum(p.numel() for p in layer.parameters())


def test_count_parameters_leaves_out_buffers_and_keeps_frozen_weights():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Linear(2, 2))
    model[2].requires_grad_(False)
    assert exercises.count_parameters(model) == 112 + 8 + 6
    assert exercises.count_parameters(model_stats.build_on_meta(architectures.vgg16)) == 138_357_544


def test_inception_output_channels():
    assert exercises.inception_output_channels(256, 128, 192, 96) == 672
    assert exercises.inception_output_channels(256, 128, 192, 96, pool_proj=64) == 480
    x = torch.zeros(1, 192, 28, 28)
    assert blocks.InceptionBottleneck(192, 64, 96, 128, 16, 32, 32)(x).shape[1] == \
        exercises.inception_output_channels(192, 64, 128, 32, 32)


@pytest.mark.parametrize("reference, library, args", [
    (exercises.ResidualBlock, blocks.BasicBlock, (4, 4, 1)),
    (exercises.ResidualBlock, blocks.BasicBlock, (4, 8, 2)),
    (exercises.ResidualBlock, blocks.BasicBlock, (4, 8, 1)),
    (exercises.SqueezeExcitation, blocks.SEBlock, (8, 4)),
    (exercises.DepthwiseSeparableConv, blocks.DepthwiseSeparableConv, (4, 6, 2)),
])
def test_exercise_blocks_agree_with_library_blocks(reference, library, args):
    torch.manual_seed(0)
    ours, theirs = reference(*args), library(*args)
    theirs.load_state_dict(ours.state_dict())   # same sub-module names: the state dict moves
    x = torch.randn(2, 4 if library is not blocks.SEBlock else 8, 6, 6)
    for mode in (True, False):   # batch statistics, then running statistics
        ours.train(mode), theirs.train(mode)
        torch.testing.assert_close(ours(x), theirs(x))


def test_depthwise_separable_costs():
    costs = exercises.depthwise_separable_costs(32, 64, 3, 10, 10)
    assert costs == {"standard_params": 64 * 32 * 9, "separable_params": 32 * 9 + 32 * 64,
                     "standard_macs": 64 * 32 * 9 * 100, "separable_macs": (32 * 9 + 32 * 64) * 100}
    block = blocks.DepthwiseSeparableConv(32, 64)
    stats = model_stats.layer_stats(block, (32, 10, 10))
    convs = [row for row in stats if row.kind == "Conv2d"]
    assert sum(row.parameters for row in convs) == costs["separable_params"]
    assert sum(row.macs for row in convs) == costs["separable_macs"]
    assert costs["separable_macs"] / costs["standard_macs"] == pytest.approx(1 / 64 + 1 / 9)


def test_every_exercise_is_marked_for_chapter_6():
    names = ["receptive_field", "conv_parameter_count", "count_parameters",
             "inception_output_channels", "ResidualBlock", "SqueezeExcitation",
             "DepthwiseSeparableConv", "depthwise_separable_costs"]
    for name in names:
        graded = getattr(exercises, name)
        marked = [graded.__init__, graded.forward] if isinstance(graded, type) else [graded]
        assert all(function.__graded_in__ == "ch06_architectures" for function in marked), name
