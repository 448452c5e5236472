"""The committed weights: each file loads offline, checked, and scores what its module promises."""

import pickle

import pytest

from course_utils import data, pretrained
from course_utils.detection import fcn, localization, training
from course_utils.sequences import caption_features
from course_utils.visualization import fast_style
from instructor.weights._mnist_test import mnist_test_accuracy

# loader, its path constant and sha256 constant, the module that remakes it
COMMITTED = [
    (pretrained.load_mnist_resnet, "MNIST_RESNET_PATH", "MNIST_RESNET_SHA256", "mnist_resnet"),
    (pretrained.load_mnist_vgg, "MNIST_VGG_PATH", "MNIST_VGG_SHA256", "mnist_vgg"),
    (pretrained.load_mnist_vit, "MNIST_VIT_PATH", "MNIST_VIT_SHA256", "mnist_vit"),
    (pretrained.load_hubble_style, "HUBBLE_STYLE_PATH", "HUBBLE_STYLE_SHA256", "hubble_style"),
] + [(getattr(pretrained, f"load_{name}"), f"{name.upper()}_PATH", f"{name.upper()}_SHA256", name)
      for name in ("scenes_yolo", "scenes_fcos", "scenes_two_stage", "scenes_fcn",
                   "scenes_localizer", "caption_features")]
NAMES = [module for *_, module in COMMITTED]


@pytest.mark.parametrize("load, accuracy, minimum", [
    (pretrained.load_mnist_resnet, pretrained.MNIST_RESNET_ACCURACY, 0.992),
    (pretrained.load_mnist_vgg, pretrained.MNIST_VGG_ACCURACY, 0.99),
    (pretrained.load_mnist_vit, pretrained.MNIST_VIT_ACCURACY, 0.97),
], ids=["mnist_resnet", "mnist_vgg", "mnist_vit"])
def test_an_mnist_model_reaches_its_test_accuracy(load, accuracy, minimum):
    model = load()
    assert not model.training
    measured = mnist_test_accuracy(model)
    assert measured >= minimum
    assert measured == pytest.approx(accuracy, abs=2e-4)


def test_the_fast_style_network_scores_its_held_out_loss_reduction():
    net = pretrained.load_hubble_style()
    assert not net.training
    reduction = fast_style.held_out_loss_reduction(net)
    assert reduction >= 0.9
    assert reduction == pytest.approx(pretrained.HUBBLE_STYLE_LOSS_REDUCTION, abs=1e-3)


def box_map50(model) -> float:
    return training.evaluate_detector(model, training.test_scenes())["mAP@0.5"]


@pytest.mark.parametrize("load, measure, committed", [
    (pretrained.load_scenes_yolo, box_map50, pretrained.SCENES_YOLO_MAP50),
    (pretrained.load_scenes_fcos, box_map50, pretrained.SCENES_FCOS_MAP50),
    (pretrained.load_scenes_two_stage, box_map50, pretrained.SCENES_TWO_STAGE_MAP50),
    (pretrained.load_scenes_fcn,
     lambda model: fcn.evaluate_segmentation(model, training.test_scenes())["mIoU"],
     pretrained.SCENES_FCN_MIOU),
    (pretrained.load_scenes_localizer,
     lambda model: localization.evaluate_localizer(model, localization.test_scenes())["accuracy"],
     pretrained.SCENES_LOCALIZER_ACCURACY),
], ids=["yolo", "fcos", "two_stage", "fcn", "localizer"])
def test_a_scene_model_scores_what_its_constant_says(load, measure, committed):
    model = load()
    assert not model.training
    assert measure(model) == pytest.approx(committed, abs=1e-3)


def test_the_caption_feature_network_scores_what_its_constant_says():
    model = pretrained.load_caption_features()
    assert not model.training
    scores = caption_features.evaluate_caption_features(model, caption_features.test_scenes())
    assert scores["mean"] >= 0.8
    assert scores["mean"] == pytest.approx(pretrained.CAPTION_FEATURES_ACCURACY, abs=1e-3)


@pytest.mark.parametrize("path", [path for _, path, _, _ in COMMITTED], ids=NAMES)
def test_weights_files_are_small(path):
    assert getattr(pretrained, path).stat().st_size < 1_000_000


@pytest.mark.parametrize("load, _path, _sha, module", COMMITTED, ids=NAMES)
def test_a_corrupt_or_missing_file_is_explained(tmp_path, load, _path, _sha, module):
    with pytest.raises(FileNotFoundError, match=f"instructor.weights {module}"):
        load(tmp_path / "missing.pt")
    broken = tmp_path / "broken.pt"
    broken.write_bytes(b"not a checkpoint")
    with pytest.raises(pickle.UnpicklingError):
        load(broken)


@pytest.mark.parametrize("load, _path, sha256, _module", COMMITTED, ids=NAMES)
def test_a_modified_committed_file_fails_its_checksum(monkeypatch, load, _path, sha256, _module):
    monkeypatch.setattr(pretrained, sha256, "0" * 64)
    with pytest.raises(data.DatasetError, match="corrupt"):
        load()
