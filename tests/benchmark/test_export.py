"""Backbone exports: detectron2's pickle with its ResNet names, mmsegmentation's checkpoint, their configs."""
import pickle
import subprocess
import sys

import numpy as np
import pytest
import torch

from benchmark.backbones import build_backbone
from benchmark.export import export_detectron2, export_mmseg
from tests.helpers.launching import REPO

NORM = ("weight", "bias", "running_mean", "running_var")


def detectron2_resnet_names(blocks, convs_per_block, shortcut_blocks):
    """The parameter names of detectron2's ResNet (stem, res2..res5), written out from its layout."""
    names = {"stem.conv1.weight"} | {f"stem.conv1.norm.{n}" for n in NORM}
    for stage, count in enumerate(blocks, start=2):
        for b in range(count):
            for c in range(1, convs_per_block + 1):
                names |= {f"res{stage}.{b}.conv{c}.weight"} | {f"res{stage}.{b}.conv{c}.norm.{n}" for n in NORM}
            if (stage, b) in shortcut_blocks:
                names |= {f"res{stage}.{b}.shortcut.weight"} | {f"res{stage}.{b}.shortcut.norm.{n}" for n in NORM}
    return names


@pytest.mark.parametrize("depth, blocks, convs, shortcuts", [
    (18, (2, 2, 2, 2), 2, {(3, 0), (4, 0), (5, 0)}),
    (50, (3, 4, 6, 3), 3, {(2, 0), (3, 0), (4, 0), (5, 0)}),
])
def test_detectron2_export_has_its_names_and_our_values(tmp_path, depth, blocks, convs, shortcuts):
    torch.manual_seed(0)
    backbone = build_backbone({"arch": f"resnet{depth}", "width": 64}, 3)
    method_state = {**{f"backbone.{k}": v for k, v in backbone.state_dict().items()},
                    "projector.0.weight": torch.zeros(3, 3)}  # a method's head: not exported
    pkl, yaml_path = export_detectron2(method_state, tmp_path / "sqsp", depth)
    with open(pkl, "rb") as f:
        data = pickle.load(f)
    assert data["matching_heuristics"] is True and data["__author__"]
    model = data["model"]
    assert set(model) == detectron2_resnet_names(blocks, convs, shortcuts)
    assert all(isinstance(v, np.ndarray) for v in model.values())
    np.testing.assert_array_equal(model["stem.conv1.weight"], backbone.conv1.weight.detach().numpy())
    assert model["stem.conv1.weight"].shape == (64, 3, 7, 7)
    np.testing.assert_array_equal(model["res3.0.shortcut.norm.running_var"],
                                  backbone.layer2[0].downsample[1].running_var.numpy())
    last = f"res5.{blocks[3] - 1}.conv{convs}.weight"
    assert model[last].shape == tuple(getattr(backbone.layer4[-1], f"conv{convs}").weight.shape)
    config = yaml_path.read_text()
    assert f"DEPTH: {depth}" in config and "STRIDE_IN_1X1: False" in config and 'FORMAT: "RGB"' in config
    assert "PIXEL_MEAN: [127.5, 127.5, 127.5]" in config and str(pkl.resolve()) in config
    assert ("RES2_OUT_CHANNELS: 64" in config) == (depth == 18)


def test_mmseg_export_keeps_torchvision_names(tmp_path):
    backbone = build_backbone({"arch": "resnet18", "width": 64}, 3)
    pth, py = export_mmseg({f"backbone.{k}": v for k, v in backbone.state_dict().items()}, tmp_path / "b", 18)
    ckpt = torch.load(pth, map_location="cpu")
    import torchvision

    reference = {k: v for k, v in torchvision.models.resnet18(weights=None).state_dict().items()
                 if not k.startswith("fc.") and not k.endswith("num_batches_tracked")}
    assert set(ckpt["state_dict"]) == set(reference)
    assert all(ckpt["state_dict"][k].shape == v.shape for k, v in reference.items())
    torch.testing.assert_close(ckpt["state_dict"]["layer3.1.bn2.weight"], backbone.layer3[1].bn2.weight.detach())
    text = py.read_text()
    assert "type='ResNet', depth=18, style='pytorch', deep_stem=False" in text and str(pth.resolve()) in text
    compile(text, str(py), "exec")  # a valid Python config fragment


def test_export_cli_on_a_method_checkpoint(tmp_path):
    backbone = build_backbone({"arch": "resnet18", "width": 64}, 3)
    weights = tmp_path / "sqsp-abc123" / "method.pt"
    weights.parent.mkdir()
    torch.save({f"backbone.{k}": v for k, v in backbone.state_dict().items()}, weights)
    out = subprocess.run([sys.executable, "-m", "benchmark.export", str(weights), "--depth", "18", "--out",
                          str(tmp_path / "exported")], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    written = sorted(p.name for p in (tmp_path / "exported").iterdir())
    assert written == ["sqsp-abc123-r18.pkl", "sqsp-abc123-r18.pth", "sqsp-abc123-r18.yaml",
                       "sqsp-abc123-r18_mmseg.py"]
