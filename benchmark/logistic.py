"""Multinomial logistic regression fitted by full-batch L-BFGS in torch (CPU or GPU).

Objective, chosen to equal scikit-learn's ``LogisticRegression(C=1/wd)`` up to a factor N:
    mean_i CE(W x_i + b, y_i) + wd / (2 N) * ||W||^2      (the bias is not penalised)
so a weight decay ``wd`` here is C = 1/wd there.
"""
from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F


def fit_logistic(x: torch.Tensor, y: torch.Tensor, num_classes: int, wd: float, max_iter: int = 200,
                 init: Optional[tuple[torch.Tensor, torch.Tensor]] = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Weights (K, D) and bias (K,) minimising the objective above; ``init`` warm-starts."""
    n, d = x.shape
    if init is None:
        w = torch.zeros(num_classes, d, device=x.device, dtype=x.dtype)
        b = torch.zeros(num_classes, device=x.device, dtype=x.dtype)
    else:
        w, b = (t.detach().clone() for t in init)
    w.requires_grad_(True)
    b.requires_grad_(True)
    opt = torch.optim.LBFGS([w, b], lr=1.0, max_iter=max_iter, history_size=20, tolerance_grad=1e-6,
                            tolerance_change=1e-9, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = F.cross_entropy(x @ w.T + b, y) + wd / (2 * n) * w.pow(2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    return w.detach(), b.detach()


def predict(x: torch.Tensor, weights: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
    w, b = weights
    return (x @ w.T + b).argmax(1)
