"""A small two-stage detector: Faster R-CNN (Ren et al. 2015) with the mask head of Mask R-CNN
(He et al. 2017), for the chapter's 64 x 64 scenes.

Stage one, the region proposal network (RPN), slides a 3 x 3 convolution over the backbone's
stride-4 features and predicts, for each of the A anchors of a cell, an objectness logit and the
deltas that move the anchor onto an object; the decoded boxes with the highest objectness that
survive NMS are the proposals. Stage two crops each proposal out of the stride-4 features with
RoI Align (7 x 7) and a small MLP classifies it over the 7 classes (background included) and
refines its box once per class; the mask head (mask_head.py) predicts a 28 x 28 mask per class
from 14 x 14 crops of the positive proposals in training, of the detections at inference.

One liberty for CPU speed: the box head crops a thin 16-channel map (a 1 x 1 convolution of the
64 backbone channels, as Light-Head R-CNN does, Li et al. 2017) rather than the features
themselves, which makes RoI Align of its thousand RoIs a step about four times cheaper. The mask
head crops the full features (it sees only the few positives).

The model follows training.py's interface (train mode: a dict of losses; eval mode: one dict of
"boxes", "scores", "labels" and "masks" per image). The graded building blocks are called through
this module's names, which the chapter's notebook points at the student's functions
(`two_stage.roi_align = roi_align`): generate_anchors, match_anchors, encode_boxes,
decode_boxes, nms, batched_nms, roi_align.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from course_utils.detection import training
from course_utils.detection.anchors import generate_anchors, match_anchors, sample_matches
from course_utils.detection.backbone import Backbone
from course_utils.detection.boxes import (
    batched_nms,
    clip_boxes_to_image,
    decode_boxes,
    encode_boxes,
    nms,
    remove_small_boxes,
)
from course_utils.detection.mask_head import MaskHead, class_mask_logits, mask_loss, paste_masks
from course_utils.detection.roi import roi_align

# torchvision's scaling of the second stage's deltas (tx, ty, tw, th), which brings its small
# refinements to the size of the RPN's; and its bound on tw, th before the exponential.
BOX_WEIGHTS = (10.0, 10.0, 5.0, 5.0)
MAX_LOG_SCALE = math.log(1000 / 16)


def apply_deltas(boxes: Tensor, deltas: Tensor, weights: tuple[float, ...] = (1.0,) * 4
                 ) -> Tensor:
    """decode_boxes of deltas (N, 4) divided by `weights`, with tw and th bounded."""
    deltas = deltas / deltas.new_tensor(weights)
    deltas = torch.cat([deltas[:, :2], deltas[:, 2:].clamp(max=MAX_LOG_SCALE)], dim=1)
    return decode_boxes(boxes, deltas)


def box_regression_loss(predicted: Tensor, target: Tensor, normaliser: int) -> Tensor:
    """torchvision's: smooth L1 (beta 1/9) summed over the positives, divided by the number of
    sampled examples (positives and negatives)."""
    return F.smooth_l1_loss(predicted, target, beta=1 / 9, reduction="sum") / max(normaliser, 1)


def _generator() -> torch.Generator:
    """A generator for one step's sampling, drawn from torch's global one (so torch.manual_seed,
    and train_detector's seed, repeat a run)."""
    return torch.Generator().manual_seed(int(torch.randint(2**62, ())))


class RegionProposalNetwork(nn.Module):
    """Features (N, C, H, W) -> proposals, one (P_i, 4) tensor per image, and in training the
    RPN's losses. Anchors: generate_anchors over the feature map, A = len(sizes) x len(ratios)
    per cell."""

    def __init__(self, in_channels: int, stride: int, sizes: tuple[float, ...],
                 aspect_ratios: tuple[float, ...], width: int = 32,
                 pre_nms_top_n: tuple[int, int] = (50, 300),
                 post_nms_top_n: tuple[int, int] = (50, 100), nms_threshold: float = 0.7,
                 min_size: float = 1.0, batch_size_per_image: int = 256,
                 positive_fraction: float = 0.5) -> None:
        super().__init__()
        self.stride, self.sizes, self.aspect_ratios = stride, sizes, aspect_ratios
        # (train, test); few in training, where nms's loop over kept boxes costs a large share
        # of a step, more at test time for recall
        self.pre_nms_top_n, self.post_nms_top_n = pre_nms_top_n, post_nms_top_n
        self.nms_threshold, self.min_size = nms_threshold, min_size
        self.batch_size_per_image, self.positive_fraction = batch_size_per_image, positive_fraction
        anchors_per_cell = len(sizes) * len(aspect_ratios)
        self.conv = nn.Sequential(nn.Conv2d(in_channels, width, 3, padding=1), nn.ReLU())
        self.objectness = nn.Conv2d(width, anchors_per_cell, 1)
        self.deltas = nn.Conv2d(width, 4 * anchors_per_cell, 1)

    def head(self, features: Tensor) -> tuple[Tensor, Tensor]:
        """(N, C, H, W) -> objectness logits (N, H*W*A) and deltas (N, H*W*A, 4), in
        generate_anchors' order (cells row-major, then the cell's anchors)."""
        n = len(features)
        hidden = self.conv(features)
        objectness = self.objectness(hidden).permute(0, 2, 3, 1).reshape(n, -1)
        deltas = self.deltas(hidden)                                 # (N, A*4, H, W)
        deltas = deltas.view(n, -1, 4, *deltas.shape[2:]).permute(0, 3, 4, 1, 2)
        return objectness, deltas.reshape(n, -1, 4)

    def proposals(self, anchors: Tensor, objectness: Tensor, deltas: Tensor,
                  image_size: tuple[int, int]) -> list[Tensor]:
        """Decode, clip to the image, drop tiny boxes, keep the pre_nms_top_n by objectness,
        NMS, keep the post_nms_top_n. No gradient flows into the proposals."""
        mode = 0 if self.training else 1
        pre, post = self.pre_nms_top_n[mode], self.post_nms_top_n[mode]
        n = len(objectness)
        boxes = apply_deltas(anchors.repeat(n, 1), deltas.detach().reshape(-1, 4))
        boxes = clip_boxes_to_image(boxes, image_size).view(n, -1, 4)
        proposals = []
        for image_boxes, scores in zip(boxes, objectness.detach(), strict=True):
            keep = remove_small_boxes(image_boxes, self.min_size)
            image_boxes, scores = image_boxes[keep], scores[keep]
            top = scores.topk(min(pre, len(scores))).indices
            image_boxes, scores = image_boxes[top], scores[top]
            proposals.append(image_boxes[nms(image_boxes, scores, self.nms_threshold)[:post]])
        return proposals

    def loss(self, anchors: Tensor, objectness: Tensor, deltas: Tensor, targets: list[dict],
             generator: torch.Generator) -> dict[str, Tensor]:
        """Binary cross-entropy of the objectness and smooth L1 of the positives' deltas, over
        batch_size_per_image anchors per image sampled by sample_matches from match_anchors'
        matches (IoU >= 0.7 positive, < 0.3 negative, plus each gt's best anchors)."""
        logits, labels, predicted, wanted = [], [], [], []
        for image_logits, image_deltas, target in zip(objectness, deltas, targets, strict=True):
            matches = match_anchors(anchors, target["boxes"], 0.7, 0.3, True)
            positive, negative = sample_matches(matches, self.batch_size_per_image,
                                                self.positive_fraction, generator)
            sampled = torch.cat([positive, negative])
            logits.append(image_logits[sampled])
            labels.append((torch.arange(len(sampled)) < len(positive)).float())
            predicted.append(image_deltas[positive])
            wanted.append(encode_boxes(anchors[positive], target["boxes"][matches[positive]]))
        logits, labels = torch.cat(logits), torch.cat(labels)
        return {"loss_objectness": F.binary_cross_entropy_with_logits(logits, labels),
                "loss_rpn_box": box_regression_loss(torch.cat(predicted), torch.cat(wanted),
                                                    len(labels))}

    def forward(self, features: Tensor, image_size: tuple[int, int],
                targets: list[dict] | None = None, generator: torch.Generator | None = None
                ) -> tuple[list[Tensor], dict[str, Tensor]]:
        anchors = generate_anchors(tuple(features.shape[2:]), self.stride, self.sizes,
                                   self.aspect_ratios)
        objectness, deltas = self.head(features)
        proposals = self.proposals(anchors, objectness, deltas, image_size)
        losses = {} if targets is None else self.loss(anchors, objectness, deltas, targets,
                                                      generator)
        return proposals, losses


class BoxHead(nn.Module):
    """RoI features (R, C, 7, 7) -> class logits (R, K) and per-class deltas (R, K, 4): two
    fully connected layers with ReLU, then one linear layer each."""

    def __init__(self, in_channels: int, num_classes: int, resolution: int = 7,
                 hidden: int = 64) -> None:
        super().__init__()
        self.layers = nn.Sequential(nn.Flatten(), nn.Linear(in_channels * resolution**2, hidden),
                                    nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU())
        self.classes = nn.Linear(hidden, num_classes)
        self.deltas = nn.Linear(hidden, 4 * num_classes)

    def forward(self, features: Tensor) -> tuple[Tensor, Tensor]:
        hidden = self.layers(features)
        return self.classes(hidden), self.deltas(hidden).view(len(features), -1, 4)


def mask_targets(masks: Tensor, proposals: Tensor, matched: Tensor, size: int = 28) -> Tensor:
    """Each proposal's gt mask, roi_aligned onto the proposal at size x size and thresholded.

    Args:
        masks: (K, H, W) bool, the image's gt masks.
        proposals: (P, 4) boxes in pixels; matched: (P,) int64, each one's gt index.
    Returns:
        (P, size, size) bool: the aligned mask >= 0.5.
    """
    boxes = torch.cat([matched[:, None].to(proposals.dtype), proposals], dim=1)
    aligned = roi_align(masks[:, None].float(), boxes, size, 1.0, 2, True)
    return aligned[:, 0] >= 0.5


class MaskRCNN(nn.Module):
    """Backbone (stride 4) -> RPN; thin 1 x 1 convolution -> RoI Align 7 x 7 -> BoxHead;
    RoI Align 14 x 14 of the features -> MaskHead. images (N, 3, H, W) in [0, 1]; targets as
    training.py describes (with "masks"). With the defaults, anchors of sizes 12, 20 and 32 px
    and ratios 1/2, 1 and 2 (9 per cell of the 16 x 16 map of a 64 x 64 image) cover objects of
    12 to 36 px."""

    def __init__(self, num_classes: int = 7, sizes: tuple[float, ...] = (12.0, 20.0, 32.0),
                 aspect_ratios: tuple[float, ...] = (0.5, 1.0, 2.0),
                 roi_batch_size_per_image: int = 32, roi_positive_fraction: float = 0.25,
                 score_threshold: float = 0.05, nms_threshold: float = 0.5,
                 detections_per_image: int = 50, roi_channels: int = 16,
                 box_hidden: int = 64, mask_width: int = 16, mask_convs: int = 3) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.roi_batch_size_per_image = roi_batch_size_per_image
        self.roi_positive_fraction = roi_positive_fraction
        self.score_threshold, self.nms_threshold = score_threshold, nms_threshold
        self.detections_per_image = detections_per_image
        self.backbone = Backbone()
        channels, self.stride = self.backbone.out_channels, self.backbone.stride
        self.rpn = RegionProposalNetwork(channels, self.stride, sizes, aspect_ratios)
        self.thin = nn.Sequential(nn.Conv2d(channels, roi_channels, 1), nn.ReLU())
        self.box_head = BoxHead(roi_channels, num_classes, hidden=box_hidden)
        self.mask_head = MaskHead(channels, num_classes, width=mask_width, convs=mask_convs)

    def roi_features(self, features: Tensor, boxes: list[Tensor], size: int) -> Tensor:
        """roi_align of per-image boxes (K_i, 4) on stride-4 features (N, C, H, W):
        (sum K_i, C, size, size)."""
        return roi_align(features, boxes, size, 1 / self.stride, 2, True)

    def forward(self, images: Tensor, targets: list[dict] | None = None):
        image_size = tuple(images.shape[2:])
        features = self.backbone(images)
        if not self.training:
            proposals, _ = self.rpn(features, image_size)
            return self.detect(features, proposals, image_size)
        generator = _generator()
        proposals, losses = self.rpn(features, image_size, targets, generator)
        return losses | self.roi_losses(features, proposals, targets, generator)

    def sample_proposals(self, proposals: Tensor, target: dict, generator: torch.Generator
                         ) -> tuple[Tensor, Tensor, Tensor]:
        """One image's proposals (with its gt boxes added) matched to the gt at IoU 0.5 and
        sampled (roi_positive_fraction positive). Returns the sampled boxes (S, 4), their labels
        (S,) (0 for background) and matched gt indices (S,) (-1 for background), positives
        first."""
        proposals = torch.cat([proposals, target["boxes"]])
        matches = match_anchors(proposals, target["boxes"], 0.5, 0.5, False)
        positive, negative = sample_matches(matches, self.roi_batch_size_per_image,
                                            self.roi_positive_fraction, generator)
        sampled = torch.cat([positive, negative])
        matched = matches[sampled]
        labels = torch.where(matched >= 0, target["labels"][matched.clamp(min=0)], 0)
        return proposals[sampled], labels, matched

    def roi_losses(self, features: Tensor, proposals: list[Tensor], targets: list[dict],
                   generator: torch.Generator) -> dict[str, Tensor]:
        """Cross-entropy over the classes and smooth L1 of the gt class's deltas of the sampled
        proposals; binary cross-entropy of the positives' masks."""
        samples = [self.sample_proposals(p, t, generator)
                   for p, t in zip(proposals, targets, strict=True)]
        boxes, labels, matched = (list(part) for part in zip(*samples, strict=True))
        class_logits, deltas = self.box_head(self.roi_features(self.thin(features), boxes, 7))
        all_labels = torch.cat(labels)
        positive = torch.nonzero(all_labels > 0)[:, 0]
        wanted = torch.cat([encode_boxes(b[m >= 0], t["boxes"][m[m >= 0]])
                            for b, m, t in zip(boxes, matched, targets, strict=True)])
        wanted = wanted * wanted.new_tensor(BOX_WEIGHTS)
        losses = {"loss_classifier": F.cross_entropy(class_logits, all_labels),
                  "loss_box": box_regression_loss(deltas[positive, all_labels[positive]], wanted,
                                                  len(all_labels))}
        # positives come first in each image's sample
        positive_boxes = [b[m >= 0] for b, m in zip(boxes, matched, strict=True)]
        mask_logits = self.mask_head(self.roi_features(features, positive_boxes, 14))
        mask_wanted = torch.cat([mask_targets(t["masks"], b, m[m >= 0])
                                 for b, m, t in zip(positive_boxes, matched, targets,
                                                    strict=True)])
        losses["loss_mask"] = mask_loss(mask_logits, all_labels[positive], mask_wanted)
        return losses

    def detect(self, features: Tensor, proposals: list[Tensor], image_size: tuple[int, int]
               ) -> list[dict[str, Tensor]]:
        """Per image: softmax scores and class-specific boxes for classes 1..K-1, those above
        score_threshold, batched_nms by class, the best detections_per_image; then their masks
        pasted into the image."""
        class_logits, deltas = self.box_head(self.roi_features(self.thin(features), proposals,
                                                               7))
        scores = F.softmax(class_logits, dim=1).split([len(p) for p in proposals])
        deltas = deltas.split([len(p) for p in proposals])
        detections, k = [], self.num_classes
        for image_proposals, image_scores, image_deltas in zip(proposals, scores, deltas,
                                                               strict=True):
            boxes = apply_deltas(image_proposals.repeat_interleave(k, dim=0),
                                 image_deltas.reshape(-1, 4), BOX_WEIGHTS)
            boxes = clip_boxes_to_image(boxes, image_size)
            labels = torch.arange(k).repeat(len(image_proposals))
            image_scores = image_scores.reshape(-1)
            keep = torch.nonzero((labels > 0) & (image_scores > self.score_threshold))[:, 0]
            keep = keep[remove_small_boxes(boxes[keep], 1e-2)]
            boxes, image_scores, labels = boxes[keep], image_scores[keep], labels[keep]
            keep = batched_nms(boxes, image_scores, labels, self.nms_threshold)
            keep = keep[:self.detections_per_image]
            detections.append({"boxes": boxes[keep], "scores": image_scores[keep],
                               "labels": labels[keep]})
        mask_logits = self.mask_head(self.roi_features(features,
                                                       [d["boxes"] for d in detections], 14))
        probabilities = class_mask_logits(mask_logits, torch.cat([d["labels"] for d in
                                                                  detections])).sigmoid()
        for detection, image_probabilities in zip(
                detections, probabilities.split([len(d["boxes"]) for d in detections]),
                strict=True):
            detection["masks"] = paste_masks(image_probabilities, detection["boxes"], image_size)
        return detections


def train_two_stage(steps: int = 1200, seed: int = 0, progress: bool = True
                    ) -> tuple[MaskRCNN, dict]:
    """The recipe of the committed weights: MaskRCNN trained from scratch on
    training.training_scenes() by training.train_detector, 16 scenes a step (232 s on one CPU
    thread)."""
    torch.manual_seed(seed)
    model = MaskRCNN()
    history = training.train_detector(model, training.training_scenes(), steps, batch_size=16,
                                      seed=seed, progress=progress, description="Mask R-CNN")
    return model, history
