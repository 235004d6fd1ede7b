"""Pretraining images streamed from files: sets too large to hold in memory (ImageNet: 1.28M JPEGs, about
140 GB decoded at 256 px), decoded by DataLoader workers while the accelerator trains.

``StreamedImages`` serves what the pretraining engine asks of a real-image set (the interface of
``InMemoryImages``): ``channels``, ``image_size``, ``len`` and ``batches(batch_size, rng)``, an endless
iterator of float batches in [-1, 1] whose ``state_dict`` resumes exactly. The order is the one
``InMemoryImages`` draws (a permutation of the set per epoch from ``rng``, the last partial batch dropped), so
a resumed run reads exactly the files the interrupted one would have read next; decoding is deterministic,
so the batches are the same bit for bit whatever the number of workers.

Each file is decoded to RGB, its shorter side resized to ``decode_size`` and centre-cropped to a square of
that side (uint8, in the worker); the method's batched augmentation (``augment.crop_size``: e.g. a 224 px
RandomResizedCrop) then crops from that square. This is the suite's recipe, not a published one: MoCo-style
loaders crop from the full-resolution image, which also reaches the borders of the long side that the centre
square leaves out. JPEGs are decoded at a reduced DCT scale when that still gives ``decode_size`` or more
(PIL's ``draft``): no gain at 256 px from ImageNet's ~500x375 files, 1.4x at 128 px (613 against 429 images/s
on one core, measurements/jpeg_streaming.py), more for larger files or smaller squares.
"""
from __future__ import annotations

import os
from typing import Optional

import numpy as np
import torch
from PIL import Image

from benchmark.data.image_sets import image_format
from benchmark.data.in_memory import ShuffledBatches, to_float


class DecodedSquares(torch.utils.data.Dataset):
    """``paths[i]`` decoded to a (3, size, size) uint8 tensor: shorter side resized to ``size``, centre crop."""

    def __init__(self, paths: list[str], size: int, draft: bool = True):
        self.paths, self.size, self.draft = list(paths), int(size), draft

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> torch.Tensor:
        with Image.open(self.paths[i]) as image:
            if self.draft:  # JPEG only: decode at 1/2, 1/4 or 1/8 scale while both sides stay >= size
                image.draft("RGB", (self.size, self.size))
            image = image.convert("RGB")
        width, height = image.size
        scale = self.size / min(width, height)
        resized = (max(self.size, round(width * scale)), max(self.size, round(height * scale)))
        image = image.resize(resized, Image.BILINEAR, reducing_gap=None)
        left, top = (resized[0] - self.size) // 2, (resized[1] - self.size) // 2
        image = image.crop((left, top, left + self.size, top + self.size))
        return torch.from_numpy(np.asarray(image, dtype=np.uint8).copy()).permute(2, 0, 1)


class StreamedImages:
    """A real-image pretraining set read from files (``paths``, with ``labels`` and ``classes``) by
    ``num_workers`` DataLoader processes (None = min(8, CPU count))."""

    def __init__(self, paths: list[str], labels, classes: list[str], decode_size: int,
                 num_workers: Optional[int] = None, draft: bool = True):
        if decode_size < 8:
            raise ValueError(f"decode_size must be at least 8 px, got {decode_size}")
        self.squares = DecodedSquares(paths, decode_size, draft)
        self.labels, self.classes = torch.as_tensor(np.asarray(labels), dtype=torch.int64), classes
        self.num_workers = min(8, os.cpu_count() or 1) if num_workers is None else int(num_workers)

    def __len__(self) -> int:
        return len(self.squares)

    def __getitem__(self, i: int):
        return to_float(self.squares[i]), self.labels[i]

    @property
    def channels(self) -> int:
        return 3

    @property
    def image_size(self) -> int:
        return self.squares.size

    def native_format(self) -> dict:
        return image_format(3, "variable")  # files of many sizes; image_size is what the loader makes of them

    def batches(self, batch_size: int, rng: torch.Generator) -> "StreamedBatches":
        """Endless shuffled batches, as ``InMemoryImages.batches``, decoded by the workers."""
        if batch_size > len(self):
            raise ValueError(f"batch size {batch_size} exceeds the dataset size {len(self)}")
        return StreamedBatches(self.squares, batch_size, rng, self.num_workers)


class StreamedBatches(ShuffledBatches):
    """Endless iterator over shuffled batches of decoded files with a resumable position (``ShuffledBatches``'s
    order and state, over ``squares``). A DataLoader reads the rest of the current epoch ahead
    (``prefetch_factor`` batches per worker); the position saved is that of the last batch handed out, not of
    what the workers have read ahead."""

    def __init__(self, squares: DecodedSquares, batch_size: int, rng: torch.Generator, num_workers: int):
        super().__init__(squares, batch_size, rng)
        self.num_workers = num_workers
        self._loader = None  # an iterator over the epoch's remaining batches, from ``position``

    def __next__(self) -> torch.Tensor:
        if self.order is None or self.position + self.batch_size > len(self.order):
            self.order = torch.randperm(len(self.images), generator=self.rng)
            self.position = 0
            self._loader = None
        if self._loader is None:
            self._loader = iter(self._epoch_loader())
        images = next(self._loader)
        self.position += self.batch_size
        return to_float(images)

    def _epoch_loader(self) -> torch.utils.data.DataLoader:
        full = (len(self.order) - self.position) // self.batch_size
        starts = range(self.position, self.position + full * self.batch_size, self.batch_size)
        index_batches = [self.order[s:s + self.batch_size].tolist() for s in starts]
        return torch.utils.data.DataLoader(self.images, batch_sampler=index_batches, num_workers=self.num_workers,
                                           pin_memory=torch.cuda.is_available())

    def load_state_dict(self, state: dict) -> None:
        super().load_state_dict(state)
        self._loader = None  # the next batch starts a loader at the restored position
