"""Semantic segmentation on a pretrained backbone: a UPerNet head (segmentation-models-pytorch's decoder,
tasks/dense/heads.py) on the backbone's stage maps, trained with per-pixel cross-entropy (unlabelled
pixels ignored), scored by mIoU and pixel accuracy over the whole evaluation set (tasks/dense/metrics.py).

  - ``task=ade20k_seg``: ADE20K (ADEChallengeData2016, 150 classes), mmsegmentation's UPerNet-R50
    512x512 recipe (launch/task/ade20k_seg.yaml says where ours differs);
  - ``task=fmnist_seg``: the offline benchmark of benchmark/data/fmnist_canvas.py (Fashion-MNIST items on
    64-px canvases; background + 10 classes), minutes on a CPU, through the same code.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from benchmark.data.dense_sets import IGNORE_INDEX
from benchmark.interfaces import Task, TaskContext
from benchmark.registry import TASKS
from tasks.dense.backends import import_framework
from tasks.dense.metrics import SegmentationConfusion
from tasks.dense.pixel_protocol import evaluated_side, fit_and_score
from tasks.dense.splits import CanvasSplits, OfficialSplits
from tasks.limits import EvalLimits


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
    num_classes = len(train_set.classes)

    def pixel_loss(logits, target):
        return F.cross_entropy(logits, target["mask"], ignore_index=IGNORE_INDEX)

    def score(predictions):
        confusion = SegmentationConfusion(num_classes, IGNORE_INDEX)
        for logits, target in predictions:
            confusion.update(logits.argmax(0), target["mask"])
        return confusion.metrics()

    return fit_and_score(backbone, train_set, test_set, cfg, ctx, name, num_classes, pixel_loss, score)


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

    def tested_side(self, side: int, ctx: TaskContext) -> int:
        return evaluated_side(side, EvalLimits.of(ctx.eval_cfg).bound(self.cfg, dense=True))

    def run(self, backbone: nn.Module, ctx: TaskContext) -> dict[str, float]:
        train, test = self.splits(ctx)
        return train_and_evaluate(backbone, _WithBackground(train), _WithBackground(test), self.cfg, ctx, self.name)


@dataclass
class ADE20KSegmentationConfig(SegmentationConfig):
    train_split: str = "train"
    test_split: str = "val"
    backend: str = "builtin"  # builtin: segmentation-models-pytorch's UPerNet | mmseg: mmsegmentation's recipe
    auxiliary_weight: float = 0.4  # backend=mmseg: the FCN auxiliary head's loss weight on stage 3 (0 = none)


class ADE20KSegmentation(OfficialSplits, Task):
    """UPerNet fine-tuned on ADE20K training, mIoU / pixel accuracy on validation (launch/task/ade20k_seg.yaml)."""

    headline = "mIoU"
    higher_is_better = True
    anchors = ("random_init",)
    dataset = "ade20k"
    backends = ("builtin", "mmseg")

    def __init__(self, cfg: dict):
        super().__init__(ADE20KSegmentationConfig(**cfg))

    def check_data(self, ctx: TaskContext) -> None:
        super().check_data(ctx)
        if self.cfg.backend == "mmseg":  # a missing framework fails here, before any pretraining
            import_framework("mmseg.models", "mmseg")

    def run(self, backbone: nn.Module, ctx: TaskContext) -> dict[str, float]:
        if self.cfg.backend == "mmseg":
            from tasks.dense.backends.mmseg_ade20k import train_and_evaluate_mmseg  # an optional extra
            return train_and_evaluate_mmseg(backbone, self.cfg, ctx, self.name)
        return train_and_evaluate(backbone, *self.splits(ctx), self.cfg, ctx, self.name)

    def recipe(self, ctx: TaskContext) -> dict:
        if self.cfg.backend == "mmseg":
            from tasks.dense.backends.mmseg_ade20k import recipe
            return recipe(self.cfg, ctx.eval_cfg)
        return {"backend": "builtin",
                "protocol": "segmentation-models-pytorch UPerNet decoder on the backbone's stage maps, mmseg's "
                            "upernet_r50 512x512 ADE20K schedule (160k iterations of 16, SGD 0.01, poly)",
                "deviations": BUILTIN_DEVIATIONS}


# where backend=builtin differs from mmsegmentation's UPerNet R50 recipe (launch/task/ade20k_seg.yaml)
BUILTIN_DEVIATIONS = [
    "decoder: segmentation-models-pytorch's UPerNet (a LayerNorm on each stage map), not mmseg's UPerHead",
    "no auxiliary FCN head (mmseg: weight 0.4 on stage 3)",
    "no photometric distortion and no cat_max_ratio re-crop; poly decay to 0 (mmseg: to 1e-4)",
    "backbone norm: plain BatchNorm (mmseg: SyncBN); the suite's ResNet-50 stem (mmseg: ResNetV1c's deep stem)",
]


TASKS.register("fmnist_seg")(FashionMNISTSegmentation)
TASKS.register("ade20k_seg")(ADE20KSegmentation)
