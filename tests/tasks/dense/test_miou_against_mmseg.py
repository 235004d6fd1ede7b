"""The suite's segmentation metric (tasks/dense/metrics.py: mIoU and pixel accuracy over the whole set, the
built-in ade20k_seg's) against mmsegmentation's own IoUMetric on the same label maps: the same pixel counts
class by class, the same mIoU and accuracy from them (mmseg divides in float32: to 1e-4 from its own
division, to rounding from its areas), and its two-decimal figures. mmseg is an optional extra; without it this skips, saying how
to install."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from tasks.dense.metrics import SegmentationConfusion

INSTALL = ("mmsegmentation not installed: make test GANREP_WHEELS=<folder of the wheels of "
           "../shared/wheels/README.md>, or pip install --find-links <that folder> 'ganrep-bench[mmseg]'")
IGNORE = 255


def label_maps(seed: int, num_classes: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """(prediction, ground truth) pairs of several sizes: predictions right on about 60% of pixels, some
    pixels ignored, two classes never in the ground truth (one of them predicted), one in neither."""
    g = torch.Generator().manual_seed(seed)
    pairs = []
    for h, w in ((17, 23), (32, 32), (9, 41)):
        truth = torch.randint(0, num_classes - 3, (h, w), generator=g)
        prediction = torch.where(torch.rand(h, w, generator=g) < 0.6, truth,
                                 torch.randint(0, num_classes - 1, (h, w), generator=g))
        truth[torch.rand(h, w, generator=g) < 0.1] = IGNORE
        pairs.append((prediction, truth))
    return pairs


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_miou_and_pixel_accuracy_equal_mmsegs_iou_metric(seed):
    pytest.importorskip("mmseg", reason=INSTALL)
    from mmseg.evaluation import IoUMetric

    num_classes = 12
    pairs = label_maps(seed, num_classes)
    ours = SegmentationConfusion(num_classes, IGNORE)
    for prediction, truth in pairs:
        ours.update(prediction, truth)
    expected = ours.metrics()

    metric = IoUMetric(iou_metrics=["mIoU"], ignore_index=IGNORE)
    metric.dataset_meta = {"classes": [f"class {k}" for k in range(num_classes)]}
    metric.process({}, [{"pred_sem_seg": {"data": p[None]}, "gt_sem_seg": {"data": t[None]}} for p, t in pairs])
    totals = [sum(r[k] for r in metric.results) for k in range(4)]  # intersect, union, predicted, label areas
    m = ours.matrix  # [true, predicted] pixel counts
    for theirs, counted in zip(totals, (m.diag(), m.sum(0) + m.sum(1) - m.diag(), m.sum(0), m.sum(1))):
        assert torch.equal(theirs.long(), counted)  # the same pixels counted, class by class
    # mmseg divides in float32: from its areas in float64 the means are ours to rounding; its own to 1e-4
    iou = totals[0].double() / totals[1].double()
    assert abs(100 * iou.nanmean().item() - expected["mIoU"]) < 1e-9
    assert abs(100 * (totals[0].sum() / totals[3].sum()).double().item() - expected["pixel_accuracy"]) < 1e-4
    raw = IoUMetric.total_area_to_metrics(*totals, metrics=["mIoU"])  # tensors, as compute_metrics passes them
    assert abs(100 * np.nanmean(raw["IoU"]) - expected["mIoU"]) < 1e-4
    assert abs(100 * raw["aAcc"] - expected["pixel_accuracy"]) < 1e-4
    assert np.isnan(raw["IoU"]).sum() == 1  # the class in neither map has no IoU in both
    rounded = metric.compute_metrics(metric.results)
    assert rounded["mIoU"] == round(expected["mIoU"], 2) and rounded["aAcc"] == round(expected["pixel_accuracy"], 2)
