"""The plugin contract's step hooks, through the real engine: ``begin_step`` tells a method the step and
the schedule length (also on resume), ``after_optimizer_step`` runs after each optimizer step, where a
BYOL-style plugin (Grill et al., NeurIPS 2020) updates its EMA target with the momentum schedule
tau_k = 1 - (1 - tau_base) (cos(pi k / K) + 1) / 2, checked here against that formula step by step."""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from benchmark.backbones import resnet18_cifar
from benchmark.data import build_dataset
from benchmark.pretraining.engine import pretrain
from benchmark.toolkit import Batch, Method, MethodContext, mlp_projector

CFG = {"steps": 4, "batch_size": 8, "base_lr": 0.03, "momentum": 0.9, "weight_decay": 5e-4, "warmup_steps": 0,
       "lr_schedule": "per_step", "steps_per_epoch": None, "autocast": "bfloat16", "log_every": 1,
       "checkpoint_every": 100, "precision": "float32", "deterministic": False}


@dataclass
class TinyBYOLConfig:
    base_momentum: float = 0.9


class TinyBYOL(Method):
    """Online backbone + projector + predictor regress an EMA target's projection of another view."""

    name = "tiny_byol"
    Config = TinyBYOLConfig
    consumes = frozenset({"real"})

    def __init__(self, cfg: TinyBYOLConfig, ctx: MethodContext):
        super().__init__(cfg, ctx)
        self.projector = mlp_projector(ctx.backbone.feature_dim, 16, 8, 1)
        self.predictor = mlp_projector(8, 16, 8, 1)
        self.target = copy.deepcopy(torch.nn.Sequential(self.backbone, self.projector)).requires_grad_(False)
        self.augment = ctx.make_augment()
        self.seen_steps, self.online_after, self.momenta = [], [], []

    def parameter_groups(self) -> list[dict]:
        target = {id(p) for p in self.target.parameters()}
        return [{"params": [p for p in self.parameters() if p.requires_grad and id(p) not in target]}]

    def training_step(self, batch: Batch) -> dict[str, torch.Tensor]:
        self.seen_steps.append((self.step, self.total_steps))
        v1, v2 = self.augment(batch.real), self.augment(batch.real)
        p = self.predictor(self.projector(self.backbone(v1)))
        with torch.no_grad():
            z = self.target(v2)
        return {"loss": 2 - 2 * F.cosine_similarity(p, z, dim=-1).mean()}

    def after_optimizer_step(self) -> None:
        tau = 1 - (1 - self.cfg.base_momentum) * (math.cos(math.pi * self.step / self.total_steps) + 1) / 2
        online = torch.nn.Sequential(self.backbone, self.projector)
        self.online_after.append([p.detach().clone() for p in online.parameters()])
        self.momenta.append(tau)
        for t, o in zip(self.target.parameters(), online.parameters()):
            t.mul_(tau).add_(o.detach(), alpha=1 - tau)


def test_an_ema_target_follows_its_momentum_schedule_through_the_engine(tmp_path, fmnist_replica):
    torch.manual_seed(0)
    ctx = MethodContext(resnet18_cifar(width=4, in_channels=1), None, 1, 32, lambda **kw: torch.nn.Identity())
    method = TinyBYOL(TinyBYOLConfig(), ctx)
    start = [p.detach().clone() for p in method.target.parameters()]
    data = build_dataset({"name": "fashion_mnist", "download": False}, "train")
    pretrain(method, None, data, CFG, tmp_path, torch.device("cpu"), seed=0)

    assert method.seen_steps == [(k, 4) for k in range(4)]
    expected_momenta = [1 - 0.1 * (math.cos(math.pi * k / 4) + 1) / 2 for k in range(4)]
    assert method.momenta == expected_momenta and expected_momenta[0] == 0.9
    target = start
    for tau, online in zip(method.momenta, method.online_after):  # the EMA from the paper's formula, by hand
        target = [tau * t + (1 - tau) * o for t, o in zip(target, online)]
    for got, want in zip(method.target.parameters(), target):
        torch.testing.assert_close(got, want)
    assert any(not torch.equal(a, b) for a, b in zip(method.target.parameters(), start))  # it moved
