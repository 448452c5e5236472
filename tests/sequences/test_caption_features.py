"""The caption feature CNN: shapes, targets in a unique slot order, seeded training that lowers
the loss, and features for load_caption_data."""

import numpy as np
import pytest
import torch

from course_utils.sequences import caption_features as cf
from course_utils.synthetic.captions import RELATIONS, make_caption_scenes


@pytest.fixture(scope="module")
def scenes():
    return make_caption_scenes(64, seed=5)


def test_the_heads_and_features_have_their_shapes(scenes):
    torch.manual_seed(0)
    model = cf.CaptionFeatureNet().eval()
    logits = model(scenes.images[:4])
    assert {name: tuple(value.shape) for name, value in logits.items()} == {
        "objects": (4, 2, 14), "colours": (4, 2, 5), "sizes": (4, 2, 2), "relation": (4, 4)}
    features = model.features(scenes.images[:4])
    assert features.shape == (4, cf.FEATURE_DIM)
    assert (features >= 0).all()


def test_the_weights_fit_in_a_small_file():
    parameters = sum(p.numel() for p in cf.CaptionFeatureNet().parameters())
    assert 4 * parameters < 1_000_000


def test_targets_put_the_left_or_upper_object_first(scenes):
    targets = cf.feature_targets(scenes)
    two = scenes.count == 2
    assert set(targets["relation"][two].tolist()) <= {RELATIONS.index("left of"),
                                                      RELATIONS.index("above")}
    assert (targets["relation"][~two] == -1).all()
    assert (targets["objects"][~two, 1] == cf.NONE).all()
    assert (targets["colours"][~two, 1] == -1).all()
    swapped = two & ((scenes.relation == 1) | (scenes.relation == 3))
    assert swapped.any()
    assert torch.equal(targets["objects"][swapped], scenes.objects[swapped].flip(1))
    kept = two & ~swapped
    assert torch.equal(targets["sizes"][kept], scenes.sizes[kept])


def test_training_is_seeded_and_lowers_the_loss():
    runs = [cf.train_caption_features(steps=12, seed=0, progress=False, n_scenes=256,
                                      batch_size=32) for _ in range(2)]
    (model, history), (again, history_again) = runs
    assert history["train_loss"] == history_again["train_loss"]
    for name, value in model.state_dict().items():
        assert torch.equal(value, again.state_dict()[name]), name
    assert not model.training
    first, last = history["train_loss"][:3], history["train_loss"][-3:]
    assert np.mean(last) < np.mean(first)


def test_extract_features_is_float32_and_batch_independent(scenes):
    torch.manual_seed(0)
    model = cf.CaptionFeatureNet().train()
    features = cf.extract_features(model, scenes.images, batch_size=10)
    assert features.shape == (64, cf.FEATURE_DIM) and features.dtype == np.float32
    assert model.training                                   # the mode is restored
    np.testing.assert_allclose(features, cf.extract_features(model, scenes.images), atol=1e-5)


def test_evaluation_reports_each_attribute(scenes):
    torch.manual_seed(0)
    scores = cf.evaluate_caption_features(cf.CaptionFeatureNet(), scenes)
    assert set(scores) == {*cf.ATTRIBUTES, "mean"}
    assert all(0 <= value <= 1 for value in scores.values())
    assert scores["mean"] == pytest.approx(np.mean([scores[name] for name in cf.ATTRIBUTES]))
