"""Surface normal estimation on a pretrained backbone (``task=nyuv2_normals``).

A UPerNet head (tasks/dense/heads.py) on the backbone's stage maps predicts three numbers per pixel,
normalised to a unit vector; training minimises the mean of 1 - cos(angle to the true normal) over valid
pixels. Scored on NYUv2 test (654 images, benchmark/data/nyuv2.py) at each image's own size: mean and
median angular error in degrees and the % of valid pixels within 11.25, 22.5 and 30 degrees
(tasks/dense/metrics.py), the columns of the poster's table.

Goyal et al. (2019), whose NYUv2 release this reads, trained a 40-way classification over a k-means
codebook of normals (vocab40.mat) instead; direct regression with an angular loss needs no codebook and is
what most recent dense benchmarks do. The angular metrics are the same either way.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from benchmark.interfaces import Task, TaskContext
from benchmark.registry import TASKS
from tasks.dense.metrics import angular_errors, normal_metrics
from tasks.dense.pixel_protocol import fit_and_score
from tasks.dense.splits import OfficialSplits


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
    backend: str = "builtin"  # the only one: no framework publishes a normals recipe



class NYUv2Normals(OfficialSplits, Task):
    """UPerNet regression of unit normals on NYUv2: mean angular error (the headline, lower is better)."""

    headline = "mean"
    higher_is_better = False
    anchors = ("random_init",)
    dataset = "nyuv2_normals"
    backends = ("builtin",)  # so that backend=builtin applies to every dense task of a sweep

    def __init__(self, cfg: dict):
        super().__init__(NormalsConfig(**cfg))

    def run(self, backbone: nn.Module, ctx: TaskContext) -> dict[str, float]:
        def pixel_loss(predicted, target):
            return angular_loss(predicted, target["normals"], target["valid"])

        def score(predictions):
            errors = [angular_errors(p[None], t["normals"][None], t["valid"][None]).float() for p, t in predictions]
            return normal_metrics(torch.cat(errors))

        return fit_and_score(backbone, *self.splits(ctx), self.cfg, ctx, self.name, 3, pixel_loss, score)

    def recipe(self, ctx: TaskContext) -> dict:
        return {"backend": "builtin",
                "protocol": "segmentation-models-pytorch UPerNet regressing unit normals (angular loss), the ADE20K "
                            "recipe's optimiser at NYUv2's size (launch/task/nyuv2_normals.yaml)",
                "deviations": ["the poster gives no normals recipe: this one is the suite's"]}


TASKS.register("nyuv2_normals")(NYUv2Normals)
