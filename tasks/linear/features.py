"""Frozen-feature extraction: the backbone in eval mode, no augmentation, batched, no gradients.

Features of evaluation sets are cached on disk (``<features_cache>/<dataset>/<split>-<key>.pt``), the
key hashing the backbone's weights, the dataset, the split, its size and the transform, so a second
task on the same backbone (or a rerun after a crash) reads them back instead of recomputing. Each file is a
verified artifact (benchmark/verified_artifacts.py: a sha256 sidecar ``<file>.sha256``): the key says which features
belong in the file, the digest that the file still holds them; a file altered after it was written (even one
that still unpickles as a tensor of the right shape) is moved aside, with a warning, and recomputed.
"""
from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path
from typing import Optional

import torch
from torch import nn
from tqdm import tqdm

from benchmark.artifacts import config_hash
from benchmark.verified_artifacts import DamagedArtifactError, load_or_set_aside, save_verified, set_aside_damaged
from benchmark.data.in_memory import to_float

log = logging.getLogger(__name__)


def _prepare(backbone: nn.Module, device: torch.device):
    backbone.eval().to(device)
    channels_last = torch.channels_last if any(p.ndim == 4 for p in backbone.parameters()) else torch.contiguous_format
    backbone.to(memory_format=channels_last)  # about a third faster for convolutions, on CPU too
    return channels_last


def _forward(backbone: nn.Module, images: torch.Tensor, device: torch.device, memory_format) -> torch.Tensor:
    images = images.to(device, non_blocking=True).contiguous(memory_format=memory_format)
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
        return backbone(images).float().cpu()


@torch.no_grad()
def extract_features(backbone: nn.Module, dataset, device: torch.device, batch_size: int = 512,
                     desc: str = "features") -> tuple[torch.Tensor, torch.Tensor]:
    """(features float32 (N, D) on CPU, labels (N,)) of every item of an InMemoryImages dataset."""
    was_training = backbone.training
    memory_format = _prepare(backbone, device)
    feats = []
    for start in tqdm(range(0, len(dataset), batch_size), desc=desc, mininterval=2, leave=False):
        feats.append(_forward(backbone, to_float(dataset.images[start:start + batch_size]), device, memory_format))
    backbone.train(was_training)
    return torch.cat(feats), dataset.labels.clone()


@torch.no_grad()
def features_of_batches(backbone: nn.Module, batches, device: torch.device, total: Optional[int] = None,
                        desc: str = "features") -> torch.Tensor:
    """Features (N, D) float32 on CPU of an iterable of image batches (float in [-1, 1], (B, C, H, W)), e.g.
    generated images, or a real set read by ``benchmark.quality.frechet.dataset_batches``. ``total``: how many
    images the batches hold, for the progress bar."""
    was_training = backbone.training
    memory_format = _prepare(backbone, device)
    feats = []
    with tqdm(total=total, desc=desc, unit="img", mininterval=2, leave=False) as bar:
        for images in batches:
            feats.append(_forward(backbone, images, device, memory_format))
            bar.update(len(images))
    backbone.train(was_training)
    return torch.cat(feats)


@torch.no_grad()
def extract_evaluation_features(backbone: nn.Module, dataset, device: torch.device, batch_size: int = 256,
                                num_workers: Optional[int] = None, desc: str = "features") -> torch.Tensor:
    """Features (N, D) float32 on CPU of an evaluation set (items decoded and transformed by workers)."""
    if num_workers is None:
        num_workers = min(8, os.cpu_count() or 1)
    loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=num_workers,
                                         pin_memory=device.type == "cuda", persistent_workers=False)
    was_training = backbone.training
    memory_format = _prepare(backbone, device)
    feats = [_forward(backbone, images, device, memory_format)
             for images, _ in tqdm(loader, desc=desc, mininterval=2, leave=False)]
    backbone.train(was_training)
    return torch.cat(feats)


def backbone_fingerprint(backbone: nn.Module) -> str:
    """Hash of the backbone's class, parameter and buffer names, shapes and values; non-persistent buffers
    (e.g. the input normalisation's mean and std, which are not in the state dict) included, so two
    backbones that compute different features never share a cache entry."""
    digest = hashlib.sha256(type(backbone).__qualname__.encode())
    tensors = dict(backbone.state_dict())
    tensors.update({f"{name} (non-persistent)": b for name, b in backbone.named_buffers() if name not in tensors})
    for name, tensor in tensors.items():
        t = tensor.detach().cpu().contiguous()
        digest.update(f"{name}:{tuple(t.shape)}:{t.dtype}".encode())
        digest.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return digest.hexdigest()[:16]


def cached_evaluation_features(backbone: nn.Module, dataset, dataset_name: str, split: str, transform_key: str,
                               device: torch.device, cache_dir: Optional[str], batch_size: int = 256,
                               num_workers: Optional[int] = None) -> torch.Tensor:
    """``extract_evaluation_features``, read from / written to the cache when ``cache_dir`` is set."""
    if cache_dir is None:
        return extract_evaluation_features(backbone, dataset, device, batch_size, num_workers,
                                           f"{dataset_name} {split} features")
    # which items (a set's fingerprint: file names or pixels, targets, order), not only how many: two
    # SUN397 partitions, or two seeded subsets, have the same size
    items = dataset.fingerprint() if hasattr(dataset, "fingerprint") else len(dataset)
    key = config_hash({"backbone": backbone_fingerprint(backbone), "dataset": dataset_name, "split": split,
                       "items": items, "transform": transform_key}, length=16)
    path = Path(cache_dir) / dataset_name / f"{split}-{key}.pt"
    rebuild = "recomputing the features"
    feats = load_or_set_aside(path, "feature cache", rebuild)
    if feats is not None and not (isinstance(feats, torch.Tensor) and len(feats) == len(dataset)):
        held = f"{len(feats)} rows" if isinstance(feats, torch.Tensor) else f"a {type(feats).__name__}"
        set_aside_damaged(DamagedArtifactError(path, f"holds {held}, not the {len(dataset)} rows of the set"),
                          "feature cache", rebuild)
        feats = None
    if feats is not None:
        log.info("features of %s %s read from %s", dataset_name, split, path)
        return feats
    feats = extract_evaluation_features(backbone, dataset, device, batch_size, num_workers,
                                        f"{dataset_name} {split} features")
    save_verified(feats, path)
    return feats
