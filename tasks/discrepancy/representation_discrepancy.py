"""``task=rep_discrepancy``: how far apart a frozen backbone holds real images and the generator's images.

The poster's "discrepancy of representation" table (VICReg, squeeze and Sq & Sp, CIFAR-10 / CIFAR-100 in units
of 1e-5, STL-10 in 1e-3) gives no definition, and neither the paper's repository nor any source we found
defines it. This is the suite's own measure, named as such in every record and leaderboard, not the
paper's: the kernel distance (the KID's unbiased MMD^2 with the cubic polynomial kernel,
``tasks/discrepancy/kernel_distance.py``) between the backbone's features of ``samples`` real images (the data's
``split``) and of as many images of the generator, each feature scaled to unit length first (``normalise: l2``)
so that backbones whose features differ in scale compare. Lower is better: the span loss exists to bring the
two domains together.

The generated images are taken as the methods see them in pretraining (the generator's output, not clamped,
no truncation); both sets are resized to the student's input size where they differ from it (the STL-10
recipe's 128 px generator, 96 px images and 64 px crops). The generator is the run's ``generator`` config,
whether or not the method learnt from it, so a real-image method's row measures the same generated images;
the generator is part of this task's run identity (``Task.uses_generator``).
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from benchmark.interfaces import Task, TaskContext
from benchmark.quality.frechet import real_image_batches
from benchmark.registry import TASKS
from tasks.discrepancy.kernel_distance import kernel_distance
from tasks.limits import EvalLimits
from tasks.linear.features import features_of_batches

log = logging.getLogger(__name__)
NORMALISATIONS = ("l2", "none")
SPLITS = ("train", "test")
UNIT = 1e-5  # the headline's unit, the poster's for CIFAR-10 and CIFAR-100


@dataclass
class DiscrepancyConfig:
    samples: int = 10000  # real images of the data's ``split``, and as many generated ones
    split: str = "test"  # train | test
    subsets: int = 100  # the MMD^2 is averaged over this many random subsets (the KID's protocol)
    subset_size: int = 1000  # images of each set per subset; cut to the sets' size when they are smaller
    normalise: str = "l2"  # l2: every feature scaled to unit length first | none: the raw features
    batch_size: int = 256  # images per forward pass
    seed: int = 0  # of the real subset, the generated latents and the MMD subsets

    def __post_init__(self):
        if self.normalise not in NORMALISATIONS:
            raise ValueError(f"rep_discrepancy: unknown normalise {self.normalise!r}; valid: {', '.join(NORMALISATIONS)}")
        if self.split not in SPLITS:
            raise ValueError(f"rep_discrepancy: unknown split {self.split!r}; valid: {', '.join(SPLITS)}")
        for name in ("samples", "subsets", "subset_size", "batch_size"):
            if getattr(self, name) < (2 if name == "samples" else 1):
                raise ValueError(f"rep_discrepancy: {name} must be at least {2 if name == 'samples' else 1}, "
                                 f"got {getattr(self, name)}")


def _at_size(images: torch.Tensor, size: int) -> torch.Tensor:
    if images.shape[-1] == size and images.shape[-2] == size:
        return images
    return F.interpolate(images, size=(size, size), mode="bilinear", align_corners=False, antialias=True)


@TASKS.register("rep_discrepancy")
class RepresentationDiscrepancy(Task):
    headline = "mmd2_e5"
    higher_is_better = False
    uses_generator = True

    def __init__(self, cfg: dict):
        super().__init__(DiscrepancyConfig(**cfg))

    def check_data(self, ctx: TaskContext) -> None:
        real_image_batches(ctx.data_cfg, self.cfg.batch_size, self.cfg.split)  # a missing set fails now

    def samples(self, ctx: TaskContext) -> int:
        """How many real (and generated) images: ``samples``, within the preset's ``eval`` limit of the split."""
        cap = EvalLimits.of(ctx.eval_cfg).samples(self.cfg.split)
        return min(self.cfg.samples, cap if cap is not None else math.inf)

    def run(self, backbone, ctx: TaskContext) -> dict[str, float]:
        cfg, generator = self.cfg, ctx.generator
        if generator is None:
            raise ValueError("task rep_discrepancy compares the backbone's features of real and generated images: "
                             "its TaskContext needs the run's generator (pipeline.build gives it one)")
        n = self.samples(ctx)
        real_batches = (_at_size(images, ctx.image_size)
                        for images in real_image_batches(ctx.data_cfg, cfg.batch_size, cfg.split, n, cfg.seed))
        real = features_of_batches(backbone, real_batches, ctx.device, n, f"{ctx.data_cfg['name']} {cfg.split} features")
        rng = torch.Generator(device=ctx.device).manual_seed(cfg.seed)
        sizes = [min(cfg.batch_size, len(real) - start) for start in range(0, len(real), cfg.batch_size)]
        generated_batches = (_at_size(generator.sample(size, rng=rng).images, ctx.image_size) for size in sizes)
        generated = features_of_batches(backbone, generated_batches, ctx.device, len(real), "generated features")
        if cfg.normalise == "l2":
            real, generated = F.normalize(real.double(), dim=1), F.normalize(generated.double(), dim=1)
        result = kernel_distance(real, generated, cfg.subsets, cfg.subset_size, cfg.seed)
        log.info("representation discrepancy: MMD^2 %.3g ± %.2g over %d subsets of %d (%d real, %d generated)",
                 result["mmd2"], result["mmd2_std"], result["subsets"], result["subset_size"], len(real), len(generated))
        return {"mmd2_e5": result["mmd2"] / UNIT, "mmd2_std_e5": result["mmd2_std"] / UNIT, "mmd2": result["mmd2"],
                "subset_size": float(result["subset_size"]), "real_images": float(len(real)),
                "generated_images": float(len(generated)), "feature_dim": float(real.shape[1])}

    def recipe(self, ctx: TaskContext) -> dict:
        cfg = self.cfg
        return {"backend": "builtin", "protocol": (
            f"suite's measure (the poster defines none): unbiased MMD^2, cubic polynomial kernel (KID), "
            f"{'unit-length' if cfg.normalise == 'l2' else 'raw'} backbone features of {self.samples(ctx)} real "
            f"{cfg.split} images vs as many generated, mean of {cfg.subsets} subsets of {cfg.subset_size}"),
            "deviations": []}
