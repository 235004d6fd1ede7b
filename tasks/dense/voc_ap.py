"""PASCAL VOC detection AP, AP50 and AP75 as detectron2's ``PascalVOCDetectionEvaluator`` defines them.

For each class and each IoU threshold t in 0.50, 0.55, ..., 0.95:
  - detections of the class, over all images, are ranked by score (highest first);
  - a detection is a true positive when its best-overlapping ground-truth box of the class in its image
    has IoU > t (strictly), is not "difficult" and was not matched before; overlapping a difficult
    box makes it neither true nor false positive; anything else is a false positive;
  - recall = TP / (non-difficult ground-truth boxes), precision = TP / (TP + FP);
  - AP is VOC2007's 11-point interpolation (thresholds ``np.arange(0, 1.1, 0.1)``, as detectron2) or,
    with ``use_07_metric=False``, the area under the monotone precision envelope (VOC2010+).
AP50 / AP75 = mean over classes at t = 0.50 / 0.75; AP = mean over classes and all ten thresholds.
All in percent.

Boxes are (x1, y1, x2, y2) in VOC's inclusive pixel coordinates, so widths and heights carry the
devkit's +1 (a box from pixel 1 to pixel 10 is 10 pixels wide); give predictions in the same
coordinates as the ground truth.
"""
from __future__ import annotations

from collections import defaultdict
from typing import Sequence

import numpy as np

IOU_THRESHOLDS = tuple(t / 100 for t in range(50, 100, 5))


def _iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """IoU of one box with each of ``boxes`` (K, 4), with the devkit's inclusive-pixel +1."""
    iw = np.maximum(np.minimum(boxes[:, 2], box[2]) - np.maximum(boxes[:, 0], box[0]) + 1.0, 0.0)
    ih = np.maximum(np.minimum(boxes[:, 3], box[3]) - np.maximum(boxes[:, 1], box[1]) + 1.0, 0.0)
    inter = iw * ih
    union = (box[2] - box[0] + 1.0) * (box[3] - box[1] + 1.0) \
        + (boxes[:, 2] - boxes[:, 0] + 1.0) * (boxes[:, 3] - boxes[:, 1] + 1.0) - inter
    return inter / union


def _average_precision(recall: np.ndarray, precision: np.ndarray, use_07_metric: bool) -> float:
    if use_07_metric:
        ap = 0.0
        for t in np.arange(0.0, 1.1, 0.1):
            reached = recall >= t
            ap += (precision[reached].max() if reached.any() else 0.0) / 11.0
        return float(ap)
    recall = np.concatenate([[0.0], recall, [1.0]])
    precision = np.concatenate([[0.0], precision, [0.0]])
    precision = np.maximum.accumulate(precision[::-1])[::-1]  # the monotone envelope
    steps = np.where(recall[1:] != recall[:-1])[0]
    return float(np.sum((recall[steps + 1] - recall[steps]) * precision[steps + 1]))


def class_average_precision(detections: Sequence[tuple[int, float, np.ndarray]], ground_truth: dict,
                            iou_threshold: float, use_07_metric: bool = True) -> float:
    """AP (fraction) of one class. ``detections``: (image id, score, box); ``ground_truth``: image id ->
    (boxes (K, 4), difficult (K,) bool) of this class."""
    n_positive = sum(int((~difficult).sum()) for _, difficult in ground_truth.values())
    if n_positive == 0:
        return float("nan")
    order = sorted(range(len(detections)), key=lambda i: -detections[i][1])  # stable: ties keep input order
    matched = {image: np.zeros(len(boxes), bool) for image, (boxes, _) in ground_truth.items()}
    tp, fp = np.zeros(len(order)), np.zeros(len(order))
    for rank, i in enumerate(order):
        image, _, box = detections[i]
        boxes, difficult = ground_truth.get(image, (np.zeros((0, 4)), np.zeros(0, bool)))
        if len(boxes):
            overlaps = _iou(np.asarray(box, float), boxes)
            best = int(overlaps.argmax())
            if overlaps[best] > iou_threshold:
                if difficult[best]:
                    continue  # neither a hit nor a miss
                if not matched[image][best]:
                    tp[rank], matched[image][best] = 1, True
                else:
                    fp[rank] = 1  # a duplicate of a box already found
                continue
        fp[rank] = 1
    tp, fp = np.cumsum(tp), np.cumsum(fp)
    recall = tp / n_positive
    precision = tp / np.maximum(tp + fp, np.finfo(np.float64).eps)
    return _average_precision(recall, precision, use_07_metric)


def voc_detection_metrics(predictions: Sequence[dict], targets: Sequence[dict], num_classes: int,
                          use_07_metric: bool = True) -> dict[str, float]:
    """AP, AP50, AP75 (percent) over images given as dicts of numpy arrays:
    predictions {"boxes" (N, 4), "scores" (N,), "labels" (N,)}, targets {"boxes", "labels", "difficult"}.
    Classes without a non-difficult ground-truth box are left out of the means."""
    if len(predictions) != len(targets):
        raise ValueError(f"{len(predictions)} predictions for {len(targets)} images")
    by_class_dets = defaultdict(list)
    by_class_gt = defaultdict(dict)
    for image, (pred, gt) in enumerate(zip(predictions, targets)):
        for box, score, label in zip(np.asarray(pred["boxes"], float), np.asarray(pred["scores"], float),
                                     np.asarray(pred["labels"])):
            by_class_dets[int(label)].append((image, float(score), box))
        gt_boxes, gt_labels = np.asarray(gt["boxes"], float).reshape(-1, 4), np.asarray(gt["labels"])
        difficult = np.asarray(gt.get("difficult", np.zeros(len(gt_labels), bool)), bool)
        for c in np.unique(gt_labels):
            keep = gt_labels == c
            by_class_gt[int(c)][image] = (gt_boxes[keep], difficult[keep])
    aps = np.full((num_classes, len(IOU_THRESHOLDS)), np.nan)
    for c in range(num_classes):
        for j, t in enumerate(IOU_THRESHOLDS):
            aps[c, j] = class_average_precision(by_class_dets[c], by_class_gt[c], t, use_07_metric)
    scored = ~np.isnan(aps[:, 0])
    if not scored.any():
        raise ValueError("no class has a non-difficult ground-truth box")
    aps = 100.0 * aps[scored]
    return {"AP": float(aps.mean()), "AP50": float(aps[:, 0].mean()), "AP75": float(aps[:, 5].mean()),
            "classes_scored": float(scored.sum())}
