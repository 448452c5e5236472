"""The attention explorer and the positional-encoding explorer: their functions, figures and
widgets, redrawn for several control values."""

import math

import ipywidgets
import matplotlib
import numpy as np
import pytest
import torch
from torch import nn

from course_utils.attention import explorers, multi_head
from course_utils.attention.vit import VisionTransformer

matplotlib.use("Agg")


def test_attention_matrix_picks_a_head_or_the_mean_and_names_tokens():
    maps = torch.rand(2, 3, 4, 5, 5)
    np.testing.assert_array_equal(explorers.attention_matrix(maps, 1, 2, 3), maps[1, 2, 3])
    np.testing.assert_allclose(explorers.attention_matrix(maps, 0, 1, explorers.MEAN),
                               maps[0, 1].mean(dim=0), rtol=1e-6)
    assert explorers.token_names(4) == ["cls", "p1", "p2", "p3"]


def test_plot_attention_overlays_the_class_row_on_the_patch_grid():
    matrix = np.random.default_rng(0).dirichlet(np.ones(17), size=17)     # 1 + 4 x 4 tokens
    fig = explorers.plot_attention(torch.rand(1, 28, 28), matrix, "predicted 3", "head 0")
    picture, heatmap = fig.axes[:2]
    photo, overlay = picture.images
    assert photo.get_array().shape == (28, 28)
    np.testing.assert_array_equal(overlay.get_array(), matrix[0, 1:].reshape(4, 4))
    assert overlay.get_extent() == [-0.5, 27.5, 27.5, -0.5]               # covers the image
    np.testing.assert_array_equal(heatmap.images[0].get_array(), matrix)
    names = [label.get_text() for label in heatmap.get_xticklabels()]
    assert names == explorers.token_names(17)
    assert fig._suptitle.get_text() == "predicted 3; head 0"
    colour = explorers.plot_attention(torch.rand(3, 28, 28), matrix, "", "mean")
    assert colour.axes[0].images[0].get_array().shape == (28, 28, 3)


def test_attention_widget_draws_the_chosen_layer_and_head(spy_on, monkeypatch):
    torch.manual_seed(0)
    model = VisionTransformer(num_layers=2).train()                        # dropout 0.1
    images, labels = torch.rand(3, 1, 28, 28), torch.tensor([4, 1, 7])
    calls = spy_on(explorers, "plot_attention")
    widget = explorers.attention_explorer_widget(model, images, labels)
    assert isinstance(widget, ipywidgets.VBox) and model.training          # its mode is kept
    image, layer, head = widget.children[0].children
    assert [c.description for c in (image, layer, head)] == ["image", "layer", "head"]
    assert head.options[0][1] == explorers.MEAN and len(head.options) == 1 + 4
    image.value, layer.value, head.value = 2, 0, 3
    head.value = explorers.MEAN
    maps = model.attention_maps(images)
    model.eval()
    with torch.no_grad():
        predicted = model(images).argmax(dim=1)
    expected = [(0, 1, explorers.MEAN), (2, 1, explorers.MEAN), (2, 0, explorers.MEAN),
                (2, 0, 3), (2, 0, explorers.MEAN)]
    assert len(calls) == len(expected)
    for ((drawn_image, matrix, title, head_name), figure), (n, depth, h) in zip(
            calls, expected, strict=True):
        want = maps[n, depth].mean(dim=0) if h == explorers.MEAN else maps[n, depth, h]
        np.testing.assert_allclose(matrix, want, rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(figure.axes[1].images[0].get_array(), want, rtol=1e-5,
                                   atol=1e-7)
        assert torch.equal(drawn_image, images[n])
        assert title.startswith(f"predicted {int(predicted[n])}, true {int(labels[n])}")
        assert head_name == f"layer {depth}, " + ("mean of heads" if h == explorers.MEAN
                                              else f"head {h}")


def test_the_table_is_the_encoding_and_the_wavelength_is_two_pi_over_omega():
    table = explorers.positional_encoding_table(embed_dim=16, max_len=50)
    assert table.shape == (50, 16)
    positions = np.arange(50)
    for dimension in (0, 1, 6, 15):
        period = explorers.wavelength(dimension, 16)
        assert period == pytest.approx(2 * math.pi * 10000 ** ((dimension // 2) * 2 / 16))
        turn = (np.sin if dimension % 2 == 0 else np.cos)(2 * math.pi * positions / period)
        np.testing.assert_allclose(table[:, dimension], turn, atol=1e-5)
    assert explorers.wavelength(0, 16) == pytest.approx(2 * math.pi)


def test_distances_depend_only_on_the_offset():
    table = explorers.positional_encoding_table(embed_dim=32, max_len=60)
    from_zero = explorers.distances_from(table, 0)
    for p in (0, 17, 59):
        offsets = np.abs(np.arange(60) - p)
        distances = explorers.distances_from(table, p)
        np.testing.assert_allclose(distances, from_zero[offsets], atol=1e-4)
        np.testing.assert_allclose(distances[12], np.linalg.norm(table[p] - table[12]))
    assert from_zero[0] == 0 and from_zero[1] > 0


def test_plot_positional_encoding_marks_row_column_and_wavelength():
    table = explorers.positional_encoding_table(embed_dim=8, max_len=40)
    fig = explorers.plot_positional_encoding(table, position=5, dimension=3)
    image, curve, distance = fig.axes
    np.testing.assert_array_equal(image.images[0].get_array(), table)
    row, column = image.lines
    assert row.get_ydata()[0] == 5 and column.get_xdata()[0] == 3
    line, point, period = curve.lines
    np.testing.assert_array_equal(line.get_ydata(), table[:, 3])
    assert point.get_xdata()[0] == 5 and point.get_ydata()[0] == table[5, 3]
    assert period.get_xdata()[0] == pytest.approx(2 * math.pi * 10000 ** (2 / 8))
    assert "2π/ω_1" in period.get_label()
    np.testing.assert_allclose(distance.lines[0].get_ydata(), explorers.distances_from(table, 5))


def test_positional_encoding_widget_uses_the_current_class_and_redraws(spy_on, monkeypatch):
    class Counting(nn.Module):                       # a stand-in for a student's class
        def __init__(self, embed_dim, dropout=0.1, max_len=5000):
            super().__init__()
            assert dropout == 0.0
            self.pe = torch.arange(max_len * embed_dim, dtype=torch.float32).reshape(
                1, max_len, embed_dim)

    calls = spy_on(explorers, "plot_positional_encoding")
    with monkeypatch.context() as patch:
        patch.setattr(multi_head, "PositionalEncoding", Counting)
        widget = explorers.positional_encoding_widget(embed_dim=4, max_len=6)
    assert isinstance(widget, ipywidgets.VBox)
    np.testing.assert_array_equal(calls[0][0][0], np.arange(24).reshape(6, 4))

    widget = explorers.positional_encoding_widget(embed_dim=16, max_len=30)
    position, dimension = widget.children[0].children
    assert (position.max, dimension.max) == (29, 15)
    for p, d in [(0, 2), (29, 9), (7, 15)]:
        position.value, dimension.value = p, d
        (table, drawn_p, drawn_d), figure = calls[-1]
        assert (drawn_p, drawn_d) == (p, d)
        _, curve, _ = figure.axes
        omega = 10000 ** (-2 * (d // 2) / 16)
        assert curve.lines[2].get_xdata()[0] == pytest.approx(2 * math.pi / omega)
        assert figure.axes[0].lines[0].get_ydata()[0] == p
