"""Student backbones.

The paper's student is the CIFAR variant of ResNet-18 (He et al., CVPR 2016): a 3x3 stride-1 stem and
no max-pool, so 32 px inputs keep a 4x4 map before the global pool. ``width`` scales every stage
(64 gives the paper's 512-d feature; the CPU preset uses a narrower copy of the same code).

Parameter names follow torchvision's ResNet (conv1, bn1, layer1.0.conv1, layer1.0.downsample.0, ...)
so exports to detectron2 / mmseg checkpoints can map keys one to one.

Two conventions of the Squeeze-and-Span authors' code are options of every ResNet here (the paper
presets set them; off by default, as the suite ran before they existed):

* ``zero_init_residual``: the last BatchNorm of each residual block starts at weight 0, so every block
  starts as the identity (torchvision's option of the same name, which the authors' student used).
* ``input_norm``: the images every part of the suite hands a backbone are in [-1, 1]; ``cifar`` and
  ``imagenet`` map them to [0, 1] and standardise each channel with that data set's mean and std (the
  authors' ``transforms.Normalize`` after ``ToTensor``), ``none`` feeds [-1, 1] as it is. The statistics
  are fixed buffers outside the ``state_dict``, so saved weights and exports are unchanged by it.
"""
from __future__ import annotations

import torch
from torch import nn

from benchmark.registry import BACKBONES

# per-channel (mean, std) of images in [0, 1]; "cifar" is the pair the authors' code used for CIFAR-10 and -100
INPUT_NORMS = {
    "none": None,
    "cifar": ((0.4914, 0.4822, 0.4465), (0.2023, 0.1994, 0.2010)),
    "imagenet": ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
}


class InputNorm(nn.Module):
    """[-1, 1] images -> ``(x01 - mean) / std`` per channel (``input_norm``; identity for ``none``)."""

    def __init__(self, name: str, channels: int):
        super().__init__()
        if name not in INPUT_NORMS:
            raise ValueError(f"backbone.input_norm={name!r}: choose one of {sorted(INPUT_NORMS)}")
        self.name = name
        stats = INPUT_NORMS[name]
        if stats is not None and channels != 3:
            raise ValueError(f"backbone.input_norm={name!r} holds RGB statistics; the images have {channels} "
                             "channel(s): use input_norm=none")
        mean, std = stats if stats is not None else ((0.0,) * channels, (1.0,) * channels)
        # x01 = (x + 1) / 2, then (x01 - mean) / std, folded into one scale and shift
        scale = torch.tensor([0.5 / s for s in std]).view(1, -1, 1, 1)
        shift = torch.tensor([(0.5 - m) / s for m, s in zip(mean, std)]).view(1, -1, 1, 1)
        self.register_buffer("scale", scale, persistent=False)
        self.register_buffer("shift", shift, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.name == "none":
            return x
        return x * self.scale.to(x.dtype) + self.shift.to(x.dtype)


def zero_init_last_batchnorms_(net: nn.Module) -> None:
    """Every residual block's last BatchNorm weight set to 0: the block starts as the identity."""
    for m in net.modules():
        if isinstance(m, BasicBlock):
            nn.init.zeros_(m.bn2.weight)


class BasicBlock(nn.Module):
    def __init__(self, in_planes: int, planes: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = None
        if stride != 1 or in_planes != planes:
            self.downsample = nn.Sequential(
                nn.Conv2d(in_planes, planes, 1, stride, bias=False), nn.BatchNorm2d(planes)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class CifarResNet(nn.Module):
    """ResNet with a 3x3 stride-1 stem and no max-pool; ``forward`` returns pooled features."""

    def __init__(self, blocks_per_stage=(2, 2, 2, 2), width: int = 64, in_channels: int = 3,
                 zero_init_residual: bool = False, input_norm: str = "none"):
        super().__init__()
        self.input_norm = InputNorm(input_norm, in_channels)
        self.conv1 = nn.Conv2d(in_channels, width, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        in_planes = width
        for stage, num_blocks in enumerate(blocks_per_stage):
            planes = width * 2**stage
            layer = []
            for b in range(num_blocks):
                layer.append(BasicBlock(in_planes, planes, stride=2 if (stage > 0 and b == 0) else 1))
                in_planes = planes
            self.add_module(f"layer{stage + 1}", nn.Sequential(*layer))
        self.num_stages = len(blocks_per_stage)
        self.feature_dim = in_planes
        self.in_channels = in_channels
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        if zero_init_residual:
            zero_init_last_batchnorms_(self)

    def forward_stages(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Feature maps after each stage (for dense tasks)."""
        x = self.relu(self.bn1(self.conv1(self.input_norm(x))))
        maps = []
        for stage in range(self.num_stages):
            x = getattr(self, f"layer{stage + 1}")(x)
            maps.append(x)
        return maps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.flatten(nn.functional.adaptive_avg_pool2d(self.forward_stages(x)[-1], 1), 1)


@BACKBONES.register("resnet18_cifar")
def resnet18_cifar(width: int = 64, in_channels: int = 3, zero_init_residual: bool = False,
                   input_norm: str = "none") -> CifarResNet:
    return CifarResNet((2, 2, 2, 2), width=width, in_channels=in_channels, zero_init_residual=zero_init_residual,
                       input_norm=input_norm)


resnet18_cifar.stem = "cifar"  # 3x3 stride-1 conv, no max-pool: made for 32 px images (validation.py reads it)


class TorchvisionResNet(nn.Module):
    """torchvision's ImageNet ResNet (7x7 stride-2 stem, max-pool) without its classifier: the
    backbone of ImageNet-scale pretraining and of faithful detectron2 / mmseg exports."""

    def __init__(self, depth: int, in_channels: int = 3, zero_init_residual: bool = False, input_norm: str = "none"):
        super().__init__()
        import torchvision

        self.input_norm = InputNorm(input_norm, in_channels)
        net = getattr(torchvision.models, f"resnet{depth}")(weights=None, zero_init_residual=zero_init_residual)
        if in_channels != 3:
            net.conv1 = nn.Conv2d(in_channels, net.conv1.out_channels, 7, 2, 3, bias=False)
        for name in ("conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3", "layer4"):
            self.add_module(name, getattr(net, name))
        self.num_stages, self.depth = 4, depth
        self.feature_dim = net.fc.in_features
        self.in_channels = in_channels

    def forward_stages(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = self.maxpool(self.relu(self.bn1(self.conv1(self.input_norm(x)))))
        maps = []
        for stage in range(4):
            x = getattr(self, f"layer{stage + 1}")(x)
            maps.append(x)
        return maps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.flatten(nn.functional.adaptive_avg_pool2d(self.forward_stages(x)[-1], 1), 1)


def _torchvision_resnet(depth: int):
    def build(in_channels: int = 3, width: int = 64, zero_init_residual: bool = False,
              input_norm: str = "none") -> TorchvisionResNet:
        if width != 64:
            raise ValueError(f"resnet{depth} has torchvision's widths; backbone.width must be 64, got {width}")
        return TorchvisionResNet(depth, in_channels, zero_init_residual, input_norm)

    build.__doc__ = f"torchvision's ResNet-{depth}, randomly initialised, classifier removed."
    build.stem = "imagenet"  # 7x7 stride-2 conv + max-pool: made for 224 px images
    return build


for _depth in (18, 50):
    BACKBONES.register(f"resnet{_depth}")(_torchvision_resnet(_depth))


class Flatten(nn.Module):
    """The identity backbone: raw pixels as features (the leaderboard's raw-pixel anchor)."""

    def __init__(self, feature_dim: int):
        super().__init__()
        self.feature_dim = feature_dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.flatten(x, 1)


def build_backbone(cfg, in_channels: int) -> nn.Module:
    """Backbone from the ``backbone`` config section (``arch`` names a registered builder)."""
    kwargs = {k: v for k, v in dict(cfg).items() if k != "arch"}
    return BACKBONES.get(cfg["arch"])(in_channels=in_channels, **kwargs)
