"""Logistic regression fitted by full-batch L-BFGS in torch (CPU or GPU), for the linear protocols.

Two models, both with the objective scikit-learn's ``LogisticRegression(C=1/wd)`` minimises, divided
by N (so a weight decay ``wd`` here is C = 1/wd there; the bias is not penalised):
  - multinomial (``y`` holds class indices):   mean_i CE(W x_i + b, y_i)          + wd / (2N) ||W||^2
  - one binary classifier per class (``y`` is an (N, K) 0/1 matrix, VOC07's per-class protocol):
        mean_i sum_k BCE(w_k . x_i + b_k, y_ik) + sum_k wd_k / (2N) ||w_k||^2
    The K classifiers share no parameter, so fitting them jointly is fitting each one; ``wd`` may be
    a (K,) tensor, one decay per class.

Why it is fast: the loss and its gradient are written out (softmax/sigmoid minus target, then one
matrix product), computed over row chunks that stay in cache, so each evaluation reads the features
once and autograd keeps no graph. ``measurements/logistic_vs_sklearn.py`` measures it against
scikit-learn on the 45-value sweep.

Along the sweep (``LogisticPath``) each fit starts from the previous solution and keeps the L-BFGS
curvature memory, corrected exactly for the change of penalty (tasks/linear/lbfgs.py).

Convergence: a fit stops when the largest gradient entry falls below ``tolerance_grad`` or the loss
changes by less than ``tolerance_change``. The default gradient tolerance (1e-3 on the mean loss of
standardised features) is looser than scikit-learn's 1e-4: the benchmark shows test accuracy is
unchanged by it. A consequence worth knowing: going down the sweep, once a fit's starting gradient
already meets the tolerance (weak decays barely change the objective), it stops at once, so the
weakest decays return nearly the same model.
"""
from __future__ import annotations

from typing import Optional, Union

import torch
import torch.nn.functional as F

from tasks.linear.lbfgs import LBFGS

Weights = tuple[torch.Tensor, torch.Tensor]


def logistic_objective(x: torch.Tensor, y: torch.Tensor, w: torch.Tensor, b: torch.Tensor,
                       wd: Union[float, torch.Tensor], chunk_rows: int = 4096) -> tuple[torch.Tensor, Weights]:
    """(loss, (grad_w, grad_b)) of the objective in the module docstring, without autograd."""
    n = x.shape[0]
    multilabel = y.ndim == 2
    loss = x.new_zeros(())
    grad_w = torch.zeros_like(w)
    grad_b = torch.zeros_like(b)
    for start in range(0, n, chunk_rows):
        xc, yc = x[start:start + chunk_rows], y[start:start + chunk_rows]
        logits = torch.addmm(b, xc, w.T)
        if multilabel:
            loss += F.binary_cross_entropy_with_logits(logits, yc, reduction="sum")
            residual = torch.sigmoid(logits).sub_(yc)
        else:
            log_norm = torch.logsumexp(logits, 1)
            loss += log_norm.sum() - logits.gather(1, yc[:, None]).sum()
            residual = logits.sub_(log_norm[:, None]).exp_()
            residual[torch.arange(len(yc), device=x.device), yc] -= 1.0
        grad_w.addmm_(residual.T, xc)
        grad_b += residual.sum(0)
    wd_col = wd[:, None] if isinstance(wd, torch.Tensor) else wd
    loss = loss / n + (wd_col * w.pow(2)).sum() / (2 * n)
    grad_w = grad_w.div_(n).add_(wd_col * w / n)
    return loss, (grad_w, grad_b.div_(n))


class LogisticPath:
    """Fits on the same data at a sequence of weight decays (the protocol's sweep), each one
    warm-started from the previous solution and from its L-BFGS curvature memory (tasks/linear/lbfgs.py).

    ``y``: (N,) class indices for the multinomial model, or (N, K) 0/1 targets for per-class binary
    classifiers. ``evaluations`` counts objective evaluations over the whole path.
    """

    def __init__(self, x: torch.Tensor, y: torch.Tensor, num_classes: int, max_iter: int = 100,
                 tolerance_grad: float = 1e-3, tolerance_change: float = 1e-9, init: Optional[Weights] = None):
        self.x, self.y = x, (y.to(x.dtype) if y.ndim == 2 else y)
        self.num_classes, self.dim = num_classes, x.shape[1]
        self.max_iter, self.tolerance_grad, self.tolerance_change = max_iter, tolerance_grad, tolerance_change
        self.solver = LBFGS()
        self.penalty = None  # per-parameter curvature of the penalty, wd / N on W's entries, 0 on b
        if init is None:
            self.theta = x.new_zeros(num_classes * (self.dim + 1))
        else:
            w, b = (t.detach().to(device=x.device, dtype=x.dtype) for t in init)
            self.theta = torch.cat([w.reshape(-1), b])

    @property
    def evaluations(self) -> int:
        return self.solver.evaluations

    def _unflatten(self, theta: torch.Tensor) -> Weights:
        k, d = self.num_classes, self.dim
        return theta[:k * d].view(k, d), theta[k * d:]

    def fit(self, wd: Union[float, torch.Tensor]) -> Weights:
        k, d, n = self.num_classes, self.dim, self.x.shape[0]
        wd_rows = torch.as_tensor(wd, dtype=self.x.dtype, device=self.x.device).expand(k)
        penalty = torch.cat([wd_rows.repeat_interleave(d) / n, wd_rows.new_zeros(k)])
        if self.penalty is not None:
            self.solver.shift_penalty(penalty - self.penalty)
        self.penalty = penalty
        wd_arg = wd_rows if isinstance(wd, torch.Tensor) else float(wd)

        def objective(theta):
            loss, (grad_w, grad_b) = logistic_objective(self.x, self.y, *self._unflatten(theta), wd_arg)
            return loss, torch.cat([grad_w.reshape(-1), grad_b])

        self.theta = self.solver.minimize(objective, self.theta, self.max_iter, self.tolerance_grad,
                                          self.tolerance_change)
        w, b = self._unflatten(self.theta)
        return w.clone(), b.clone()


def fit_logistic(x: torch.Tensor, y: torch.Tensor, num_classes: int, wd: Union[float, torch.Tensor],
                 max_iter: int = 100, init: Optional[Weights] = None, tolerance_grad: float = 1e-3,
                 tolerance_change: float = 1e-9) -> Weights:
    """Weights (K, D) and bias (K,) minimising the objective at one decay; ``init`` warm-starts."""
    return LogisticPath(x, y, num_classes, max_iter, tolerance_grad, tolerance_change, init).fit(wd)


def decision_scores(x: torch.Tensor, weights: Weights) -> torch.Tensor:
    w, b = weights
    return torch.addmm(b.to(x.device), x, w.T.to(x.device))


def predict(x: torch.Tensor, weights: Weights) -> torch.Tensor:
    return decision_scores(x, weights).argmax(1)
