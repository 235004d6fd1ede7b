"""Metrics of the dense transfer tasks.

Semantic segmentation (ADE20K, the offline fmnist_seg): a confusion matrix accumulated over every
pixel of the whole evaluation set (not averaged per image), pixels labelled ``ignore_index`` left out;
  - IoU_c = TP_c / (TP_c + FP_c + FN_c); mIoU = mean over classes that occur in the ground truth or in
    the predictions (a class absent from both has no IoU, as in mmsegmentation);
  - pixel accuracy = correctly labelled pixels / labelled pixels (mmsegmentation's "aAcc").
Surface normals (NYUv2): the angle between predicted and true unit normals at every valid pixel, over
the whole set: mean and median in degrees, and the percentage of pixels within 11.25, 22.5 and 30.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


class SegmentationConfusion:
    def __init__(self, num_classes: int, ignore_index: int = 255):
        self.num_classes, self.ignore_index = num_classes, ignore_index
        self.matrix = torch.zeros(num_classes, num_classes, dtype=torch.int64)  # [true, predicted]

    def update(self, predicted: torch.Tensor, target: torch.Tensor) -> None:
        """Labels of the same shape (any batch of images); target may hold ``ignore_index``."""
        if predicted.shape != target.shape:
            raise ValueError(f"prediction shape {tuple(predicted.shape)} != target shape {tuple(target.shape)}")
        keep = target != self.ignore_index
        t, p = target[keep].long().cpu(), predicted[keep].long().cpu()
        if len(t) and (t.min() < 0 or t.max() >= self.num_classes):
            raise ValueError(f"target labels must be in [0, {self.num_classes}) or {self.ignore_index}; "
                             f"got {int(t.min())}..{int(t.max())}")
        self.matrix += torch.bincount(t * self.num_classes + p, minlength=self.num_classes ** 2).view(
            self.num_classes, self.num_classes)

    def iou(self) -> torch.Tensor:
        """Per-class IoU (nan for classes in neither ground truth nor predictions)."""
        m = self.matrix.double()
        tp = m.diag()
        union = m.sum(0) + m.sum(1) - tp
        return torch.where(union > 0, tp / union.clamp_min(1), torch.full_like(tp, float("nan")))

    def metrics(self) -> dict[str, float]:
        m = self.matrix.double()
        if m.sum() == 0:
            raise ValueError("no labelled pixel was seen")
        return {"mIoU": 100.0 * self.iou().nanmean().item(), "pixel_accuracy": 100.0 * (m.diag().sum() / m.sum()).item()}


def angular_errors(predicted: torch.Tensor, target: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Angles (degrees) between normals (N, 3, H, W) at the valid pixels (N, H, W); predictions are
    normalised to unit length first."""
    cos = (F.normalize(predicted.double(), dim=1) * F.normalize(target.double(), dim=1)).sum(1)
    return torch.rad2deg(torch.acos(cos.clamp(-1.0, 1.0)))[valid.bool()]


def normal_metrics(errors_degrees: torch.Tensor) -> dict[str, float]:
    """Mean, median and the share within 11.25 / 22.5 / 30 degrees of all valid pixels' errors."""
    e = errors_degrees.flatten()
    if e.numel() == 0:
        raise ValueError("no valid pixel")
    ordered = e.sort().values  # the median of an even count averages the two middle values, as numpy's
    n = len(ordered)
    median = 0.5 * (ordered[(n - 1) // 2].double() + ordered[n // 2].double())
    e = e.double()
    return {"mean": e.mean().item(), "median": median.item(),
            "within_11.25": 100.0 * (e < 11.25).double().mean().item(),
            "within_22.5": 100.0 * (e < 22.5).double().mean().item(),
            "within_30": 100.0 * (e < 30).double().mean().item()}
