"""An anchor-free single-stage detector: FCOS (Tian et al. 2019, "Fully Convolutional One-Stage
Object Detection"), on the backbone's single stride-4 level.

Every feature-map cell is a point (its centre in the image, anchors.grid_points). A point inside
a ground-truth box is a positive for that box (inside several, for the smallest one:
anchors.match_points) and learns three things: its class, with one sigmoid per foreground class
and the focal loss; the distances (l, t, r, b) from the point to the box's four sides, divided by
the stride and predicted through an exponential (always positive; a ReLU, which later FCOS
versions use, passes no gradient to an output that starts negative), with the GIoU loss on the
decoded boxes; and the centre-ness of the point in its box (anchors.centerness of the (l, t, r, b)
targets), with binary cross-entropy, which at inference lowers the scores of the boxes that points
near an object's edge predict. Every other point is a negative for all classes. The three losses
are summed over the batch and divided by its number of positives, as torchvision's FCOS does.

Inference scores each (point, class) by sqrt(sigmoid(class logit) * sigmoid(centre-ness logit)),
keeps the pairs above a score threshold, decodes their boxes, clips them to the image and runs
NMS per class (IoU 0.6).

The model follows training.py's interface. It calls the chapter's building blocks through this
module's names: batched_nms, which the notebook points at the student's (`fcos.batched_nms =
batched_nms`), and grid_points, match_points, ltrb_targets, centerness (anchors.py) and
clip_boxes_to_image (boxes.py).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from course_utils.detection import training
from course_utils.detection.anchors import centerness, grid_points, ltrb_targets, match_points
from course_utils.detection.backbone import Backbone, conv_bn_relu
from course_utils.detection.boxes import batched_nms, clip_boxes_to_image

# bound on the regression output before the exponential: distances up to e^4 = 55 strides
MAX_LOG_DISTANCE = 4.0


def check_reduction(loss: Tensor, reduction: str) -> Tensor:
    """loss reduced by "none", "mean" or "sum"; anything else raises ValueError."""
    if reduction == "none":
        return loss
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    raise ValueError(f"reduction must be 'none', 'mean' or 'sum', got {reduction!r}")


def sigmoid_focal_loss(inputs: Tensor, targets: Tensor, alpha: float = 0.25, gamma: float = 2.0,
                       reduction: str = "none") -> Tensor:
    """The focal loss of independent sigmoid classifiers (Lin et al. 2017, RetinaNet),
    torchvision.ops.sigmoid_focal_loss.

    Elementwise, with p = sigmoid(x) for logit x and target t in {0, 1} (or in [0, 1]):
        p_t = p * t + (1 - p) * (1 - t),  alpha_t = alpha * t + (1 - alpha) * (1 - t),
        loss = alpha_t * (1 - p_t) ** gamma * CE,  CE = -(t log p + (1 - t) log(1 - p)),
    where CE is computed from the logit without overflow (F.binary_cross_entropy_with_logits).
    alpha < 0 leaves out the alpha_t factor; gamma = 0 and alpha < 0 give plain binary
    cross-entropy. The factor (1 - p_t) ** gamma shrinks the loss of the many easy examples.

    Args:
        inputs: logits, float of any shape.
        targets: the same shape, 1 for the positive class of each element, 0 for the negative.
        alpha: the weight of the positives (1 - alpha for the negatives).
        gamma: the focusing exponent.
        reduction: "none" (the loss of each element, inputs' shape), "mean" (over all elements;
            nan for empty inputs, as torch.mean) or "sum" (0 for empty inputs); anything else
            raises ValueError.
    Returns:
        a tensor of inputs' dtype: inputs' shape for "none", else a scalar.
    """
    probability = torch.sigmoid(inputs)
    cross_entropy = F.binary_cross_entropy_with_logits(inputs, targets, reduction="none")
    p_t = probability * targets + (1 - probability) * (1 - targets)
    loss = cross_entropy * (1 - p_t) ** gamma
    if alpha >= 0:
        loss = (alpha * targets + (1 - alpha) * (1 - targets)) * loss
    return check_reduction(loss, reduction)


def generalized_box_iou_loss(boxes1: Tensor, boxes2: Tensor, reduction: str = "none",
                             eps: float = 1e-7) -> Tensor:
    """1 - GIoU of corresponding boxes (Rezatofighi et al. 2019),
    torchvision.ops.generalized_box_iou_loss.

    For boxes A = boxes1[..., i] and B = boxes2[..., i], with I their intersection's area (0 when
    they do not overlap), U = area(A) + area(B) - I and C the area of the smallest box enclosing
    both:
        GIoU = I / (U + eps) - (C - U) / (C + eps),  loss = 1 - GIoU, in [0, 2].
    Unlike 1 - IoU, the loss still falls as two boxes that do not overlap move closer.

    Args:
        boxes1: (..., 4) float (x1, y1, x2, y2) with x1 <= x2 and y1 <= y2, the predictions.
        boxes2: (..., 4), the same shape: the target of each box, row by row (not all pairs).
        reduction: "none" (shape (...)), "mean" (0 for empty inputs, as torchvision) or "sum";
            anything else raises ValueError.
        eps: keeps the divisions finite for empty boxes.
    Returns:
        a tensor of the boxes' dtype: shape (...) for "none", else a scalar.
    """
    top_left = torch.maximum(boxes1[..., :2], boxes2[..., :2])
    bottom_right = torch.minimum(boxes1[..., 2:], boxes2[..., 2:])
    intersection = (bottom_right - top_left).clamp(min=0).prod(dim=-1)
    area1 = (boxes1[..., 2] - boxes1[..., 0]) * (boxes1[..., 3] - boxes1[..., 1])
    area2 = (boxes2[..., 2] - boxes2[..., 0]) * (boxes2[..., 3] - boxes2[..., 1])
    union = area1 + area2 - intersection
    enclosing = (torch.maximum(boxes1[..., 2:], boxes2[..., 2:])
                 - torch.minimum(boxes1[..., :2], boxes2[..., :2])).prod(dim=-1)
    giou = intersection / (union + eps) - (enclosing - union) / (enclosing + eps)
    loss = 1 - giou
    if reduction == "mean" and loss.numel() == 0:
        return loss.sum()   # 0, keeping the graph, as torchvision
    return check_reduction(loss, reduction)


def ltrb_to_boxes(points: Tensor, ltrb: Tensor) -> Tensor:
    """The boxes (x - l, y - t, x + r, y + b) of points (..., 2) and distances (..., 4)."""
    return torch.cat([points - ltrb[..., :2], points + ltrb[..., 2:]], dim=-1)


def fcos_targets(points: Tensor, boxes: Tensor, labels: Tensor, num_classes: int
                 ) -> tuple[Tensor, Tensor, Tensor]:
    """The training targets of one image's P points.

    Args:
        points: (P, 2) float (x, y), grid_points of the feature map.
        boxes: (K, 4) float ground-truth boxes; labels: (K,) int64 in 1..num_classes.
    Returns:
        matches: (P,) int64, match_points: the box of each point, -1 for negatives;
        classes: (P, num_classes) float, the one-hot class (index label - 1) of each positive,
            all zeros for negatives;
        ltrb: (P, 4) float, ltrb_targets of each positive in pixels, zeros for negatives.
    """
    matches = match_points(points, boxes)
    positive = torch.nonzero(matches >= 0)[:, 0]
    classes = torch.zeros(len(points), num_classes, device=points.device)
    classes[positive, labels[matches[positive]] - 1] = 1.0
    ltrb = torch.zeros(len(points), 4, device=points.device)
    ltrb[positive] = ltrb_targets(points[positive], boxes[matches[positive]])
    return matches, classes, ltrb


def tower(in_channels: int, width: int, depth: int) -> nn.Sequential:
    """`depth` conv_bn_relu layers, in_channels -> width -> ... -> width."""
    return nn.Sequential(*[conv_bn_relu(in_channels if k == 0 else width, width)
                           for k in range(depth)])


class FCOSDetector(nn.Module):
    """Backbone (stride 4) -> two towers of 3 x 3 convolutions, one for the classes, one for the
    boxes, each ending in a 3 x 3 convolution: images (N, 3, 64, 64) -> per point of the 16 x 16
    grid, num_classes class logits, 4 box outputs and one centre-ness logit (on the box tower).
    The backbone has 48 channels (not its default 64) to keep the weight file near 0.7 MB.
    Follows training.py's interface."""

    def __init__(self, num_classes: int = 6, width: int = 32, channels: int = 48,
                 backbone_depth: int = 3, head_depth: int = 2, image_size: int = 64,
                 score_threshold: float = 0.05, nms_threshold: float = 0.6,
                 candidates_per_image: int = 100, detections_per_image: int = 20,
                 prior_probability: float = 0.01) -> None:
        super().__init__()
        self.num_classes, self.image_size = num_classes, image_size
        self.score_threshold, self.nms_threshold = score_threshold, nms_threshold
        self.candidates_per_image = candidates_per_image
        self.detections_per_image = detections_per_image
        self.backbone = Backbone(width, channels, backbone_depth)
        self.stride = self.backbone.stride
        self.class_tower = tower(channels, channels, head_depth)
        self.box_tower = tower(channels, channels, head_depth)
        self.class_logits = nn.Conv2d(channels, num_classes, 3, padding=1)
        self.box_regression = nn.Conv2d(channels, 4, 3, padding=1)
        self.centerness_logits = nn.Conv2d(channels, 1, 3, padding=1)
        # RetinaNet's initialisation: every class starts at probability prior_probability, so
        # the many negatives do not swamp the first steps
        nn.init.constant_(self.class_logits.bias, -math.log((1 - prior_probability)
                                                            / prior_probability))

    def head(self, images: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """images (N, 3, H, W) -> the grid's points (P, 2) (P = H * W / stride^2, row-major)
        and, per image and point, the class logits (N, P, C), the distances (l, t, r, b) in
        pixels (N, P, 4) (stride * exp of the output) and the centre-ness logit (N, P)."""
        features = self.backbone(images)
        boxes = self.box_tower(features)
        points = grid_points(features.shape[-2:], self.stride).to(images.device)
        classes = self.class_logits(self.class_tower(features)).flatten(2).transpose(1, 2)
        distances = self.box_regression(boxes).flatten(2).transpose(1, 2)
        ltrb = self.stride * distances.clamp(max=MAX_LOG_DISTANCE).exp()
        return points, classes, ltrb, self.centerness_logits(boxes).flatten(1)

    def forward(self, images: Tensor, targets: list[dict] | None = None):
        points, classes, ltrb, centerness_logits = self.head(images)
        if self.training:
            return self.loss(points, classes, ltrb, centerness_logits, targets)
        return [self.decode(points, *outputs)
                for outputs in zip(classes, ltrb, centerness_logits, strict=True)]

    def loss(self, points: Tensor, classes: Tensor, ltrb: Tensor, centerness_logits: Tensor,
             targets: list[dict]) -> dict[str, Tensor]:
        """The three losses of a batch, each summed and divided by its number of positives (at
        least 1): the focal loss over every point and class, and at the positives the GIoU loss
        of the decoded boxes and the BCE of the centre-ness."""
        matched = [fcos_targets(points, t["boxes"], t["labels"], self.num_classes)
                   for t in targets]
        positive = torch.stack([matches >= 0 for matches, _, _ in matched])         # (N, P)
        class_targets = torch.stack([c for _, c, _ in matched])                     # (N, P, C)
        ltrb_target = torch.stack([d for _, _, d in matched])[positive]             # (F, 4)
        normaliser = max(int(positive.sum()), 1)
        predicted_boxes = ltrb_to_boxes(points.expand_as(ltrb[..., :2])[positive],
                                        ltrb[positive])
        target_boxes = ltrb_to_boxes(points.expand_as(ltrb[..., :2])[positive], ltrb_target)
        centerness_loss = F.binary_cross_entropy_with_logits(
            centerness_logits[positive], centerness(ltrb_target), reduction="sum")
        return {"loss_classifier": sigmoid_focal_loss(classes, class_targets,
                                                      reduction="sum") / normaliser,
                "loss_box_giou": generalized_box_iou_loss(predicted_boxes, target_boxes,
                                                          reduction="sum") / normaliser,
                "loss_centerness": centerness_loss / normaliser}

    def decode(self, points: Tensor, classes: Tensor, ltrb: Tensor, centerness_logits: Tensor
               ) -> dict[str, Tensor]:
        """One image's outputs (points (P, 2), class logits (P, C), distances (P, 4),
        centre-ness logits (P,)) -> its detections, by decreasing score.

        The score of point p and class c is sqrt(sigmoid(class logit) * sigmoid(centre-ness
        logit)); the (point, class) pairs above score_threshold, at most candidates_per_image
        of the best, are decoded and clipped to the image; the boxes with positive area go
        through per-class NMS, and the best detections_per_image are kept. Labels are c + 1."""
        scores = (torch.sigmoid(classes) * torch.sigmoid(centerness_logits)[:, None]).sqrt()
        scores = scores.flatten()                                 # point-major, then class
        candidates = torch.nonzero(scores > self.score_threshold)[:, 0]
        best = torch.argsort(scores[candidates], descending=True, stable=True)
        candidates = candidates[best[:self.candidates_per_image]]
        point, label = candidates // self.num_classes, candidates % self.num_classes + 1
        boxes = clip_boxes_to_image(ltrb_to_boxes(points[point], ltrb[point]),
                                    (self.image_size, self.image_size))
        valid = (boxes[:, 2:] > boxes[:, :2]).all(dim=1)
        boxes, scores, labels = boxes[valid], scores[candidates][valid], label[valid]
        kept = batched_nms(boxes, scores, labels, self.nms_threshold)[:self.detections_per_image]
        return {"boxes": boxes[kept], "scores": scores[kept], "labels": labels[kept]}


def train_fcos(steps: int = 2400, seed: int = 0, progress: bool = True
               ) -> tuple[FCOSDetector, dict]:
    """The recipe of the committed weights: FCOSDetector trained from scratch on
    training.training_scenes(), minibatches of 16 (twice the steps of 32 for the same time
    scored higher) at a peak learning rate of 6e-3."""
    torch.manual_seed(seed)
    model = FCOSDetector()
    history = training.train_detector(model, training.training_scenes(), steps, batch_size=16,
                                      lr=6e-3, seed=seed, progress=progress,
                                      description="FCOS")
    return model, history
