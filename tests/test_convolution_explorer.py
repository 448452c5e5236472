"""Tests of course_utils.convolution_explorer."""

import matplotlib
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from course_utils import convolution_explorer as ce

matplotlib.use("Agg")


@pytest.mark.parametrize("name", ["edge", "blur", "sharpen", "random"])
@pytest.mark.parametrize("stride,pad", [(1, 0), (1, 1), (2, 1)])
def test_feature_map_matches_torch_and_formula(name: str, stride: int, pad: int) -> None:
    image = np.random.default_rng(0).random((31, 31))
    kernel = ce.make_filter(name)
    out, formula = ce.explore_convolution(image, kernel, stride, pad)
    expected = F.conv2d(torch.tensor(image)[None, None], torch.tensor(kernel)[None, None],
                        stride=stride, padding=pad)[0, 0].numpy()
    np.testing.assert_allclose(out, expected, atol=1e-12)
    size = (31 - 3 + 2 * pad) // stride + 1
    assert out.shape == (size, size)
    assert formula.endswith(f"(31 - 3 + 2*{pad})/{stride} + 1 = {size}")


def test_blur_keeps_constant_image_and_edge_kills_it() -> None:
    flat = np.full((10, 10), 0.5)
    np.testing.assert_allclose(ce.explore_convolution(flat, ce.make_filter("blur"))[0], 0.5)
    np.testing.assert_allclose(ce.explore_convolution(flat, ce.make_filter("edge"))[0], 0,
                               atol=1e-12)


def test_errors_for_bad_configuration() -> None:
    with pytest.raises(ValueError, match="do not tile"):
        ce.explore_convolution(np.zeros((10, 10)), ce.make_filter("edge"), stride=3)
    with pytest.raises(ValueError, match="unknown filter"):
        ce.make_filter("emboss")


def test_sample_image_plot_and_widget() -> None:
    image = ce.grey_image("camera", size=64)
    assert image.shape == (64, 64) and 0 <= image.min() and image.max() <= 1
    fig = ce.plot_convolution(image, ce.make_filter("sharpen"), stride=3, pad=0)
    assert "do not tile" in fig._suptitle.get_text()
    widget = ce.convolution_explorer_widget()
    assert len(widget.children) == 2
