"""Classification metrics of the linear protocols, all in percent.

- ``top1``: share of test items whose highest score is their class.
- ``mean_per_class_accuracy``: the recall of each class, averaged over classes, so a class with many
  test images counts as much as a rare one (Aircraft, Caltech101, Flowers, Pets in the transfer suite).
- ``voc07_average_precision``: PASCAL VOC 2007's 11-point interpolated AP of one class,
  AP = 1/11 * sum_{t in 0, 0.1, ..., 1} max_{recall >= t} precision (0 where no recall reaches t),
  with items marked difficult left out of the ranking, as the VOC devkit does.
"""
from __future__ import annotations

from typing import Optional

import torch


def top1(scores: torch.Tensor, labels: torch.Tensor) -> float:
    return 100.0 * (scores.argmax(1) == labels).double().mean().item()


def mean_per_class_accuracy(scores: torch.Tensor, labels: torch.Tensor) -> float:
    pred = scores.argmax(1)
    recalls = [(pred[labels == c] == c).double().mean() for c in labels.unique()]
    return 100.0 * torch.stack(recalls).mean().item()


def voc07_average_precision(scores: torch.Tensor, positive: torch.Tensor,
                            difficult: Optional[torch.Tensor] = None) -> float:
    """11-point AP (percent) of one class from its scores (N,) and 0/1 ground truth (N,)."""
    keep = ~difficult.bool() if difficult is not None else torch.ones_like(positive, dtype=torch.bool)
    scores, positive = scores[keep].double(), positive[keep].double()
    n_positive = positive.sum()
    if n_positive == 0:
        raise ValueError("average precision is undefined for a class with no positive item")
    order = scores.argsort(descending=True, stable=True)
    true_pos = positive[order].cumsum(0)
    recall = true_pos / n_positive
    precision = true_pos / torch.arange(1, len(order) + 1, dtype=torch.float64)
    ap = 0.0
    for t in torch.linspace(0, 1, 11, dtype=torch.float64):
        reached = recall >= t - 1e-12
        ap += precision[reached].max().item() if reached.any() else 0.0
    return 100.0 * ap / 11


def has_positive(positive: torch.Tensor, difficult: Optional[torch.Tensor] = None) -> bool:
    """Whether a class has a positive item that is not difficult (its AP is defined)."""
    positive = positive.bool()
    return bool((positive if difficult is None else positive & ~difficult.bool()).any())


def voc07_mean_average_precision(scores: torch.Tensor, targets: torch.Tensor,
                                 difficult: Optional[torch.Tensor] = None) -> float:
    """Mean over classes of the 11-point AP: scores and targets (N, K), difficult (N, K) or None.

    Classes with no (non-difficult) positive item are left out of the mean (the full VOC07 test set
    has positives of every class; a subset may not); it is an error when no class has one.
    """
    aps = []
    for k in range(targets.shape[1]):
        difficult_k = None if difficult is None else difficult[:, k]
        if has_positive(targets[:, k], difficult_k):
            aps.append(voc07_average_precision(scores[:, k], targets[:, k], difficult_k))
    if not aps:
        raise ValueError("mean average precision is undefined: no class has a positive item")
    return sum(aps) / len(aps)


CLASSIFICATION_METRICS = {"top1": top1, "mean_per_class": mean_per_class_accuracy,
                          "voc07_map": voc07_mean_average_precision}
