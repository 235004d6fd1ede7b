"""Segmentation mIoU / pixel accuracy and surface-normal angular metrics on hand cases."""
import math

import pytest
import torch

from tasks.dense.metrics import SegmentationConfusion, angular_errors, normal_metrics


def test_miou_is_accumulated_over_the_whole_set_not_per_image():
    conf = SegmentationConfusion(num_classes=3, ignore_index=255)
    # image 1: 4 pixels of class 0, all right
    conf.update(torch.tensor([[0, 0], [0, 0]]), torch.tensor([[0, 0], [0, 0]]))
    # image 2: truth 1 1 2 255, predicted 1 2 2 0 (the ignored pixel does not count)
    conf.update(torch.tensor([[1, 2], [2, 0]]), torch.tensor([[1, 1], [2, 255]]))
    # class 0: TP 4 -> 1; class 1: TP 1, FN 1 -> 1/2; class 2: TP 1, FP 1 -> 1/2
    assert conf.metrics()["mIoU"] == pytest.approx(100 * (1 + 0.5 + 0.5) / 3)
    assert conf.metrics()["pixel_accuracy"] == pytest.approx(100 * 6 / 7)
    # averaging per image instead would give (100 + (1/2 + 1/2) / 2 * 100) / 2 = 75
    assert conf.metrics()["mIoU"] != pytest.approx(75.0)


def test_classes_absent_everywhere_have_no_iou_but_predicted_ones_count():
    conf = SegmentationConfusion(num_classes=4)
    conf.update(torch.tensor([0, 0, 3]), torch.tensor([0, 0, 0]))
    iou = conf.iou()
    assert iou[0] == pytest.approx(2 / 3) and iou[3] == 0.0 and math.isnan(iou[1]) and math.isnan(iou[2])
    assert conf.metrics()["mIoU"] == pytest.approx(100 * (2 / 3 + 0) / 2)


def test_segmentation_rejects_labels_out_of_range():
    conf = SegmentationConfusion(num_classes=2)
    with pytest.raises(ValueError, match=r"\[0, 2\) or 255"):
        conf.update(torch.tensor([0]), torch.tensor([5]))


def test_angular_metrics_on_known_angles():
    # four pixels: the truth is +z; predictions at 0, 10, 20 and 45 degrees; a fifth pixel invalid
    angles = torch.deg2rad(torch.tensor([0.0, 10.0, 20.0, 45.0, 90.0], dtype=torch.float64))
    pred = torch.stack([torch.sin(angles), torch.zeros(5, dtype=torch.float64), torch.cos(angles)]).view(1, 3, 1, 5)
    pred = pred * 3.0  # predictions need not be unit length
    truth = torch.tensor([0.0, 0.0, 1.0], dtype=torch.float64).view(1, 3, 1, 1).expand(1, 3, 1, 5)
    valid = torch.tensor([[[1, 1, 1, 1, 0]]])
    errors = angular_errors(pred, truth, valid)
    torch.testing.assert_close(errors, torch.tensor([0.0, 10.0, 20.0, 45.0], dtype=torch.float64), atol=1e-6, rtol=0)
    m = normal_metrics(errors)
    assert m["mean"] == pytest.approx(75 / 4) and m["median"] == pytest.approx(15.0)
    assert m["within_11.25"] == 50.0 and m["within_22.5"] == 75.0 and m["within_30"] == 75.0
