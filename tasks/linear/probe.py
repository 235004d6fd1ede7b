"""The paper's in-domain linear probe (``task=probe_<dataset>``): a linear layer trained by SGD on a
frozen backbone, with augmentation.

Protocol (the Squeeze-and-Span authors' linear evaluation, as in the SimSiam / VICReg CIFAR evaluations): the backbone stays in eval mode
(batch-norm statistics frozen) and receives no gradient; a linear layer on its pooled features is
trained for 90 epochs by SGD (momentum 0.9, no weight decay) at lr 30 for batch 256 (scaled linearly
with the batch), cosine-annealed per step, on random-resized crops with horizontal flips; the test
images are resized and centre-cropped. Reports top-1 on the test split.

The fast alternative on the same datasets, without augmentation, is ``task=linear_<dataset>``.
"""
from __future__ import annotations

import logging
import math
import os
import time
from dataclasses import dataclass, field
from typing import Optional

import torch
import torch.nn.functional as F
import torchvision.transforms as T
from torch import nn
from tqdm import tqdm

from benchmark.data import build_dataset
from benchmark.data.image_sets import ArrayImages, limit
from benchmark.interfaces import Task, TaskContext
from benchmark.registry import DATASETS, TASKS
from tasks.limits import EvalLimits
from tasks.linear.evaluation_sets import evaluation_transform, open_evaluation_set, takes_transform

log = logging.getLogger(__name__)


@dataclass
class ProbeConfig:
    dataset: str = "cifar10"
    epochs: int = 90
    batch_size: int = 256
    lr: float = 30.0  # for batch 256; scaled by batch_size / 256
    momentum: float = 0.9
    weight_decay: float = 0.0
    image_size: Optional[int] = None  # crop size for train and test; null = the pretraining resolution
    crop_scale: list = field(default_factory=lambda: [0.08, 1.0])  # RandomResizedCrop's area range
    num_workers: Optional[int] = None  # image-decoding processes; null = min(8, cores)
    seed: int = 0
    loader: dict = field(default_factory=dict)


def probe_transforms(size: int, channels: int, crop_scale) -> tuple[T.Compose, T.Compose]:
    gray = [T.Grayscale(1)] if channels == 1 else []
    to_unit = [T.ToTensor(), T.Normalize([0.5] * channels, [0.5] * channels)]  # [-1, 1], like G's images
    train = T.Compose([T.RandomResizedCrop(size, scale=tuple(crop_scale)), T.RandomHorizontalFlip(), *gray, *to_unit])
    return train, evaluation_transform(size, channels)[0]


class LinearProbe(Task):
    headline = "top1"
    higher_is_better = True

    def __init__(self, cfg: dict):
        super().__init__(ProbeConfig(**cfg))

    def _dataset(self, ctx: TaskContext, split: str, transform):
        cfg = self.cfg
        if takes_transform(DATASETS.get(cfg.dataset)):
            return open_evaluation_set(cfg.dataset, split, ctx, transform, cfg.loader)
        data = build_dataset({**dict(ctx.data_cfg), "name": cfg.dataset}, split)  # in memory (Fashion-MNIST)
        images = data.images.permute(0, 2, 3, 1).numpy()
        return ArrayImages(images[..., 0] if images.shape[-1] == 1 else images, data.labels, data.classes, transform)

    def check_data(self, ctx: TaskContext) -> None:
        for split in ("train", "test"):
            self._dataset(ctx, split, None)

    def run(self, backbone: nn.Module, ctx: TaskContext) -> dict[str, float]:
        limits = EvalLimits.of(ctx.eval_cfg)
        cfg, device = limits.bound(self.cfg), ctx.device
        epochs = cfg.epochs
        size = cfg.image_size or ctx.image_size
        train_tf, test_tf = probe_transforms(size, ctx.image_channels, cfg.crop_scale)
        train = limit(self._dataset(ctx, "train", train_tf), limits.samples("train"), cfg.seed)
        test = limit(self._dataset(ctx, "test", test_tf), limits.samples("test"), cfg.seed)
        workers = cfg.num_workers if cfg.num_workers is not None else min(8, os.cpu_count() or 1)
        generator = torch.Generator().manual_seed(cfg.seed)
        train_loader = torch.utils.data.DataLoader(train, cfg.batch_size, shuffle=True, drop_last=len(train) > cfg.batch_size,
                                                   num_workers=workers, generator=generator,
                                                   pin_memory=device.type == "cuda", persistent_workers=workers > 0)
        test_loader = torch.utils.data.DataLoader(test, cfg.batch_size, num_workers=workers)

        backbone.eval().to(device)  # frozen: features are computed under no_grad, BN statistics kept
        torch.manual_seed(cfg.seed)
        head = nn.Linear(backbone.feature_dim, len(train.classes)).to(device)
        head.weight.data.normal_(0, 0.01)  # as in the SimSiam / MoCo linear evaluations
        head.bias.data.zero_()
        lr = cfg.lr * cfg.batch_size / 256
        opt = torch.optim.SGD(head.parameters(), lr=lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
        total_steps = epochs * len(train_loader)
        schedule = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 0.5 * (1 + math.cos(math.pi * s / total_steps)))

        @torch.no_grad()
        def embed(images: torch.Tensor) -> torch.Tensor:  # the same features for training and testing
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
                return backbone(images.to(device, non_blocking=True)).float()

        t0 = time.time()
        progress = tqdm(total=total_steps, desc=f"probe {cfg.dataset}", mininterval=2, leave=False)
        for epoch in range(epochs):
            for images, labels in train_loader:
                loss = F.cross_entropy(head(embed(images)), labels.to(device))
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                schedule.step()
                progress.update()
                progress.set_postfix(epoch=epoch, loss=f"{loss.item():.3f}", refresh=False)
        progress.close()
        correct = 0
        with torch.no_grad():
            for images, labels in test_loader:
                correct += (head(embed(images)).argmax(1).cpu() == labels).sum().item()
        top1 = 100.0 * correct / len(test)
        log.info("probe %s: top-1 %.2f after %d epochs (%.0f s)", cfg.dataset, top1, epochs, time.time() - t0)
        return {"top1": top1, "final_train_loss": loss.item(), "epochs": float(epochs), "lr": lr,
                "feature_dim": float(backbone.feature_dim), "train_samples": float(len(train)),
                "test_samples": float(len(test))}


PROBE_TASKS = ("fmnist", "cifar10", "cifar100", "stl10", "imagenet100", "imagenet")
for _name in PROBE_TASKS:
    TASKS.register(f"probe_{_name}")(type(f"Probe_{_name}", (LinearProbe,), {
        "__doc__": f"The paper's SGD linear probe on {_name} (launch/task/probe_{_name}.yaml)."}))
