"""An offline dense benchmark: real Fashion-MNIST items placed on a larger black canvas.

Each canvas (``canvas_size`` px, one channel) holds 1 to ``max_items`` items drawn from the Fashion-MNIST
split of the same name (train canvases from train items, test canvases from test items), each rescaled
by a factor in ``scale_range`` and placed where its box overlaps no earlier item's box. Everything is
drawn from ``seed`` (and the split), so a canvas set is the same on every machine.

Targets per canvas, the annotations a detection / segmentation task needs:
  - ``boxes`` (K, 4) float: (x1, y1, x2, y2) tight around each item's visible pixels, in inclusive pixel
    coordinates (the VOC convention of ``tasks/dense/voc_ap.py``; add 1 to x2, y2 for
    torchvision's half-open boxes);
  - ``labels`` (K,) int64: the Fashion-MNIST class (0-9);
  - ``masks`` (K, H, W) bool: each item's pixels (intensity above ``mask_threshold``);
  - the class mask (H, W) uint8 in ``class_masks``: 0 background, 1 + class on item pixels.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch
import torch.nn.functional as F

from benchmark.data import build_dataset


@dataclass
class Canvases:
    images: torch.Tensor  # (N, 1, S, S) uint8
    targets: list[dict]
    class_masks: torch.Tensor  # (N, S, S) uint8, 0 = background
    classes: list[str]

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, dict]:
        """The dense-set contract (benchmark/data/dense_sets.py): the image, its boxes (none difficult)
        and its class mask as ``mask``."""
        target = self.targets[i]
        return self.images[i], {"boxes": target["boxes"], "labels": target["labels"],
                                "difficult": torch.zeros(len(target["labels"]), dtype=torch.bool),
                                "mask": self.class_masks[i].long()}


def make_canvases(items: torch.Tensor, item_labels: torch.Tensor, classes: list[str], num_canvases: int,
                  canvas_size: int = 64, max_items: int = 3, scale_range=(0.75, 1.25), mask_threshold: int = 16,
                  seed: int = 0) -> Canvases:
    """Canvases from uint8 items (M, 28, 28) with labels (M,)."""
    if items.ndim != 3 or items.dtype != torch.uint8:
        raise ValueError(f"items must be (M, H, W) uint8, got {tuple(items.shape)} {items.dtype}")
    g = torch.Generator().manual_seed(seed)
    images = torch.zeros(num_canvases, 1, canvas_size, canvas_size, dtype=torch.uint8)
    class_masks = torch.zeros(num_canvases, canvas_size, canvas_size, dtype=torch.uint8)
    targets = []
    for n in range(num_canvases):
        boxes, labels, masks = [], [], []
        wanted = int(torch.randint(1, max_items + 1, (1,), generator=g))
        for _ in range(wanted * 20):  # placement attempts; a crowded canvas keeps fewer items
            if len(labels) == wanted:
                break
            index = int(torch.randint(len(items), (1,), generator=g))
            scale = scale_range[0] + (scale_range[1] - scale_range[0]) * float(torch.rand(1, generator=g))
            side = max(8, min(canvas_size, round(items.shape[-1] * scale)))
            item = F.interpolate(items[index][None, None].float(), size=(side, side), mode="bilinear",
                                 align_corners=False)[0, 0].round().clamp(0, 255).to(torch.uint8)
            visible = item > mask_threshold
            if not visible.any():
                continue
            top = int(torch.randint(canvas_size - side + 1, (1,), generator=g))
            left = int(torch.randint(canvas_size - side + 1, (1,), generator=g))
            rows, cols = visible.any(1).nonzero()[:, 0], visible.any(0).nonzero()[:, 0]
            box = torch.tensor([left + cols[0], top + rows[0], left + cols[-1], top + rows[-1]], dtype=torch.float32)
            if any(_overlap(box, other) for other in boxes):
                continue
            mask = torch.zeros(canvas_size, canvas_size, dtype=torch.bool)
            mask[top:top + side, left:left + side] = visible
            region = images[n, 0, top:top + side, left:left + side]
            region[visible] = item[visible]
            class_masks[n][mask] = int(item_labels[index]) + 1
            boxes.append(box)
            labels.append(int(item_labels[index]))
            masks.append(mask)
        targets.append({"boxes": torch.stack(boxes), "labels": torch.tensor(labels, dtype=torch.int64),
                        "masks": torch.stack(masks)})
    return Canvases(images, targets, class_masks, classes)


def _overlap(a: torch.Tensor, b: torch.Tensor) -> bool:
    return not (a[2] < b[0] or b[2] < a[0] or a[3] < b[1] or b[3] < a[1])


def fmnist_canvases(split: str, num_canvases: Optional[int] = None, data_cfg: Optional[dict] = None,
                    seed: int = 0, **kwargs) -> Canvases:
    """Canvases of the Fashion-MNIST ``split`` (default sizes: 4000 train, 1000 test canvases)."""
    data = build_dataset({"name": "fashion_mnist", "download": False, **(data_cfg or {}), "image_size": 28}, split)
    n = num_canvases if num_canvases is not None else {"train": 4000, "test": 1000}[split]
    split_seed = seed * 2 + (split == "test")  # train and test canvases differ for one seed
    return make_canvases(data.images[:, 0], data.labels, data.classes, n, seed=split_seed, **kwargs)
