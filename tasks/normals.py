"""Surface normal estimation on a pretrained backbone (``task=nyuv2_normals``).

A UPerNet head (benchmark/dense_heads.py) on the backbone's stage maps predicts three numbers per pixel,
normalised to a unit vector; training minimises the mean of 1 - cos(angle to the true normal) over valid
pixels. Scored on NYUv2 test (654 images, benchmark/data/nyuv2.py) at each image's own size: mean and
median angular error in degrees and the % of valid pixels within 11.25, 22.5 and 30 degrees
(benchmark/dense_metrics.py), the columns of the poster's table.

Goyal et al. (2019), whose NYUv2 release this reads, trained a 40-way classification over a k-means
codebook of normals (vocab40.mat) instead; direct regression with an angular loss needs no codebook and is
what most recent dense benchmarks do. The angular metrics are the same either way.
"""
from __future__ import annotations

import copy
import logging
import time
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from benchmark.data.dense_sets import dense_subset
from benchmark.dense_heads import UPerNetHead
from benchmark.dense_metrics import angular_errors, normal_metrics
from benchmark.dense_transforms import apply_eval_limits
from benchmark.dense_training import predict_full, to_unit_range, training_batches
from benchmark.finetune import finetune, sgd
from benchmark.interfaces import Task, TaskContext
from benchmark.registry import TASKS
from tasks.dense_data import OfficialSplits

log = logging.getLogger(__name__)


def angular_loss(predicted: torch.Tensor, target: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Mean over valid pixels of 1 - cos(predicted, target); predictions (N, 3, H, W) are normalised first."""
    cos = (F.normalize(predicted, dim=1) * target).sum(1)
    valid = valid.bool()
    if not valid.any():
        return predicted.sum() * 0.0  # a crop with no valid pixel teaches nothing
    return (1.0 - cos[valid]).mean()


@dataclass
class NormalsConfig:
    iterations: int = 20000  # SGD steps; a preset may cap them (eval.iterations)
    batch_size: int = 16
    lr: float = 0.01
    momentum: float = 0.9
    weight_decay: float = 5e-4
    warmup_iterations: int = 0
    poly_power: float = 0.9
    finetune_backbone: bool = True
    decoder_channels: int = 512
    scale: list = field(default_factory=lambda: [640, 480])  # (long, short): NYUv2's own size
    ratio_range: list = field(default_factory=lambda: [0.75, 1.25])
    crop_size: int = 448
    flip: bool = True
    num_workers: int = 4
    train_split: str = "train"
    test_split: str = "test"
    seed: int = 0


class NYUv2Normals(OfficialSplits, Task):
    """UPerNet regression of unit normals on NYUv2: mean angular error (the headline, lower is better)."""

    headline = "mean"
    higher_is_better = False
    anchors = ("random_init",)
    dataset = "nyuv2_normals"

    def __init__(self, cfg: dict):
        super().__init__(NormalsConfig(**cfg))

    def run(self, backbone: nn.Module, ctx: TaskContext) -> dict[str, float]:
        cfg, device, channels = self.cfg, ctx.device, backbone.in_channels
        cfg = apply_eval_limits(cfg, ctx.eval_cfg)
        iterations = ctx.eval_cfg.get("iterations") or cfg.iterations
        train, test = self.splits(ctx)
        train = dense_subset(train, ctx.eval_cfg.get("max_train_samples"), cfg.seed)
        test = dense_subset(test, ctx.eval_cfg.get("max_test_samples"), cfg.seed)

        torch.manual_seed(cfg.seed)
        backbone = copy.deepcopy(backbone).to(memory_format=torch.contiguous_format)
        model = UPerNetHead(backbone, 3, cfg.decoder_channels, frozen=not cfg.finetune_backbone).to(device)
        opt, schedule = sgd(model.parameters(), iterations, cfg.lr, cfg.momentum, cfg.weight_decay,
                            cfg.warmup_iterations, "poly", power=cfg.poly_power)

        def loss_of(batch):
            images, target = batch
            predicted = model(to_unit_range(images.to(device)))
            return {"loss": angular_loss(predicted, target["normals"].to(device), target["valid"].to(device))}

        t0 = time.time()
        last = finetune(model, training_batches(train, cfg, channels, iterations), loss_of, opt, schedule,
                        iterations, f"{self.name} training")
        train_seconds = time.time() - t0

        model.eval()
        errors = []
        with torch.no_grad():
            for image, target in torch.utils.data.DataLoader(test, batch_size=None, num_workers=cfg.num_workers):
                predicted = predict_full(model, image, cfg, channels, device).cpu()
                errors.append(angular_errors(predicted[None], target["normals"][None], target["valid"][None]).float())
        metrics = normal_metrics(torch.cat(errors))
        log.info("%s: mean %.2f median %.2f within 11.25 %.2f / 22.5 %.2f / 30 %.2f after %d iterations (%.0f s)",
                 self.name, metrics["mean"], metrics["median"], metrics["within_11.25"], metrics["within_22.5"],
                 metrics["within_30"], iterations, train_seconds)
        return {**metrics, "iterations": float(iterations), "final_loss": last["loss"],
                "train_samples": float(len(train)), "test_samples": float(len(test)),
                "finetune_backbone": float(cfg.finetune_backbone)}


TASKS.register("nyuv2_normals")(NYUv2Normals)
