"""Patch embedding, the vision transformer's shapes and attention maps, and a tiny overfit."""

import math

import pytest
import torch
from torch.nn import functional as F

from course_utils.attention.vit import PatchEmbedding, VisionTransformer
from course_utils.data import load_mnist


def test_patch_embedding_equals_a_strided_convolution():
    torch.manual_seed(0)
    embed = PatchEmbedding(img_size=8, patch_size=4, in_channels=3, embed_dim=5)
    x = torch.randn(2, 3, 8, 8)
    out = embed(x)
    assert embed.num_patches == 4 and out.shape == (2, 4, 5)
    weight = embed.proj.weight.reshape(5, 3, 4, 4)             # patches flatten channel first
    conv = F.conv2d(x, weight, embed.proj.bias, stride=4)     # (2, 5, 2, 2)
    torch.testing.assert_close(out, conv.flatten(2).transpose(1, 2))


def test_vit_shapes_and_class_token_attention():
    torch.manual_seed(1)
    model = VisionTransformer(num_layers=2).eval()
    x = torch.randn(3, 1, 28, 28)
    assert model(x).shape == (3, 10)
    weights = model.class_token_attention(x)
    assert weights.shape == (3, 2, 4, 17)                        # 1 + 16 patches of 7 x 7
    torch.testing.assert_close(weights.sum(dim=-1), torch.ones(3, 2, 4))
    pre_norm = VisionTransformer(num_layers=2, norm_first=True).eval()
    assert pre_norm(x).shape == (3, 10)
    assert pre_norm.class_token_attention(x).shape == (3, 2, 4, 17)


@pytest.mark.parametrize("norm_first", [False, True])
def test_attention_maps_rows_class_token_and_a_direct_computation(norm_first):
    torch.manual_seed(2)
    model = VisionTransformer(num_layers=2, norm_first=norm_first).train()  # dropout 0.1
    x = torch.randn(3, 1, 28, 28)
    maps = model.attention_maps(x)
    assert maps.shape == (3, 2, 4, 17, 17) and model.training            # its mode put back
    torch.testing.assert_close(maps.sum(dim=-1), torch.ones(3, 2, 4, 17))
    torch.testing.assert_close(maps[:, :, :, 0], model.class_token_attention(x))
    model.eval()
    torch.testing.assert_close(model.attention_maps(x), maps)              # no dropout in either
    with torch.no_grad():                                                  # layer 1, by hand
        second = model.layers[1]
        h = second.attention_input(model.layers[0](model.tokens(x)))
        q = second.self_attn.query(h).view(3, 17, 4, 16).transpose(1, 2)
        k = second.self_attn.key(h).view(3, 17, 4, 16).transpose(1, 2)
        expected = (q @ k.transpose(2, 3) / math.sqrt(16)).softmax(dim=-1)
    torch.testing.assert_close(maps[:, 1], expected)


def test_vit_overfits_sixteen_digits():
    torch.manual_seed(0)
    x_train, y_train, _, _ = load_mnist()
    images = torch.as_tensor(x_train[:16], dtype=torch.float32)[:, None] / 255
    labels = torch.as_tensor(y_train[:16])
    model = VisionTransformer(num_layers=2, dropout=0.0)
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-3)
    for _ in range(60):
        loss = F.cross_entropy(model(images), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    with torch.no_grad():
        accuracy = (model(images).argmax(dim=1) == labels).float().mean().item()
    assert accuracy == 1.0
