"""Object detection on a pretrained backbone: torchvision's Faster R-CNN + FPN, scored by VOC AP / AP50 / AP75.

The detector (tasks/dense/heads.py) takes the backbone's stage maps through a feature pyramid,
then torchvision's region proposal network and RoI heads. The common self-supervised protocol
fine-tunes everything (``finetune_backbone: true``); ``false`` trains the detector on a frozen backbone,
a dense probe of the representation. Images are mapped to [-1, 1] like the generator's images.
Evaluation is tasks/dense/voc_ap.py (detectron2's PascalVOC evaluator: 11-point AP for 2007).

  - ``task=voc_det``: VOC07+12 trainval -> VOC07 test (benchmark/data/voc_detection.py);
  - ``task=fmnist_det``: the offline benchmark of benchmark/data/fmnist_canvas.py (Fashion-MNIST items
    on 64-px canvases), minutes on a CPU, through the same code.
"""
from __future__ import annotations

import copy
import logging
import time
from dataclasses import dataclass, field

import torch
from torch import nn

from benchmark.data.dense_sets import dense_subset, to_channels
from benchmark.interfaces import Task, TaskContext
from benchmark.registry import TASKS
from tasks.dense.backends import import_framework
from tasks.dense.finetune import finetune, forever, sgd
from tasks.dense.heads import build_faster_rcnn
from tasks.dense.splits import CanvasSplits, OfficialSplits
from tasks.dense.voc_ap import voc_detection_metrics
from tasks.limits import EvalLimits

log = logging.getLogger(__name__)


@dataclass
class DetectionConfig:
    iterations: int = 600  # SGD steps; a preset may cap them (eval.iterations)
    batch_size: int = 8
    lr: float = 0.02  # for batch 16, scaled linearly
    momentum: float = 0.9
    weight_decay: float = 1e-4
    warmup_iterations: int = 100
    lr_steps: list = field(default_factory=lambda: [0.75, 0.9])  # fractions of training, lr x 0.1 at each
    finetune_backbone: bool = True
    fpn_channels: int = 256
    box_head_dim: int = 1024  # the RoI head's two fully connected layers
    rois_per_image: int = 512  # sampled RoIs per training image
    proposals: list = field(default_factory=lambda: [2000, 1000])  # RPN proposals kept before / after NMS
    anchor_scale: int = 8  # anchor side = anchor_scale x the level's stride (detectron2: 32 px at stride 4)
    min_size: list = field(default_factory=lambda: [800])  # short side; training draws one, testing uses the last
    max_size: int = 1333
    flip: bool = True  # random horizontal flips in training
    score_threshold: float = 0.05  # kept detections, as in detectron2's evaluation
    detections_per_image: int = 100
    num_workers: int = 4  # image decoding processes
    seed: int = 0


def _flip(image: torch.Tensor, target: dict) -> tuple[torch.Tensor, dict]:
    width = image.shape[-1]
    boxes = target["boxes"].clone()
    boxes[:, [0, 2]] = width - 1 - target["boxes"][:, [2, 0]]  # inclusive pixels mirror about (W - 1) / 2
    return image.flip(-1), {**target, "boxes": boxes}


def voc_prediction(out: dict) -> dict:
    """A torchvision detector's output (half-open pixel boxes, classes after the background) as voc_ap takes
    it: inclusive pixel boxes, the ground truth's convention, and class indices of ``CLASSES``."""
    boxes = out["boxes"].detach().cpu().clone()
    boxes[:, 2:] -= 1
    return {"boxes": boxes.numpy(), "scores": out["scores"].detach().cpu().numpy(),
            "labels": (out["labels"].detach().cpu() - 1).numpy()}


def _to_torchvision(target: dict, device) -> dict:
    """Inclusive pixel boxes -> torchvision's half-open ones; classes shifted past the background."""
    boxes = target["boxes"].clone()
    boxes[:, 2:] += 1
    return {"boxes": boxes.to(device), "labels": (target["labels"] + 1).to(device)}


class _TrainingItems(torch.utils.data.Dataset):
    """Items converted to the backbone's channels, flipped at random (seeded by item and draw)."""

    def __init__(self, dataset, channels: int, flip: bool):
        self.dataset, self.channels, self.flip = dataset, channels, flip

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, i: int):
        image, target = self.dataset[i]
        image = to_channels(image, self.channels)
        if self.flip and torch.rand(()) < 0.5:
            image, target = _flip(image, target)
        return image, target


def _collate(items):
    return [image for image, _ in items], [target for _, target in items]


def train_and_evaluate(backbone: nn.Module, train_set, test_set, cfg: DetectionConfig, ctx: TaskContext,
                       name: str) -> dict[str, float]:
    """Fine-tune a detector on ``train_set`` and score it on ``test_set`` (dense sets of boxes)."""
    device = ctx.device
    limits = EvalLimits.of(ctx.eval_cfg)
    cfg = limits.bound(cfg, dense=True)
    iterations = cfg.iterations
    train_set = dense_subset(train_set, limits.samples("train"), cfg.seed)
    test_set = dense_subset(test_set, limits.samples("test"), cfg.seed)
    channels = backbone.in_channels

    torch.manual_seed(cfg.seed)
    backbone = copy.deepcopy(backbone)  # fine-tuned here; the pretrained one stays as it was
    # pretraining may leave the weights channels-last; torchvision's CPU RoIAlign then crashed the
    # process ("double free or corruption") in our runs, so the detector works in the default layout
    backbone.to(memory_format=torch.contiguous_format)
    model = build_faster_rcnn(backbone.to(device), len(train_set.classes), cfg,
                              frozen=not cfg.finetune_backbone).to(device)
    opt, schedule = sgd(model.parameters(), iterations, cfg.lr * cfg.batch_size / 16, cfg.momentum,
                        cfg.weight_decay, cfg.warmup_iterations, "steps", cfg.lr_steps)
    sampler = torch.utils.data.RandomSampler(train_set, replacement=True, num_samples=iterations * cfg.batch_size,
                                             generator=torch.Generator().manual_seed(cfg.seed))
    loader = torch.utils.data.DataLoader(_TrainingItems(train_set, channels, cfg.flip), cfg.batch_size,
                                         sampler=sampler, num_workers=cfg.num_workers, collate_fn=_collate,
                                         drop_last=True, worker_init_fn=_seed_worker,
                                         generator=torch.Generator().manual_seed(cfg.seed))

    def loss_of(batch):
        images, targets = batch
        losses = model([im.float().div(255).to(device) for im in images],
                       [_to_torchvision(t, device) for t in targets])
        return {"loss": sum(losses.values()), **losses}

    t0 = time.time()
    last = finetune(model, forever(loader), loss_of, opt, schedule, iterations, f"{name} training")
    train_seconds = time.time() - t0

    model.eval()
    predictions, truths = [], []
    test_loader = torch.utils.data.DataLoader(_TrainingItems(test_set, channels, flip=False), 8,
                                              num_workers=cfg.num_workers, collate_fn=_collate)
    with torch.no_grad():
        for images, targets in test_loader:
            for out, target in zip(model([im.float().div(255).to(device) for im in images]), targets):
                predictions.append(voc_prediction(out))
                truths.append({"boxes": target["boxes"].numpy(), "labels": target["labels"].numpy(),
                               "difficult": target["difficult"].numpy()})
    metrics = voc_detection_metrics(predictions, truths, len(train_set.classes))
    log.info("%s: AP %.2f AP50 %.2f AP75 %.2f after %d iterations (%.0f s)", name, metrics["AP"],
             metrics["AP50"], metrics["AP75"], iterations, train_seconds)
    return {**metrics, "iterations": float(iterations), "final_loss": last["loss"],
            "train_samples": float(len(train_set)), "test_samples": float(len(test_set)),
            "finetune_backbone": float(cfg.finetune_backbone)}


def _seed_worker(worker_id: int) -> None:
    torch.manual_seed(torch.initial_seed() % 2**31 + worker_id)


@dataclass
class FashionMNISTDetectionConfig(DetectionConfig):
    train_canvases: int = 4000
    test_canvases: int = 1000
    image_size: int = 64


class FashionMNISTDetection(CanvasSplits, Task):
    """Faster R-CNN on Fashion-MNIST canvases: AP (IoU .50:.95), AP50, AP75 on the test canvases."""

    headline = "AP50"
    higher_is_better = True
    anchors = ("random_init",)  # raw pixels have no stage maps to detect from

    def __init__(self, cfg: dict):
        super().__init__(FashionMNISTDetectionConfig(**cfg))

    def tested_side(self, side: int, ctx: TaskContext) -> int:
        """torchvision's detection transform: the short side to the last ``min_size``, the long one at most
        ``max_size``."""
        cfg = EvalLimits.of(ctx.eval_cfg).bound(self.cfg, dense=True)
        return max(1, round(side * min(cfg.min_size[-1] / side, cfg.max_size / side)))

    def run(self, backbone: nn.Module, ctx: TaskContext) -> dict[str, float]:
        return train_and_evaluate(backbone, *self.splits(ctx), self.cfg, ctx, self.name)


@dataclass
class VOCDetectionConfig(DetectionConfig):
    train_split: str = "0712_trainval"
    test_split: str = "07_test"
    backend: str = "builtin"  # builtin: torchvision's Faster R-CNN + FPN | detectron2: MoCo's R50-C4 protocol


class VOCDetection(OfficialSplits, Task):
    """Faster R-CNN fine-tuned on VOC07+12 trainval, AP / AP50 / AP75 on VOC07 test (launch/task/voc_det.yaml)."""

    headline = "AP50"
    higher_is_better = True
    anchors = ("random_init",)
    dataset = "voc_detection"
    backends = ("builtin", "detectron2")

    def __init__(self, cfg: dict):
        super().__init__(VOCDetectionConfig(**cfg))

    def check_data(self, ctx: TaskContext) -> None:
        super().check_data(ctx)
        if self.cfg.backend == "detectron2":  # a missing framework fails here, before any pretraining
            import_framework("detectron2", "detectron2")

    def run(self, backbone: nn.Module, ctx: TaskContext) -> dict[str, float]:
        if self.cfg.backend == "detectron2":
            from tasks.dense.backends.detectron2_voc import train_and_evaluate_detectron2  # an optional extra
            return train_and_evaluate_detectron2(backbone, self.cfg, ctx, self.name)
        return train_and_evaluate(backbone, *self.splits(ctx), self.cfg, ctx, self.name)

    def recipe(self, ctx: TaskContext) -> dict:
        if self.cfg.backend == "detectron2":
            from tasks.dense.backends.detectron2_voc import recipe
            return recipe(self.cfg, ctx.eval_cfg)
        return {"backend": "builtin",
                "protocol": "torchvision Faster R-CNN + FPN on the backbone's stage maps, MoCo's VOC schedule "
                            "(VOC07+12 trainval -> VOC07 test, 24k iterations of 16, steps at 18k / 22k)",
                "deviations": BUILTIN_DEVIATIONS}


# where backend=builtin differs from the protocol the field publishes (MoCo's detectron2 R50-C4)
BUILTIN_DEVIATIONS = [
    "detector: torchvision's Faster R-CNN + FPN (MoCo's benchmark: detectron2's R50-C4 with a norm after res5)",
    "backbone norm: plain BatchNorm fine-tuned (MoCo: SyncBN across 8 GPUs); no precise-BN pass",
]


TASKS.register("fmnist_det")(FashionMNISTDetection)
TASKS.register("voc_det")(VOCDetection)
