"""A small L-BFGS (Nocedal & Wright, Numerical Optimization, algorithms 7.4 and 7.5) whose curvature
memory survives a change of L2 penalty, for fitting along a weight-decay path.

Why not torch.optim.LBFGS: along the 45-value sweep the objective changes only by its quadratic
penalty, f_new(x) = f_old(x) + 1/2 x^T diag(delta) x, so every stored curvature pair stays exact after
y_i += delta * s_i. Keeping the pairs lets each warm-started fit start with a good inverse-Hessian
model instead of a gradient step, which is most of the sweep's speed (measurements/logistic_vs_sklearn.py).

Line search: backtracking on the Armijo condition with a quadratic-interpolation step; the
objectives here are convex, so every accepted pair has y.s > 0 and the memory stays positive definite.
"""
from __future__ import annotations

from typing import Callable

import torch

Objective = Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]]  # x -> (loss, gradient), flat


class LBFGS:
    def __init__(self, history: int = 20, armijo: float = 1e-4):
        self.history, self.armijo = history, armijo
        self.pairs: list[tuple[torch.Tensor, torch.Tensor]] = []  # (s, y), oldest first
        self.evaluations = 0

    def shift_penalty(self, delta: torch.Tensor) -> None:
        """The objective gained 1/2 x^T diag(delta) x: correct the stored gradient differences."""
        self.pairs = [(s, y + delta * s) for s, y in self.pairs]
        self.pairs = [(s, y) for s, y in self.pairs if torch.dot(s, y) > 1e-10]

    def _direction(self, g: torch.Tensor) -> torch.Tensor:
        """-H g by the two-loop recursion, H0 = (s.y / y.y) I from the newest pair."""
        q = -g
        alphas = []
        for s, y in reversed(self.pairs):
            alpha = torch.dot(s, q) / torch.dot(s, y)
            q = q - alpha * y
            alphas.append(alpha)
        if self.pairs:
            s, y = self.pairs[-1]
            q = q * (torch.dot(s, y) / torch.dot(y, y))
        for (s, y), alpha in zip(self.pairs, reversed(alphas)):
            beta = torch.dot(y, q) / torch.dot(s, y)
            q = q + (alpha - beta) * s
        return q

    def minimize(self, objective: Objective, x: torch.Tensor, max_iter: int = 100, tolerance_grad: float = 1e-3,
                 tolerance_change: float = 1e-9) -> torch.Tensor:
        """Iterate from ``x`` until max |gradient| <= tolerance_grad, the loss changes by at most
        tolerance_change, or max_iter iterations; returns the last point."""
        loss, g = objective(x)
        self.evaluations += 1
        for _ in range(max_iter):
            if g.abs().max() <= tolerance_grad:
                break
            d = self._direction(g)
            slope = torch.dot(g, d)
            if slope >= 0:  # not a descent direction (memory gone stale): restart from the gradient
                self.pairs.clear()
                d, slope = -g, -torch.dot(g, g)
            # without curvature memory the gradient's scale is arbitrary: cap the first step's length
            t = 1.0 if self.pairs else min(1.0, 1.0 / g.abs().sum().item())
            for _ in range(30):
                new_loss, new_g = objective(x + t * d)
                self.evaluations += 1
                if new_loss <= loss + self.armijo * t * slope:
                    break
                # minimiser of the quadratic through loss, slope and new_loss, kept within [0.1 t, 0.5 t]
                t_quad = -slope * t * t / (2 * (new_loss - loss - slope * t))
                t = float(min(max(t_quad, 0.1 * t), 0.5 * t))
            else:
                break  # no decrease found: at the precision limit
            s, y = t * d, new_g - g
            if torch.dot(s, y) > 1e-10:
                self.pairs.append((s, y))
                self.pairs = self.pairs[-self.history:]
            x, change, loss, g = x + s, (loss - new_loss).abs(), new_loss, new_g
            if change <= tolerance_change:  # also stops at the precision limit, where the loss cannot fall
                break
        return x
