"""The pretraining augmentation A, batched on the device with kornia.

Recipe (SimSiam/VICReg-style, as in Squeeze and Span): RandomResizedCrop(scale 0.2-1), ColorJitter
(0.4, 0.4, 0.4, 0.1) with p=0.8, grayscale with p=0.2, Gaussian blur with p=0.5 (left out at 32 px and
below, where it erases the image), horizontal flip.

Parameters are drawn per sample (kornia's ``same_on_batch=False``), as a DataLoader augments real
images one by one. ``same_on_batch=True`` draws one set for the whole batch: what the Squeeze-and-Span
authors' code does to the synthetic batch, which it augments as one tensor (``augment.synthetic:
per_batch``, see ``for_source``). In data-parallel pretraining (``shard=(rank, world_size)``, benchmark/pretraining/distributed.py) each
process holds its rows of the global batch: the parameters are drawn for the whole global batch, from
the torch RNG every process seeds alike, and each process applies its rows of them, so a sample is
augmented as it would be in one process. On 1-channel images saturation, hue and grayscale have no meaning and are dropped.
Images enter and leave in [-1, 1].
"""
from __future__ import annotations

from typing import Optional

import torch
from torch import nn

BLUR_MIN_SIZE = 64  # below this the paper's recipe omits the blur


class Augment(nn.Module):
    def __init__(self, image_size: int, channels: int, crop_scale=(0.2, 1.0), jitter=(0.4, 0.4, 0.4, 0.1),
                 jitter_p: float = 0.8, grayscale_p: float = 0.2, blur_p: float = 0.5, flip_p: float = 0.5,
                 blur_kernel: Optional[int] = None, same_on_batch: bool = False, shard: tuple[int, int] = (0, 1)):
        # imported here, not with the module: launch.py's config validation reads this module's choices
        # (SYNTHETIC_PARAMETERS) before any work, and kornia's import alone takes 0.3-0.5 s on 2 cores
        import kornia.augmentation as K

        super().__init__()
        self.rank, self.world_size = shard
        brightness, contrast, saturation, hue = jitter
        if channels == 1:
            saturation, hue, grayscale_p = 0.0, 0.0, 0.0
        batch = dict(same_on_batch=same_on_batch)
        ops = [K.RandomResizedCrop((image_size, image_size), scale=tuple(crop_scale), **batch)]
        if jitter_p > 0:
            ops.append(K.ColorJitter(brightness, contrast, saturation, hue, p=jitter_p, **batch))
        if grayscale_p > 0:
            ops.append(K.RandomGrayscale(p=grayscale_p, **batch))
        if blur_p > 0 and image_size >= BLUR_MIN_SIZE:
            # default ~10% of the side, odd, as in the SimCLR recipe; the authors' tensor blur used 5
            kernel = blur_kernel or 2 * (image_size // 20) + 1
            ops.append(K.RandomGaussianBlur((kernel, kernel), (0.1, 2.0), p=blur_p, **batch))
        if flip_p > 0:
            ops.append(K.RandomHorizontalFlip(p=flip_p, **batch))
        self.ops = nn.Sequential(*ops)
        self.same_on_batch = same_on_batch
        self.description = [type(op).__name__ for op in ops] + (["same_on_batch"] if same_on_batch else [])

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = images if images.dtype == torch.float64 else images.float()  # float64: exactness checks
        x = x.add(1.0).mul(0.5)
        if self.world_size == 1:
            x = self.ops(x)
        else:
            global_shape = torch.Size((len(x) * self.world_size, *x.shape[1:]))
            rows = slice(self.rank * len(x), (self.rank + 1) * len(x))
            for op in self.ops:
                x = op(x, params=shard_parameters(op.forward_parameters(global_shape), rows, x.shape))
        return x.mul(2.0).sub(1.0)


BATCH_LEVEL_PARAMETERS = ("order",)  # kornia parameters drawn once per batch (ColorJitter's order of ops)


def shard_parameters(params: dict, rows: slice, local_shape: torch.Size) -> dict:
    """A process's rows of kornia parameters drawn for the global batch (every per-sample entry is a
    tensor with one row per sample, ``batch_prob`` included)."""
    out = {}
    for key, value in params.items():
        if key == "forward_input_shape":
            out[key] = torch.tensor(tuple(local_shape), dtype=value.dtype, device=value.device)
        elif key in BATCH_LEVEL_PARAMETERS or not torch.is_tensor(value):
            out[key] = value
        else:
            out[key] = value[rows]
    return out


SYNTHETIC_PARAMETERS = ("per_sample", "per_batch")


def augment_options(augment_cfg: Optional[dict], source: str) -> dict:
    """Augment's keyword arguments from the preset's ``augment`` section for images of ``source``
    ("real" or "synthetic"): ``synthetic: per_batch`` draws one parameter set per synthetic batch."""
    cfg = dict(augment_cfg or {})
    if source not in ("real", "synthetic"):
        raise ValueError(f"make_augment(source={source!r}): choose 'real' or 'synthetic'")
    synthetic = cfg.pop("synthetic", "per_sample")
    if synthetic not in SYNTHETIC_PARAMETERS:
        raise ValueError(f"augment.synthetic={synthetic!r}: choose one of {SYNTHETIC_PARAMETERS}")
    return {**cfg, "same_on_batch": source == "synthetic" and synthetic == "per_batch"}


def make_augment(image_size: int, channels: int, augment_cfg: Optional[dict] = None, source: str = "real",
                 **overrides) -> Augment:
    """The augmentation of images from ``source`` under the preset's ``augment`` section; ``overrides``
    (a method's own choices) win."""
    return Augment(image_size, channels, **{**augment_options(augment_cfg, source), **overrides})
