"""Batches for the segmentation and normals tasks: seeded draws of augmented training items, stacked,
and full-size predictions for evaluation (the augmentation itself is benchmark/dense_transforms.py)."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from benchmark.data.dense_sets import to_channels
from benchmark.dense_transforms import augment, evaluation_view
from benchmark.finetune import forever


def to_unit_range(images: torch.Tensor) -> torch.Tensor:
    return images.div(127.5).sub(1.0)  # [0, 255] -> [-1, 1], the generators' range


class AugmentedItems(torch.utils.data.Dataset):
    """Augmented (image, target) pairs in the backbone's channels (draws from torch's seeded generator)."""

    def __init__(self, dataset, cfg, channels: int):
        self.dataset, self.cfg, self.channels = dataset, cfg, channels

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, i: int):
        image, target = self.dataset[i]
        cfg = self.cfg
        return augment(to_channels(image, self.channels), target, cfg.scale, cfg.ratio_range, cfg.crop_size,
                       cfg.flip)


def stack(items):
    images = torch.stack([image for image, _ in items])
    return images, {k: torch.stack([t[k] for _, t in items]) for k in items[0][1]}


def training_batches(train_set, cfg, channels: int, iterations: int):
    """An endless stream of augmented batches, ``iterations`` x ``batch_size`` seeded draws."""
    sampler = torch.utils.data.RandomSampler(train_set, replacement=True, num_samples=iterations * cfg.batch_size,
                                             generator=torch.Generator().manual_seed(cfg.seed))
    loader = torch.utils.data.DataLoader(AugmentedItems(train_set, cfg, channels), cfg.batch_size,
                                         sampler=sampler, num_workers=cfg.num_workers, collate_fn=stack,
                                         drop_last=True)
    return forever(loader)


def predict_full(model: nn.Module, image: torch.Tensor, cfg, channels: int, device) -> torch.Tensor:
    """Per-pixel outputs (K, H, W) at the image's own size: predicted on the rescaled view, resized back."""
    view = evaluation_view(to_channels(image, channels), cfg.scale)
    out = model(to_unit_range(view[None].to(device)))
    return F.interpolate(out, size=image.shape[-2:], mode="bilinear", align_corners=False)[0]
