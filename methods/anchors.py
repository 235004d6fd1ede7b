"""The leaderboard's two anchor rows, evaluated by the same task as every method.

- ``raw_pixels``: the flattened image itself as the feature (what any representation must beat);
- ``random_init``: the preset's backbone, randomly initialised with the run's seed, never trained.
Neither trains, so neither needs a generator or pretraining time.
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

    def __init__(self, cfg: NoOptions, ctx: MethodContext):
        super().__init__(cfg, ctx)
        self.backbone = Flatten(ctx.image_channels * ctx.image_size**2)


@METHODS.register("random_init")
class RandomInit(Method):
    Config = NoOptions
    needs_training = False

