"""Object detection on a pretrained backbone: torchvision's Faster R-CNN, scored by VOC AP / AP50 / AP75.

The backbone's four stage maps feed a feature pyramid (torchvision's FeaturePyramidNetwork), then
torchvision's region proposal network and RoI heads, everything fine-tuned (the common
self-supervised detection protocol fine-tunes the whole network). Images stay at their size
(``min_size`` = ``max_size``) and are mapped to [-1, 1] like the generator's images. Evaluation is
``benchmark/voc_detection_eval.py`` (detectron2's PascalVOC evaluator: 11-point AP for 2007).

``task=fmnist_det``: the offline benchmark of ``benchmark/data/fmnist_canvas.py`` (Fashion-MNIST items
on 64-px canvases), minutes on a CPU.
"""
from __future__ import annotations

import copy
import logging
import math
import time
from collections import OrderedDict
from dataclasses import dataclass, field

import torch
from torch import nn
from torchvision.models.detection import FasterRCNN
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.faster_rcnn import FastRCNNPredictor, TwoMLPHead
from torchvision.ops import FeaturePyramidNetwork, MultiScaleRoIAlign
from tqdm import tqdm

from benchmark.data.fmnist_canvas import fmnist_canvases
from benchmark.interfaces import Task, TaskContext
from benchmark.registry import TASKS
from benchmark.voc_detection_eval import voc_detection_metrics

log = logging.getLogger(__name__)


class StagesWithPyramid(nn.Module):
    """A backbone's ``forward_stages`` maps through an FPN: the feature dict torchvision's detectors take."""

    def __init__(self, backbone: nn.Module, out_channels: int, probe_size: int = 64):
        super().__init__()
        self.body = backbone
        with torch.no_grad():
            was_training = backbone.training
            channels = [m.shape[1] for m in backbone.eval().forward_stages(
                torch.zeros(1, backbone.in_channels, probe_size, probe_size))]
            backbone.train(was_training)
        self.fpn = FeaturePyramidNetwork(channels, out_channels)
        self.out_channels = out_channels

    def forward(self, x: torch.Tensor) -> "OrderedDict[str, torch.Tensor]":
        return self.fpn(OrderedDict((str(i), m) for i, m in enumerate(self.body.forward_stages(x))))


@dataclass
class DetectionConfig:
    iterations: int = 600  # SGD steps; a preset may cap them (eval.iterations)
    batch_size: int = 8
    lr: float = 0.02  # for batch 16, scaled linearly
    momentum: float = 0.9
    weight_decay: float = 1e-4
    warmup_iterations: int = 100
    lr_steps: list = field(default_factory=lambda: [0.75, 0.9])  # fractions of training, lr x 0.1 at each
    fpn_channels: int = 64
    box_head_dim: int = 256  # the RoI head's two fully connected layers (torchvision's default: 1024)
    rois_per_image: int = 128  # sampled RoIs per training image (detectron2: 512, for ~600-px images)
    proposals: list = field(default_factory=lambda: [600, 300])  # RPN proposals kept before / after NMS
    anchor_sizes: list = field(default_factory=lambda: [8, 16, 32, 64])  # one per pyramid level, pixels
    image_size: int = 64
    train_canvases: int = 4000
    test_canvases: int = 1000
    score_threshold: float = 0.05  # kept detections, as in detectron2's evaluation
    seed: int = 0


def build_detector(backbone: nn.Module, num_classes: int, cfg: DetectionConfig) -> FasterRCNN:
    features = StagesWithPyramid(backbone, cfg.fpn_channels, cfg.image_size)
    anchors = AnchorGenerator(sizes=tuple((s,) for s in cfg.anchor_sizes),
                              aspect_ratios=((0.5, 1.0, 2.0),) * len(cfg.anchor_sizes))
    channels = backbone.in_channels
    pre_nms, post_nms = cfg.proposals
    return FasterRCNN(features, rpn_anchor_generator=anchors,
                      box_roi_pool=MultiScaleRoIAlign([str(i) for i in range(len(cfg.anchor_sizes))], 7, 2),
                      box_head=TwoMLPHead(cfg.fpn_channels * 7 * 7, cfg.box_head_dim),
                      box_predictor=FastRCNNPredictor(cfg.box_head_dim, num_classes + 1),  # + background
                      box_batch_size_per_image=cfg.rois_per_image,
                      rpn_pre_nms_top_n_train=pre_nms, rpn_post_nms_top_n_train=post_nms,
                      rpn_pre_nms_top_n_test=pre_nms, rpn_post_nms_top_n_test=post_nms,
                      min_size=cfg.image_size, max_size=cfg.image_size,
                      image_mean=[0.5] * channels, image_std=[0.5] * channels,  # [0, 1] -> [-1, 1]
                      box_score_thresh=cfg.score_threshold)


def _to_torchvision(target: dict) -> dict:
    """Inclusive pixel boxes -> torchvision's half-open ones; classes shifted past the background."""
    boxes = target["boxes"].clone()
    boxes[:, 2:] += 1
    return {"boxes": boxes, "labels": target["labels"] + 1}


class FashionMNISTDetection(Task):
    """Faster R-CNN on Fashion-MNIST canvases: AP (IoU .50:.95), AP50, AP75 on the test canvases."""

    headline = "AP50"
    higher_is_better = True
    anchors = ("random_init",)

    def __init__(self, cfg: dict):
        super().__init__(DetectionConfig(**cfg))

    def check_data(self, ctx: TaskContext) -> None:
        fmnist_canvases("test", num_canvases=1, data_cfg=dict(ctx.data_cfg))

    def run(self, backbone: nn.Module, ctx: TaskContext) -> dict[str, float]:
        cfg, device = self.cfg, ctx.device
        iterations = ctx.eval_cfg.get("iterations") or cfg.iterations
        n_train = min(cfg.train_canvases, ctx.eval_cfg.get("max_train_samples") or cfg.train_canvases)
        n_test = min(cfg.test_canvases, ctx.eval_cfg.get("max_test_samples") or cfg.test_canvases)
        train = fmnist_canvases("train", n_train, dict(ctx.data_cfg), cfg.seed, canvas_size=cfg.image_size)
        test = fmnist_canvases("test", n_test, dict(ctx.data_cfg), cfg.seed, canvas_size=cfg.image_size)
        if backbone.in_channels != 1:  # the canvases are grayscale
            raise ValueError(f"fmnist_det needs a 1-channel backbone, got {backbone.in_channels} channels")

        torch.manual_seed(cfg.seed)
        backbone = copy.deepcopy(backbone)  # fine-tuned here; the pretrained one stays as it was
        # pretraining may leave the weights channels-last; torchvision's CPU RoIAlign then crashed the
        # process ("double free or corruption") in our runs, so the detector works in the default layout
        backbone.to(memory_format=torch.contiguous_format)
        model = build_detector(backbone, len(train.classes), cfg).to(device)
        params = [p for p in model.parameters() if p.requires_grad]
        lr = cfg.lr * cfg.batch_size / 16
        opt = torch.optim.SGD(params, lr=lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
        steps = [int(f * iterations) for f in cfg.lr_steps]

        def lr_factor(i: int) -> float:
            warm = min(1.0, (i + 1) / max(1, cfg.warmup_iterations))
            return warm * 0.1 ** sum(i >= s for s in steps)

        schedule = torch.optim.lr_scheduler.LambdaLR(opt, lr_factor)
        rng = torch.Generator().manual_seed(cfg.seed)
        model.train()
        t0, losses = time.time(), {}
        for i in tqdm(range(iterations), desc="fmnist_det training", mininterval=2, leave=False):
            idx = torch.randint(len(train), (cfg.batch_size,), generator=rng)
            images = [train.images[j].float().div(255).to(device) for j in idx]
            targets = [{k: v.to(device) for k, v in _to_torchvision(train.targets[j]).items()} for j in idx]
            losses = model(images, targets)
            loss = sum(losses.values())
            if not math.isfinite(loss.item()):
                raise FloatingPointError(f"detection loss is {loss.item()} at iteration {i}")
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            schedule.step()
        train_seconds = time.time() - t0

        model.eval()
        predictions = []
        with torch.no_grad():
            for start in range(0, len(test), 32):
                batch = [test.images[j].float().div(255).to(device) for j in range(start, min(start + 32, len(test)))]
                for out in model(batch):
                    boxes = out["boxes"].cpu().clone()
                    boxes[:, 2:] -= 1  # back to inclusive pixels, the ground truth's convention
                    predictions.append({"boxes": boxes.numpy(), "scores": out["scores"].cpu().numpy(),
                                        "labels": (out["labels"].cpu() - 1).numpy()})
        targets = [{"boxes": t["boxes"].numpy(), "labels": t["labels"].numpy()} for t in test.targets]
        metrics = voc_detection_metrics(predictions, targets, len(test.classes))
        log.info("fmnist_det: AP %.2f AP50 %.2f AP75 %.2f after %d iterations (%.0f s)", metrics["AP"],
                 metrics["AP50"], metrics["AP75"], iterations, train_seconds)
        return {**metrics, "iterations": float(iterations), "final_loss": float(loss.item()),
                "train_samples": float(len(train)), "test_samples": float(len(test)),
                "feature_dim": float(backbone.feature_dim)}


TASKS.register("fmnist_det")(FashionMNISTDetection)
