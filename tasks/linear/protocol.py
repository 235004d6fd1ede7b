"""The linear protocol on frozen features: weight-decay sweep, selection on validation, refit, test.

Following "How Well Do Self-Supervised Models Transfer?" (Ericsson, Gouk, Hospedales, CVPR 2021):
  1. fit logistic regression on the training part for each weight decay of the grid (45 values of
     logspace(-6, 5); C = 1/wd), from the strongest decay down, each fit warm-started from the
     previous one (its solution and its L-BFGS curvature memory);
  2. keep the decay whose model scores best on the validation part (the official val split where the
     dataset has one, else a seeded hold-out of train);
  3. refit with that decay on train + validation and score the test split once.
Features are standardised with the mean and std of the split being fitted (constant features are
dropped): the decay grid then means the same thing for every backbone, and L-BFGS converges faster.

Multi-class sets use one multinomial model, scored by top-1 or mean per-class accuracy. Multi-label
VOC2007 uses a binary classifier per class (each class picks its own decay on its validation AP),
scored by the mean 11-point AP, as in the VOC07 classification protocol.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Optional

import numpy as np
import torch
from tqdm import tqdm

from tasks.linear.logistic import LogisticPath, decision_scores, fit_logistic
from tasks.linear.metrics import CLASSIFICATION_METRICS, has_positive, voc07_average_precision

log = logging.getLogger(__name__)


@dataclass
class Split:
    features: torch.Tensor  # (N, D) float32
    targets: torch.Tensor  # (N,) class indices or (N, K) 0/1
    difficult: Optional[torch.Tensor] = None  # (N, K) bool, VOC items left out of the AP

    def take(self, idx: torch.Tensor) -> "Split":
        return Split(self.features[idx], self.targets[idx], None if self.difficult is None else self.difficult[idx])

    @staticmethod
    def concat(a: "Split", b: "Split") -> "Split":
        difficult = None if a.difficult is None else torch.cat([a.difficult, b.difficult])
        return Split(torch.cat([a.features, b.features]), torch.cat([a.targets, b.targets]), difficult)


def holdout(train: Split, fraction: float, seed: int) -> tuple[Split, Split]:
    """(fit, validation): a seeded random ``fraction`` of ``train`` held out."""
    order = torch.randperm(len(train.targets), generator=torch.Generator().manual_seed(seed))
    n_val = int(round(fraction * len(order)))
    if n_val == 0 or n_val == len(order):
        raise ValueError(f"a {fraction} hold-out of {len(order)} training items leaves an empty part")
    return train.take(order[n_val:]), train.take(order[:n_val])


def _standardiser(x: torch.Tensor):
    mean, std = x.mean(0), x.std(0)
    varying = std > 1e-6 * std.max().clamp_min(1e-12)
    return lambda f: (f[:, varying] - mean[varying]) / std[varying]


def weight_decay_grid(spec) -> list[float]:
    """[start, stop, num] of logspace -> the decays, strongest first (the warm-start order)."""
    start, stop, num = spec
    return sorted(np.logspace(float(start), float(stop), int(num)).tolist(), reverse=True)


def _score(metric: str, scores: torch.Tensor, split: Split) -> float:
    if metric == "voc07_map":
        return CLASSIFICATION_METRICS[metric](scores, split.targets, split.difficult)
    return CLASSIFICATION_METRICS[metric](scores, split.targets)


def _class_ap(scores: torch.Tensor, split: Split, k: int) -> float:
    """Validation AP of class k; 0 when the split has no positive of it (the strongest decay is kept)."""
    difficult = None if split.difficult is None else split.difficult[:, k]
    return voc07_average_precision(scores[:, k], split.targets[:, k], difficult) \
        if has_positive(split.targets[:, k], difficult) else 0.0


def linear_protocol(fit: Split, val: Split, test: Split, metric: str, wd_grid, max_iter: int = 100,
                    device: torch.device = torch.device("cpu"), desc: str = "weight-decay sweep",
                    tolerance_grad: float = 1e-3) -> dict:
    """Run steps 1-3 above; returns the test metric and what was chosen."""
    if metric not in CLASSIFICATION_METRICS:
        raise ValueError(f"unknown metric {metric!r}; valid metrics: {', '.join(CLASSIFICATION_METRICS)}")
    multilabel = fit.targets.ndim == 2
    if multilabel != (metric == "voc07_map"):
        raise ValueError(f"metric {metric!r} does not fit {'multi-label' if multilabel else 'single-label'} targets")
    num_classes = fit.targets.shape[1] if multilabel else int(max(s.targets.max() for s in (fit, val, test))) + 1
    grid = weight_decay_grid(wd_grid)

    # 1-2: the sweep on the fitting part, scored on validation
    standardise = _standardiser(fit.features)
    x_fit, x_val = (standardise(s.features).to(device) for s in (fit, val))
    y_fit = fit.targets.to(device)
    path, val_scores = LogisticPath(x_fit, y_fit, num_classes, max_iter, tolerance_grad), []
    for wd in tqdm(grid, desc=desc, leave=False, mininterval=2):
        weights = path.fit(wd)
        scores = decision_scores(x_val, weights).cpu()
        if multilabel:  # one AP per class: each class chooses its own decay
            val_scores.append([_class_ap(scores, val, k) for k in range(num_classes)])
        else:
            val_scores.append(_score(metric, scores, val))
    val_scores = np.asarray(val_scores)
    best = val_scores.argmax(0)  # first (strongest) decay among ties
    chosen = torch.tensor([grid[i] for i in np.atleast_1d(best)]) if multilabel else grid[int(best)]
    best_val = float(val_scores.max(0).mean())

    # 3: refit on train + validation, score the test split once
    both = Split.concat(fit, val)
    standardise = _standardiser(both.features)
    x_all, x_test = (standardise(s.features).to(device) for s in (both, test))
    weights = fit_logistic(x_all, both.targets.to(device), num_classes, chosen, max_iter,
                           tolerance_grad=tolerance_grad)
    test_value = _score(metric, decision_scores(x_test, weights).cpu(), test)
    decay = float(10 ** torch.as_tensor(chosen, dtype=torch.float64).log10().mean())  # VOC: geometric mean
    return {metric: test_value, f"val_{metric}": best_val, "weight_decay": decay,
            "feature_dim": float(fit.features.shape[1]), "varying_features": float(x_all.shape[1]),
            "train_samples": float(len(both.targets)), "test_samples": float(len(test.targets))}
