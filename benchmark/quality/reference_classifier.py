"""The suite's reference classifier: a small CNN trained by the suite on an in-memory labelled set
(Fashion-MNIST, 32 px zero-padded, 1 channel, in the embedded benchmark) and cached as an artifact.

It serves two analyses of a generator that need a network which knows the data set and nothing else:
  * the feature network of an offline Fréchet distance (benchmark/quality/frechet.py) where Inception
    weights are not at hand. That number is "the Fréchet distance in the features of the suite's
    Fashion-MNIST classifier", never an FID: it is on another scale and comparable to nothing published;
  * the labels of an unconditional generator's samples (``predict``), for the UMAP analysis.

Network: three blocks of 3x3 convolution, batch norm, ReLU and 2x2 max pooling (a 32 px input ends as a
4x4 map), flattened into a fully connected layer whose ReLU output (128-d) is the feature, then a linear
layer to the logits. Trained from a seeded RNG with AdamW under a cosine schedule for 4 epochs, and evaluated
on the test split. On Fashion-MNIST that reaches 91.79% top-1 (1,872 steps of 128 images; 212 s on one CPU
thread of a 2-core machine busy with other jobs, 0.065 s a step when it is not); random shifts of up to 2 px
and horizontal flips (``augment``) cost 1.4 points at that budget (90.42%), so they are off by default: they
pay only over longer training.

Conventions: images in and out are the suite's, float in [-1, 1], (N, C, H, W), with the channels and size
of the training set. ``test_accuracy`` is top-1 in percent on the data's test split.

Artifact: ``<artifacts>/quality/reference_classifier-<hash>/classifier.pt`` (a verified artifact,
benchmark/verified_artifacts.py) and ``config.json``; the hash covers the training config and the data config
without its location keys (where the files are does not change what the classifier learns).
"""
from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import asdict, dataclass, fields
from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from benchmark.artifacts import artifact_dir, atomic_write_text, exclusive
from benchmark.data import build_dataset
from benchmark.errors import UserError
from benchmark.verified_artifacts import load_or_set_aside, save_verified

log = logging.getLogger(__name__)

LOCATION_KEYS = ("root", "cache_dir", "download")
# Bump when a change to the code changes what training produces: the artifact key includes it.
VERSION = 1
CHUNK = 1024  # images per forward pass in features/predict/evaluation: bounded memory for any N
DISPLAY_NAMES = {"fashion_mnist": "Fashion-MNIST"}  # data config name -> how results name the set


@dataclass(frozen=True)
class TrainConfig:
    epochs: float = 4.0  # passes over the train split (a fraction trains part of one)
    max_steps: Optional[int] = None  # stop early after this many steps (tests); None: the epochs decide
    batch_size: int = 128
    lr: float = 2e-3  # AdamW's peak learning rate, annealed to 0 on a cosine
    weight_decay: float = 5e-4
    widths: tuple = (16, 32, 64)  # channels of the three convolution blocks
    feature_dim: int = 128
    augment: bool = False  # random shifts of up to 2 px and horizontal flips (see the module docstring)
    seed: int = 0


def train_config(overrides: Optional[dict] = None) -> TrainConfig:
    """The default TrainConfig with ``overrides`` applied; an unknown key is an error naming the valid ones."""
    overrides = dict(overrides or {})
    valid = {f.name for f in fields(TrainConfig)}
    unknown = sorted(set(overrides) - valid)
    if unknown:
        raise UserError(f"reference classifier: no training option(s) {unknown}; valid options: {sorted(valid)}")
    if "widths" in overrides:
        overrides["widths"] = tuple(overrides["widths"])
    return TrainConfig(**overrides)


class ClassifierNet(nn.Module):
    def __init__(self, image_channels: int, image_size: int, num_classes: int, widths=(16, 32, 64),
                 feature_dim: int = 128):
        super().__init__()
        if image_size % 8:
            raise ValueError(f"the reference classifier pools three times: image size {image_size} is not a "
                             "multiple of 8")
        layers, channels = [], image_channels
        for width in widths:
            layers += [nn.Conv2d(channels, width, 3, padding=1, bias=False), nn.BatchNorm2d(width),
                       nn.ReLU(inplace=True), nn.MaxPool2d(2)]
            channels = width
        self.convs = nn.Sequential(*layers)
        side = image_size // 2 ** len(widths)
        self.embed = nn.Sequential(nn.Flatten(), nn.Linear(channels * side * side, feature_dim), nn.ReLU(inplace=True))
        self.head = nn.Linear(feature_dim, num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.embed(self.convs(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


class ReferenceClassifier(nn.Module):
    """The trained classifier, frozen, in eval mode. ``clf(images)``: logits; ``clf.features(images)``: the
    (N, feature_dim) penultimate features; ``clf.predict(images)``: class ids (LongTensor). ``features`` and
    ``predict`` run without gradients, in chunks, and return tensors on the classifier's device."""

    def __init__(self, net: ClassifierNet, *, image_channels: int, image_size: int, num_classes: int,
                 classes: list, test_accuracy: float, train_config: dict, data_name: str, artifact_dir: str,
                 reused: bool):
        super().__init__()
        self.net = net.eval().requires_grad_(False)
        self.image_channels, self.image_size = image_channels, image_size
        self.num_classes, self.classes = num_classes, list(classes)
        self.test_accuracy, self.train_config = test_accuracy, train_config
        self.data_name, self.artifact_dir, self.reused = data_name, artifact_dir, reused
        self.feature_dim = net.head.in_features

    def train(self, mode: bool = True) -> "ReferenceClassifier":
        return super().train(False)  # a reference: batch norm always uses its running statistics

    @property
    def device(self) -> torch.device:
        return next(self.net.parameters()).device

    def _check(self, images: torch.Tensor) -> torch.Tensor:
        expected = (self.image_channels, self.image_size, self.image_size)
        if images.ndim != 4 or tuple(images.shape[1:]) != expected:
            raise ValueError(f"the reference classifier of {self.data_name!r} takes (N, {expected[0]}, {expected[1]}, "
                             f"{expected[2]}) images in [-1, 1], got {tuple(images.shape)}")
        return images.to(self.device, torch.float32)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.net(self._check(images))

    @torch.no_grad()
    def features(self, images: torch.Tensor) -> torch.Tensor:
        images = self._check(images)
        if not len(images):
            return images.new_zeros(0, self.feature_dim)
        return torch.cat([self.net.features(chunk) for chunk in images.split(CHUNK)])

    @torch.no_grad()
    def predict(self, images: torch.Tensor) -> torch.Tensor:
        images = self._check(images)
        if not len(images):
            return torch.zeros(0, dtype=torch.long, device=self.device)
        return torch.cat([self.net(chunk).argmax(1) for chunk in images.split(CHUNK)])

    def frechet_feature(self) -> "ClassifierFeature":
        """This classifier's features as the feature network of ``frechet.frechet_distance``."""
        return ClassifierFeature(self)


class ClassifierFeature(nn.Module):
    """The feature network of the offline Fréchet distance: [-1, 1] images in, penultimate features out."""

    def __init__(self, classifier: ReferenceClassifier):
        super().__init__()
        self.classifier = classifier
        self.num_features = classifier.feature_dim
        data = DISPLAY_NAMES.get(classifier.data_name, classifier.data_name)
        self.description = (f"Fréchet distance in the features of the suite's {data} classifier "
                            f"({self.num_features}-d penultimate features; test top-1 "
                            f"{classifier.test_accuracy:.2f}%; {classifier.artifact_dir}); not an FID")

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.classifier.features(images)


# ------------------------------------------------------------------------------------------------ training
def _labelled_tensors(dataset, split: str, data_name: str):
    images, labels = getattr(dataset, "images", None), getattr(dataset, "labels", None)
    if not (isinstance(images, torch.Tensor) and images.dtype == torch.uint8 and isinstance(labels, torch.Tensor)):
        raise UserError(f"the reference classifier trains on an in-memory labelled set (uint8 images and labels, "
                        f"e.g. data=fashion_mnist); the {split} split of {data_name!r} is a "
                        f"{type(dataset).__name__}")
    return images, labels.long()


def _augment(x: torch.Tensor, rng: torch.Generator, pad: int = 2) -> torch.Tensor:
    """Per-image random shifts of up to ``pad`` px (the border filled with black, -1, as the data's own
    padding) and horizontal flips, drawn from ``rng`` so a training run is reproducible."""
    n, _, h, w = x.shape
    padded = F.pad(x, (pad,) * 4, value=-1.0)
    dy = torch.randint(0, 2 * pad + 1, (n,), generator=rng)
    dx = torch.randint(0, 2 * pad + 1, (n,), generator=rng)
    rows = (dy[:, None] + torch.arange(h)[None]).to(x.device)  # (n, h)
    cols = (dx[:, None] + torch.arange(w)[None]).to(x.device)  # (n, w)
    index = torch.arange(n, device=x.device)[:, None, None]
    shifted = padded.permute(0, 2, 3, 1)[index, rows[:, :, None], cols[:, None, :]].permute(0, 3, 1, 2)
    flip = (torch.rand(n, generator=rng) < 0.5).to(x.device)[:, None, None, None]
    return torch.where(flip, shifted.flip(-1), shifted)


def to_float(images_uint8: torch.Tensor) -> torch.Tensor:
    return images_uint8.float().div_(127.5).sub_(1.0)


@torch.no_grad()
def accuracy(net: nn.Module, images_uint8: torch.Tensor, labels: torch.Tensor, device) -> float:
    """Top-1 accuracy in percent of ``net`` (in eval mode) on uint8 images."""
    was_training = net.training
    net.eval()
    correct = 0
    for start in range(0, len(images_uint8), CHUNK):
        x = to_float(images_uint8[start:start + CHUNK].to(device))
        correct += (net(x).argmax(1).cpu() == labels[start:start + CHUNK]).sum().item()
    net.train(was_training)
    return 100.0 * correct / max(len(images_uint8), 1)


def train_classifier(cfg: TrainConfig, train_set, device, data_name: str = "data") -> dict:
    """Train a ClassifierNet on ``train_set``; returns its state and what the training did (steps, losses)."""
    images, labels = _labelled_tensors(train_set, "train", data_name)
    num_classes = len(getattr(train_set, "classes", [])) or int(labels.max()) + 1
    with torch.random.fork_rng(devices=[]):  # seeded initial weights; the caller's global RNG is left as it was
        torch.manual_seed(cfg.seed)
        net = ClassifierNet(images.shape[1], images.shape[-1], num_classes, cfg.widths, cfg.feature_dim)
    net = net.to(device)
    steps_per_epoch = max(len(images) // cfg.batch_size, 1)
    steps = max(int(math.ceil(cfg.epochs * steps_per_epoch)), 1)
    if cfg.max_steps is not None:
        steps = min(steps, cfg.max_steps)
    optimizer = torch.optim.AdamW(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: 0.5 * (1 + math.cos(math.pi * s / steps)))
    rng = torch.Generator().manual_seed(cfg.seed)  # the order and the augmentation
    batch_size = min(cfg.batch_size, len(images))
    order, position, losses = torch.randperm(len(images), generator=rng), 0, []
    net.train()
    t0 = time.time()
    for _ in tqdm(range(steps), desc="reference classifier", mininterval=2):
        if position + batch_size > len(order):  # a new epoch; the last partial batch is dropped
            order, position = torch.randperm(len(images), generator=rng), 0
        idx = order[position:position + batch_size]
        position += batch_size
        x = to_float(images[idx].to(device))
        if cfg.augment:
            x = _augment(x, rng)
        loss = F.cross_entropy(net(x), labels[idx].to(device))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
        losses.append(loss.item())
    net.eval()
    return {"state_dict": {k: v.cpu() for k, v in net.state_dict().items()}, "num_classes": num_classes,
            "image_channels": int(images.shape[1]), "image_size": int(images.shape[-1]),
            "widths": list(cfg.widths), "feature_dim": cfg.feature_dim, "steps": steps,
            "train_seconds": time.time() - t0, "losses": losses}


def reference_classifier(data_cfg: dict, artifacts_root: str, device, train_cfg: Optional[dict] = None
                         ) -> ReferenceClassifier:
    """The suite's classifier of the ``data`` set: loaded from its artifact, or trained, evaluated on the test
    split and cached first. ``train_cfg`` overrides TrainConfig's defaults (and so changes the artifact)."""
    data_cfg = dict(data_cfg)
    cfg = train_config(train_cfg)
    data_name = str(data_cfg.get("name"))
    key = {"classifier": {**asdict(cfg), "widths": list(cfg.widths)}, "version": VERSION,
           "data": {k: v for k, v in data_cfg.items() if k not in LOCATION_KEYS}}
    out_dir = artifact_dir(artifacts_root, "quality", "reference_classifier", key)
    weights = out_dir / "classifier.pt"
    with exclusive(out_dir):  # concurrent jobs train it once
        state = load_or_set_aside(weights, "reference classifier", "training it again")
        reused = state is not None
        if reused:
            log.info("reusing the reference classifier %s (test top-1 %.2f%%)", weights, state["test_accuracy"])
        else:
            log.info("training the reference classifier of %r (no artifact at %s)", data_name, out_dir)
            train_set = build_dataset(data_cfg, "train")
            state = train_classifier(cfg, train_set, device, data_name)
            classes = list(getattr(train_set, "classes", []))
            del train_set
            test_images, test_labels = _labelled_tensors(build_dataset(data_cfg, "test"), "test", data_name)
            net = _build(state)
            state.update(test_accuracy=accuracy(net.to(device), test_images, test_labels, device),
                         test_images=len(test_images), classes=classes, train_config=key["classifier"],
                         config=key, final_loss=state["losses"][-1])
            del state["losses"]  # in the log; the artifact keeps the last one
            log.info("reference classifier of %r: test top-1 %.2f%% after %d steps (%.0f s)", data_name,
                     state["test_accuracy"], state["steps"], state["train_seconds"])
            save_verified(state, weights)
            atomic_write_text(out_dir / "config.json", json.dumps(
                {**key, "test_accuracy": state["test_accuracy"], "test_images": state["test_images"],
                 "steps": state["steps"], "train_seconds": state["train_seconds"]}, indent=2))
    net = _build(state).to(device)
    return ReferenceClassifier(net, image_channels=state["image_channels"], image_size=state["image_size"],
                               num_classes=state["num_classes"], classes=state["classes"],
                               test_accuracy=float(state["test_accuracy"]), train_config=state["train_config"],
                               data_name=data_name, artifact_dir=str(out_dir), reused=reused)


def _build(state: dict) -> ClassifierNet:
    net = ClassifierNet(state["image_channels"], state["image_size"], state["num_classes"], tuple(state["widths"]),
                        state["feature_dim"])
    net.load_state_dict(state["state_dict"])
    return net.eval()
