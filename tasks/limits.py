"""A preset's evaluation limits (``eval:`` in launch/preset/*.yaml) and how they bound any task.

This is the one place where a preset overrides a task's own config: the smoke preset turns every task
into seconds of work, and ``eval.max_{train,test}_samples`` take seeded subsets. A limit that is null
leaves the task's own value.

- ``max_train_samples`` / ``max_test_samples``: seeded subsets of the training (and validation) and test
  sets (``samples``);
- ``wd_grid``, ``max_iter`` (linear tasks), ``epochs`` (probes), ``iterations`` (dense tasks): replace the
  task's value (``bound``);
- ``max_image_side``, ``max_batch_size`` (dense tasks only, ``bound(cfg, dense=True)``): image sizes scaled
  so that no side exceeds it (detection's ``min_size`` / ``max_size``, the others' ``scale`` /
  ``crop_size``), the fine-tuning batch cut to it.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Optional

REPLACED = ("wd_grid", "max_iter", "epochs", "iterations")  # a preset's value replaces the task's


@dataclass(frozen=True)
class EvalLimits:
    max_train_samples: Optional[int] = None
    max_test_samples: Optional[int] = None
    wd_grid: Optional[list] = None
    max_iter: Optional[int] = None
    epochs: Optional[int] = None
    iterations: Optional[int] = None
    max_image_side: Optional[int] = None
    max_batch_size: Optional[int] = None

    @classmethod
    def of(cls, eval_cfg) -> "EvalLimits":
        """From the ``eval`` config section (``TaskContext.eval_cfg``); an unknown key is an error."""
        values = dict(eval_cfg or {})
        valid = [f.name for f in dataclasses.fields(cls)]
        unknown = sorted(set(values) - set(valid))
        if unknown:
            raise ValueError(f"eval has no limit(s) {unknown}; valid limits: {valid}")
        return cls(**values)

    def samples(self, split: str) -> Optional[int]:
        """How many items of ``split`` to keep (a seeded subset); None = all. Validation counts as training."""
        return self.max_test_samples if split == "test" else self.max_train_samples

    def bound(self, cfg, dense: bool = False):
        """The task's config dataclass within these limits (itself when nothing applies); ``dense``: also
        the image side and the fine-tuning batch."""
        changes = {name: getattr(self, name) for name in REPLACED if getattr(self, name) and hasattr(cfg, name)}
        cap = self.max_image_side if dense else None
        if cap and hasattr(cfg, "max_size"):  # detection: short sides drawn from min_size, long side capped
            factor = cap / max(cfg.max_size, *cfg.min_size)
            if factor < 1:
                changes.update(min_size=[max(1, round(s * factor)) for s in cfg.min_size],
                               max_size=max(1, round(cfg.max_size * factor)))
        elif cap:  # segmentation and normals: the rescale range and the crop
            factor = cap / max(cfg.scale)
            if factor < 1:
                changes.update(scale=[max(1, round(s * factor)) for s in cfg.scale],
                               crop_size=max(1, round(cfg.crop_size * factor)))
        if dense and self.max_batch_size and self.max_batch_size < cfg.batch_size:
            changes["batch_size"] = self.max_batch_size
        return dataclasses.replace(cfg, **changes) if changes else cfg
