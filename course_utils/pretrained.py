"""Models trained in the course, with their small weight files committed in course_utils/data/.

    model = pretrained.load_mnist_resnet()          # or load_mnist_vgg(): eval mode, on the CPU
    logits = model(training.images_to_tensor(x))     # uint8 (N, 28, 28) -> (N, 10)

    net = pretrained.load_hubble_style()             # chapter 8's fast style transfer
    detector = pretrained.load_scenes_fcos()         # chapter 9's models of synthetic scenes:
    # load_scenes_yolo, load_scenes_fcos, load_scenes_two_stage (boxes and masks),
    # load_scenes_fcn (semantic segmentation), load_scenes_localizer (one object per image)
    features = pretrained.load_caption_features()    # chapter 10's image features of captions
    vit = pretrained.load_mnist_vit()                # chapter 11's Vision Transformer
"""

from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from course_utils import architectures, data, runtime, training
from course_utils.attention import vit
from course_utils.detection import fcn, fcos, localization, two_stage, yolo
from course_utils.sequences import caption_features
from course_utils.visualization import fast_style

MNIST_RESNET_PATH = data.DATA_DIR / "mnist_resnet.pt"
MNIST_RESNET_SHA256 = "3dd60a41a427be0ffe51b65d5df9f3c73764b09e48180b4e2dc479a47f7a4ae7"
# Test accuracy of the committed weights on the 10,000 MNIST test digits.
MNIST_RESNET_ACCURACY = 0.9929
MNIST_VGG_PATH = data.DATA_DIR / "mnist_vgg.pt"
MNIST_VGG_SHA256 = "471d123de1be7f95e5304a98fe37056792030bfd2bffac7301e9c784aeb55e65"
MNIST_VGG_ACCURACY = 0.9923
HUBBLE_STYLE_PATH = data.DATA_DIR / "hubble_style.pt"
HUBBLE_STYLE_SHA256 = "03d1456dd8c0fe3dcce6fccbb320802d9c551a0fc44bea84f37b31dd60dea639"
# fast_style.held_out_loss_reduction of the committed weights (on the astronaut, 96 x 96).
HUBBLE_STYLE_LOSS_REDUCTION = 0.9613
# Chapter 9 (on synthetic scenes): box mAP@0.5 of the detectors on detection.training's
# test_scenes() (500 held-out scenes), mIoU of the FCN there, and the class accuracy of the
# localiser on localization.test_scenes() (500 held-out single-object scenes).
SCENES_YOLO_PATH = data.DATA_DIR / "scenes_yolo.pt"
SCENES_YOLO_SHA256 = "5edf0a1cf443f7d79a38c9e3bb22d25f9db1ce5ae7ce3492489c76d75294f759"
SCENES_YOLO_MAP50 = 0.8336
SCENES_FCOS_PATH = data.DATA_DIR / "scenes_fcos.pt"
SCENES_FCOS_SHA256 = "813d93814b7f1dd8b00b5d6c561c4184215e2061a94dc5a1b74201df3321812d"
SCENES_FCOS_MAP50 = 0.8866
SCENES_TWO_STAGE_PATH = data.DATA_DIR / "scenes_two_stage.pt"
SCENES_TWO_STAGE_SHA256 = "756420d84c815e4fcde534a1a3dc4e75216aa52a04b542790421c37c90887c0b"
SCENES_TWO_STAGE_MAP50 = 0.8959
SCENES_FCN_PATH = data.DATA_DIR / "scenes_fcn.pt"
SCENES_FCN_SHA256 = "87aecd9f6382016fb709e2aa4053413adba5e6f5b81a8dff89ba5ba0ce7af3e3"
SCENES_FCN_MIOU = 0.7399
SCENES_LOCALIZER_PATH = data.DATA_DIR / "scenes_localizer.pt"
SCENES_LOCALIZER_SHA256 = "93b4e34e9952831df641227bd7e452ae01b44b876e6165cf58abd3c2759fd2c4"
SCENES_LOCALIZER_ACCURACY = 0.978
# Chapter 10: the mean of the caption feature network's five attribute accuracies on
# caption_features.test_scenes() (1,000 held-out caption scenes).
CAPTION_FEATURES_PATH = data.DATA_DIR / "caption_features.pt"
CAPTION_FEATURES_SHA256 = "336f1799db5869e42873b8d97fa5f205dc39212f75e1364b0ec1fae6219b0cc7"
CAPTION_FEATURES_ACCURACY = 0.9618
MNIST_VIT_PATH = data.DATA_DIR / "mnist_vit.pt"
MNIST_VIT_SHA256 = "3511b841c1e23617f20957492e9b137fcd5dc5db8e33742aec6640917e6fb69f"
MNIST_VIT_ACCURACY = 0.979


def train_mnist_classifier(build: Callable[[], nn.Module], epochs: int = 2,
                           batch_size: int = 128, lr: float = 0.2, weight_decay: float = 5e-4,
                           optimizer: str = "sgd", seed: int = 0, progress: bool = True,
                           description: str = "MNIST"
                           ) -> tuple[nn.Module, dict[str, list[float]]]:
    """Train the model that `build()` makes (after seeding) on the 60,000 MNIST training digits,
    on the CPU: `optimizer` "sgd" (Nesterov momentum 0.9) or "adamw", with a one-cycle learning
    rate peaking at `lr`, no augmentation.

    Returns:
        the trained model (eval mode) and training.train's history.
    """
    x_train, y_train, _, _ = data.load_mnist()
    runtime.seed_everything(seed)
    model = build().to(memory_format=torch.channels_last)   # faster CPU convolutions
    loader = training.make_loader(training.images_to_tensor(x_train), y_train, batch_size,
                                  shuffle=True, seed=seed)
    if optimizer == "sgd":
        update = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9, nesterov=True,
                                 weight_decay=weight_decay)
    elif optimizer == "adamw":
        update = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    else:
        raise ValueError(f'optimizer must be "sgd" or "adamw", got {optimizer!r}')
    scheduler = torch.optim.lr_scheduler.OneCycleLR(update, max_lr=lr, epochs=epochs,
                                                    steps_per_epoch=len(loader))
    history = training.train(model, loader, update, epochs=epochs, scheduler=scheduler,
                             device="cpu", seed=seed, progress=progress, description=description)
    return model.to(memory_format=torch.contiguous_format).eval(), history


def train_mnist_resnet(epochs: int = 2, seed: int = 0, progress: bool = True, **options
                       ) -> tuple[nn.Module, dict[str, list[float]]]:
    """architectures.mnist_resnet() trained by train_mnist_classifier (`options` are its
    batch_size, lr and weight_decay); 2 epochs reach about 99.3 % test accuracy in about a
    minute on two CPU cores."""
    return train_mnist_classifier(architectures.mnist_resnet, epochs, seed=seed,
                                  progress=progress, description="MNIST ResNet", **options)


def train_mnist_vgg(epochs: int = 2, seed: int = 0, progress: bool = True, **options
                    ) -> tuple[nn.Module, dict[str, list[float]]]:
    """architectures.mnist_vgg() trained by train_mnist_classifier (`options` as there)."""
    return train_mnist_classifier(architectures.mnist_vgg, epochs, seed=seed, progress=progress,
                                  description="MNIST VGG", **options)


def mnist_vit() -> vit.VisionTransformer:
    """Chapter 11's Vision Transformer of MNIST: 7 x 7 patches (16 tokens and a class token),
    width 48, 4 post-norm layers of 4 heads, MLP width 96, no dropout; 79,594 parameters, about
    as many as architectures.mnist_resnet()'s 77,754."""
    return vit.VisionTransformer(img_size=28, patch_size=7, in_channels=1, num_classes=10,
                                 embed_dim=48, num_layers=4, num_heads=4, dim_feedforward=96,
                                 dropout=0.0)


def train_mnist_vit(epochs: int = 3, seed: int = 0, progress: bool = True, **options
                    ) -> tuple[nn.Module, dict[str, list[float]]]:
    """mnist_vit() trained by train_mnist_classifier with AdamW (peak learning rate 3e-3,
    weight decay 0.05; `options` as there)."""
    options = {"optimizer": "adamw", "lr": 3e-3, "weight_decay": 0.05} | options
    return train_mnist_classifier(mnist_vit, epochs, seed=seed, progress=progress,
                                  description="MNIST ViT", **options)


def load_mnist_resnet(path: Path = MNIST_RESNET_PATH,
                      device: torch.device | str = "cpu") -> nn.Module:
    """architectures.mnist_resnet() with the weights that `python -m instructor.weights
    mnist_resnet` made.

    Offline: the weights ship with the course and load with torch.load(weights_only=True); the
    committed file is checked against its sha256. The model takes images (N, 1, 28, 28) in [0, 1]
    and returns logits (N, 10), in eval mode.
    """
    model = load_weights(architectures.mnist_resnet(), path, committed=MNIST_RESNET_PATH,
                         sha256=MNIST_RESNET_SHA256, what="MNIST ResNet weights",
                         remake="`python -m instructor.weights mnist_resnet` "
                                "(a few minutes on a CPU)")
    return model.to(device).eval()


def load_mnist_vgg(path: Path = MNIST_VGG_PATH,
                   device: torch.device | str = "cpu") -> nn.Module:
    """architectures.mnist_vgg() with the weights that `python -m instructor.weights mnist_vgg`
    made (checked against their sha256), in eval mode: images (N, 1, 28, 28) in [0, 1] ->
    logits (N, 10)."""
    model = load_weights(architectures.mnist_vgg(), path, committed=MNIST_VGG_PATH,
                         sha256=MNIST_VGG_SHA256, what="MNIST VGG weights",
                         remake="`python -m instructor.weights mnist_vgg` (about a minute)")
    return model.to(device).eval()


def load_mnist_vit(path: Path = MNIST_VIT_PATH,
                   device: torch.device | str = "cpu") -> vit.VisionTransformer:
    """mnist_vit() with the weights that `python -m instructor.weights mnist_vit` made (checked
    against their sha256), in eval mode: images (N, 1, 28, 28) in [0, 1] -> logits (N, 10)."""
    model = load_weights(mnist_vit(), path, committed=MNIST_VIT_PATH, sha256=MNIST_VIT_SHA256,
                         what="MNIST Vision Transformer weights",
                         remake="`python -m instructor.weights mnist_vit` (about a minute)")
    return model.to(device).eval()


def load_hubble_style(path: Path = HUBBLE_STYLE_PATH,
                      device: torch.device | str = "cpu") -> fast_style.TransformNet:
    """The fast style-transfer network that `python -m instructor.weights hubble_style` made
    (fast_style.train_hubble_style; checked against its sha256), in eval mode: photos
    (N, 3, H, W) in [0, 1] -> stylised photos of the same size, via `fast_style.stylise`."""
    net = load_weights(fast_style.TransformNet(), path, committed=HUBBLE_STYLE_PATH,
                       sha256=HUBBLE_STYLE_SHA256, what="fast style-transfer weights",
                       remake="`python -m instructor.weights hubble_style` (a few minutes)")
    return net.to(device).eval()


def load_scenes_yolo(path: Path = SCENES_YOLO_PATH,
                     device: torch.device | str = "cpu") -> yolo.YOLODetector:
    """Chapter 9's YOLO-style detector (detection.yolo.train_yolo), in eval mode: scenes
    (N, 3, 64, 64) -> detections, as detection.training describes."""
    return load_named_model(yolo.YOLODetector(), path, device, "scenes_yolo", "four")


def load_scenes_fcos(path: Path = SCENES_FCOS_PATH,
                     device: torch.device | str = "cpu") -> fcos.FCOSDetector:
    """Chapter 9's FCOS-style detector (detection.fcos.train_fcos), in eval mode."""
    return load_named_model(fcos.FCOSDetector(), path, device, "scenes_fcos", "four")


def load_scenes_two_stage(path: Path = SCENES_TWO_STAGE_PATH,
                          device: torch.device | str = "cpu") -> two_stage.MaskRCNN:
    """Chapter 9's two-stage detector with its mask head (detection.two_stage.train_two_stage),
    in eval mode: detections with "masks"."""
    return load_named_model(two_stage.MaskRCNN(), path, device, "scenes_two_stage", "four")


def load_scenes_fcn(path: Path = SCENES_FCN_PATH,
                    device: torch.device | str = "cpu") -> fcn.SegmentationNet:
    """Chapter 9's segmentation network (detection.fcn.train_segmentation_net), in eval mode:
    scenes (N, 3, 64, 64) -> logits (N, 7, 64, 64)."""
    return load_named_model(fcn.SegmentationNet(), path, device, "scenes_fcn", "four")


def load_scenes_localizer(path: Path = SCENES_LOCALIZER_PATH,
                          device: torch.device | str = "cpu") -> localization.Localizer:
    """Chapter 9's classification-plus-localisation network
    (detection.localization.train_localizer), in eval mode: one detection per image."""
    return load_named_model(localization.Localizer(), path, device, "scenes_localizer", "three")


def load_caption_features(path: Path = CAPTION_FEATURES_PATH,
                          device: torch.device | str = "cpu") -> caption_features.CaptionFeatureNet:
    """Chapter 10's image features of caption scenes (caption_features.train_caption_features),
    in eval mode: scenes (N, 3, 32, 32) -> caption_features.extract_features -> (N, 128)."""
    return load_named_model(caption_features.CaptionFeatureNet(), path, device, "caption_features",
                            "three to five")


def load_named_model(model: nn.Module, path: Path, device: torch.device | str, name: str,
                     minutes: str) -> nn.Module:
    """load_weights for the models of chapters 9 onwards: `name` is the file's stem, the prefix of
    its constants (NAME_PATH, NAME_SHA256) and the instructor.weights module that remakes it."""
    prefix = name.upper()
    model = load_weights(model, path, committed=globals()[f"{prefix}_PATH"],
                         sha256=globals()[f"{prefix}_SHA256"], what=f"{name} weights",
                         remake=f"`python -m instructor.weights {name}` (about {minutes} "
                                "CPU minutes)")
    return model.to(device).eval()


def load_weights(model: nn.Module, path: Path, *, committed: Path, sha256: str, what: str,
                 remake: str) -> nn.Module:
    """Load a state dict from `path` into `model` (torch.load with weights_only=True).

    The course's own file (`path` == `committed`) is checked against `sha256`; a missing or
    damaged file raises an error that says how to restore it or `remake` it.
    """
    path = Path(path)
    fix = f"Restore it from the course repository, or remake it with {remake}."
    if not path.is_file():
        raise FileNotFoundError(f"{what} not found at {path}. {fix}")
    if path == committed:
        data.verify_checksum(path, "sha256", sha256, fix)
    model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    return model
