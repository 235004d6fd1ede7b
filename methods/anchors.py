"""The leaderboard's two anchor rows, evaluated by the same task as every method.

- ``raw_pixels``: the flattened image itself as the feature (what any representation must beat);
- ``random_init``: the preset's backbone, randomly initialised with the run's seed, never trained.
Neither trains, so neither needs a generator or pretraining time. Each is keyed by what shapes it
(``shaped_by``; benchmark/orchestration/identity.anchor_key): the task, the images it is shown and the seed,
and for random init the backbone config; not by the pretraining, method or generator of the run that asked.
"""
from __future__ import annotations

from dataclasses import dataclass

from benchmark.backbones import Flatten
from benchmark.registry import METHODS
from benchmark.toolkit import Method, MethodContext


@dataclass
class NoOptions:
    pass


@METHODS.register("raw_pixels")
class RawPixels(Method):
    Config = NoOptions
    needs_training = False
    shaped_by = ()  # the images alone

    def __init__(self, cfg: NoOptions, ctx: MethodContext):
        super().__init__(cfg, ctx)
        self.backbone = Flatten(ctx.image_channels * ctx.image_size**2)


@METHODS.register("random_init")
class RandomInit(Method):
    Config = NoOptions
    needs_training = False
    shaped_by = ("backbone",)  # its architecture, width and init conventions, drawn with the run's seed

