"""Student backbones.

The paper's student is the CIFAR variant of ResNet-18 (He et al., CVPR 2016): a 3x3 stride-1 stem and
no max-pool, so 32 px inputs keep a 4x4 map before the global pool. ``width`` scales every stage
(64 gives the paper's 512-d feature; the CPU preset uses a narrower copy of the same code).

Parameter names follow torchvision's ResNet (conv1, bn1, layer1.0.conv1, layer1.0.downsample.0, ...)
so exports to detectron2 / mmseg checkpoints can map keys one to one.
"""
from __future__ import annotations

import torch
from torch import nn

from benchmark.registry import BACKBONES


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

    def __init__(self, blocks_per_stage=(2, 2, 2, 2), width: int = 64, in_channels: int = 3):
        super().__init__()
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

    def forward_stages(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Feature maps after each stage (for dense tasks)."""
        x = self.relu(self.bn1(self.conv1(x)))
        maps = []
        for stage in range(self.num_stages):
            x = getattr(self, f"layer{stage + 1}")(x)
            maps.append(x)
        return maps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.flatten(nn.functional.adaptive_avg_pool2d(self.forward_stages(x)[-1], 1), 1)


@BACKBONES.register("resnet18_cifar")
def resnet18_cifar(width: int = 64, in_channels: int = 3) -> CifarResNet:
    return CifarResNet((2, 2, 2, 2), width=width, in_channels=in_channels)


class TorchvisionResNet(nn.Module):
    """torchvision's ImageNet ResNet (7x7 stride-2 stem, max-pool) without its classifier: the
    backbone of ImageNet-scale pretraining and of faithful detectron2 / mmseg exports."""

    def __init__(self, depth: int, in_channels: int = 3):
        super().__init__()
        import torchvision

        net = getattr(torchvision.models, f"resnet{depth}")(weights=None)
        if in_channels != 3:
            net.conv1 = nn.Conv2d(in_channels, net.conv1.out_channels, 7, 2, 3, bias=False)
        for name in ("conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3", "layer4"):
            self.add_module(name, getattr(net, name))
        self.num_stages, self.depth = 4, depth
        self.feature_dim = net.fc.in_features
        self.in_channels = in_channels

    def forward_stages(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        maps = []
        for stage in range(4):
            x = getattr(self, f"layer{stage + 1}")(x)
            maps.append(x)
        return maps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.flatten(nn.functional.adaptive_avg_pool2d(self.forward_stages(x)[-1], 1), 1)


def _torchvision_resnet(depth: int):
    def build(in_channels: int = 3, width: int = 64) -> TorchvisionResNet:
        if width != 64:
            raise ValueError(f"resnet{depth} has torchvision's widths; backbone.width must be 64, got {width}")
        return TorchvisionResNet(depth, in_channels)

    build.__doc__ = f"torchvision's ResNet-{depth}, randomly initialised, classifier removed."
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
