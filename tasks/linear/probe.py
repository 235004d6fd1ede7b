"""The paper's in-domain linear probe (``task=probe_<dataset>``): a linear layer trained on a frozen
backbone, with augmentation, as in the Squeeze-and-Span authors' linear evaluation
(``eval_classification.py`` of yangyu12/squeeze-and-span, itself the SimSiam / MoCo v3 recipe).

Protocol: the backbone stays in eval mode (batch-norm statistics frozen) and receives no gradient; a
linear layer on its pooled features (weights N(0, 0.01), bias 0) is trained for 90 epochs by SGD
(momentum 0.9, no weight decay) at lr 30 for batch 256, scaled linearly with the batch
(``lr * batch_size / 256``), cosine-annealed to zero, on random-resized crops with horizontal flips;
the test images are resized and centre-cropped; accuracy is measured on the official test split.
Every training sample is used in every epoch: the loader keeps the last, short batch (no
``drop_last``, as in the authors' loader), so a batch larger than the training set (a preset's few
images) makes one step an epoch, and STL-10's 5k images at batch 4096 make two (4096 + 904).
``lr_schedule``: ``per_epoch`` (the default, the authors' ``adjust_learning_rate``) sets the lr of epoch
e of E to lr (1 + cos(pi e / E)) / 2 at the start of each epoch; ``per_step`` anneals it every step.
The images are handed to the backbone in [-1, 1], like the generators' images; a backbone built with
``input_norm: cifar | imagenet`` (the paper presets) maps them to the authors' normalisation itself.

STL-10 (``launch/task/probe_stl10.yaml``) uses the authors' STL recipe: ``optimizer: lars``, batch 4096,
lr 0.1 (x 4096 / 256 = 1.6), 64 px, trained on the 5k labelled train images and tested on the 8k test
images. ``optimizer: lars`` is ``timm.optim.Lars`` with ``always_adapt=True`` and ``trust_clip=False``,
``trust_coeff = lars_trust_coefficient`` (0.001), which is what the authors' apex ``LARC(clip=False)``
around SGD computes: for every parameter tensor with non-zero weight and gradient norms the gradient is
replaced by ``trust * ||w|| / (||g|| + wd ||w|| + 1e-8) * (g + wd w)`` (You et al. 2017), a tensor with a
zero norm keeps ``g + wd w`` unscaled, and the result goes through momentum SGD at the scheduled lr.
The adaptation is applied to every parameter, the bias included (timm's and apex's convention; some
other LARS implementations exclude biases and other 1-d parameters); the bias starts at zero, so its
first step is plain SGD. ``always_adapt=True`` matters: timm's default adapts only when weight decay is
non-zero, so with this probe's weight decay 0 it would be plain SGD.

Metrics: the headline ``top1`` is the LAST epoch's test top-1. The test split is also evaluated after
the first epoch, every ``eval_every`` epochs and after the last (the authors' schedule, with 5), and the
best of those is reported as ``top1_best``, with ``best_epoch`` (1-based, the earliest on a tie), as the
authors' code keeps its best epoch. ``top1_best`` is selected on the test split: an optimistic number,
reported beside the headline, never as it. ``eval_every: 0`` (or null) evaluates only after the last
epoch, so that ``top1_best == top1``.

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
from benchmark.data.image_sets import ArrayImages, image_format, limit
from benchmark.interfaces import Task, TaskContext, describe_evaluation_images
from benchmark.registry import DATASETS, TASKS
from tasks.limits import EvalLimits
from tasks.linear.evaluation_sets import evaluation_transform, open_evaluation_set, takes_transform

log = logging.getLogger(__name__)

OPTIMIZERS = ("sgd", "lars")
LR_SCHEDULES = ("per_epoch", "per_step")
TEST_BATCH = 256  # the authors' test loader's batch (the accuracy does not depend on it)


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
    optimizer: str = "sgd"  # sgd | lars
    lars_trust_coefficient: float = 0.001  # LARS's trust coefficient (optimizer: lars only)
    lr_schedule: str = "per_epoch"  # per_epoch (the authors') | per_step
    eval_every: Optional[int] = 5  # test after epoch 1, every eval_every epochs and the last; 0/null: the last only

    def __post_init__(self):
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"probe option optimizer={self.optimizer!r} is not valid; valid optimizers: "
                             f"{', '.join(OPTIMIZERS)}")
        if self.lr_schedule not in LR_SCHEDULES:
            raise ValueError(f"probe option lr_schedule={self.lr_schedule!r} is not valid; valid: "
                             f"{', '.join(LR_SCHEDULES)}")
        if self.eval_every is not None and self.eval_every < 0:
            raise ValueError(f"probe option eval_every={self.eval_every!r} must be >= 0 "
                             "(0 or null: the last epoch only)")


def cosine_factor(step: int, steps_per_epoch: int, epochs: int, schedule: str) -> float:
    """The lr of 0-based ``step`` over its peak: per_epoch holds epoch e's value (1 + cos(pi e / E)) / 2 for
    the whole epoch (the authors'), per_step anneals over all steps."""
    if schedule == "per_epoch":
        return 0.5 * (1 + math.cos(math.pi * (step // steps_per_epoch) / epochs))
    return 0.5 * (1 + math.cos(math.pi * step / (epochs * steps_per_epoch)))


def validated_epochs(epochs: int, eval_every: Optional[int]) -> list[int]:
    """The 1-based epochs after which the test split is evaluated: the first, every ``eval_every``-th and
    the last (the authors' schedule); only the last when ``eval_every`` is 0 or None."""
    if not eval_every:
        return [epochs]
    return sorted({1, *range(eval_every, epochs + 1, eval_every), epochs})


def probe_optimizer(params, cfg: ProbeConfig, lr: float) -> torch.optim.Optimizer:
    """The probe's optimizer at base rate ``lr``: SGD, or LARS as the authors' apex ``LARC(clip=False)``
    (timm's Lars adapting every parameter, whatever the weight decay; see the module docstring)."""
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    from timm.optim import Lars  # imported here: timm's import is slow and only LARS needs it
    return Lars(params, lr=lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay,
                trust_coeff=cfg.lars_trust_coefficient, trust_clip=False, always_adapt=True)


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
        self._native: Optional[dict] = None  # the dataset's own format, as the last opened split showed it

    def evaluation_images(self, ctx: TaskContext) -> dict:
        """Train crops and test images are shown at ``image_size`` (or the pretraining size) in the backbone's
        channels."""
        if self._native is None:  # not run in this process
            self._dataset(ctx, "test", None)
        used = image_format(ctx.image_channels, self.cfg.image_size or ctx.image_size)
        return describe_evaluation_images(self.cfg.dataset, self._native, used)

    def _dataset(self, ctx: TaskContext, split: str, transform):
        cfg = self.cfg
        if takes_transform(DATASETS.get(cfg.dataset)):
            data = open_evaluation_set(cfg.dataset, split, ctx, transform, cfg.loader)
        else:
            memory = build_dataset({**dict(ctx.data_cfg), "name": cfg.dataset}, split)  # in memory (Fashion-MNIST)
            images = memory.images.permute(0, 2, 3, 1).numpy()
            data = ArrayImages(images[..., 0] if images.shape[-1] == 1 else images, memory.labels, memory.classes,
                               transform)
        self._native = data.native_format()
        return data

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
        # every sample in every epoch, the last batch short (the authors' loader); a batch above the set's size: 1 step
        train_loader = torch.utils.data.DataLoader(train, cfg.batch_size, shuffle=True, drop_last=False,
                                                   num_workers=workers, generator=generator,
                                                   pin_memory=device.type == "cuda", persistent_workers=workers > 0)
        # its own generator: an evaluation draws nothing from the global RNG, so eval_every leaves training unchanged
        test_loader = torch.utils.data.DataLoader(test, TEST_BATCH, num_workers=workers, persistent_workers=workers > 0,
                                                  generator=torch.Generator().manual_seed(cfg.seed))

        backbone.eval().to(device)  # frozen: features are computed under no_grad, BN statistics kept
        torch.manual_seed(cfg.seed)
        head = nn.Linear(backbone.feature_dim, len(train.classes)).to(device)
        head.weight.data.normal_(0, 0.01)  # as in the SimSiam / MoCo linear evaluations
        head.bias.data.zero_()
        lr = cfg.lr * cfg.batch_size / 256
        opt = probe_optimizer(head.parameters(), cfg, lr)
        steps_per_epoch = len(train_loader)
        total_steps = epochs * steps_per_epoch
        schedule = torch.optim.lr_scheduler.LambdaLR(
            opt, lambda step: cosine_factor(step, steps_per_epoch, epochs, cfg.lr_schedule))

        @torch.no_grad()
        def embed(images: torch.Tensor) -> torch.Tensor:  # the same features for training and testing
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
                return backbone(images.to(device, non_blocking=True)).float()

        @torch.no_grad()
        def test_top1() -> float:
            correct = 0
            for images, labels in test_loader:
                correct += (head(embed(images)).argmax(1).cpu() == labels).sum().item()
            return 100.0 * correct / len(test)

        validate = set(validated_epochs(epochs, cfg.eval_every))
        accuracies: dict[int, float] = {}  # 1-based epoch -> test top-1
        t0 = time.time()
        progress = tqdm(total=total_steps, desc=f"probe {cfg.dataset}", mininterval=2, leave=False)
        for epoch in range(1, epochs + 1):
            for images, labels in train_loader:
                loss = F.cross_entropy(head(embed(images)), labels.to(device))
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                schedule.step()
                progress.update()
                progress.set_postfix(epoch=epoch, loss=f"{loss.item():.3f}", refresh=False)
            if epoch in validate:
                accuracies[epoch] = test_top1()
                log.info("probe %s: epoch %d/%d, test top-1 %.2f", cfg.dataset, epoch, epochs, accuracies[epoch])
        progress.close()
        top1 = accuracies[epochs]
        best_epoch = max(accuracies, key=lambda e: (accuracies[e], -e))  # the earliest of the best
        log.info("probe %s: top-1 %.2f after %d epochs (best %.2f at epoch %d, selected on the test split; %.0f s)",
                 cfg.dataset, top1, epochs, accuracies[best_epoch], best_epoch, time.time() - t0)
        return {"top1": top1, "top1_best": accuracies[best_epoch], "best_epoch": float(best_epoch),
                "final_train_loss": loss.item(), "epochs": float(epochs), "lr": lr,
                "feature_dim": float(backbone.feature_dim), "train_samples": float(len(train)),
                "test_samples": float(len(test))}


PROBE_TASKS = ("fmnist", "cifar10", "cifar100", "stl10", "imagenet100", "imagenet")
for _name in PROBE_TASKS:
    TASKS.register(f"probe_{_name}")(type(f"Probe_{_name}", (LinearProbe,), {
        "__doc__": f"The paper's linear probe on {_name} (launch/task/probe_{_name}.yaml)."}))
