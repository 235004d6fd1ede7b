"""Where the dense tasks get their train / test sets: a registered loader's official splits, or the
offline Fashion-MNIST canvases, each limited by the preset's ``eval.max_{train,test}_samples``."""
from __future__ import annotations

from typing import ClassVar

from benchmark.data import build_dataset
from benchmark.data.fmnist_canvas import fmnist_canvases
from benchmark.data.image_sets import image_format
from benchmark.interfaces import TaskContext, describe_evaluation_images
from tasks.limits import EvalLimits


class OfficialSplits:
    """A task mixin: ``cfg.train_split`` / ``cfg.test_split`` of the registered loader ``dataset``, read
    from ``paths.datasets``; ``check_data`` reads both before any pretraining."""

    dataset: ClassVar[str]
    full_resolution: ClassVar[bool] = True  # VOC, ADE20K, NYUv2: photographs of hundreds of px

    def _load(self, split: str, ctx: TaskContext):
        return build_dataset({"name": self.dataset, "root": ctx.datasets_root}, split)

    def check_data(self, ctx: TaskContext) -> None:
        self.splits(ctx)

    def splits(self, ctx: TaskContext):
        return self._load(self.cfg.train_split, ctx), self._load(self.cfg.test_split, ctx)

    def evaluation_images(self, ctx: TaskContext) -> dict:
        """RGB photographs of varying size, rescaled by the task, in the backbone's channels (gray for a
        1-channel backbone, ``benchmark/data/dense_sets.to_channels``)."""
        return describe_evaluation_images(self.dataset, image_format(3, "variable"),
                                          image_format(ctx.image_channels, "variable"))


class CanvasSplits:
    """A task mixin: train / test Fashion-MNIST canvases (``cfg.train_canvases``, ``cfg.test_canvases``,
    ``cfg.image_size``, ``cfg.seed``), the offline dense benchmark of benchmark/data/fmnist_canvas.py."""

    def check_data(self, ctx: TaskContext) -> None:
        fmnist_canvases("test", num_canvases=1, data_cfg=dict(ctx.data_cfg))

    def splits(self, ctx: TaskContext):
        cfg, limits = self.cfg, EvalLimits.of(ctx.eval_cfg)
        n_train = min(cfg.train_canvases, limits.samples("train") or cfg.train_canvases)
        n_test = min(cfg.test_canvases, limits.samples("test") or cfg.test_canvases)
        return tuple(fmnist_canvases(split, n, dict(ctx.data_cfg), cfg.seed, canvas_size=cfg.image_size)
                     for split, n in (("train", n_train), ("test", n_test)))

    def evaluation_images(self, ctx: TaskContext) -> dict:
        """1-channel ``image_size`` px canvases, in the backbone's channels (copied to RGB for a 3-channel
        one), at the side the task tests a canvas at (``tested_side``)."""
        side = self.cfg.image_size
        return describe_evaluation_images("fashion_mnist canvases", image_format(1, side),
                                          image_format(ctx.image_channels, self.tested_side(side, ctx)))

    def tested_side(self, side: int, ctx: TaskContext) -> int:
        """The side a square ``side`` px test image is rescaled to (the task's own resizing, within the preset's
        limits). Default: kept."""
        return side
