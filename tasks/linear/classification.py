"""Linear classification on frozen features (``task=linear_<dataset>``), one dataset per task.

The protocol is ``tasks/linear/protocol.py``: the L-BFGS weight-decay sweep, selection on
validation, refit on train + validation, one test score. This file turns a dataset into features:
  - in-memory pretraining sets (Fashion-MNIST) are evaluated as the backbone was trained on them;
  - evaluation sets (``benchmark/data/image_sets.py``) are resized and centre-cropped to
    ``image_size`` (224 in the transfer suite, as in Ericsson et al.; null = the pretraining
    resolution, for the embedded preset), converted to the backbone's channels, mapped to [-1, 1]
    like the generator's images, and their features cached by backbone hash + dataset + split +
    transform.
Each ``launch/task/linear_<name>.yaml`` names the dataset, its metric and where validation comes from.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Optional

from benchmark.data import build_dataset
from benchmark.data.image_sets import image_format, limit
from benchmark.interfaces import Task, TaskContext, describe_evaluation_images
from benchmark.registry import DATASETS, TASKS
from tasks.limits import EvalLimits
from tasks.linear.evaluation_sets import evaluation_transform, open_evaluation_set, takes_transform
from tasks.linear.features import cached_evaluation_features, extract_features
from tasks.linear.metrics import CLASSIFICATION_METRICS
from tasks.linear.protocol import Split, holdout, linear_protocol

log = logging.getLogger(__name__)
VALIDATION = ("official", "holdout")


@dataclass
class LinearConfig:
    dataset: str = "fashion_mnist"
    metric: str = "top1"  # top1 | mean_per_class | voc07_map
    validation: str = "holdout"  # official: the dataset's val split; holdout: val_fraction of train
    wd_grid: list = field(default_factory=lambda: [-6.0, 5.0, 45])  # logspace(start, stop, num)
    val_fraction: float = 0.2
    max_iter: int = 100  # L-BFGS iterations per fit
    image_size: Optional[int] = 224  # evaluation sets: resize + centre crop; null = pretraining size
    batch_size: int = 256  # feature extraction
    num_workers: Optional[int] = None  # image decoding processes; null = min(8, cores)
    seed: int = 0  # of the validation hold-out and of preset subsets
    loader: dict = field(default_factory=dict)  # extra options of the dataset loader (e.g. partition)

    def __post_init__(self):
        if self.metric not in CLASSIFICATION_METRICS:
            raise ValueError(f"unknown metric {self.metric!r}; valid metrics: {', '.join(CLASSIFICATION_METRICS)}")
        if self.validation not in VALIDATION:
            raise ValueError(f"unknown validation {self.validation!r}; valid: {', '.join(VALIDATION)}")



class LinearClassification(Task):
    headline = "top1"
    higher_is_better = True

    def __init__(self, cfg: dict):
        super().__init__(LinearConfig(**cfg))
        self.headline = self.cfg.metric
        self._native: Optional[dict] = None  # the dataset's own format, as run() found it

    def evaluation_images(self, ctx: TaskContext) -> dict:
        """Evaluation sets are shown at ``image_size`` (or the pretraining size) in the backbone's channels; an
        in-memory set (Fashion-MNIST) as the loader holds it."""
        if self._native is None:  # not run in this process: read the test split's file list / arrays
            self._native = self._open("test", ctx).native_format()
        if not takes_transform(DATASETS.get(self.cfg.dataset)):
            used = self._native
        else:
            used = image_format(ctx.image_channels, self.cfg.image_size or ctx.image_size)
        return describe_evaluation_images(self.cfg.dataset, self._native, used)

    def _open(self, split: str, ctx: TaskContext, transform=None):
        if takes_transform(DATASETS.get(self.cfg.dataset)):
            return open_evaluation_set(self.cfg.dataset, split, ctx, transform, self.cfg.loader)
        return build_dataset({**dict(ctx.data_cfg), "name": self.cfg.dataset}, split)

    def run(self, backbone, ctx: TaskContext) -> dict[str, float]:
        limits = EvalLimits.of(ctx.eval_cfg)
        cfg = limits.bound(self.cfg)  # a preset's limit wins (smoke: 2 values)
        t0 = time.time()
        splits = self._splits(backbone, ctx, limits)
        if cfg.validation == "official":
            fit, val = splits["train"], splits["val"]
        else:
            fit, val = holdout(splits["train"], cfg.val_fraction, cfg.seed)
        t_features = time.time() - t0
        metrics = linear_protocol(fit, val, splits["test"], cfg.metric, cfg.wd_grid, cfg.max_iter, ctx.device,
                                  desc=f"{cfg.dataset}: weight-decay sweep")
        log.info("linear %s: %s %.2f (wd %.3g chosen on validation); features %.0f s, fits %.0f s", cfg.dataset,
                 cfg.metric, metrics[cfg.metric], metrics["weight_decay"], t_features, time.time() - t0 - t_features)
        return metrics

    def check_data(self, ctx: TaskContext) -> None:
        """Build every split's loader (they read file lists, not images) so missing data fails now."""
        loader = DATASETS.get(self.cfg.dataset)
        for split in ("train", "val", "test") if self.cfg.validation == "official" else ("train", "test"):
            if takes_transform(loader):
                open_evaluation_set(self.cfg.dataset, split, ctx, options=self.cfg.loader)
            else:
                build_dataset({**dict(ctx.data_cfg), "name": self.cfg.dataset}, split)

    def _splits(self, backbone, ctx: TaskContext, limits: EvalLimits) -> dict[str, Split]:
        names = ("train", "val", "test") if self.cfg.validation == "official" else ("train", "test")
        if not takes_transform(DATASETS.get(self.cfg.dataset)):
            return {s: self._in_memory_split(backbone, ctx, s, limits.samples(s)) for s in names}
        return {s: self._evaluation_split(backbone, ctx, s, limits.samples(s)) for s in names}

    def _in_memory_split(self, backbone, ctx: TaskContext, split: str, n: Optional[int]) -> Split:
        data = self._open(split, ctx)
        self._native = data.native_format()
        data = data.subset(n, self.cfg.seed)
        x, y = extract_features(backbone, data, ctx.device, self.cfg.batch_size, f"{self.cfg.dataset} {split} features")
        return Split(x, y)

    def _evaluation_split(self, backbone, ctx: TaskContext, split: str, n: Optional[int]) -> Split:
        cfg = self.cfg
        transform, transform_key = evaluation_transform(cfg.image_size or ctx.image_size, ctx.image_channels)
        data = self._open(split, ctx, transform)
        self._native = data.native_format()
        data = limit(data, n, cfg.seed)
        x = cached_evaluation_features(backbone, data, cfg.dataset, split, transform_key, ctx.device,
                                       ctx.features_cache, cfg.batch_size, cfg.num_workers)
        return Split(x, data.targets, getattr(data, "difficult", None))


# One registered task per dataset, so ``task=linear_<name>`` names what it evaluates. The yaml of the
# same name sets the dataset, the metric and the validation source.
LINEAR_TASKS = ("fmnist", "digits", "aircraft", "caltech101", "cars", "cifar10", "cifar100", "dtd", "flowers",
                "food", "pets", "sun397", "voc2007", "stl10", "imagenet100", "imagenet")
for _name in LINEAR_TASKS:
    TASKS.register(f"linear_{_name}")(type(f"Linear_{_name}", (LinearClassification,), {
        "__doc__": f"Linear classification of {_name} on frozen features (launch/task/linear_{_name}.yaml)."}))
