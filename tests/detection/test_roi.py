"""RoI pooling and RoI Align against line-by-line transcriptions of torchvision's CPU kernels."""

import itertools
import math

import pytest
import torch

from course_utils.detection.roi import roi_align, roi_pool

FLT_MAX = 3.4028234663852886e38


def pre_calc_for_bilinear_interpolate(height, width, pooled_height, pooled_width, roi_start_h,
                                      roi_start_w, bin_size_h, bin_size_w, roi_bin_grid_h,
                                      roi_bin_grid_w):
    """torchvision/csrc/ops/cpu/roi_align_common.h: (pos1..pos4, w1..w4) of every sample."""
    pre_calc = []
    for ph in range(pooled_height):
        for pw in range(pooled_width):
            for iy in range(roi_bin_grid_h):
                yy = roi_start_h + ph * bin_size_h + (iy + 0.5) * bin_size_h / roi_bin_grid_h
                for ix in range(roi_bin_grid_w):
                    xx = roi_start_w + pw * bin_size_w + (ix + 0.5) * bin_size_w / roi_bin_grid_w
                    x = xx
                    y = yy
                    if not (y >= -1.0 and y <= height and x >= -1.0 and x <= width):
                        pre_calc.append((0, 0, 0, 0, 0.0, 0.0, 0.0, 0.0))
                        continue
                    if y <= 0:
                        y = 0
                    if x <= 0:
                        x = 0
                    y_low = int(y)
                    x_low = int(x)
                    if y_low >= height - 1:
                        y_high = y_low = height - 1
                        y = float(y_low)
                    else:
                        y_high = y_low + 1
                    if x_low >= width - 1:
                        x_high = x_low = width - 1
                        x = float(x_low)
                    else:
                        x_high = x_low + 1
                    ly = y - y_low
                    lx = x - x_low
                    hy, hx = 1.0 - ly, 1.0 - lx
                    w1, w2, w3, w4 = hy * hx, hy * lx, ly * hx, ly * lx
                    pre_calc.append((y_low * width + x_low, y_low * width + x_high,
                                     y_high * width + x_low, y_high * width + x_high,
                                     w1, w2, w3, w4))
    return pre_calc


def roi_align_reference(input, rois, spatial_scale, pooled_height, pooled_width, sampling_ratio,
                        aligned):
    """roi_align_forward_kernel_impl of torchvision/csrc/ops/cpu/roi_align_kernel.cpp, in
    Python floats (the kernel with T = double)."""
    n_rois, (_, channels, height, width) = len(rois), input.shape
    data, boxes = input.flatten(2).tolist(), rois.tolist()
    output = torch.zeros(n_rois, channels, pooled_height, pooled_width, dtype=torch.float64)
    for n in range(n_rois):
        offset_rois = boxes[n]
        roi_batch_ind = int(offset_rois[0])
        offset = 0.5 if aligned else 0.0
        roi_start_w = offset_rois[1] * spatial_scale - offset
        roi_start_h = offset_rois[2] * spatial_scale - offset
        roi_end_w = offset_rois[3] * spatial_scale - offset
        roi_end_h = offset_rois[4] * spatial_scale - offset
        roi_width = roi_end_w - roi_start_w
        roi_height = roi_end_h - roi_start_h
        if not aligned:
            roi_width = max(roi_width, 1.0)
            roi_height = max(roi_height, 1.0)
        bin_size_h = roi_height / pooled_height
        bin_size_w = roi_width / pooled_width
        roi_bin_grid_h = sampling_ratio if sampling_ratio > 0 else math.ceil(
            roi_height / pooled_height)
        roi_bin_grid_w = sampling_ratio if sampling_ratio > 0 else math.ceil(
            roi_width / pooled_width)
        count = max(roi_bin_grid_h * roi_bin_grid_w, 1)
        pre_calc = pre_calc_for_bilinear_interpolate(
            height, width, pooled_height, pooled_width, roi_start_h, roi_start_w, bin_size_h,
            bin_size_w, roi_bin_grid_h, roi_bin_grid_w)
        for c in range(channels):
            offset_input = data[roi_batch_ind][c]
            pre_calc_index = 0
            for ph in range(pooled_height):
                for pw in range(pooled_width):
                    output_val = 0.0
                    for _iy in range(roi_bin_grid_h):
                        for _ix in range(roi_bin_grid_w):
                            pos1, pos2, pos3, pos4, w1, w2, w3, w4 = pre_calc[pre_calc_index]
                            output_val += (w1 * offset_input[pos1] + w2 * offset_input[pos2]
                                           + w3 * offset_input[pos3] + w4 * offset_input[pos4])
                            pre_calc_index += 1
                    output_val /= count
                    output[n, c, ph, pw] = output_val
    return output


def c_round(value):
    """C's round(): halves away from zero."""
    return int(math.copysign(math.floor(abs(value) + 0.5), value))


def roi_pool_reference(input, rois, spatial_scale, pooled_height, pooled_width):
    """roi_pool_forward_kernel_impl of torchvision/csrc/ops/cpu/roi_pool_kernel.cpp: the output
    and the argmax (flat index h * W + w in the RoI's image and channel, -1 for an empty bin)."""
    num_rois, (_, channels, height, width) = len(rois), input.shape
    data, boxes = input.flatten(2).tolist(), rois.tolist()
    output = torch.zeros(num_rois, channels, pooled_height, pooled_width, dtype=torch.float64)
    argmax_data = torch.zeros(num_rois, channels, pooled_height, pooled_width, dtype=torch.long)
    for n in range(num_rois):
        offset_rois = boxes[n]
        roi_batch_ind = int(offset_rois[0])
        roi_start_w = c_round(offset_rois[1] * spatial_scale)
        roi_start_h = c_round(offset_rois[2] * spatial_scale)
        roi_end_w = c_round(offset_rois[3] * spatial_scale)
        roi_end_h = c_round(offset_rois[4] * spatial_scale)
        roi_width = max(roi_end_w - roi_start_w + 1, 1)
        roi_height = max(roi_end_h - roi_start_h + 1, 1)
        bin_size_h = roi_height / pooled_height
        bin_size_w = roi_width / pooled_width
        for ph in range(pooled_height):
            for pw in range(pooled_width):
                hstart = math.floor(ph * bin_size_h)
                wstart = math.floor(pw * bin_size_w)
                hend = math.ceil((ph + 1) * bin_size_h)
                wend = math.ceil((pw + 1) * bin_size_w)
                hstart = min(max(hstart + roi_start_h, 0), height)
                hend = min(max(hend + roi_start_h, 0), height)
                wstart = min(max(wstart + roi_start_w, 0), width)
                wend = min(max(wend + roi_start_w, 0), width)
                is_empty = (hend <= hstart) or (wend <= wstart)
                for c in range(channels):
                    maxval = 0.0 if is_empty else -FLT_MAX
                    maxidx = -1
                    input_offset = data[roi_batch_ind][c]
                    for h in range(hstart, hend):
                        for w in range(wstart, wend):
                            input_index = h * width + w
                            if input_offset[input_index] > maxval:
                                maxval = input_offset[input_index]
                                maxidx = input_index
                    output[n, c, ph, pw] = maxval
                    argmax_data[n, c, ph, pw] = maxidx
    return output, argmax_data


def random_rois(generator, num_images, height, width, scale, count=24):
    """(count, 5) boxes in image pixels (feature map / scale): ordinary ones, ones partly or
    wholly outside the map, tiny ones (under a feature pixel) and a few zero-sized."""
    size = torch.tensor([width, height, width, height], dtype=torch.float64) / scale
    corner = (torch.rand(count, 2, generator=generator, dtype=torch.float64) * 1.6 - 0.3)
    extent = torch.rand(count, 2, generator=generator, dtype=torch.float64) * 1.2
    extent[: count // 4] *= 0.05                      # tiny
    extent[count // 4: count // 4 + 2] = 0            # zero width and height
    boxes = torch.cat([corner, corner + extent], dim=1) * size
    index = torch.randint(num_images, (count, 1), generator=generator).double()
    return torch.cat([index, boxes], dim=1)


CASES = [(aligned, sampling_ratio, scale, output_size)
         for aligned in (False, True) for sampling_ratio in (-1, 2) for scale in (1.0, 0.25)
         for output_size in ((3, 2), 4)]


@pytest.mark.parametrize("aligned, sampling_ratio, scale, output_size", CASES)
def test_roi_align_matches_torchvision_kernel(aligned, sampling_ratio, scale, output_size):
    generator = torch.Generator().manual_seed(CASES.index((aligned, sampling_ratio, scale,
                                                           output_size)))
    features = torch.randn(2, 3, 6, 7, generator=generator, dtype=torch.float64)
    rois = random_rois(generator, 2, 6, 7, scale)
    h, w = (output_size, output_size) if isinstance(output_size, int) else output_size
    expected = roi_align_reference(features, rois, scale, h, w, sampling_ratio, aligned)
    result = roi_align(features, rois, output_size, scale, sampling_ratio, aligned)
    assert result.shape == (24, 3, h, w) and result.dtype == torch.float64
    torch.testing.assert_close(result, expected, rtol=0, atol=1e-12)
    # float32 in, float32 out, equal up to rounding
    single = roi_align(features.float(), rois.float(), output_size, scale, sampling_ratio,
                       aligned)
    assert single.dtype == torch.float32
    torch.testing.assert_close(single.double(), expected, rtol=0, atol=1e-5)


@pytest.mark.parametrize("scale", [1.0, 0.25, 0.5])
def test_roi_pool_matches_torchvision_kernel(scale):
    generator = torch.Generator().manual_seed(int(scale * 100))
    features = torch.randn(2, 3, 6, 7, generator=generator, dtype=torch.float64)
    rois = random_rois(generator, 2, 6, 7, scale)
    rois[-4:, 1:] = torch.tensor([[1.0, 3.0, 5.0, 7.0], [-5.0, -1.0, 3.0, 9.0],
                                  [0.5, 2.5, 4.5, 6.5], [-2.5, 1.5, -0.5, 3.5]]) / scale
    for output_size, (h, w) in [((3, 2), (3, 2)), (4, (4, 4))]:
        expected, _ = roi_pool_reference(features, rois, scale, h, w)
        result = roi_pool(features, rois, output_size, scale)
        assert result.shape == (24, 3, h, w) and result.dtype == torch.float64
        torch.testing.assert_close(result, expected, rtol=0, atol=0)
        single = roi_pool(features.float(), rois.float(), output_size, scale)
        assert single.dtype == torch.float32
        torch.testing.assert_close(single, expected.float(), rtol=0, atol=0)


def test_roi_pool_rounds_halves_away_from_zero():
    # at scale 0.5 the box (1, 1, 5, 5) becomes (0.5, 0.5, 2.5, 2.5): C's round gives columns
    # and rows 1..3 (torch.round, halves to even, would give 0..2)
    features = torch.arange(25.0).view(1, 1, 5, 5)
    result = roi_pool(features, torch.tensor([[0.0, 1.0, 1.0, 5.0, 5.0]]), 3, 0.5)
    torch.testing.assert_close(result[0, 0], features[0, 0, 1:4, 1:4])


def test_roi_pool_gradient_goes_to_each_bins_first_maximum():
    # integer features from a small range: many ties inside bins, and bins that overlap
    generator = torch.Generator().manual_seed(3)
    features = torch.randint(3, (2, 2, 6, 7), generator=generator).double().requires_grad_()
    rois = random_rois(generator, 2, 6, 7, 1.0)
    _, argmax = roi_pool_reference(features.detach(), rois, 1.0, 3, 2)
    upstream = torch.randn(24, 2, 3, 2, generator=generator, dtype=torch.float64)
    roi_pool(features, rois, (3, 2)).backward(upstream)
    expected = torch.zeros(2, 2, 6 * 7, dtype=torch.float64)
    images = rois[:, 0].long()
    for n, c, ph, pw in itertools.product(*map(range, upstream.shape)):
        if argmax[n, c, ph, pw] != -1:   # roi_pool_backward_kernel_impl
            expected[images[n], c, argmax[n, c, ph, pw]] += upstream[n, c, ph, pw]
    torch.testing.assert_close(features.grad, expected.view(2, 2, 6, 7), rtol=0, atol=1e-12)


def test_aligned_roi_align_of_a_ramp_reads_the_bin_centres():
    # features equal to their column index: a pixel's value sits at its centre c + 0.5, so an
    # aligned box reads the x of each bin's centre (minus 0.5) wherever it stays inside
    features = torch.arange(8.0).expand(1, 1, 8, 8)
    result = roi_align(features, [torch.tensor([[1.0, 2.0, 7.0, 6.0]])], (2, 4), aligned=True)
    centres = 1.0 + (torch.arange(4) + 0.5) * 6 / 4 - 0.5
    torch.testing.assert_close(result[0, 0], centres.expand(2, 4))


def test_roi_align_boundary_rule_keeps_samples_up_to_one_pixel_outside():
    # 1 x 1 boxes, one bin, one sample at the box's centre: x = -1 and x = W (y = -1, y = H)
    # still read the border pixels, anything farther out reads 0
    features = torch.randn(1, 1, 4, 5, dtype=torch.float64)
    f, eps = features[0, 0], 1e-9
    rois = torch.tensor([[0, -1.5, 1.0, -0.5, 2.0], [0, -1.5 - eps, 1.0, -0.5 - eps, 2.0],
                         [0, 4.5, 1.0, 5.5, 2.0], [0, 4.5 + eps, 1.0, 5.5 + eps, 2.0],
                         [0, 1.0, -1.5, 2.0, -0.5], [0, 1.0, 3.5, 2.0, 4.5],
                         [0, 1.0, 3.5 + eps, 2.0, 4.5 + eps]], dtype=torch.float64)
    expected = torch.stack([(f[1, 0] + f[2, 0]) / 2, f.new_zeros(()), (f[1, 4] + f[2, 4]) / 2,
                            f.new_zeros(()), (f[0, 1] + f[0, 2]) / 2, (f[3, 1] + f[3, 2]) / 2,
                            f.new_zeros(())])
    result = roi_align(features, rois, 1, sampling_ratio=1)
    torch.testing.assert_close(result.view(-1), expected)
    reference = roi_align_reference(features, rois, 1.0, 1, 1, 1, False)
    torch.testing.assert_close(reference.view(-1), expected)


def test_list_form_equals_the_indexed_form():
    generator = torch.Generator().manual_seed(5)
    features = torch.randn(3, 4, 8, 8, generator=generator)
    per_image = [torch.rand(k, 2, generator=generator) * 20 for k in (2, 0, 3)]
    per_image = [torch.cat([b, b + 10], dim=1) for b in per_image]
    rois = torch.cat([torch.cat([torch.full((len(b), 1), float(i)), b], dim=1)
                      for i, b in enumerate(per_image)])
    for function, arguments in [(roi_align, (0.5, 2, True)), (roi_pool, (0.5,))]:
        torch.testing.assert_close(function(features, per_image, (2, 3), *arguments),
                                   function(features, rois, (2, 3), *arguments))


@pytest.mark.parametrize("function", [roi_align, roi_pool])
def test_no_boxes_give_an_empty_result(function):
    features = torch.randn(2, 3, 5, 5, requires_grad=True)
    for boxes in (torch.zeros(0, 5), [torch.zeros(0, 4), torch.zeros(0, 4)], []):
        result = function(features, boxes, (2, 3))
        assert result.shape == (0, 3, 2, 3) and result.dtype == torch.float32


def test_gradients_flow_to_the_features_not_the_boxes():
    features = torch.randn(1, 2, 5, 5, dtype=torch.float64, requires_grad=True)
    rois = torch.tensor([[0.0, 0.5, 1.0, 4.0, 3.5]], dtype=torch.float64, requires_grad=True)
    for function in (roi_align, roi_pool):
        function(features, rois, 2).sum().backward()
        assert rois.grad is None and features.grad.abs().sum() > 0


@pytest.mark.parametrize("aligned, sampling_ratio", [(False, -1), (True, 2)])
def test_roi_align_gradcheck(aligned, sampling_ratio):
    generator = torch.Generator().manual_seed(7)
    features = torch.randn(2, 2, 5, 6, generator=generator, dtype=torch.float64,
                           requires_grad=True)
    rois = random_rois(generator, 2, 5, 6, 0.5, count=6)
    assert torch.autograd.gradcheck(
        lambda x: roi_align(x, rois, (2, 3), 0.5, sampling_ratio, aligned), (features,))


def test_roi_pool_gradcheck():
    generator = torch.Generator().manual_seed(8)
    # distinct values far apart compared with the finite-difference step: a fixed argmax
    values = torch.randperm(2 * 2 * 5 * 6, generator=generator).double()
    features = values.view(2, 2, 5, 6).requires_grad_()
    rois = random_rois(generator, 2, 5, 6, 0.5, count=6)
    assert torch.autograd.gradcheck(lambda x: roi_pool(x, rois, (2, 3), 0.5), (features,))
