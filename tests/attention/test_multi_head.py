"""MultiHeadAttention against torch.nn.MultiheadAttention, and the positional encoding."""

import math

import pytest
import torch
from torch import nn

from course_utils.attention.dot_product import causal_mask
from course_utils.attention.multi_head import (
    MultiHeadAttention,
    PositionalEncoding,
    copy_weights_from_torch,
    copy_weights_to_torch,
)


def inputs(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(2, 5, 16, generator=generator), torch.randn(2, 7, 16, generator=generator)


@pytest.mark.parametrize("masked", [False, True])
def test_equals_torch_multihead_attention(masked):
    torch.manual_seed(0)
    ours = MultiHeadAttention(16, 4).eval()
    theirs = nn.MultiheadAttention(16, 4, batch_first=True).eval()
    copy_weights_to_torch(ours, theirs)
    if masked:                                   # self-attention under a causal mask
        x, _ = inputs()
        mask = causal_mask(5)
        expected, _ = theirs(x, x, x, attn_mask=~mask)      # PyTorch: True = masked out
        torch.testing.assert_close(ours(x, x, x, attn_mask=mask.long()), expected)
        torch.testing.assert_close(ours(x, x, x, attn_mask=mask), expected)
    else:                                        # cross-attention, S = 5 over T = 7
        x, memory = inputs()
        expected, _ = theirs(x, memory, memory)
        torch.testing.assert_close(ours(x, memory, memory), expected)


def test_copy_from_torch_round_trip():
    torch.manual_seed(1)
    theirs = nn.MultiheadAttention(16, 2, batch_first=True).eval()
    ours = MultiHeadAttention(16, 2).eval()
    copy_weights_from_torch(theirs, ours)
    x, memory = inputs(1)
    torch.testing.assert_close(ours(x, memory, memory), theirs(x, memory, memory)[0])


def test_attention_weights_sum_to_one_and_respect_the_mask():
    torch.manual_seed(2)
    attention = MultiHeadAttention(16, 4).eval()
    x, _ = inputs(2)
    weights = attention.attention_weights(x, x, causal_mask(5).long())
    assert weights.shape == (2, 4, 5, 5)
    torch.testing.assert_close(weights.sum(dim=-1), torch.ones(2, 4, 5))
    assert weights[..., ~causal_mask(5)].abs().max() == 0


def test_positional_encoding_values_and_shape():
    encoding = PositionalEncoding(8, dropout=0.0, max_len=50)
    assert encoding.pe.shape == (1, 50, 8)
    p, i = 7, 2                                            # columns 4 and 5
    omega = 10000 ** (-2 * i / 8)
    assert encoding.pe[0, p, 2 * i].item() == pytest.approx(math.sin(p * omega), abs=1e-6)
    assert encoding.pe[0, p, 2 * i + 1].item() == pytest.approx(math.cos(p * omega), abs=1e-6)
    x = torch.randn(3, 10, 8)
    torch.testing.assert_close(encoding(x), x + encoding.pe[:, :10])


def test_distance_between_positions_depends_only_on_the_offset():
    pe = PositionalEncoding(64, dropout=0.0, max_len=600).pe[0].double()
    for k in (1, 5, 40):
        distances = (pe[k:] - pe[:-k]).norm(dim=1)            # over every p
        assert (distances.max() - distances.min()).item() < 1e-4


def test_wavelength_of_each_sin_column_is_two_pi_over_omega():
    dim, length = 64, 5000
    pe = PositionalEncoding(dim, dropout=0.0, max_len=length).pe[0].double()
    checked = 0
    for i in range(dim // 2):
        omega = 10000 ** (-2 * i / dim)
        column = pe[:, 2 * i]
        crossings = torch.nonzero(column[:-1].sign() != column[1:].sign()).flatten()
        if len(crossings) < 9:                    # fewer than 4 periods in max_len
            continue
        wavelength = 2 * (crossings[-1] - crossings[0]).item() / (len(crossings) - 1)
        assert wavelength == pytest.approx(2 * math.pi / omega, rel=0.02)
        assert abs(wavelength - 1 / omega) > 0.5 * wavelength     # the notes' 1/ω is off
        checked += 1
    assert checked >= 10
