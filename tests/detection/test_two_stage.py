"""The two-stage detector (Faster R-CNN with a mask head): its conventions against slow, obvious
versions, its training signal and its output format."""

import itertools

import pytest
import torch
from torch.nn import functional as F

from course_utils.detection import two_stage
from course_utils.detection.boxes import encode_boxes
from course_utils.detection.mask_head import mask_loss, paste_masks
from course_utils.detection.two_stage import (
    BOX_WEIGHTS,
    MaskRCNN,
    RegionProposalNetwork,
    apply_deltas,
    mask_targets,
)
from course_utils.synthetic.scenes import make_scenes


@pytest.fixture(scope="module")
def scenes():
    return make_scenes(6, seed=5)


def batch(scenes):
    return scenes.images, [scenes.targets(i) for i in range(len(scenes))]


def random_boxes(n, generator, low=0.0, high=50.0):
    corner = low + torch.rand(n, 2, generator=generator) * (high - low)
    return torch.cat([corner, corner + 2 + torch.rand(n, 2, generator=generator) * 20], dim=1)


def slow_iou(a, b):
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    return w * h / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - w * h)


def test_rpn_head_lists_each_cell_s_anchors_in_generate_anchors_order():
    torch.manual_seed(0)
    sizes, ratios = (8.0, 16.0), (0.5, 1.0, 2.0)
    rpn = RegionProposalNetwork(8, 4, sizes, ratios, width=8)
    features = torch.randn(2, 8, 3, 5)
    objectness, deltas = rpn.head(features)
    hidden = rpn.conv(features)
    raw_objectness, raw_deltas = rpn.objectness(hidden), rpn.deltas(hidden)
    per_cell = len(sizes) * len(ratios)
    assert objectness.shape == (2, 3 * 5 * per_cell) and deltas.shape == (2, 3 * 5 * per_cell, 4)
    for n, i, j, a in itertools.product(range(2), range(3), range(5), range(per_cell)):
        index = (i * 5 + j) * per_cell + a
        assert objectness[n, index] == raw_objectness[n, a, i, j]
        assert torch.equal(deltas[n, index], raw_deltas[n, 4 * a:4 * a + 4, i, j])


def test_apply_deltas_undoes_weighted_encoding_and_bounds_the_scale():
    generator = torch.Generator().manual_seed(0)
    anchors, boxes = random_boxes(20, generator), random_boxes(20, generator)
    deltas = encode_boxes(anchors, boxes) * torch.tensor(BOX_WEIGHTS)
    torch.testing.assert_close(apply_deltas(anchors, deltas, BOX_WEIGHTS), boxes)
    huge = apply_deltas(anchors[:1], torch.tensor([[0.0, 0.0, 50.0, 50.0]]))
    width = anchors[0, 2] - anchors[0, 0]
    torch.testing.assert_close(huge[0, 2] - huge[0, 0], width * 1000 / 16)


def test_proposals_are_the_best_boxes_inside_the_image_after_nms():
    torch.manual_seed(0)
    rpn = RegionProposalNetwork(4, 4, (12.0, 24.0), (0.5, 1.0, 2.0), pre_nms_top_n=(40, 40),
                                post_nms_top_n=(10, 10)).eval()
    anchors = two_stage.generate_anchors((8, 8), 4, rpn.sizes, rpn.aspect_ratios)
    objectness, deltas = torch.randn(2, len(anchors)), 0.3 * torch.randn(2, len(anchors), 4)
    proposals = rpn.proposals(anchors, objectness, deltas, (32, 32))
    for n, boxes in enumerate(proposals):
        assert 0 < len(boxes) <= 10
        assert (boxes >= 0).all() and (boxes <= 32).all()
        assert ((boxes[:, 2:] - boxes[:, :2]) >= rpn.min_size).all()
        for a, b in itertools.combinations(boxes.tolist(), 2):
            assert slow_iou(a, b) <= 0.7
        # the first proposal is the decoded box of the best anchor not too small
        decoded = two_stage.clip_boxes_to_image(apply_deltas(anchors, deltas[n]), (32, 32))
        sides = decoded[:, 2:] - decoded[:, :2]
        scores = torch.where((sides >= rpn.min_size).all(dim=1), objectness[n], -torch.inf)
        assert torch.equal(boxes[0], decoded[scores.argmax()])


def test_sample_proposals_labels_by_the_best_gt_at_iou_one_half():
    torch.manual_seed(0)
    model = MaskRCNN(roi_batch_size_per_image=16)
    generator = torch.Generator().manual_seed(0)
    target = {"boxes": torch.tensor([[4.0, 4.0, 20.0, 30.0], [30.0, 10.0, 60.0, 40.0]]),
              "labels": torch.tensor([3, 5])}
    proposals = random_boxes(60, generator, high=40)
    boxes, labels, matched = model.sample_proposals(proposals, target, generator)
    assert len(boxes) == 16 and (labels > 0).sum() <= 4
    assert torch.equal(labels > 0, matched >= 0)
    assert (labels[:int((labels > 0).sum())] > 0).all()            # positives first
    gts = target["boxes"].tolist()
    for box, label, gt in zip(boxes.tolist(), labels.tolist(), matched.tolist(), strict=True):
        ious = [slow_iou(box, g) for g in gts]
        if max(ious) >= 0.5:
            assert gt == ious.index(max(ious)) and label == target["labels"][gt]
        else:
            assert gt == -1 and label == 0
    # without proposals the gt boxes themselves are the positives
    boxes, labels, matched = model.sample_proposals(torch.zeros(0, 4), target, generator)
    assert sorted(matched.tolist()) == [0, 1]
    assert torch.equal(boxes, target["boxes"][matched])
    assert torch.equal(labels, target["labels"][matched])


def test_mask_targets_crop_and_resample_the_gt_mask():
    generator = torch.Generator().manual_seed(0)
    masks = torch.rand(2, 56, 56, generator=generator) > 0.5
    whole = torch.tensor([[0.0, 0.0, 56.0, 56.0]])
    # a box of 2 x 2 pixels per output cell: the mean of each block, thresholded at 0.5
    blocks = F.avg_pool2d(masks[1:, None].float(), 2)[:, 0] >= 0.5
    assert torch.equal(mask_targets(masks, whole, torch.tensor([1])), blocks)
    # one pixel per output cell: the mask itself
    inner = torch.tensor([[10.0, 20.0, 38.0, 48.0]])
    assert torch.equal(mask_targets(masks, inner, torch.tensor([0]))[0], masks[0, 20:48, 10:38])


def test_mask_loss_is_the_binary_cross_entropy_of_the_gt_class_channel():
    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(3, 7, 5, 5, generator=generator)
    labels = torch.tensor([2, 6, 2])
    targets = torch.rand(3, 5, 5, generator=generator) > 0.5
    expected = sum(F.binary_cross_entropy_with_logits(logits[r, labels[r]], targets[r].float())
                   for r in range(3)) / 3
    torch.testing.assert_close(mask_loss(logits, labels, targets), expected)
    empty = torch.zeros(0, 7, 5, 5, requires_grad=True)
    loss = mask_loss(empty, torch.zeros(0, dtype=torch.long), torch.zeros(0, 5, 5, dtype=bool))
    assert loss == 0 and loss.requires_grad


def test_paste_masks_resizes_bilinearly_into_the_box():
    generator = torch.Generator().manual_seed(0)
    probabilities = torch.rand(3, 28, 28, generator=generator)
    boxes = torch.tensor([[3.0, 5.0, 40.0, 30.0], [0.0, 0.0, 64.0, 64.0], [50.0, 2.0, 61.0, 9.0]])
    pasted = paste_masks(probabilities, boxes, (48, 64))
    assert pasted.shape == (3, 48, 64) and pasted.dtype == torch.bool
    for k, (x1, y1, x2, y2) in enumerate(boxes.long().tolist()):
        expected = torch.zeros(48, 64, dtype=torch.bool)
        resized = F.interpolate(probabilities[k][None, None], size=(y2 - y1, x2 - x1),
                                mode="bilinear", align_corners=False)[0, 0]
        expected[y1:y2, x1:x2] = (resized > 0.5)[:48 - y1]
        assert torch.equal(pasted[k], expected)
    # a box between pixels: only pixels whose centre lies inside it can be set
    ones = paste_masks(torch.ones(1, 28, 28), torch.tensor([[2.2, 3.7, 9.6, 7.4]]), (12, 12))[0]
    assert torch.equal(ones.nonzero().min(0).values, torch.tensor([4, 2]))
    assert torch.equal(ones.nonzero().max(0).values, torch.tensor([6, 9]))
    assert paste_masks(torch.zeros(0, 28, 28), torch.zeros(0, 4), (8, 8)).shape == (0, 8, 8)


def test_training_losses_are_finite_and_fall(scenes):
    torch.manual_seed(0)
    model = MaskRCNN().train()
    images, targets = batch(scenes)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    totals = []
    for _ in range(8):
        losses = model(images, targets)
        assert set(losses) == {"loss_objectness", "loss_rpn_box", "loss_classifier", "loss_box",
                               "loss_mask"}
        assert all(torch.isfinite(loss) for loss in losses.values())
        total = sum(losses.values())
        optimizer.zero_grad()
        total.backward()
        optimizer.step()
        totals.append(total.item())
    assert totals[-1] < 0.7 * totals[0]


def test_detections_have_the_evaluation_format(scenes):
    torch.manual_seed(0)
    model = MaskRCNN(detections_per_image=15).eval()
    with torch.no_grad():
        detections = model(scenes.images)
    assert len(detections) == len(scenes)
    for detection in detections:
        boxes, scores, labels = detection["boxes"], detection["scores"], detection["labels"]
        assert 0 < len(boxes) <= 15 and boxes.shape[1] == 4
        assert len(scores) == len(labels) == len(detection["masks"]) == len(boxes)
        assert (boxes >= 0).all() and (boxes <= 64).all()
        assert (boxes[:, 2:] > boxes[:, :2]).all()
        assert torch.equal(scores, scores.sort(descending=True).values)
        assert labels.dtype == torch.int64 and labels.min() >= 1 and labels.max() <= 6
        assert detection["masks"].shape[1:] == (64, 64)
        assert detection["masks"].dtype == torch.bool
    model.score_threshold = 1.0                                       # nothing passes
    with torch.no_grad():
        empty = model(scenes.images[:2])
    assert [len(d["boxes"]) for d in empty] == [0, 0] and empty[0]["masks"].shape == (0, 64, 64)


def test_training_is_deterministic_under_manual_seed(scenes):
    images, targets = batch(scenes)
    runs = []
    for _ in range(2):
        torch.manual_seed(3)
        model = MaskRCNN().train()
        runs.append({name: loss.item() for name, loss in model(images, targets).items()})
    assert runs[0] == runs[1]


@pytest.mark.parametrize("name", ["generate_anchors", "encode_boxes", "decode_boxes", "nms",
                                  "batched_nms", "roi_align"])
def test_the_graded_building_blocks_are_called_through_the_module(monkeypatch, scenes, name):
    original, calls = getattr(two_stage, name), []

    def spy(*args, **kwargs):
        calls.append(name)
        return original(*args, **kwargs)

    monkeypatch.setattr(two_stage, name, spy)
    torch.manual_seed(0)
    model = MaskRCNN()
    images, targets = batch(scenes)
    model.train()(images[:2], targets[:2])
    with torch.no_grad():
        model.eval()(images[:2])
    assert calls
