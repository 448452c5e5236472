"""How good detections and segmentations are: matching, precision and recall, average precision
(VOC's all-point interpolation), mAP and COCO's mAP@[0.5:0.95], mask IoU, and the per-class IoU
and mIoU of semantic segmentation."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch import Tensor

from course_utils.detection.boxes import box_iou
from course_utils.graded import graded_in

Overlap = Callable[[Tensor, Tensor], Tensor]
Vector = np.ndarray | Tensor | Sequence[float]
COCO_IOU_THRESHOLDS = tuple(round(0.5 + 0.05 * k, 2) for k in range(10))   # 0.50, ..., 0.95


def _by_decreasing_score(scores: Tensor) -> Tensor:
    """Indices of scores (D,) from the highest to the lowest; equal scores keep their order."""
    return torch.argsort(scores, descending=True, stable=True)


def match_detections(pred_boxes: Tensor, pred_scores: Tensor, gt_boxes: Tensor,
                     iou_threshold: float = 0.5, overlap: Overlap | None = None) -> Tensor:
    """Which detections of one class in one image are true positives (COCO's greedy rule).

    Detections are taken in decreasing score order (equal scores: the lower index first); each
    takes the still unmatched ground truth with the highest overlap (equal overlaps: the lower
    ground-truth index) when that overlap is >= iou_threshold, and is a false positive otherwise
    (also when the ground truth it overlaps most was already taken by a higher-scoring one).

    Args:
        pred_boxes: (D, 4) boxes x1 y1 x2 y2, or whatever `overlap` takes (masks (D, H, W)).
        pred_scores: (D,) confidences.
        gt_boxes: (G, 4) ground-truth boxes, or (G, H, W) masks.
        iou_threshold: the smallest overlap of a true positive.
        overlap: overlap(a, b) -> (len(a), len(b)); box_iou by default, mask_iou for masks.
    Returns:
        (D,) bool in the order of the inputs; all False when G == 0, empty when D == 0.
    """
    if len(pred_scores) == 0 or len(gt_boxes) == 0:
        return torch.zeros(len(pred_scores), dtype=torch.bool)
    overlaps = (overlap or box_iou)(pred_boxes, gt_boxes).detach().cpu().double().numpy()
    order = _by_decreasing_score(pred_scores.detach().cpu()).numpy()
    return torch.from_numpy(_greedy_matches(overlaps, order, (iou_threshold,))[0])


def _greedy_matches(overlaps: np.ndarray, order: np.ndarray,
                    thresholds: Sequence[float]) -> np.ndarray:
    """match_detections' rule at each threshold: (T, D) bool from overlaps (D, G) and the
    detections' ranking `order` (D,); an overlap of -1 never matches."""
    hits = np.zeros((len(thresholds), len(overlaps)), dtype=bool)
    for t, threshold in enumerate(thresholds):
        taken = np.zeros(overlaps.shape[1], dtype=bool)
        for d in order:
            candidates = np.where(taken, -np.inf, overlaps[d])
            best = int(np.argmax(candidates))   # the first of equal maxima
            if candidates[best] >= threshold:
                taken[best] = hits[t, d] = True
    return hits


def precision_recall(scores: np.ndarray | Tensor, is_true_positive: np.ndarray | Tensor,
                     num_ground_truth: int) -> tuple[np.ndarray | Tensor, np.ndarray | Tensor]:
    """Precision and recall after each detection, the detections in decreasing score order.

    Args:
        scores: (D,) confidences, NumPy or torch; equal scores keep their order (stable sort).
        is_true_positive: (D,) bool, as match_detections gives, in the order of `scores`.
        num_ground_truth: objects to find, >= 1.
    Returns:
        precision, recall: (D,) float64 (torch tensors when `scores` is one, else NumPy arrays):
        after the k best detections, true positives / k and true positives / num_ground_truth.
    """
    if num_ground_truth < 1:
        raise ValueError(f"recall needs at least one ground-truth object, got {num_ground_truth}")
    as_tensor = isinstance(scores, Tensor)
    scores = torch.as_tensor(scores).detach().cpu()
    hits = torch.as_tensor(is_true_positive).detach().cpu().to(torch.float64)
    true_positives = hits[_by_decreasing_score(scores)].cumsum(0)
    precision = true_positives / torch.arange(1, len(hits) + 1, dtype=torch.float64)
    recall = true_positives / num_ground_truth
    return (precision, recall) if as_tensor else (precision.numpy(), recall.numpy())


@graded_in("ch09_detection_segmentation")
def average_precision(recall: Vector, precision: Vector) -> float:
    """Area under the precision-recall curve with all-point interpolation (PASCAL VOC 2010 and
    later: the VOC devkit's voc_ap(rec, prec), not the 11-point version of VOC 2007).

    1. Put recall 0 in front of `recall` and 1 after it, precision 0 in front of `precision`
       and 0 after it.
    2. Make the precision the envelope: each precision becomes the largest precision at its
       position or after it (monotonically non-increasing from the right).
    3. Sum (r_{k+1} - r_k) * p_{k+1} over the positions k where the recall changes
       (r_{k+1} != r_k), p being the envelope.

    Args:
        recall, precision: (D,) NumPy arrays or torch tensors (or sequences of floats), the
            values after each of the D detections taken in decreasing score order (as
            precision_recall gives), so recall is non-decreasing.
    Returns:
        AP as a Python float in [0, 1]; 0.0 when there are no detections (D == 0).
    """
    recall = torch.as_tensor(recall, dtype=torch.float64).detach().cpu().reshape(-1)
    precision = torch.as_tensor(precision, dtype=torch.float64).detach().cpu().reshape(-1)
    zero, one = torch.zeros(1, dtype=torch.float64), torch.ones(1, dtype=torch.float64)
    recall = torch.cat([zero, recall, one])
    precision = torch.cat([zero, precision, zero])
    envelope = precision.flip(0).cummax(0).values.flip(0)
    changes = recall[1:] != recall[:-1]
    return float(((recall[1:] - recall[:-1]) * envelope[1:])[changes].sum())


def mean_average_precision(predictions: Sequence[dict], targets: Sequence[dict],
                           num_classes: int, iou_threshold: float = 0.5,
                           use_masks: bool = False) -> tuple[float, list[float]]:
    """VOC-style mAP: the AP of each class at one IoU threshold, averaged over the classes.

    Each class's detections are matched per image with match_detections' rule, then those of
    all images ranked together by decreasing score (equal scores: the earlier image, then the
    lower index, first) for precision_recall and average_precision.

    Args:
        predictions: one dict per image: "boxes" (D, 4), "scores" (D,), "labels" (D,) int64,
            and "masks" (D, H, W) bool when use_masks.
        targets: one dict per image: "boxes" (G, 4), "labels" (G,) int64, and "masks"
            (G, H, W) bool when use_masks (as Scenes.targets gives).
        num_classes: classes 1..num_classes-1 are scored; 0 is the background.
        iou_threshold: the smallest overlap of a true positive.
        use_masks: overlap = mask_iou of the masks instead of box_iou of the boxes.
    Returns:
        mAP: the mean over the classes that have ground truth in some image (nan if none has),
        AP per class: the list for classes 1..num_classes-1, nan for a class without ground
        truth (its detections, all false positives, do not count anywhere else).
    """
    return _mean_average_precisions(predictions, targets, num_classes, (iou_threshold,),
                                    use_masks)[0]


def precision_recall_curves(predictions: Sequence[dict], targets: Sequence[dict],
                            num_classes: int, iou_threshold: float = 0.5,
                            use_masks: bool = False) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """The precision-recall curve of each class with ground truth, as mean_average_precision
    ranks and scores it (same arguments): {label: (precision (D,), recall (D,))} for the D
    detections of that class over all images, in decreasing score order."""
    labels, scores, hits, counts = _pooled_matches(predictions, targets, num_classes,
                                                   (iou_threshold,), use_masks)
    return {label: precision_recall(scores[labels == label], hits[0][labels == label],
                                    int(counts[label]))
            for label in range(1, num_classes) if counts[label] > 0}


def _pooled_matches(predictions: Sequence[dict], targets: Sequence[dict], num_classes: int,
                    thresholds: Sequence[float], use_masks: bool
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Every image's detections matched to its ground truth at each threshold (each image's
    overlaps computed once), pooled: labels (D,), scores (D,), hits (T, D) bool, and the count
    of ground-truth objects of each class (num_classes,)."""
    if len(predictions) != len(targets):
        raise ValueError(f"{len(predictions)} predictions for {len(targets)} targets")
    key, overlap = ("masks", mask_iou) if use_masks else ("boxes", box_iou)
    labels, scores, gt_labels = [np.zeros(0, np.int64)], [np.zeros(0)], [np.zeros(0, np.int64)]
    hits = [np.zeros((len(thresholds), 0), dtype=bool)]
    for prediction, target in zip(predictions, targets, strict=True):
        pred_labels, true_labels = prediction["labels"].cpu(), target["labels"].cpu()
        pred_scores = prediction["scores"].detach().cpu()
        overlaps = np.full((len(pred_labels), len(true_labels)), -1.0)
        if overlaps.size:
            same_class = (pred_labels[:, None] == true_labels[None, :]).numpy()
            computed = overlap(prediction[key], target[key]).detach().cpu().double().numpy()
            overlaps[same_class] = computed[same_class]   # other classes' objects never match
        order = _by_decreasing_score(pred_scores).numpy()
        labels.append(pred_labels.numpy())
        scores.append(pred_scores.double().numpy())
        hits.append(_greedy_matches(overlaps, order, thresholds))
        gt_labels.append(true_labels.numpy())
    counts = np.bincount(np.concatenate(gt_labels).astype(np.int64), minlength=num_classes)
    return np.concatenate(labels), np.concatenate(scores), np.concatenate(hits, axis=1), counts


def _mean_average_precisions(predictions: Sequence[dict], targets: Sequence[dict],
                             num_classes: int, thresholds: Sequence[float],
                             use_masks: bool) -> list[tuple[float, list[float]]]:
    """mean_average_precision at each threshold."""
    labels, scores, hits, counts = _pooled_matches(predictions, targets, num_classes,
                                                   thresholds, use_masks)
    results = []
    for hits_at_threshold in hits:
        per_class = []
        for label in range(1, num_classes):
            if counts[label] == 0:
                per_class.append(math.nan)
                continue
            mine = labels == label
            precision, recall = precision_recall(scores[mine], hits_at_threshold[mine],
                                                 int(counts[label]))
            per_class.append(average_precision(recall, precision))
        scored = [ap for ap in per_class if not math.isnan(ap)]
        results.append((sum(scored) / len(scored) if scored else math.nan, per_class))
    return results


def coco_map(predictions: Sequence[dict], targets: Sequence[dict], num_classes: int,
             use_masks: bool = False) -> float:
    """COCO's mAP@[0.5:0.95]: mean_average_precision averaged over the IoU thresholds 0.50,
    0.55, ..., 0.95.

    Each AP uses all-point interpolation (average_precision), not the 101 recall points of the
    COCO toolkit, and there are no crowd regions, area ranges or detection limits, so values
    differ slightly from pycocotools'. Arguments as mean_average_precision; nan when no class
    has ground truth.
    """
    results = _mean_average_precisions(predictions, targets, num_classes, COCO_IOU_THRESHOLDS,
                                       use_masks)
    return float(np.mean([mean for mean, _ in results]))


def mask_iou(masks1: Tensor, masks2: Tensor) -> Tensor:
    """Intersection over union of every pair of masks.

    Args:
        masks1: (N, H, W) bool; masks2: (M, H, W) bool.
    Returns:
        (N, M) float32; 0 for two empty masks.
    """
    first = masks1.flatten(1).float()
    second = masks2.flatten(1).float()
    intersection = first @ second.T   # exact pixel counts below 2**24 pixels
    union = first.sum(1)[:, None] + second.sum(1)[None, :] - intersection
    return intersection / union.clamp(min=1)


def pixel_confusion_matrix(predicted: Tensor, target: Tensor, num_classes: int) -> Tensor:
    """Pixel counts of each (true class, predicted class) pair.

    Args:
        predicted, target: int64 labels in 0..num_classes-1 of the same shape (for example
            (N, H, W) semantic maps).
    Returns:
        (C, C) int64, C = num_classes; entry [i, j] counts the pixels of class i predicted as j
        (rows = target class, as sklearn.metrics.confusion_matrix).
    """
    if predicted.shape != target.shape:
        raise ValueError(f"predicted {tuple(predicted.shape)} and target {tuple(target.shape)} "
                         "differ in shape")
    predicted, target = predicted.reshape(-1).long(), target.reshape(-1).long()
    for name, labels in (("predicted", predicted), ("target", target)):
        if len(labels) and not 0 <= int(labels.min()) <= int(labels.max()) < num_classes:
            raise ValueError(f"{name} labels must lie in 0..{num_classes - 1}")
    counts = torch.bincount(target * num_classes + predicted, minlength=num_classes**2)
    return counts.reshape(num_classes, num_classes)


def per_class_iou(confusion: Tensor) -> Tensor:
    """IoU of each class, true positives / (true positives + false positives + false negatives).

    Args:
        confusion: (C, C) counts, rows = target class (pixel_confusion_matrix).
    Returns:
        (C,) float64; nan for a class that is neither in the target nor predicted.
    """
    confusion = confusion.double()
    hits = confusion.diagonal()
    union = confusion.sum(0) + confusion.sum(1) - hits
    return torch.where(union > 0, hits / union.clamp(min=1), torch.nan)


def mean_iou(predicted: Tensor, target: Tensor, num_classes: int) -> float:
    """mIoU: the mean of per_class_iou over the classes present in target or prediction (the
    background, class 0, included); arguments as pixel_confusion_matrix."""
    return float(per_class_iou(pixel_confusion_matrix(predicted, target, num_classes)).nanmean())
