"""Linear evaluation on frozen features: multinomial logistic regression, top-1 on the test split.

Protocol: features of the un-augmented train and test images from the backbone in eval mode,
standardised with the train statistics (features constant over the train split are dropped); the
weight decay is chosen on a seeded hold-out of the train split (``val_fraction``) over ``wd_grid``
(warm-started from the strongest decay down), then the model is refitted on the whole train split
and scored once on the test split.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import numpy as np
import torch
from tqdm import tqdm

from benchmark.data import build_dataset
from benchmark.features import extract_features
from benchmark.interfaces import Task, TaskContext
from benchmark.logistic import fit_logistic, predict
from benchmark.registry import TASKS

log = logging.getLogger(__name__)


@dataclass
class LinearConfig:
    dataset: str = "fashion_mnist"
    wd_grid: list = field(default_factory=lambda: [-6.0, 5.0, 45])  # logspace(start, stop, num)
    val_fraction: float = 0.2
    max_iter: int = 200  # L-BFGS iterations per fit
    batch_size: int = 512  # feature extraction
    seed: int = 0  # of the validation hold-out and the subsets


def accuracy(pred: torch.Tensor, y: torch.Tensor) -> float:
    return 100.0 * (pred == y).float().mean().item()


class LinearClassification(Task):
    headline = "top1"
    higher_is_better = True

    def __init__(self, cfg: dict):
        super().__init__(LinearConfig(**cfg))

    def run(self, backbone, ctx: TaskContext) -> dict[str, float]:
        cfg = self.cfg
        data_cfg = {**dict(ctx.data_cfg), "name": cfg.dataset}
        train = build_dataset(data_cfg, "train").subset(ctx.eval_cfg.get("max_train_samples"), cfg.seed)
        test = build_dataset(data_cfg, "test").subset(ctx.eval_cfg.get("max_test_samples"), cfg.seed)
        t0 = time.time()
        x_train, y_train = extract_features(backbone, train, ctx.device, cfg.batch_size, "train features")
        x_test, y_test = extract_features(backbone, test, ctx.device, cfg.batch_size, "test features")
        t_features = time.time() - t0
        feature_dim = x_train.shape[1]
        mean, std = x_train.mean(0), x_train.std(0)
        varying = std > 1e-6  # constant features (e.g. the zero padding of raw pixels) carry nothing
        x_train = (x_train[:, varying] - mean[varying]) / std[varying]
        x_test = (x_test[:, varying] - mean[varying]) / std[varying]
        x_train, y_train, x_test, y_test = (t.to(ctx.device) for t in (x_train, y_train, x_test, y_test))
        num_classes = int(y_train.max()) + 1

        order = torch.randperm(len(x_train), generator=torch.Generator().manual_seed(cfg.seed)).to(ctx.device)
        n_val = int(round(cfg.val_fraction * len(x_train)))
        val_idx, fit_idx = order[:n_val], order[n_val:]
        grid = sorted(np.logspace(*cfg.wd_grid[:2], int(cfg.wd_grid[2])).tolist(), reverse=True)
        best_wd, best_val, weights = None, -1.0, None
        for wd in tqdm(grid, desc="weight-decay sweep", leave=False):
            weights = fit_logistic(x_train[fit_idx], y_train[fit_idx], num_classes, wd, cfg.max_iter, init=weights)
            val_acc = accuracy(predict(x_train[val_idx], weights), y_train[val_idx])
            if val_acc > best_val:
                best_wd, best_val = wd, val_acc
        weights = fit_logistic(x_train, y_train, num_classes, best_wd, cfg.max_iter)
        top1 = accuracy(predict(x_test, weights), y_test)
        log.info("linear %s: top-1 %.2f (wd %.2g chosen on validation, val top-1 %.2f); features %.0f s, fits %.0f s",
                 cfg.dataset, top1, best_wd, best_val, t_features, time.time() - t0 - t_features)
        return {"top1": top1, "val_top1": best_val, "weight_decay": best_wd, "feature_dim": float(feature_dim),
                "varying_features": float(x_train.shape[1]),
                "train_samples": float(len(x_train)), "test_samples": float(len(x_test))}


@TASKS.register("linear_fmnist")
class LinearFashionMNIST(LinearClassification):
    """Linear classification of Fashion-MNIST: 60k train images, top-1 on the 10k test images."""
