"""Scaled dot-product attention: loops against no loops, and against PyTorch."""

import math

import pytest
import torch
from torch.nn import functional as F

from course_utils.attention.dot_product import (
    causal_mask,
    scaled_dot_product_attention,
    scaled_dot_product_no_loop_batch,
    scaled_dot_product_two_loop_batch,
    scaled_dot_product_two_loop_single,
)


def qkv(*shape: int, seed: int = 0) -> list[torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return [torch.randn(*shape, generator=generator, dtype=torch.float64) for _ in range(3)]


def test_causal_mask_is_true_where_attention_is_allowed():
    mask = causal_mask(4)
    assert mask.dtype == torch.bool and mask.shape == (4, 4)
    assert mask[2, 1] and mask[2, 2] and not mask[1, 2]
    assert torch.equal(mask, torch.ones(4, 4).tril().bool())


def test_loop_versions_equal_the_no_loop_version():
    query, key, value = qkv(3, 5, 4)
    expected, weights = scaled_dot_product_no_loop_batch(query, key, value)
    torch.testing.assert_close(scaled_dot_product_two_loop_batch(query, key, value), expected)
    for n in range(3):
        single = scaled_dot_product_two_loop_single(query[n], key[n], value[n])
        torch.testing.assert_close(single, expected[n])
    torch.testing.assert_close(weights.sum(dim=2), torch.ones(3, 5, dtype=torch.float64))


def test_no_loop_mask_is_true_where_masked():
    query, key, value = qkv(2, 5, 4)
    masked = ~causal_mask(5).expand(2, 5, 5)
    y, weights = scaled_dot_product_no_loop_batch(query, key, value, masked)
    assert weights[masked].abs().max() < 1e-12
    expected = F.scaled_dot_product_attention(query, key, value, is_causal=True)
    torch.testing.assert_close(y, expected)


@pytest.mark.parametrize("causal", [False, True])
def test_attention_equals_pytorch(causal):
    query, key, value = qkv(2, 3, 6, 8, seed=1)       # leading (N, H), S = T = 6
    mask = causal_mask(6) if causal else None
    output, weights = scaled_dot_product_attention(query, key, value, mask)
    expected = F.scaled_dot_product_attention(query, key, value, attn_mask=mask)
    torch.testing.assert_close(output, expected)
    assert weights.shape == (2, 3, 6, 6)
    torch.testing.assert_close(weights.sum(dim=-1), torch.ones(2, 3, 6, dtype=torch.float64))


def test_attention_of_s_queries_over_t_keys():
    generator = torch.Generator().manual_seed(2)
    query = torch.randn(2, 3, 8, generator=generator)
    key, value = torch.randn(2, 5, 8, generator=generator), torch.randn(2, 5, 8,
                                                                         generator=generator)
    output, weights = scaled_dot_product_attention(query, key, value)
    assert output.shape == (2, 3, 8) and weights.shape == (2, 3, 5)
    torch.testing.assert_close(output, F.scaled_dot_product_attention(query, key, value))


def test_scaling_keeps_unit_variance_scores():
    query, key, _ = qkv(64, 32, 256, seed=3)
    scores = query @ key.transpose(1, 2) / math.sqrt(256)
    assert abs(scores.var().item() - 1) < 0.05
