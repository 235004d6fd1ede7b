"""A labelled image set held in memory as uint8, served as float images in [-1, 1]."""
from __future__ import annotations

import torch


class InMemoryImages(torch.utils.data.Dataset):
    def __init__(self, images_uint8: torch.Tensor, labels: torch.Tensor, classes: list[str]):
        assert images_uint8.dtype == torch.uint8 and images_uint8.ndim == 4, "expects (N, C, H, W) uint8"
        self.images, self.labels, self.classes = images_uint8, labels, classes

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i):
        return to_float(self.images[i]), self.labels[i]

    @property
    def channels(self) -> int:
        return self.images.shape[1]

    @property
    def image_size(self) -> int:
        return self.images.shape[-1]

    def subset(self, n: int | None, seed: int = 0) -> "InMemoryImages":
        """A seeded random subset of ``n`` items (all of them when n is None or too large)."""
        if n is None or n >= len(self):
            return self
        idx = torch.randperm(len(self), generator=torch.Generator().manual_seed(seed))[:n]
        return InMemoryImages(self.images[idx], self.labels[idx], self.classes)

    def batches(self, batch_size: int, rng: torch.Generator):
        """Endless shuffled batches of float images (epoch after epoch, last partial batch dropped)."""
        if batch_size > len(self):
            raise ValueError(f"batch size {batch_size} exceeds the dataset size {len(self)}")
        while True:
            order = torch.randperm(len(self), generator=rng)
            for start in range(0, len(order) - batch_size + 1, batch_size):
                yield to_float(self.images[order[start:start + batch_size]])


def to_float(images_uint8: torch.Tensor) -> torch.Tensor:
    return images_uint8.float().div_(127.5).sub_(1.0)
