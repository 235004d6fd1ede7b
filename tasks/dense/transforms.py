"""Joint image + dense-target augmentation of the segmentation and normals tasks, as mmsegmentation's
training pipeline does it: rescale keeping the aspect ratio to ``scale`` (long, short) times a ratio drawn
from ``ratio_range``, a random ``crop_size`` crop (padded where the image is smaller), a random horizontal
flip. Images are bilinearly resized; label maps, normal maps and valid masks by nearest neighbour, so no
label or normal is invented between two regions.

Targets are dicts of tensors shaped (H, W) or (C, H, W): ``mask`` (class indices), ``normals`` (3, H, W)
and ``valid`` (H, W). A flip mirrors every map, and negates the horizontal component of normals.
"""
from __future__ import annotations

from typing import Optional, Sequence

import torch
import torch.nn.functional as F

from benchmark.data.dense_sets import IGNORE_INDEX

PAD_VALUES = {"mask": IGNORE_INDEX, "valid": 0, "normals": 0}  # padding is never scored


def rescale_factor(height: int, width: int, scale: Sequence[int], ratio: float = 1.0) -> float:
    """mmseg's keep-ratio rescale: the largest factor fitting the long side in max(scale) * ratio and
    the short side in min(scale) * ratio."""
    long_side, short_side = max(scale) * ratio, min(scale) * ratio
    return min(long_side / max(height, width), short_side / min(height, width))


def resize(image: torch.Tensor, target: dict, size: tuple[int, int]) -> tuple[torch.Tensor, dict]:
    """Image (C, H, W) (any dtype, returned float32) bilinearly, target maps by nearest neighbour."""
    out = F.interpolate(image[None].float(), size=size, mode="bilinear", align_corners=False)[0]
    resized = {}
    for key, value in target.items():
        planes = value[None] if value.ndim == 2 else value
        planes = F.interpolate(planes[None].float(), size=size, mode="nearest-exact")[0].to(value.dtype)
        resized[key] = planes[0] if value.ndim == 2 else planes
    return out, resized


def flip(image: torch.Tensor, target: dict) -> tuple[torch.Tensor, dict]:
    flipped = {key: value.flip(-1) for key, value in target.items()}
    if "normals" in flipped:
        flipped["normals"] = flipped["normals"] * torch.tensor([-1.0, 1.0, 1.0]).view(3, 1, 1)
    return image.flip(-1), flipped


def crop(image: torch.Tensor, target: dict, size: int, generator: Optional[torch.Generator]) -> tuple:
    """A random ``size`` x ``size`` window; a smaller image is padded first (image 0, targets unscored)."""
    height, width = image.shape[-2:]
    pad_h, pad_w = max(0, size - height), max(0, size - width)
    if pad_h or pad_w:
        image = F.pad(image, (0, pad_w, 0, pad_h), value=0.0)
        target = {k: F.pad(v, (0, pad_w, 0, pad_h), value=PAD_VALUES[k]) for k, v in target.items()}
        height, width = image.shape[-2:]
    top = int(torch.randint(height - size + 1, (), generator=generator))
    left = int(torch.randint(width - size + 1, (), generator=generator))
    window = (..., slice(top, top + size), slice(left, left + size))
    return image[window], {k: v[window] for k, v in target.items()}


def augment(image: torch.Tensor, target: dict, scale: Sequence[int], ratio_range: Sequence[float], crop_size: int,
            random_flip: bool, generator: Optional[torch.Generator] = None) -> tuple[torch.Tensor, dict]:
    """One training sample: rescale by a random ratio, crop, flip; the image comes back float in [0, 255]."""
    low, high = ratio_range
    ratio = low + (high - low) * float(torch.rand((), generator=generator))
    height, width = image.shape[-2:]
    factor = rescale_factor(height, width, scale, ratio)
    image, target = resize(image, target, (max(1, round(height * factor)), max(1, round(width * factor))))
    image, target = crop(image, target, crop_size, generator)
    if random_flip and float(torch.rand((), generator=generator)) < 0.5:
        image, target = flip(image, target)
    return image, target


def evaluation_view(image: torch.Tensor, scale: Sequence[int]) -> torch.Tensor:
    """The image a test prediction is made on: rescaled to fit ``scale`` (ratio 1), float in [0, 255]."""
    height, width = image.shape[-2:]
    factor = rescale_factor(height, width, scale)
    size = (max(1, round(height * factor)), max(1, round(width * factor)))
    return F.interpolate(image[None].float(), size=size, mode="bilinear", align_corners=False)[0]
