"""A WRN-28-2 CIFAR-10 classifier read from a checkpoint file: the labeller of ``analysis.labels=checkpoint``.

The poster's Fig. 2 colours each generated sample by the class a CIFAR-10 classifier gives its image. The
authors used a WideResNet-28-2 checkpoint of their own (``plot_umap.py --cpath``, network in
``src/models/wrn.py`` of yangyu12/squeeze-and-span). This module rebuilds that network in its own code with the
same parameter names, so the authors' state dict (or any TorchSSL-style WRN-28-2 trained on CIFAR-10) loads
into it unchanged, and labels [-1, 1] images with it.

What comes from the authors' code (``src/models/wrn.py``, ``plot_umap.py``):

- the network, built there as ``WideResNet(first_stride=1, num_classes=10)``: depth 28 (4 residual units per
  stage), widen factor 2, channels 16, 32, 64, 128; a 3x3 stem conv; three stages ``block1``..``block3``
  (strides 1, 2, 2), each an ``nn.Sequential`` named ``layer``; then BatchNorm, LeakyReLU(0.1), global
  average pooling and ``fc``. Every convolution has a bias; every BatchNorm has momentum 0.001 and eps 0.001;
- the pre-activation unit (``BasicBlock``) and its quirk: when a unit changes the channel count and is not
  told to activate before the residual (the first unit of ``block2`` and ``block3``), its BatchNorm-LeakyReLU
  pre-activation is computed but unused: both the conv path and the 1x1 shortcut read the raw input. Kept
  exactly, since the checkpoint was trained that way;
- the checkpoint layout: ``torch.load`` of a dict holding the state dict under ``'net'`` (``'state_dict'``
  named as the alternative), keys possibly prefixed ``module.`` (``nn.DataParallel``), keys the network does
  not have dropped;
- the input: the generator's [-1, 1] image mapped to [0, 1], then normalised with mean (0.4914, 0.4822,
  0.4465) and std (0.2023, 0.1994, 0.2010) per channel; the label is the argmax of the logits.

Conventions here: RGB 32x32 images in [-1, 1], (N, 3, 32, 32); the network runs in eval mode, without
gradients, on the images' device. Unlike the authors' ``load_state_dict(..., strict=False)``, every parameter
and buffer of the network must be in the file with its shape: a partial load leaves some layers at random
initialisation and silently gives garbage labels, so a missing key or a shape mismatch is an error naming
it. (The one exception: BatchNorm's ``num_batches_tracked`` counters, absent from checkpoints saved before
PyTorch 0.4.1, take no part in an eval-mode forward pass and are not required.) The file is read with
``torch.load(weights_only=True)``: tensors and plain containers only, nothing in the file is run; a file
holding other objects is refused, never re-read unsafely.
"""
from __future__ import annotations

import hashlib
import io
import logging
import pickle
import re
from pathlib import Path
from typing import Union

import torch
from torch import nn

from benchmark.errors import RefusedFileError, UserError

log = logging.getLogger(__name__)

CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2023, 0.1994, 0.2010)
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
BN_MOMENTUM, BN_EPS, LEAKY_SLOPE = 0.001, 0.001, 0.1
CONFIG_KEY = "analysis.classifier_checkpoint"
CHUNK = 500  # images per forward pass


def _batchnorm(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, momentum=BN_MOMENTUM, eps=BN_EPS)


class BasicBlock(nn.Module):
    """One pre-activation residual unit (attribute names as in the authors' file, so their keys load)."""

    def __init__(self, in_channels: int, out_channels: int, stride: int, activate_before_residual: bool = False):
        super().__init__()
        self.same_width = in_channels == out_channels
        self.activate_before_residual = activate_before_residual
        self.bn1 = _batchnorm(in_channels)
        self.relu1 = nn.LeakyReLU(LEAKY_SLOPE)
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=True)
        self.bn2 = _batchnorm(out_channels)
        self.relu2 = nn.LeakyReLU(LEAKY_SLOPE)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, stride=1, padding=1, bias=True)
        self.convShortcut = None if self.same_width else nn.Conv2d(in_channels, out_channels, 1, stride=stride,
                                                                   padding=0, bias=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.same_width and self.activate_before_residual:
            x = self.relu1(self.bn1(x))  # the shortcut, too, reads the activated input
            branch_in = x
        else:
            activated = self.relu1(self.bn1(x))
            # widening without activate_before_residual: the activation is computed (in training it moves
            # bn1's running statistics) but both paths read the raw input, as in the authors' network
            branch_in = activated if self.same_width else x
        h = self.conv2(self.relu2(self.bn2(self.conv1(branch_in))))
        shortcut = x if self.same_width else self.convShortcut(x)
        return shortcut + h


class NetworkBlock(nn.Module):
    """A stage: ``units`` BasicBlocks in ``self.layer``, the first one changing width and stride."""

    def __init__(self, units: int, in_channels: int, out_channels: int, stride: int,
                 activate_before_residual: bool = False):
        super().__init__()
        self.layer = nn.Sequential(*[
            BasicBlock(in_channels if i == 0 else out_channels, out_channels, stride if i == 0 else 1,
                       activate_before_residual) for i in range(units)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layer(x)


class WideResNet(nn.Module):
    """WRN-``depth``-``widen_factor`` for 32x32 RGB images; logits of ``num_classes`` classes."""

    def __init__(self, num_classes: int = 10, depth: int = 28, widen_factor: int = 2, first_stride: int = 1):
        super().__init__()
        if (depth - 4) % 6:
            raise ValueError(f"WideResNet depth must be 6n+4, got {depth}")
        units = (depth - 4) // 6
        widths = [16, 16 * widen_factor, 32 * widen_factor, 64 * widen_factor]
        self.channels = widths[3]
        self.conv1 = nn.Conv2d(3, widths[0], 3, stride=1, padding=1, bias=True)
        self.block1 = NetworkBlock(units, widths[0], widths[1], first_stride, activate_before_residual=True)
        self.block2 = NetworkBlock(units, widths[1], widths[2], 2)
        self.block3 = NetworkBlock(units, widths[2], widths[3], 2)
        self.bn1 = _batchnorm(widths[3])
        self.relu = nn.LeakyReLU(LEAKY_SLOPE)
        self.fc = nn.Linear(widths[3], num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.block3(self.block2(self.block1(self.conv1(x))))
        h = self.relu(self.bn1(h)).mean(dim=(2, 3))
        return self.fc(h)


def wrn_28_2(num_classes: int = 10) -> WideResNet:
    """The authors' labeller network: ``WideResNet(first_stride=1, num_classes=10)``, depth 28, widen 2."""
    return WideResNet(num_classes=num_classes, depth=28, widen_factor=2, first_stride=1)


def normalise(images: torch.Tensor) -> torch.Tensor:
    """[-1, 1] images -> [0, 1] -> the CIFAR-10 normalisation the authors' classifier was trained on."""
    mean = torch.tensor(CIFAR10_MEAN, dtype=images.dtype, device=images.device).view(1, 3, 1, 1)
    std = torch.tensor(CIFAR10_STD, dtype=images.dtype, device=images.device).view(1, 3, 1, 1)
    return ((images + 1) / 2 - mean) / std


class CheckpointLabeller:
    """Labels [-1, 1] images with a loaded WRN-28-2: ``predict(images)`` -> LongTensor of classes."""

    def __init__(self, net: WideResNet, path: Path, sha256: str, dropped_keys: list[str]):
        self.net = net.eval().requires_grad_(False)
        self.path, self.sha256, self.dropped_keys = path, sha256, dropped_keys
        self.num_classes = net.fc.out_features
        self.classes = list(CIFAR10_CLASSES) if self.num_classes == len(CIFAR10_CLASSES) else None
        self.description = (f"the class the WRN-28-2 CIFAR-10 classifier {path} (sha256 {sha256[:12]}) gives each "
                            "sample (analysis.labels=checkpoint: argmax of its logits on the image mapped to [0, 1] "
                            "and normalised as the authors' plot_umap.py does)")

    def _check(self, images: torch.Tensor) -> None:
        if images.ndim != 4 or tuple(images.shape[1:]) != (3, 32, 32):
            raise UserError(f"analysis.labels=checkpoint: the WRN-28-2 CIFAR-10 classifier ({self.path}) labels "
                            f"RGB 32x32 images (N, 3, 32, 32); the generator gave {tuple(images.shape)}")

    @torch.no_grad()
    def logits(self, images: torch.Tensor) -> torch.Tensor:
        self._check(images)
        self.net.to(images.device)
        self.net.eval()
        images = images.float()
        if not len(images):
            return torch.zeros(0, self.num_classes, device=images.device)
        return torch.cat([self.net(normalise(chunk)) for chunk in images.split(CHUNK)])

    def predict(self, images: torch.Tensor) -> torch.Tensor:
        return self.logits(images).argmax(dim=1)


def _read(path: Path, data: bytes):
    expected = (f"{CONFIG_KEY} expects a torch.save file of tensors (a state dict, or a dict holding one under "
                "'net' or 'state_dict')")
    try:
        return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, EOFError, RuntimeError, ValueError) as e:
        text = " ".join(str(e).split())
        found = re.search(r"Unsupported global: GLOBAL (\S+)", text)
        if found:  # what weights_only=True refuses: a class or function to be called while unpickling
            reason = (f"it holds objects other than tensors and plain containers ({found.group(1)}), which "
                      "torch.load(weights_only=True) does not load")
        else:
            detail = text.split("WeightsUnpickler error:")[-1].split("Check the documentation")[0].strip()
            reason = (f"not a torch.save file that torch.load(weights_only=True) reads "
                      f"({type(e).__name__}: {detail[:200]})")
        raise RefusedFileError(path, reason, expected) from e


def _state_dict_of(content, path: Path) -> dict:
    if isinstance(content, dict):
        for key in ("net", "state_dict"):
            if isinstance(content.get(key), dict):
                return content[key]
        if content and all(isinstance(v, torch.Tensor) for v in content.values()):
            return content
    shown = sorted(map(str, content))[:10] if isinstance(content, dict) else type(content).__name__
    raise UserError(f"{path} ({CONFIG_KEY}): no state dict found: expected a dict holding it under 'net' or "
                    f"'state_dict', or a bare state dict of tensors; the file holds {shown}")


def load_wrn_checkpoint(path: Union[str, Path], num_classes: int = 10) -> CheckpointLabeller:
    """The WRN-28-2 of the checkpoint file ``path`` as a labeller (module doc: layout and loading rules).

    Every key of the network must be in the file with the network's shape (a missing key or a shape mismatch
    is a UserError naming it: a partial load, as the authors' ``strict=False`` allows, would silently label
    with randomly initialised layers); keys the network does not have are dropped and counted in the log.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise UserError(f"{CONFIG_KEY}={str(path)!r}: no such file (the WRN-28-2 CIFAR-10 classifier checkpoint "
                        "that analysis.labels=checkpoint labels samples with)")
    data = path.read_bytes()
    sha256 = hashlib.sha256(data).hexdigest()
    state = _state_dict_of(_read(path, data), path)
    state = {(k[len("module."):] if k.startswith("module.") else k): v for k, v in state.items()}
    net = wrn_28_2(num_classes)
    own = net.state_dict()
    dropped = sorted(k for k in state if k not in own)
    missing = [k for k in own if k not in state and not k.endswith("num_batches_tracked")]
    if missing:
        raise UserError(f"{path} ({CONFIG_KEY}): not a WRN-28-2 checkpoint: {len(missing)} of the network's "
                        f"{len(own)} keys are missing, first {', '.join(missing[:5])} (a partial load would give "
                        "labels from randomly initialised layers)")
    merged = {}
    for key, mine in own.items():
        theirs = state.get(key, mine)
        if not isinstance(theirs, torch.Tensor):
            raise UserError(f"{path} ({CONFIG_KEY}): {key} is a {type(theirs).__name__}, not a tensor")
        if theirs.shape != mine.shape:
            raise UserError(f"{path} ({CONFIG_KEY}): {key} has shape {tuple(theirs.shape)} in the file, the "
                            f"WRN-28-2 ({num_classes} classes) expects {tuple(mine.shape)}")
        merged[key] = theirs
    net.load_state_dict(merged, strict=True)
    if dropped:
        log.info("%s: %d keys the WRN-28-2 does not have were dropped (e.g. %s)", path, len(dropped),
                 ", ".join(dropped[:3]))
    log.info("loaded the WRN-28-2 labeller %s (sha256 %s, %d classes)", path, sha256[:12], num_classes)
    return CheckpointLabeller(net, path, sha256, dropped)
