"""The pretraining augmentation A, batched on the device with kornia.

Recipe (SimSiam/VICReg-style, as in Squeeze and Span): RandomResizedCrop(scale 0.2-1), ColorJitter
(0.4, 0.4, 0.4, 0.1) with p=0.8, grayscale with p=0.2, Gaussian blur with p=0.5 (left out at 32 px and
below, where it erases the image), horizontal flip.

Parameters are drawn per sample (kornia's ``same_on_batch=False``); the authors' code drew one set per
batch. In data-parallel pretraining (``shard=(rank, world_size)``, benchmark/pretraining/distributed.py) each
process holds its rows of the global batch: the parameters are drawn for the whole global batch, from
the torch RNG every process seeds alike, and each process applies its rows of them, so a sample is
augmented as it would be in one process. On 1-channel images saturation, hue and grayscale have no meaning and are dropped.
Images enter and leave in [-1, 1].
"""
from __future__ import annotations

import kornia.augmentation as K
import torch
from torch import nn

BLUR_MIN_SIZE = 64  # below this the paper's recipe omits the blur


class Augment(nn.Module):
    def __init__(self, image_size: int, channels: int, crop_scale=(0.2, 1.0), jitter=(0.4, 0.4, 0.4, 0.1),
                 jitter_p: float = 0.8, grayscale_p: float = 0.2, blur_p: float = 0.5, flip_p: float = 0.5,
                 shard: tuple[int, int] = (0, 1)):
        super().__init__()
        self.rank, self.world_size = shard
        brightness, contrast, saturation, hue = jitter
        if channels == 1:
            saturation, hue, grayscale_p = 0.0, 0.0, 0.0
        ops = [K.RandomResizedCrop((image_size, image_size), scale=tuple(crop_scale))]
        if jitter_p > 0:
            ops.append(K.ColorJitter(brightness, contrast, saturation, hue, p=jitter_p))
        if grayscale_p > 0:
            ops.append(K.RandomGrayscale(p=grayscale_p))
        if blur_p > 0 and image_size >= BLUR_MIN_SIZE:
            kernel = 2 * (image_size // 20) + 1  # ~10% of the side, odd, as in the SimCLR recipe
            ops.append(K.RandomGaussianBlur((kernel, kernel), (0.1, 2.0), p=blur_p))
        if flip_p > 0:
            ops.append(K.RandomHorizontalFlip(p=flip_p))
        self.ops = nn.Sequential(*ops)
        self.description = [type(op).__name__ for op in ops]

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


def make_augment(image_size: int, channels: int, **overrides) -> Augment:
    return Augment(image_size, channels, **overrides)
