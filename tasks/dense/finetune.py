"""The fine-tuning loop the dense tasks share: SGD with momentum, a linear warm-up, then either step
decays (detectron2's WarmupMultiStepLR) or a polynomial decay (mmsegmentation's ``poly``, power 0.9)."""
from __future__ import annotations

import math
from typing import Callable, Iterable, Iterator

import torch
from tqdm import tqdm


def lr_factor(i: int, iterations: int, warmup: int, policy: str, steps=(), power: float = 0.9) -> float:
    """The learning-rate multiplier at iteration ``i`` (0-based): warm-up from 1/warmup to 1, then the policy.

    ``steps`` are fractions of ``iterations`` where the rate drops x0.1 (policy "steps"); policy "poly"
    scales by (1 - i / iterations) ** power."""
    warm = min(1.0, (i + 1) / warmup) if warmup > 0 else 1.0
    if policy == "steps":
        return warm * 0.1 ** sum(i >= int(f * iterations) for f in steps)
    if policy == "poly":
        return warm * (1 - i / iterations) ** power
    raise ValueError(f"unknown lr policy {policy!r}; valid policies: steps, poly")


def sgd(params: Iterable, iterations: int, lr: float, momentum: float, weight_decay: float, warmup: int,
        policy: str, steps=(), power: float = 0.9):
    """(optimizer, scheduler) stepping once per iteration."""
    opt = torch.optim.SGD([p for p in params if p.requires_grad], lr=lr, momentum=momentum,
                          weight_decay=weight_decay)
    lr_factor(0, iterations, warmup, policy, steps, power)  # an unknown policy fails before any training
    schedule = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda i: lr_factor(i, iterations, warmup, policy, steps, power))
    return opt, schedule


def forever(loader: Iterable) -> Iterator:
    """Batches from ``loader`` again and again (a fresh epoch each time it runs out)."""
    while True:
        yield from loader


def finetune(model: torch.nn.Module, batches: Iterator, loss_of: Callable[[object], dict], opt, schedule,
             iterations: int, desc: str) -> dict[str, float]:
    """``iterations`` SGD steps on ``loss_of(next(batches))["loss"]``; returns the last step's losses.

    A non-finite loss stops the run with the iteration and the losses, rather than training on nan."""
    model.train()
    last = {}
    progress = tqdm(range(iterations), desc=desc, mininterval=2, leave=False)
    for i in progress:
        losses = loss_of(next(batches))
        loss = losses["loss"]
        if not math.isfinite(loss.item()):
            raise FloatingPointError(f"{desc}: loss is {loss.item()} at iteration {i} "
                                     f"({ {k: float(v) for k, v in losses.items()} }); lower the lr")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        schedule.step()
        last = {k: float(v.detach()) for k, v in losses.items()}
        if i % 20 == 0:
            progress.set_postfix(loss=f"{last['loss']:.3f}")
    return last
