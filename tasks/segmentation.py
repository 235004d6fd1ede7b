"""Semantic segmentation on a pretrained backbone: a UPerNet head (segmentation-models-pytorch's decoder,
benchmark/dense_heads.py) on the backbone's stage maps, trained with per-pixel cross-entropy (unlabelled
pixels ignored), scored by mIoU and pixel accuracy over the whole evaluation set (benchmark/dense_metrics.py).

  - ``task=ade20k_seg``: ADE20K (ADEChallengeData2016, 150 classes), mmsegmentation's UPerNet-R50
    512x512 recipe (launch/task/ade20k_seg.yaml says where ours differs);
  - ``task=fmnist_seg``: the offline benchmark of benchmark/data/fmnist_canvas.py (Fashion-MNIST items on
    64-px canvases; background + 10 classes), minutes on a CPU, through the same code.
"""
from __future__ import annotations

import copy
import logging
import time
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from benchmark.data.dense_sets import IGNORE_INDEX, dense_subset
from benchmark.dense_heads import UPerNetHead
from benchmark.dense_metrics import SegmentationConfusion
from benchmark.dense_transforms import apply_eval_limits
from benchmark.dense_training import predict_full, to_unit_range, training_batches
from benchmark.finetune import finetune, sgd
from benchmark.interfaces import Task, TaskContext
from benchmark.registry import TASKS
from tasks.dense_data import CanvasSplits, OfficialSplits

log = logging.getLogger(__name__)


@dataclass
class SegmentationConfig:
    iterations: int = 160000  # SGD steps; a preset may cap them (eval.iterations)
    batch_size: int = 16
    lr: float = 0.01
    momentum: float = 0.9
    weight_decay: float = 5e-4
    warmup_iterations: int = 0
    poly_power: float = 0.9  # lr x (1 - i / iterations) ** poly_power
    finetune_backbone: bool = True
    decoder_channels: int = 512
    scale: list = field(default_factory=lambda: [2048, 512])  # (long, short) the image is rescaled to fit
    ratio_range: list = field(default_factory=lambda: [0.5, 2.0])  # training rescale ratios
    crop_size: int = 512
    flip: bool = True
    num_workers: int = 4
    seed: int = 0


def train_and_evaluate(backbone: nn.Module, train_set, test_set, cfg: SegmentationConfig, ctx: TaskContext,
                       name: str) -> dict[str, float]:
    device, channels = ctx.device, backbone.in_channels
    cfg = apply_eval_limits(cfg, ctx.eval_cfg)
    iterations = ctx.eval_cfg.get("iterations") or cfg.iterations
    train_set = dense_subset(train_set, ctx.eval_cfg.get("max_train_samples"), cfg.seed)
    test_set = dense_subset(test_set, ctx.eval_cfg.get("max_test_samples"), cfg.seed)
    num_classes = len(train_set.classes)

    torch.manual_seed(cfg.seed)
    backbone = copy.deepcopy(backbone).to(memory_format=torch.contiguous_format)  # the pretrained one stays
    model = UPerNetHead(backbone, num_classes, cfg.decoder_channels, frozen=not cfg.finetune_backbone).to(device)
    opt, schedule = sgd(model.parameters(), iterations, cfg.lr, cfg.momentum, cfg.weight_decay,
                        cfg.warmup_iterations, "poly", power=cfg.poly_power)

    def loss_of(batch):
        images, target = batch
        logits = model(to_unit_range(images.to(device)))
        return {"loss": F.cross_entropy(logits, target["mask"].to(device), ignore_index=IGNORE_INDEX)}

    t0 = time.time()
    last = finetune(model, training_batches(train_set, cfg, channels, iterations), loss_of, opt, schedule,
                    iterations, f"{name} training")
    train_seconds = time.time() - t0

    model.eval()
    confusion = SegmentationConfusion(num_classes, IGNORE_INDEX)
    test_loader = torch.utils.data.DataLoader(test_set, batch_size=None, num_workers=cfg.num_workers)
    with torch.no_grad():
        for image, target in test_loader:
            confusion.update(predict_full(model, image, cfg, channels, device).argmax(0).cpu(), target["mask"])
    metrics = confusion.metrics()
    log.info("%s: mIoU %.2f pixel accuracy %.2f after %d iterations (%.0f s)", name, metrics["mIoU"],
             metrics["pixel_accuracy"], iterations, train_seconds)
    return {**metrics, "iterations": float(iterations), "final_loss": last["loss"],
            "train_samples": float(len(train_set)), "test_samples": float(len(test_set)),
            "finetune_backbone": float(cfg.finetune_backbone)}


@dataclass
class FashionMNISTSegmentationConfig(SegmentationConfig):
    train_canvases: int = 4000
    test_canvases: int = 1000
    image_size: int = 64


class _WithBackground(torch.utils.data.Dataset):
    """Canvases as a segmentation set: class 0 is the background, 1..10 the Fashion-MNIST classes."""

    def __init__(self, canvases):
        self.canvases, self.classes = canvases, ["background"] + list(canvases.classes)

    def __len__(self) -> int:
        return len(self.canvases)

    def __getitem__(self, i: int):
        image, target = self.canvases[i]
        return image, {"mask": target["mask"]}


class FashionMNISTSegmentation(CanvasSplits, Task):
    """UPerNet on Fashion-MNIST canvases: mIoU over background + 10 classes, pixel accuracy."""

    headline = "mIoU"
    higher_is_better = True
    anchors = ("random_init",)  # raw pixels have no stage maps

    def __init__(self, cfg: dict):
        super().__init__(FashionMNISTSegmentationConfig(**cfg))

    def run(self, backbone: nn.Module, ctx: TaskContext) -> dict[str, float]:
        train, test = self.splits(ctx)
        return train_and_evaluate(backbone, _WithBackground(train), _WithBackground(test), self.cfg, ctx, self.name)


@dataclass
class ADE20KSegmentationConfig(SegmentationConfig):
    train_split: str = "train"
    test_split: str = "val"


class ADE20KSegmentation(OfficialSplits, Task):
    """UPerNet fine-tuned on ADE20K training, mIoU / pixel accuracy on validation (launch/task/ade20k_seg.yaml)."""

    headline = "mIoU"
    higher_is_better = True
    anchors = ("random_init",)
    dataset = "ade20k"

    def __init__(self, cfg: dict):
        super().__init__(ADE20KSegmentationConfig(**cfg))

    def run(self, backbone: nn.Module, ctx: TaskContext) -> dict[str, float]:
        return train_and_evaluate(backbone, *self.splits(ctx), self.cfg, ctx, self.name)


TASKS.register("fmnist_seg")(FashionMNISTSegmentation)
TASKS.register("ade20k_seg")(ADE20KSegmentation)
