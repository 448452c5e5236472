"""Patch embedding, the vision transformer's shapes and attention maps, and a tiny overfit."""

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
