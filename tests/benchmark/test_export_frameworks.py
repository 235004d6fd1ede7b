"""The exported checkpoints read by the frameworks themselves: detectron2 and mmsegmentation are optional
extras (`make test` installs them when GANREP_WHEELS names a wheel folder, as CI does with ../shared/wheels);
without them these tests skip, saying how to install. A suite backbone exported and loaded into each
framework's own ResNet must leave no weight behind and compute the same four stage maps."""
from __future__ import annotations

import pickle

import pytest
import torch

from benchmark.backbones import build_backbone
from benchmark.export import export_detectron2, export_mmseg

INSTALL = ("not installed: make test GANREP_WHEELS=<folder of the wheels of ../shared/wheels/README.md>, or "
           "pip install --find-links <that folder> 'ganrep-bench[{extra}]'")


def suite_backbone(depth: int) -> torch.nn.Module:
    """A torchvision ResNet with random weights and BatchNorm statistics (so that no norm is the identity)."""
    torch.manual_seed(depth)
    backbone = build_backbone({"arch": f"resnet{depth}"}, 3)
    for module in backbone.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.normal_(0, 0.1)
            module.running_var.uniform_(0.5, 1.5)
            module.weight.data.uniform_(0.5, 1.5)
            module.bias.data.normal_(0, 0.1)
    return backbone.eval()


def method_state(backbone: torch.nn.Module) -> dict:
    return {f"backbone.{k}": v for k, v in backbone.state_dict().items()}


@pytest.mark.parametrize("depth", [18, 50])
def test_detectron2_reads_the_export_weight_for_weight_and_computes_the_same_stage_maps(tmp_path, depth):
    pytest.importorskip("detectron2", reason=INSTALL.format(extra="detectron2"))
    from detectron2.config import get_cfg
    from detectron2.layers import ShapeSpec
    from detectron2.modeling.backbone import build_resnet_backbone

    ours = suite_backbone(depth)
    pkl, config = export_detectron2(method_state(ours), tmp_path / f"r{depth}", depth)
    cfg = get_cfg()
    cfg.merge_from_file(str(config))  # the exported snippet: depth, stride in the 3x3, pixel mean and std
    cfg.MODEL.RESNETS.OUT_FEATURES = ["res2", "res3", "res4", "res5"]
    cfg.MODEL.BACKBONE.FREEZE_AT = 0
    theirs = build_resnet_backbone(cfg, ShapeSpec(channels=3)).eval()
    with open(pkl, "rb") as f:
        exported = pickle.load(f)["model"]
    missing, unexpected = theirs.load_state_dict({k: torch.as_tensor(v) for k, v in exported.items()}, strict=False)
    assert not missing and not unexpected, (missing, unexpected)

    images = torch.randn(2, 3, 96, 96)
    with torch.no_grad():
        expected, got = ours.forward_stages(images), theirs(images)
    for name, ref in zip(("res2", "res3", "res4", "res5"), expected):
        torch.testing.assert_close(got[name], ref, rtol=1e-4, atol=1e-4, msg=f"detectron2 {name}")


@pytest.mark.parametrize("depth", [18, 50])
def test_mmseg_reads_the_export_weight_for_weight_and_computes_the_same_stage_maps(tmp_path, depth):
    pytest.importorskip("mmseg", reason=INSTALL.format(extra="mmseg"))
    from mmseg.models.backbones import ResNet

    ours = suite_backbone(depth)
    checkpoint, _ = export_mmseg(method_state(ours), tmp_path / f"r{depth}", depth)
    theirs = ResNet(depth=depth, style="pytorch", deep_stem=False)  # what the exported config builds
    theirs.eval()  # mmseg's ResNet.train returns None: not chained
    state = torch.load(checkpoint, map_location="cpu", weights_only=True)["state_dict"]
    missing, unexpected = theirs.load_state_dict(state, strict=False)
    assert not missing and not unexpected, (missing, unexpected)

    images = torch.randn(2, 3, 96, 96)
    with torch.no_grad():
        expected, got = ours.forward_stages(images), theirs(images)
    assert len(got) == 4
    for k, (map_, ref) in enumerate(zip(got, expected)):
        torch.testing.assert_close(map_, ref, rtol=1e-4, atol=1e-4, msg=f"mmseg stage {k + 1}")
