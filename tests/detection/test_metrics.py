"""Detection and segmentation metrics against the VOC devkit, COCO's matching loop, slow loops
and scikit-learn."""

import math

import numpy as np
import pytest
import sklearn.metrics
import torch

from course_utils.detection.metrics import (
    average_precision,
    coco_map,
    mask_iou,
    match_detections,
    mean_average_precision,
    mean_iou,
    per_class_iou,
    pixel_confusion_matrix,
    precision_recall,
    precision_recall_curves,
)


def voc_ap(rec, prec):
    """The VOC devkit's all-point AP (py-faster-rcnn's voc_eval.voc_ap, use_07_metric=False)."""
    # first append sentinel values at the end
    mrec = np.concatenate(([0.0], rec, [1.0]))
    mpre = np.concatenate(([0.0], prec, [0.0]))

    # compute the precision envelope
    for i in range(mpre.size - 1, 0, -1):
        mpre[i - 1] = np.maximum(mpre[i - 1], mpre[i])

    # to calculate area under PR curve, look for points
    # where X axis (recall) changes value
    i = np.where(mrec[1:] != mrec[:-1])[0]

    # and sum (\Delta recall) * prec
    ap = np.sum((mrec[i + 1] - mrec[i]) * mpre[i + 1])
    return ap


def slow_iou(a, b):
    """IoU of two boxes (x1, y1, x2, y2), the obvious way."""
    width = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    height = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    intersection = width * height
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - intersection
    return intersection / union


def slow_overlap(boxes1, boxes2):
    return torch.tensor([[slow_iou(a, b) for b in boxes2.tolist()] for a in boxes1.tolist()],
                        dtype=torch.float64).reshape(len(boxes1), len(boxes2))


def coco_matching(ious, scores, threshold):
    """pycocotools' COCOeval.evaluateImg loop for one threshold, without crowds or ignored
    ground truth: the detections by decreasing score (mergesort), each taking the best
    unmatched gt."""
    order = np.argsort(-np.asarray(scores), kind="mergesort")
    gt_matched = np.zeros(ious.shape[1], dtype=bool)
    dt_matched = np.zeros(ious.shape[0], dtype=bool)
    for dind in order:
        iou = min([threshold, 1 - 1e-10])
        m = -1
        for gind in range(ious.shape[1]):
            if gt_matched[gind]:
                continue
            if ious[dind, gind] < iou:
                continue
            iou = ious[dind, gind]
            m = gind
        if m == -1:
            continue
        dt_matched[dind] = gt_matched[m] = True
    return dt_matched


def random_boxes(generator, n, size=32.0):
    corners = torch.rand(n, 2, generator=generator, dtype=torch.float64) * size
    sides = 2 + torch.rand(n, 2, generator=generator, dtype=torch.float64) * size / 2
    return torch.cat([corners, corners + sides], dim=1)


def shifted(boxes, dx):
    return boxes + torch.tensor([dx, 0.0, dx, 0.0], dtype=boxes.dtype)


def box_mask(box, size=32):
    mask = torch.zeros(size, size, dtype=torch.bool)
    x1, y1, x2, y2 = (int(v) for v in box)
    mask[y1:y2, x1:x2] = True
    return mask


# average_precision and precision_recall

def test_average_precision_of_a_hand_computed_example():
    # 5 detections by decreasing score, hits [1, 0, 1, 1, 0], 4 objects to find:
    #   precision 1/1, 1/2, 2/3, 3/4, 3/5;  recall 1/4, 1/4, 2/4, 3/4, 3/4
    # with the sentinels: recall    0, .25, .25, .5,  .75, .75, 1
    #                     precision 0, 1,   .5,  2/3, .75, .6,  0
    # envelope from the right:      1, 1,   .75, .75, .75, .6,  0
    # recall changes 0->.25 (p 1), .25->.5 (p .75), .5->.75 (p .75), .75->1 (p 0):
    #   AP = .25 * 1 + .25 * .75 + .25 * .75 + .25 * 0 = 0.625
    scores = torch.tensor([0.9, 0.8, 0.7, 0.6, 0.5])
    hits = torch.tensor([True, False, True, True, False])
    precision, recall = precision_recall(scores, hits, 4)
    assert precision.dtype == recall.dtype == torch.float64
    assert torch.allclose(precision, torch.tensor([1, 1 / 2, 2 / 3, 3 / 4, 3 / 5],
                                                  dtype=torch.float64))
    assert torch.allclose(recall, torch.tensor([1, 1, 2, 3, 3], dtype=torch.float64) / 4)
    ap = average_precision(recall, precision)
    assert isinstance(ap, float) and ap == pytest.approx(0.625)
    assert average_precision(recall.numpy(), precision.numpy()) == pytest.approx(0.625)
    assert average_precision(recall.tolist(), precision.tolist()) == pytest.approx(0.625)


def test_average_precision_equals_the_voc_devkit_on_random_curves():
    rng = np.random.default_rng(0)
    for _ in range(200):
        count = int(rng.integers(1, 30))
        hits = rng.random(count) < rng.random()
        scores = rng.integers(0, 5, count) / 4   # ties
        num_ground_truth = int(hits.sum()) + int(rng.integers(0 if hits.any() else 1, 4))
        precision, recall = precision_recall(scores, hits, num_ground_truth)
        assert isinstance(precision, np.ndarray) and precision.dtype == np.float64
        expected = voc_ap(recall, precision)
        assert average_precision(recall, precision) == pytest.approx(expected, abs=1e-12)
        assert average_precision(torch.from_numpy(recall),
                                 torch.from_numpy(precision)) == pytest.approx(expected, abs=1e-12)
    for _ in range(50):   # any curve: repeated recalls, precision going up and down
        recall = np.sort(rng.integers(0, 6, int(rng.integers(1, 12))) / 5)
        precision = rng.random(len(recall))
        assert average_precision(recall, precision) == pytest.approx(voc_ap(recall, precision),
                                                                     abs=1e-12)


def test_average_precision_of_no_detections_is_zero():
    precision, recall = precision_recall(torch.zeros(0), torch.zeros(0, dtype=torch.bool), 3)
    assert precision.shape == recall.shape == (0,)
    assert average_precision(recall, precision) == 0.0
    assert average_precision(np.zeros(0), np.zeros(0)) == 0.0


def test_average_precision_is_one_when_every_object_is_found_before_any_mistake():
    precision, recall = precision_recall(np.array([0.9, 0.8, 0.3, 0.2]),
                                         np.array([True, True, False, False]), 2)
    assert average_precision(recall, precision) == 1.0


def test_precision_recall_sorts_by_decreasing_score_keeping_the_order_of_ties():
    scores = np.array([0.2, 0.9, 0.5, 0.5, 0.9])
    hits = np.array([True, False, True, False, True])
    # order: 1 (miss), 4 (hit), 2 (hit), 3 (miss), 0 (hit)
    precision, recall = precision_recall(scores, hits, 5)
    np.testing.assert_allclose(precision, [0, 1 / 2, 2 / 3, 2 / 4, 3 / 5])
    np.testing.assert_allclose(recall, [0, 1 / 5, 2 / 5, 2 / 5, 3 / 5])
    with pytest.raises(ValueError):
        precision_recall(scores, hits, 0)


# match_detections

def test_matching_equals_coco_s_greedy_loop_on_random_cases():
    generator = torch.Generator().manual_seed(0)
    rng = np.random.default_rng(1)
    for _ in range(150):
        gt = random_boxes(generator, int(rng.integers(0, 6)))
        near = gt[torch.randint(len(gt), (int(rng.integers(0, 8)),), generator=generator)] \
            if len(gt) else gt
        pred = torch.cat([near + torch.randn(len(near), 4, generator=generator,
                                             dtype=torch.float64) * 2,
                          random_boxes(generator, int(rng.integers(0, 4)))])
        pred = torch.cat([pred[:, :2], torch.maximum(pred[:, 2:], pred[:, :2] + 0.5)], dim=1)
        scores = torch.from_numpy(rng.integers(0, 4, len(pred)) / 3)   # ties
        threshold = float(rng.choice([0.3, 0.5, 0.75]))
        expected = coco_matching(slow_overlap(pred, gt).numpy(), scores.numpy(), threshold)
        found = match_detections(pred, scores, gt, threshold)
        assert found.dtype == torch.bool and found.shape == (len(pred),)
        assert found.tolist() == expected.tolist()
        assert found.tolist() == match_detections(pred, scores, gt, threshold,
                                                  overlap=slow_overlap).tolist()


def test_matching_tie_rules_threshold_and_duplicates():
    gt = torch.tensor([[0.0, 0, 10, 10], [20, 0, 30, 10]])
    # equal scores: the lower index takes the gt, the duplicate is a false positive
    pred = torch.tensor([[0.0, 0, 10, 10], [0.0, 0, 10, 10]])
    assert match_detections(pred, torch.tensor([0.5, 0.5]), gt).tolist() == [True, False]
    # a higher score ranks first whatever its index
    assert match_detections(pred, torch.tensor([0.4, 0.5]), gt).tolist() == [False, True]
    # IoU exactly at the threshold counts (50 / 100 = 0.5)
    half = torch.tensor([[0.0, 0, 10, 5]])
    assert match_detections(half, torch.ones(1), gt, 0.5).tolist() == [True]
    assert match_detections(half, torch.ones(1), gt, 0.51).tolist() == [False]
    # a box with IoU 150 / 250 = 0.6 with both of two gts takes the lower gt index: then the
    # copy of gt 0 finds only gt 1 (IoU 100 / 300 < 0.5), the copy of gt 1 finds gt 1 free
    twins = torch.tensor([[0.0, 0, 20, 10], [10, 0, 30, 10]])
    between = [5.0, 0, 25, 10]
    for copy, expected in ((twins[0], [True, False]), (twins[1], [True, True])):
        pred = torch.stack([torch.tensor(between), copy])
        assert match_detections(pred, torch.tensor([0.9, 0.8]), twins).tolist() == expected


def test_matching_a_better_box_later_does_not_steal_the_gt():
    gt = torch.tensor([[0.0, 0, 10, 10]])
    pred = torch.tensor([[1.0, 0, 11, 10], [0, 0, 10, 10]])   # the exact box has the lower score
    assert match_detections(pred, torch.tensor([0.9, 0.1]), gt).tolist() == [True, False]


def test_matching_empty_inputs():
    gt = torch.tensor([[0.0, 0, 10, 10]])
    none = match_detections(torch.zeros(0, 4), torch.zeros(0), gt)
    assert none.dtype == torch.bool and none.shape == (0,)
    no_gt = match_detections(gt, torch.ones(1), torch.zeros(0, 4))
    assert no_gt.tolist() == [False]


# mean_average_precision and coco_map

def perfect_data(seed=0, images=4, num_classes=4):
    generator = torch.Generator().manual_seed(seed)
    targets, predictions = [], []
    for _ in range(images):
        count = int(torch.randint(1, 5, (1,), generator=generator))
        boxes = random_boxes(generator, count, size=20).round().float()   # inside 32 x 32
        labels = torch.randint(1, num_classes, (count,), generator=generator)
        masks = torch.stack([box_mask(box) for box in boxes.tolist()])
        targets.append({"boxes": boxes, "labels": labels, "masks": masks})
        scores = torch.rand(count, generator=generator)
        predictions.append({"boxes": boxes.clone(), "scores": scores, "labels": labels.clone(),
                            "masks": masks.clone()})
    return predictions, targets


def slow_mean_average_precision(predictions, targets, num_classes, threshold, use_masks):
    """Class by class, image by image, with match_detections, then one ranking per class."""
    key, overlap = ("masks", mask_iou) if use_masks else ("boxes", None)
    per_class = []
    for label in range(1, num_classes):
        scores, hits, count = [], [], 0
        for prediction, target in zip(predictions, targets, strict=True):
            mine, theirs = prediction["labels"] == label, target["labels"] == label
            count += int(theirs.sum())
            scores.append(prediction["scores"][mine])
            hits.append(match_detections(prediction[key][mine], scores[-1], target[key][theirs],
                                         threshold, overlap))
        if count:
            precision, recall = precision_recall(torch.cat(scores), torch.cat(hits), count)
        per_class.append(average_precision(recall, precision) if count else math.nan)
    return float(np.nanmean(per_class)), per_class


def noisy_data(seed):
    """perfect_data with moved boxes and masks, relabelled and dropped detections, tied scores."""
    generator = torch.Generator().manual_seed(seed)
    predictions, targets = perfect_data(seed, images=6)
    for prediction in predictions:
        count = len(prediction["scores"])
        keep = torch.rand(2 * count, generator=generator) < 0.8
        boxes = torch.cat([prediction["boxes"], prediction["boxes"]]) + torch.randint(
            -1, 2, (2 * count, 4), generator=generator)
        boxes[:, 2:] = torch.maximum(boxes[:, 2:], boxes[:, :2] + 1)
        boxes = boxes.clamp(0, 32)[keep]
        labels = torch.cat([prediction["labels"], torch.randint(1, 4, (count,),
                                                                generator=generator)])[keep]
        scores = torch.randint(0, 4, (2 * count,), generator=generator).float()[keep] / 3
        masks = torch.stack([box_mask(box) for box in boxes.tolist()]) if len(boxes) else \
            torch.zeros(0, 32, 32, dtype=torch.bool)
        prediction.update(boxes=boxes, labels=labels, scores=scores, masks=masks)
    return predictions, targets


@pytest.mark.parametrize("use_masks", [False, True])
def test_mean_average_precision_equals_the_class_by_class_composition(use_masks):
    for seed in range(4):
        predictions, targets = noisy_data(seed)
        means = []
        for threshold in (0.5, 0.6, 0.75):
            mean, per_class = mean_average_precision(predictions, targets, 4, threshold,
                                                     use_masks)
            expected_mean, expected = slow_mean_average_precision(predictions, targets, 4,
                                                                  threshold, use_masks)
            np.testing.assert_allclose(per_class, expected, equal_nan=True)
            assert mean == pytest.approx(expected_mean)
            means.append(mean)
        assert 0 < means[0] < 1
    thresholds = np.linspace(0.5, 0.95, 10)
    expected = np.mean([slow_mean_average_precision(predictions, targets, 4, t, use_masks)[0]
                        for t in thresholds])
    assert coco_map(predictions, targets, 4, use_masks) == pytest.approx(expected)


def test_perfect_predictions_give_an_ap_of_one_even_shuffled_and_with_late_duplicates():
    predictions, targets = perfect_data()
    present = {int(label) for target in targets for label in target["labels"]}
    mean, per_class = mean_average_precision(predictions, targets, 4)
    assert mean == 1.0 and len(per_class) == 3
    assert all(ap == 1.0 if label in present else math.isnan(ap)
               for label, ap in zip(range(1, 4), per_class, strict=True))
    shuffled, generator = [], torch.Generator().manual_seed(3)
    for prediction in predictions:
        order = torch.randperm(len(prediction["scores"]), generator=generator)
        copy = {key: value[order] for key, value in prediction.items()}
        # duplicates with lower scores than any true detection: false positives after all hits
        shuffled.append({key: torch.cat([value, value]) for key, value in copy.items()})
        shuffled[-1]["scores"][len(order):] -= 2
    assert mean_average_precision(shuffled, targets, 4)[0] == 1.0
    assert coco_map(predictions, targets, 4) == 1.0
    assert mean_average_precision(predictions, targets, 4, use_masks=True)[0] == 1.0


def test_mean_average_precision_of_a_hand_computed_example():
    # class 1: gts g1, g2 in image 0 and g3, g4 in image 1; its detections by decreasing score:
    #   0.9 on g1 (hit), 0.8 a duplicate of g1 (miss), 0.7 on g3 (hit), 0.6 on g2 (hit),
    #   0.5 far from everything (miss): the example above, AP = 0.625.
    # class 2: one gt, one detection at IoU 40 / 100 = 0.4 < 0.5: AP 0.
    # class 3: no ground truth (its detection counts nowhere): AP nan, left out.
    # mAP = (0.625 + 0) / 2 = 0.3125
    g1, g2, g3, g4 = [0.0, 0, 10, 10], [20.0, 20, 30, 30], [0.0, 0, 8, 8], [10.0, 10, 20, 20]
    g5, far = [40.0, 40, 50, 50], [50.0, 0, 60, 10]
    targets = [{"boxes": torch.tensor([g1, g2, g5]), "labels": torch.tensor([1, 1, 2])},
               {"boxes": torch.tensor([g3, g4]), "labels": torch.tensor([1, 1])}]
    predictions = [
        {"boxes": torch.tensor([g2, g1, g1, [40.0, 40, 50, 44], far]),
         "scores": torch.tensor([0.6, 0.8, 0.9, 0.95, 0.99]),
         "labels": torch.tensor([1, 1, 1, 2, 3])},
        {"boxes": torch.tensor([far, g3]), "scores": torch.tensor([0.5, 0.7]),
         "labels": torch.tensor([1, 1])},
    ]
    mean, per_class = mean_average_precision(predictions, targets, 4)
    assert per_class[:2] == pytest.approx([0.625, 0.0]) and math.isnan(per_class[2])
    assert mean == pytest.approx(0.3125)
    curves = precision_recall_curves(predictions, targets, 4)
    assert set(curves) == {1, 2}   # class 3 has no ground truth
    precision, recall = curves[1]
    np.testing.assert_allclose(precision, [1, 1 / 2, 2 / 3, 3 / 4, 3 / 5])
    np.testing.assert_allclose(recall, [1 / 4, 1 / 4, 2 / 4, 3 / 4, 3 / 4])
    np.testing.assert_allclose(curves[2], [[0.0], [0.0]])


def test_empty_predictions_and_classes_without_ground_truth():
    _, targets = perfect_data()
    empty = [{"boxes": torch.zeros(0, 4), "scores": torch.zeros(0),
              "labels": torch.zeros(0, dtype=torch.int64), "masks": torch.zeros(0, 32, 32,
                                                                                dtype=torch.bool)}
             for _ in targets]
    mean, per_class = mean_average_precision(empty, targets, 6)
    present = {int(label) for target in targets for label in target["labels"]}
    assert mean == 0.0
    assert all(ap == 0.0 if label in present else math.isnan(ap)
               for label, ap in zip(range(1, 6), per_class, strict=True))
    assert coco_map(empty, targets, 6, use_masks=True) == 0.0
    no_objects = [{"boxes": torch.zeros(0, 4), "labels": torch.zeros(0, dtype=torch.int64)}
                  for _ in targets]
    mean, per_class = mean_average_precision(empty, no_objects, 3)
    assert math.isnan(mean) and all(math.isnan(ap) for ap in per_class)
    assert math.isnan(coco_map(empty, no_objects, 3))
    assert math.isnan(mean_average_precision([], [], 3)[0])


def test_coco_map_of_boxes_shifted_by_known_ious():
    # A 10 x 10 box shifted by dx along x has IoU (10 - dx) / (10 + dx): 1, 9/11 = 0.82,
    # 8/12 = 0.67, 7/13 = 0.54, which pass 10, 7, 4 and 1 of the thresholds 0.50, ..., 0.95.
    # The better boxes score higher, so at each threshold AP = (boxes that pass) / 4 and the
    # mean over thresholds is (10 + 7 + 4 + 1) / 40 = 0.55.
    gt = torch.tensor([[10.0, 10, 20, 20]])
    targets = [{"boxes": gt, "labels": torch.tensor([1])} for _ in range(4)]
    predictions = [{"boxes": shifted(gt, dx), "scores": torch.tensor([1.0 - dx / 10]),
                    "labels": torch.tensor([1])} for dx in range(4)]
    assert coco_map(predictions, targets, 2) == pytest.approx(0.55)
    assert mean_average_precision(predictions, targets, 2)[0] == 1.0   # all pass at 0.5
    assert mean_average_precision(predictions, targets, 2, 0.7)[0] == pytest.approx(0.5)


def test_mask_ap_uses_the_masks_not_their_boxes():
    # An L-shaped prediction with the gt's box: box IoU 1, mask IoU 36 / 100 < 0.5.
    gt_mask = box_mask([0, 0, 10, 10])
    l_shape = torch.zeros(32, 32, dtype=torch.bool)
    l_shape[0:10, 0:2] = l_shape[8:10, 0:10] = True   # 20 + 20 - 4 = 36 pixels
    box = torch.tensor([[0.0, 0, 10, 10]])
    targets = [{"boxes": box, "labels": torch.tensor([1]), "masks": gt_mask[None]}]
    predictions = [{"boxes": box, "scores": torch.ones(1), "labels": torch.tensor([1]),
                    "masks": l_shape[None]}]
    assert mask_iou(l_shape[None], gt_mask[None]).item() == pytest.approx(0.36)
    assert mean_average_precision(predictions, targets, 2)[0] == 1.0
    assert mean_average_precision(predictions, targets, 2, use_masks=True)[0] == 0.0
    assert mean_average_precision(predictions, targets, 2, 0.3, use_masks=True)[0] == 1.0


def test_mask_ap_of_rectangle_masks_equals_box_ap():
    generator = torch.Generator().manual_seed(5)
    predictions, targets = perfect_data(seed=2, images=5)
    for prediction in predictions:   # move the boxes by whole pixels, the masks with them
        prediction["boxes"] = (prediction["boxes"] + torch.randint(
            -2, 3, prediction["boxes"].shape, generator=generator)).clamp(0, 32)
        prediction["boxes"][:, 2:] = torch.maximum(prediction["boxes"][:, 2:],
                                                   prediction["boxes"][:, :2] + 1)
        prediction["masks"] = torch.stack([box_mask(b) for b in prediction["boxes"].tolist()])
    for threshold in (0.3, 0.5):
        boxes = mean_average_precision(predictions, targets, 4, threshold)
        masks = mean_average_precision(predictions, targets, 4, threshold, use_masks=True)
        assert boxes[1] == pytest.approx(masks[1]) and 0 < boxes[0] < 1
    assert coco_map(predictions, targets, 4) == pytest.approx(
        coco_map(predictions, targets, 4, use_masks=True))


def test_mask_iou_against_loops():
    generator = torch.Generator().manual_seed(0)
    first = torch.rand(4, 6, 7, generator=generator) < 0.4
    second = torch.rand(3, 6, 7, generator=generator) < 0.6
    second[0] = False
    first[0] = False   # two empty masks: IoU 0
    iou = mask_iou(first, second)
    assert iou.shape == (4, 3) and iou.dtype == torch.float32
    for i in range(4):
        for j in range(3):
            union = (first[i] | second[j]).sum().item()
            expected = (first[i] & second[j]).sum().item() / union if union else 0.0
            assert iou[i, j].item() == pytest.approx(expected)


# semantic segmentation

def test_confusion_matrix_and_iou_against_scikit_learn():
    generator = torch.Generator().manual_seed(0)
    target = torch.randint(0, 4, (3, 8, 8), generator=generator)   # class 4 never appears
    predicted = torch.where(torch.rand(3, 8, 8, generator=generator) < 0.7, target,
                            torch.randint(0, 4, (3, 8, 8), generator=generator))
    predicted[0, 0, 0] = 5                                           # class 5 only predicted
    y_true, y_pred = target.flatten().numpy(), predicted.flatten().numpy()
    labels = np.arange(6)
    confusion = pixel_confusion_matrix(predicted, target, 6)
    assert confusion.dtype == torch.int64 and confusion.shape == (6, 6)
    np.testing.assert_array_equal(confusion.numpy(),
                                  sklearn.metrics.confusion_matrix(y_true, y_pred, labels=labels))
    iou = per_class_iou(confusion)
    expected = sklearn.metrics.jaccard_score(y_true, y_pred, labels=labels, average=None,
                                             zero_division=0)
    expected[~np.isin(labels, np.concatenate([y_true, y_pred]))] = np.nan   # absent in both
    assert iou.dtype == torch.float64 and math.isnan(iou[4]) and iou[5] == 0.0
    np.testing.assert_allclose(iou.numpy(), expected, equal_nan=True)
    assert mean_iou(predicted, target, 6) == pytest.approx(np.nanmean(expected))
    assert mean_iou(target, target, 6) == 1.0


def test_confusion_matrix_rejects_labels_out_of_range_and_mismatched_shapes():
    labels = torch.tensor([0, 1, 2])
    with pytest.raises(ValueError):
        pixel_confusion_matrix(labels, torch.tensor([0, 1, 3]), 3)
    with pytest.raises(ValueError):
        pixel_confusion_matrix(torch.tensor([-1, 1, 2]), labels, 3)
    with pytest.raises(ValueError):
        pixel_confusion_matrix(labels, labels[:2], 3)
