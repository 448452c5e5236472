"""A YOLO-style grid detector (Redmon et al. 2016, "You Only Look Once").

The image is cut into S x S cells. For each cell the network predicts B boxes, each as
(x, y, sqrt(w), sqrt(h), confidence), and one distribution over the C classes: an output of
S x S x (5B + C). x and y are the box centre's offset inside its cell, in [0, 1]; w and h are
fractions of the image size, predicted through their square roots so that an error costs small
boxes more than large ones. The cell holding an object's centre is responsible for it.

The graded functions are yolo_targets and yolo_loss; the detector calls them and batched_nms
through this module's names, which the chapter's notebook points at the student's.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from course_utils.detection import training
from course_utils.detection.backbone import Backbone, conv_bn_relu
from course_utils.detection.boxes import batched_nms
from course_utils.graded import graded_in


@graded_in("ch09_detection_segmentation")
def yolo_targets(boxes: Tensor, labels: Tensor, grid_size: int, num_classes: int,
                 image_size: int) -> Tensor:
    """The training target of one image.

    Args:
        boxes: (K, 4) float (x1, y1, x2, y2) in pixels; labels: (K,) int64 in 1..num_classes
            (0 is the background and never a label).
        grid_size: S; the cells are image_size / S pixels wide.
    Returns:
        (S, S, 5 + num_classes) float32; cell [i, j] (row i, column j) holds the object whose
        box centre (cx, cy) lies in it, i = floor(cy / cell), j = floor(cx / cell) (clamped to
        S - 1): (cx / cell - j, cy / cell - i, sqrt(w / image_size), sqrt(h / image_size), 1,
        then the one-hot class, index label - 1). Cells without an object are all zeros. When
        several centres fall in one cell, the first object in the given order keeps it.
    """
    targets = torch.zeros(grid_size, grid_size, 5 + num_classes)
    cell = image_size / grid_size
    centres = (boxes[:, :2] + boxes[:, 2:]) / 2
    sizes = boxes[:, 2:] - boxes[:, :2]
    for centre, size, label in zip(centres.tolist(), sizes.tolist(), labels.tolist(),
                                   strict=True):
        i = min(int(centre[1] // cell), grid_size - 1)
        j = min(int(centre[0] // cell), grid_size - 1)
        if targets[i, j, 4] == 1:
            continue
        targets[i, j, :5] = torch.tensor([centre[0] / cell - j, centre[1] / cell - i,
                                          (size[0] / image_size) ** 0.5,
                                          (size[1] / image_size) ** 0.5, 1.0])
        targets[i, j, 4 + label] = 1.0
    return targets


def paired_iou(boxes1: Tensor, boxes2: Tensor) -> Tensor:
    """IoU of corresponding boxes (..., 4) and (..., 4) (broadcast) -> (...); 0 where both
    are empty."""
    top_left = torch.maximum(boxes1[..., :2], boxes2[..., :2])
    bottom_right = torch.minimum(boxes1[..., 2:], boxes2[..., 2:])
    intersection = (bottom_right - top_left).clamp(min=0).prod(dim=-1)
    areas = [(b[..., 2:] - b[..., :2]).clamp(min=0).prod(dim=-1) for b in (boxes1, boxes2)]
    union = areas[0] + areas[1] - intersection
    return torch.where(union > 0, intersection / union.clamp(min=1e-12), 0.0)


def cell_boxes(encoded: Tensor) -> Tensor:
    """(..., S, S, 4) (x, y, sqrt(w), sqrt(h)) -> (..., S, S, 4) (x1, y1, x2, y2) as fractions
    of the image size."""
    grid_size = encoded.shape[-2]
    rows, cols = torch.meshgrid(torch.arange(grid_size), torch.arange(grid_size), indexing="ij")
    cx = (cols + encoded[..., 0]) / grid_size
    cy = (rows + encoded[..., 1]) / grid_size
    w, h = encoded[..., 2] ** 2, encoded[..., 3] ** 2
    return torch.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], dim=-1)


@graded_in("ch09_detection_segmentation")
def yolo_loss(predictions: Tensor, targets: Tensor, num_boxes: int, lambda_coord: float = 5.0,
              lambda_noobj: float = 0.5) -> Tensor:
    """YOLO's sum-squared loss, summed over cells and divided by the batch size N.

    Args:
        predictions: (N, S, S, 5B + C), B = num_boxes: B boxes (x, y, sqrt(w), sqrt(h),
            confidence), then the C class probabilities, as the network outputs them.
        targets: (N, S, S, 5 + C), yolo_targets of each image.
    Returns:
        scalar. In a cell with an object, the responsible predictor is the one of the B whose
        box has the highest IoU with the target box (cell_boxes, then paired_iou; ties go to
        the lower index; no gradient through the IoU). It pays lambda_coord times the squared error
        of its (x, y, sqrt(w), sqrt(h)) and the squared error of its confidence against that
        IoU; every other predictor, in every cell, pays lambda_noobj * confidence^2; a cell with
        an object pays the squared error of its class probabilities against the one-hot class.
    """
    n, grid_size = predictions.shape[:2]
    boxes = predictions[..., :5 * num_boxes].reshape(n, grid_size, grid_size, num_boxes, 5)
    has_object = targets[..., 4] == 1                                        # (N, S, S)
    with torch.no_grad():
        predicted = cell_boxes(boxes[..., :4].movedim(3, 0)).movedim(0, 3)   # (N, S, S, B, 4)
        target = cell_boxes(targets[..., :4])                                # (N, S, S, 4)
        ious = paired_iou(predicted, target[..., None, :])                   # (N, S, S, B)
        responsible = nn.functional.one_hot(ious.argmax(dim=-1), num_boxes).bool()
        responsible &= has_object[..., None]                                 # (N, S, S, B)
    coordinates = ((boxes[..., :4] - targets[..., None, :4]) ** 2).sum(dim=-1)
    confidence = boxes[..., 4]
    loss = (lambda_coord * coordinates[responsible].sum()
            + ((confidence - ious)[responsible] ** 2).sum()
            + lambda_noobj * (confidence[~responsible] ** 2).sum()
            + ((predictions[..., 5 * num_boxes:] - targets[..., 5:]) ** 2)[has_object].sum())
    return loss / n


class YOLODetector(nn.Module):
    """Backbone (stride 4) -> one more stride-2 stage -> a 1 x 1 convolution to 5B + C numbers
    per cell: images (N, 3, 64, 64) -> an 8 x 8 grid. Follows training.py's interface."""

    def __init__(self, num_classes: int = 6, grid_size: int = 8, num_boxes: int = 2,
                 image_size: int = 64, score_threshold: float = 0.05, nms_threshold: float = 0.5,
                 detections_per_image: int = 20) -> None:
        super().__init__()
        self.num_classes, self.grid_size, self.num_boxes = num_classes, grid_size, num_boxes
        self.image_size, self.score_threshold = image_size, score_threshold
        self.nms_threshold, self.detections_per_image = nms_threshold, detections_per_image
        self.backbone = Backbone()
        width = self.backbone.out_channels
        stride = image_size // Backbone.stride // grid_size
        self.head = nn.Sequential(conv_bn_relu(width, width, stride), conv_bn_relu(width, width),
                                  nn.Conv2d(width, 5 * num_boxes + num_classes, 1))

    def predictions(self, images: Tensor) -> Tensor:
        """images (N, 3, H, W) -> (N, S, S, 5B + C): sigmoid on the box numbers, softmax over
        the classes."""
        raw = self.head(self.backbone(images)).permute(0, 2, 3, 1)
        boxes, classes = raw.split([5 * self.num_boxes, self.num_classes], dim=-1)
        return torch.cat([boxes.sigmoid(), classes.softmax(dim=-1)], dim=-1)

    def forward(self, images: Tensor, targets: list[dict] | None = None):
        predictions = self.predictions(images)
        if self.training:
            encoded = torch.stack([yolo_targets(t["boxes"], t["labels"], self.grid_size,
                                                self.num_classes, self.image_size)
                                   for t in targets])
            return {"loss_yolo": yolo_loss(predictions, encoded, self.num_boxes)}
        return [self.decode(p) for p in predictions]

    def decode(self, predictions: Tensor) -> dict[str, Tensor]:
        """(S, S, 5B + C) of one image -> its detections. Each box's score is its confidence
        times the probability of its cell's likeliest class (the paper's class-specific
        confidence); boxes below score_threshold go, then per-class NMS."""
        b = self.num_boxes
        boxes = predictions[..., :5 * b].reshape(self.grid_size, self.grid_size, b, 5)
        corners = cell_boxes(boxes[..., :4].movedim(2, 0)).movedim(0, 2) * self.image_size
        probability, label = predictions[..., 5 * b:].max(dim=-1)            # (S, S)
        scores = (boxes[..., 4] * probability[..., None]).reshape(-1)
        labels = (label[..., None].expand(-1, -1, b) + 1).reshape(-1)
        corners = corners.reshape(-1, 4).clamp(0, self.image_size)
        keep = scores > self.score_threshold
        corners, scores, labels = corners[keep], scores[keep], labels[keep]
        valid = (corners[:, 2:] > corners[:, :2]).all(dim=1)
        corners, scores, labels = corners[valid], scores[valid], labels[valid]
        kept = batched_nms(corners, scores, labels, self.nms_threshold)
        kept = kept[:self.detections_per_image]
        return {"boxes": corners[kept], "scores": scores[kept], "labels": labels[kept]}


def train_yolo(steps: int = 1500, seed: int = 0, progress: bool = True
               ) -> tuple[YOLODetector, dict]:
    """The recipe of the committed weights: YOLODetector trained from scratch on
    training.training_scenes()."""
    torch.manual_seed(seed)
    model = YOLODetector()
    history = training.train_detector(model, training.training_scenes(), steps, seed=seed,
                                      progress=progress, description="YOLO")
    return model, history
