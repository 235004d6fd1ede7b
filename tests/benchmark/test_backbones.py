"""Every registered backbone builds from its config, gives its declared feature width and stage maps."""
import pytest
import torch

from benchmark.backbones import build_backbone
from benchmark.registry import BACKBONES


@pytest.mark.parametrize("arch", BACKBONES.names())
@pytest.mark.parametrize("channels", [1, 3])
def test_backbone_shapes(arch, channels):
    backbone = build_backbone({"arch": arch, "width": 64 if arch.startswith("resnet") and "cifar" not in arch else 8},
                              channels).eval()
    x = torch.randn(2, channels, 64, 64)
    with torch.no_grad():
        features, maps = backbone(x), backbone.forward_stages(x)
    assert features.shape == (2, backbone.feature_dim) and backbone.in_channels == channels
    assert len(maps) == 4 and maps[-1].shape[1] == backbone.feature_dim
    assert [m.shape[-1] for m in maps] == sorted((m.shape[-1] for m in maps), reverse=True)  # strides grow


def test_torchvision_resnets_refuse_another_width():
    with pytest.raises(ValueError, match="backbone.width must be 64, got 16"):
        build_backbone({"arch": "resnet18", "width": 16}, 3)
