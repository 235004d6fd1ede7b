"""The segmentation and normals protocol (``fit_and_score``): seeded draws of augmented training items,
stacked; a UPerNet head fitted on them; full-size predictions for evaluation (the augmentation itself is
tasks/dense/transforms.py)."""
from __future__ import annotations

import copy
import logging
import time

import torch
import torch.nn.functional as F
from torch import nn

from benchmark.data.dense_sets import dense_subset, to_channels
from tasks.dense.finetune import finetune, forever, sgd
from tasks.dense.heads import UPerNetHead
from tasks.dense.transforms import augment, evaluation_view, rescale_factor
from tasks.limits import EvalLimits

log = logging.getLogger(__name__)


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


def evaluated_side(side: int, cfg) -> int:
    """The side a square ``side`` px test image is predicted at (``evaluation_view``: fit in ``cfg.scale``)."""
    return max(1, round(side * rescale_factor(side, side, cfg.scale)))


def fit_and_score(backbone: nn.Module, train_set, test_set, cfg, ctx, name: str, out_channels: int,
                  pixel_loss, score) -> dict[str, float]:
    """The segmentation and normals protocol: a UPerNet head with ``out_channels`` outputs per pixel on a
    copy of ``backbone`` (frozen unless ``cfg.finetune_backbone``), trained by SGD with poly decay on
    ``pixel_loss(outputs, target)``, then ``score`` over (full-size prediction, target) pairs of the test set.
    The preset's ``eval`` limits (iterations, samples, image side, batch) apply."""
    device, channels = ctx.device, backbone.in_channels
    limits = EvalLimits.of(ctx.eval_cfg)
    cfg = limits.bound(cfg, dense=True)
    iterations = cfg.iterations
    train_set = dense_subset(train_set, limits.samples("train"), cfg.seed)
    test_set = dense_subset(test_set, limits.samples("test"), cfg.seed)

    torch.manual_seed(cfg.seed)
    backbone = copy.deepcopy(backbone).to(memory_format=torch.contiguous_format)  # the pretrained one stays
    model = UPerNetHead(backbone, out_channels, cfg.decoder_channels, frozen=not cfg.finetune_backbone).to(device)
    opt, schedule = sgd(model.parameters(), iterations, cfg.lr, cfg.momentum, cfg.weight_decay,
                        cfg.warmup_iterations, "poly", power=cfg.poly_power)

    def loss_of(batch):
        images, target = batch
        outputs = model(to_unit_range(images.to(device)))
        return {"loss": pixel_loss(outputs, {k: v.to(device) for k, v in target.items()})}

    t0 = time.time()
    last = finetune(model, training_batches(train_set, cfg, channels, iterations), loss_of, opt, schedule,
                    iterations, f"{name} training")
    train_seconds = time.time() - t0

    model.eval()
    test_loader = torch.utils.data.DataLoader(test_set, batch_size=None, num_workers=cfg.num_workers)
    with torch.no_grad():
        metrics = score((predict_full(model, image, cfg, channels, device).cpu(), target)
                        for image, target in test_loader)
    summary = ", ".join(f"{k} {v:.2f}" for k, v in metrics.items())
    log.info("%s: %s after %d iterations (%.0f s)", name, summary, iterations, train_seconds)
    return {**metrics, "iterations": float(iterations), "final_loss": last["loss"],
            "train_samples": float(len(train_set)), "test_samples": float(len(test_set)),
            "finetune_backbone": float(cfg.finetune_backbone)}
