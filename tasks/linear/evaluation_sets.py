"""Evaluation sets of the linear family: opening one from ``paths.datasets`` and the frozen-feature
transform (resize + centre crop, the backbone's channels, [-1, 1] like the generators' images)."""
from __future__ import annotations

import inspect
from typing import Optional

import torchvision.transforms as T

from benchmark.data.image_sets import data_root
from benchmark.interfaces import TaskContext
from benchmark.registry import DATASETS


def evaluation_transform(size: int, channels: int) -> tuple[T.Compose, str]:
    """The frozen-feature transform and a string that names it (part of the feature-cache key)."""
    steps = [T.Resize(size, interpolation=T.InterpolationMode.BILINEAR), T.CenterCrop(size)]
    if channels == 1:
        steps.append(T.Grayscale(1))
    steps += [T.ToTensor(), T.Normalize([0.5] * channels, [0.5] * channels)]
    return T.Compose(steps), f"resize{size}-bilinear-centercrop{size}-{channels}ch-to[-1,1]"



def open_evaluation_set(dataset: str, split: str, ctx: TaskContext, transform=None, options: Optional[dict] = None):
    """An evaluation set from ``paths.datasets`` (``options``: extra loader arguments)."""
    return DATASETS.get(dataset)(split=split, root=str(data_root(ctx.datasets_root)), transform=transform,
                                 **(options or {}))


def takes_transform(loader) -> bool:
    """Evaluation-set loaders take a ``transform``; pretraining sets (InMemoryImages) do not."""
    return "transform" in inspect.signature(loader).parameters


