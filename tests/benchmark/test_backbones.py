"""Every registered backbone builds from its config, gives its declared feature width and stage maps."""
import pytest
import torch

from benchmark.backbones import INPUT_NORMS, build_backbone
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


@pytest.mark.parametrize("arch", ["resnet18_cifar", "resnet18"])
def test_zero_init_residual_starts_every_block_as_the_identity(arch):
    width = 8 if "cifar" in arch else 64
    plain = build_backbone({"arch": arch, "width": width}, 3)
    zeroed = build_backbone({"arch": arch, "width": width, "zero_init_residual": True}, 3)
    last_bns = [name for name in dict(zeroed.named_parameters()) if name.endswith("bn2.weight")]
    assert len(last_bns) == 8
    assert all(zeroed.get_parameter(n).eq(0).all() for n in last_bns)
    assert all(plain.get_parameter(n).eq(1).all() for n in last_bns)
    assert list(zeroed.state_dict()) == list(plain.state_dict())  # no new weights: exports are unchanged


@pytest.mark.parametrize("norm", ["cifar", "imagenet"])
def test_input_norm_is_the_authors_normalize_of_images_in_0_1(norm):
    """G's [-1, 1] images mapped to [0, 1], then transforms.Normalize(mean, std), written out here."""
    mean, std = (torch.tensor(v).view(1, 3, 1, 1) for v in INPUT_NORMS[norm])
    backbone = build_backbone({"arch": "resnet18_cifar", "width": 8, "input_norm": norm}, 3)
    x = torch.rand(2, 3, 8, 8) * 2 - 1
    torch.testing.assert_close(backbone.input_norm(x), ((x + 1) / 2 - mean) / std)
    assert torch.equal(build_backbone({"arch": "resnet18_cifar", "width": 8}, 3).input_norm(x), x)
    with pytest.raises(ValueError, match="input_norm='cifar' holds RGB statistics"):
        build_backbone({"arch": "resnet18_cifar", "width": 8, "input_norm": "cifar"}, 1)
    with pytest.raises(ValueError, match="input_norm='mnist'.*cifar"):
        build_backbone({"arch": "resnet18_cifar", "width": 8, "input_norm": "mnist"}, 3)
