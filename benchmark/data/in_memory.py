"""A labelled image set held in memory as uint8, served as float images in [-1, 1]."""
from __future__ import annotations

import torch

from benchmark.data.image_sets import image_format


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

    def native_format(self) -> dict:
        """The images as the loader holds them (e.g. Fashion-MNIST zero-padded to ``data.image_size``), in the
        terms of ``benchmark.data.image_sets.image_format``."""
        return image_format(self.channels, (self.images.shape[-1], self.images.shape[-2]))

    def subset(self, n: int | None, seed: int = 0) -> "InMemoryImages":
        """A seeded random subset of ``n`` items (all of them when n is None or too large)."""
        if n is None or n >= len(self):
            return self
        idx = torch.randperm(len(self), generator=torch.Generator().manual_seed(seed))[:n]
        return InMemoryImages(self.images[idx], self.labels[idx], self.classes)

    def batches(self, batch_size: int, rng: torch.Generator) -> "ShuffledBatches":
        """Endless shuffled batches of float images (epoch after epoch, last partial batch dropped).

        The iterator's ``state_dict`` (the epoch's permutation, the position in it, ``rng``'s state) lets a
        resumed run draw exactly the batches the interrupted one would have drawn next."""
        if batch_size > len(self):
            raise ValueError(f"batch size {batch_size} exceeds the dataset size {len(self)}")
        return ShuffledBatches(self.images, batch_size, rng)


class ShuffledBatches:
    """Endless iterator over shuffled batches of ``images`` with a resumable position. ``images``: the uint8
    tensor (N, C, H, W); a subclass may pass any sized set (streamed.StreamedBatches: files it decodes)."""

    def __init__(self, images_uint8: torch.Tensor, batch_size: int, rng: torch.Generator):
        self.images, self.batch_size, self.rng = images_uint8, batch_size, rng
        self.order: torch.Tensor | None = None  # this epoch's permutation, drawn when the epoch starts
        self.position = 0  # index in ``order`` of the next batch's first item

    def __iter__(self) -> "ShuffledBatches":
        return self

    def __next__(self) -> torch.Tensor:
        if self.order is None or self.position + self.batch_size > len(self.order):
            self.order = torch.randperm(len(self.images), generator=self.rng)
            self.position = 0
        idx = self.order[self.position:self.position + self.batch_size]
        self.position += self.batch_size
        return to_float(self.images[idx])

    def state_dict(self) -> dict:
        return {"order": None if self.order is None else self.order.clone(), "position": self.position,
                "rng": self.rng.get_state(), "batch_size": self.batch_size, "n": len(self.images)}

    def load_state_dict(self, state: dict) -> None:
        if (state["batch_size"], state["n"]) != (self.batch_size, len(self.images)):
            raise ValueError(f"sampler state of batch size {state['batch_size']} over {state['n']} images does not "
                             f"fit batch size {self.batch_size} over {len(self.images)} images")
        self.order = None if state["order"] is None else state["order"].clone()
        self.position = state["position"]
        self.rng.set_state(state["rng"])


def to_float(images_uint8: torch.Tensor) -> torch.Tensor:
    return images_uint8.float().div_(127.5).sub_(1.0)
