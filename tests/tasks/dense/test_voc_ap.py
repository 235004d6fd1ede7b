"""VOC detection AP (detectron2's PascalVOC evaluator semantics) on hand-made detections with known answers."""
import numpy as np
import pytest

from tasks.dense.voc_ap import class_average_precision, voc_detection_metrics

GT = np.array([[1.0, 1.0, 10.0, 10.0]])  # 10 x 10 pixels in VOC's inclusive coordinates


def image(boxes, labels, scores=None, difficult=None):
    boxes = np.asarray(boxes, float).reshape(-1, 4)
    out = {"boxes": boxes, "labels": np.asarray(labels)}
    if scores is not None:
        out["scores"] = np.asarray(scores, float)
    if difficult is not None:
        out["difficult"] = np.asarray(difficult, bool)
    return out


def test_a_perfect_detection_scores_100_at_every_threshold():
    m = voc_detection_metrics([image(GT, [0], [0.9])], [image(GT, [0])], num_classes=1)
    assert m == pytest.approx({"AP": 100.0, "AP50": 100.0, "AP75": 100.0, "classes_scored": 1.0})


def test_iou_uses_inclusive_pixels_and_a_strict_threshold():
    # [1,1,10,6] covers 10 x 6 = 60 of the 100 ground-truth pixels: IoU exactly 0.6 with the +1 rule
    # (without it, 9 x 5 / (9 x 9) = 0.556). A hit at 0.50 and 0.55; at 0.60 IoU > t fails.
    m = voc_detection_metrics([image([[1, 1, 10, 6]], [0], [0.9])], [image(GT, [0])], num_classes=1)
    assert m["AP50"] == pytest.approx(100.0) and m["AP75"] == 0.0
    assert m["AP"] == pytest.approx(100.0 * 2 / 10)  # ">=" would give 3 / 10
    # [2,2,10,10]: 9 x 9 = 81 pixels, IoU 0.81 (hits up to t = 0.80: 7 of 10 thresholds); without the +1
    # it would be 8 x 8 / 9 x 9 = 0.79 (6 of 10)
    m = voc_detection_metrics([image([[2, 2, 10, 10]], [0], [0.9])], [image(GT, [0])], num_classes=1)
    assert m["AP"] == pytest.approx(70.0) and m["AP75"] == pytest.approx(100.0)


def test_a_higher_scored_false_positive_halves_the_11_point_ap():
    # ranking: miss (recall 0, precision 0), hit (recall 1, precision 1/2): max precision at any recall
    # threshold is 1/2 -> AP 50; the area under the envelope (VOC2010+) is also 1/2
    preds = [image([[50, 50, 60, 60], [1, 1, 10, 10]], [0, 0], [0.9, 0.8])]
    assert voc_detection_metrics(preds, [image(GT, [0])], 1)["AP50"] == pytest.approx(50.0)
    dets = [(0, 0.9, np.array([50, 50, 60, 60.0])), (0, 0.8, GT[0])]
    assert class_average_precision(dets, {0: (GT, np.array([False]))}, 0.5, use_07_metric=False) == pytest.approx(0.5)


def test_duplicates_are_false_positives_and_a_lower_ranked_miss_does_not_matter():
    # two ground-truth boxes; detections: hit A (0.9), duplicate of A (0.8), hit B (0.7), miss (0.6)
    gt = image([[1, 1, 10, 10], [21, 21, 30, 30]], [0, 0])
    preds = image([[1, 1, 10, 10], [1, 1, 10, 10], [21, 21, 30, 30], [40, 40, 45, 45]], [0, 0, 0, 0],
                  [0.9, 0.8, 0.7, 0.6])
    # (recall, precision): (.5, 1), (.5, .5), (1, 2/3), (1, .5) -> thresholds 0..0.5 reach 1, 0.6..1 reach 2/3
    assert voc_detection_metrics([preds], [gt], 1)["AP50"] == pytest.approx(100 * (6 + 5 * 2 / 3) / 11)


def test_difficult_boxes_are_neither_hits_nor_misses():
    gt = image([[1, 1, 10, 10], [21, 21, 30, 30]], [0, 0], difficult=[False, True])
    # the detection of the difficult box ranks first: ignored; the real hit then has precision 1
    preds = image([[21, 21, 30, 30], [1, 1, 10, 10]], [0, 0], [0.9, 0.8])
    assert voc_detection_metrics([preds], [gt], 1)["AP50"] == pytest.approx(100.0)
    # a class with only difficult boxes is left out of the mean
    gt2 = image([[1, 1, 10, 10], [21, 21, 30, 30]], [0, 1], difficult=[False, True])
    m = voc_detection_metrics([image([[1, 1, 10, 10]], [0], [0.9])], [gt2], 2)
    assert m["classes_scored"] == 1 and m["AP50"] == pytest.approx(100.0)


def test_detections_in_the_wrong_image_or_class_are_misses_and_classes_average():
    targets = [image(GT, [0]), image([[5, 5, 20, 20]], [1])]
    preds = [image([[1, 1, 10, 10], [5, 5, 20, 20]], [0, 1], [0.9, 0.95]),  # class 1 here has no box: a miss
             image([[5, 5, 20, 20]], [1], [0.5])]
    m = voc_detection_metrics(preds, targets, 2)
    # class 0: 100; class 1: miss then hit -> 50
    assert m["AP50"] == pytest.approx(75.0) and m["classes_scored"] == 2
    with pytest.raises(ValueError, match="1 predictions for 2 images"):
        voc_detection_metrics(preds[:1], targets, 2)
