"""Transformer layers against PyTorch's, causal masking, and the captioning transformer."""

import numpy as np
import pytest
import torch
from torch import nn

from course_utils.attention.dot_product import causal_mask
from course_utils.attention.multi_head import copy_weights_to_torch
from course_utils.attention.transformer import (
    CaptioningTransformer,
    FeedForwardNetwork,
    TransformerDecoderLayer,
    TransformerEncoderLayer,
    captioning_loss,
)
from course_utils.synthetic.captions import (
    NULL,
    build_vocabulary,
    decode_captions,
    encode_captions,
)


@torch.no_grad()
def copy_common(ffn: FeedForwardNetwork, norms: list[nn.LayerNorm], theirs: nn.Module) -> None:
    """Copy the MLP and LayerNorms into a torch.nn.Transformer{Encoder,Decoder}Layer."""
    theirs.linear1.load_state_dict(ffn.fc1.state_dict())
    theirs.linear2.load_state_dict(ffn.fc2.state_dict())
    for k, norm in enumerate(norms, start=1):
        getattr(theirs, f"norm{k}").load_state_dict(norm.state_dict())


def sequences(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(2, 6, 16, generator=generator), torch.randn(2, 3, 16, generator=generator)


@pytest.mark.parametrize("norm_first", [False, True])
def test_encoder_layer_equals_pytorch(norm_first):
    torch.manual_seed(0)
    ours = TransformerEncoderLayer(16, 4, 32, norm_first=norm_first).eval()
    theirs = nn.TransformerEncoderLayer(16, 4, 32, activation="gelu", batch_first=True,
                                        norm_first=norm_first).eval()
    copy_weights_to_torch(ours.self_attn, theirs.self_attn)
    copy_common(ours.ffn, [ours.norm_self, ours.norm_ffn], theirs)
    x, _ = sequences()
    mask = causal_mask(6)
    torch.testing.assert_close(ours(x), theirs(x))
    torch.testing.assert_close(ours(x, mask), theirs(x, src_mask=~mask))


@pytest.mark.parametrize("norm_first", [False, True])
def test_decoder_layer_equals_pytorch(norm_first):
    torch.manual_seed(1)
    ours = TransformerDecoderLayer(16, 4, 32, norm_first=norm_first).eval()
    theirs = nn.TransformerDecoderLayer(16, 4, 32, activation="gelu", batch_first=True,
                                        norm_first=norm_first).eval()
    copy_weights_to_torch(ours.self_attn, theirs.self_attn)
    copy_weights_to_torch(ours.cross_attn, theirs.multihead_attn)
    copy_common(ours.ffn, [ours.norm_self, ours.norm_cross, ours.norm_ffn], theirs)
    tgt, memory = sequences(1)
    mask = causal_mask(6)
    out = ours(tgt, memory, mask)
    assert out.shape == (2, 6, 16)
    torch.testing.assert_close(out, theirs(tgt, memory, tgt_mask=~mask))


def test_causal_mask_makes_position_t_independent_of_later_positions():
    torch.manual_seed(2)
    layer = TransformerDecoderLayer(16, 4, 32).eval()
    tgt, memory = sequences(2)
    t = 3
    changed = tgt.clone()
    changed[:, t + 1:] += torch.randn_like(changed[:, t + 1:])
    before, after = layer(tgt, memory, causal_mask(6)), layer(changed, memory, causal_mask(6))
    torch.testing.assert_close(before[:, :t + 1], after[:, :t + 1])
    assert (before[:, t + 1:] - after[:, t + 1:]).abs().max() > 1e-3
    unmasked = layer(changed, memory)                        # without the mask it leaks
    assert (unmasked[:, :t + 1] - layer(tgt, memory)[:, :t + 1]).abs().max() > 1e-3


CAPTIONS = ["a small red square", "a blue seven left of a green circle",
            "a large white triangle above a red two", "a yellow zero"]


def test_captioning_transformer_overfits_four_captions():
    torch.manual_seed(0)
    word_to_idx, idx_to_word = build_vocabulary()
    captions = torch.as_tensor(encode_captions(CAPTIONS, word_to_idx))
    features = torch.randn(4, 20)
    model = CaptioningTransformer(word_to_idx, input_dim=20, wordvec_dim=32, num_heads=2)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(150):
        scores = model(features, captions[:, :-1])
        assert scores.shape == (4, captions.shape[1] - 1, len(word_to_idx))
        loss = captioning_loss(scores, captions[:, 1:], NULL)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.1 * losses[0]
    model.eval()
    sampled = model.sample(features, max_length=12)
    assert isinstance(sampled, np.ndarray) and sampled.shape == (4, 12)
    assert np.issubdtype(sampled.dtype, np.integer)
    assert decode_captions(sampled, idx_to_word) == CAPTIONS


def test_captioning_transformer_samples_without_dropout_and_keeps_its_mode():
    torch.manual_seed(0)
    word_to_idx, _ = build_vocabulary()
    model = CaptioningTransformer(word_to_idx, input_dim=20, wordvec_dim=32, num_heads=2,
                                  dim_feedforward=64, dropout=0.5)
    assert model.transformer[0].ffn.fc1.out_features == 64
    features = torch.randn(3, 20)
    in_training = model.sample(features, max_length=8)
    assert model.training
    model.eval()
    np.testing.assert_array_equal(in_training, model.sample(features, max_length=8))
    assert not model.training
