"""Export a pretrained backbone to the checkpoint formats detectron2 and mmsegmentation read.

Neither library is installed with the suite (both need compiled builds matched to torch), so the suite
writes their files for users who have them, each with a config snippet that sets what the weights assume.

detectron2 (its ``tools/convert-torchvision-to-d2.py`` convention for torchvision-style ResNets): a
pickle ``{"model": {name: numpy array}, "__author__": ..., "matching_heuristics": True}`` with
    conv1 / bn1            -> stem.conv1 / stem.conv1.norm
    layer{i}               -> res{i+1}
    bn{j} inside a block   -> conv{j}.norm
    downsample.0 / .1      -> shortcut / shortcut.norm
and the classifier dropped.
mmsegmentation: its ``ResNet`` (style="pytorch", no deep stem) names parameters as torchvision does,
so the file is ``torch.save({"state_dict": ..., "meta": ...})`` with the names unchanged.

The backbones of this suite take images in [-1, 1] (RGB, x / 127.5 - 1), then apply their ``input_norm``;
both configs set the pixel mean and std that reproduce that (``pixel_statistics``: 127.5 for ``none``).
A CIFAR-stem backbone (3x3 stem, no max-pool) has no counterpart in either library's ResNet: its stem is written but will not load there (shape mismatch); export a torchvision
backbone (``backbone.arch=resnet18`` or ``resnet50``) for dense transfer through these libraries.

    python -m benchmark.export artifacts/pretrain/<method>-<hash>/method.pt --depth 18 --out exported/

The weights are checked against their sha256 sidecar (``method.pt.sha256``, benchmark/verified_artifacts.py) first:
a damaged file is an error that names it (exit status 2), and nothing is exported. The export leaves the
file where it is; the pretraining run that made it sets it aside and trains again. A file without a sidecar
(a user's own state dict, or weights from before sidecars existed) is read with a warning, unverified.
"""
from __future__ import annotations

import argparse
import pickle
import re
from pathlib import Path

import torch

from benchmark.artifacts import atomic_write_text
from benchmark.backbones import INPUT_NORMS
from benchmark.verified_artifacts import DamagedArtifactError, load_verified

PIXEL_MEAN, PIXEL_STD = [127.5, 127.5, 127.5], [127.5, 127.5, 127.5]  # input_norm=none: x / 127.5 - 1


def pixel_statistics(input_norm: str = "none") -> tuple[list[float], list[float]]:
    """The per-channel (mean, std) on 0..255 RGB pixels that give a backbone with ``backbone.input_norm`` the
    values it was pretrained on: ``none`` sees x / 127.5 - 1; ``cifar`` / ``imagenet`` see that set's
    (x / 255 - mean) / std (their ``InputNorm`` folds both steps into one). detectron2's PIXEL_MEAN /
    PIXEL_STD and mmseg's data_preprocessor mean / std take exactly these."""
    stats = INPUT_NORMS[input_norm]
    if stats is None:
        return list(PIXEL_MEAN), list(PIXEL_STD)
    mean, std = stats
    return [round(255.0 * m, 6) for m in mean], [round(255.0 * s, 6) for s in std]


def backbone_state(state_dict: dict) -> dict[str, torch.Tensor]:
    """The backbone's parameters and buffers from a backbone or a method state dict, classifier and
    batch counters dropped."""
    if any(k.startswith("backbone.") for k in state_dict):
        state_dict = {k[len("backbone."):]: v for k, v in state_dict.items() if k.startswith("backbone.")}
    return {k: v for k, v in state_dict.items() if not k.startswith("fc.") and not k.endswith("num_batches_tracked")}


def detectron2_name(name: str) -> str:
    if not name.startswith("layer"):
        name = "stem." + name
    name = re.sub(r"layer(\d)", lambda m: f"res{int(m.group(1)) + 1}", name)
    name = re.sub(r"bn(\d)", r"conv\1.norm", name)
    return name.replace("downsample.0", "shortcut").replace("downsample.1", "shortcut.norm")


def export_detectron2(state_dict: dict, out: Path, depth: int, input_norm: str = "none") -> tuple[Path, Path]:
    """Write ``<out>.pkl`` and a config ``<out>.yaml`` to merge into a detectron2 ResNet config (its pixel
    statistics those of ``input_norm``, the backbone's ``backbone.input_norm``)."""
    mean, std = pixel_statistics(input_norm)
    weights = {detectron2_name(k): v.detach().cpu().numpy() for k, v in backbone_state(state_dict).items()}
    pkl = Path(out).with_suffix(".pkl")
    pkl.parent.mkdir(parents=True, exist_ok=True)
    with open(pkl, "wb") as f:
        pickle.dump({"model": weights, "__author__": "ganrep-bench", "matching_heuristics": True}, f)
    res2 = "\n    RES2_OUT_CHANNELS: 64  # detectron2 requires it for ResNet-18/34" if depth in (18, 34) else ""
    config = (f"# Merge into a detectron2 ResNet config (e.g. PascalVOC-Detection/faster_rcnn_R_50_C4.yaml).\n"
              f"MODEL:\n  WEIGHTS: \"{pkl.resolve()}\"\n"
              f"  PIXEL_MEAN: {mean}  # what the backbone saw in pretraining (input_norm={input_norm})\n"
              f"  PIXEL_STD: {std}\n"
              f"  RESNETS:\n    DEPTH: {depth}\n    STRIDE_IN_1X1: False  # torchvision puts the stride in the 3x3"
              f"{res2}\nINPUT:\n  FORMAT: \"RGB\"\n")
    yaml_path = pkl.with_suffix(".yaml")
    atomic_write_text(yaml_path, config)
    return pkl, yaml_path


def export_mmseg(state_dict: dict, out: Path, depth: int, input_norm: str = "none") -> tuple[Path, Path]:
    """Write ``<out>.pth`` and a config fragment ``<out>_mmseg.py`` for mmsegmentation's ResNet (its pixel
    statistics those of ``input_norm``)."""
    mean, std = pixel_statistics(input_norm)
    pth = Path(out).with_suffix(".pth")
    pth.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"state_dict": backbone_state(state_dict), "meta": {"source": "ganrep-bench", "depth": depth}}, pth)
    config = (f"# Merge into an mmsegmentation config (e.g. upernet_r50 on ADE20K): a plain ResNet-{depth}\n"
              f"# (style='pytorch', no deep stem) initialised from the exported weights.\n"
              f"model = dict(\n"
              f"    data_preprocessor=dict(mean={mean}, std={std}, bgr_to_rgb=True),\n"
              f"    backbone=dict(type='ResNet', depth={depth}, style='pytorch', deep_stem=False,\n"
              f"                  init_cfg=dict(type='Pretrained', checkpoint='{pth.resolve()}')))\n")
    py = pth.with_name(pth.stem + "_mmseg.py")
    atomic_write_text(py, config)
    return pth, py


def main() -> None:
    parser = argparse.ArgumentParser(description="Export a pretrained backbone to detectron2 and mmseg checkpoints.")
    parser.add_argument("weights", help="a method.pt from artifacts/pretrain/ (or a backbone state dict)")
    parser.add_argument("--depth", type=int, required=True, help="ResNet depth: 18 or 50")
    parser.add_argument("--out", default="exported", help="output folder")
    parser.add_argument("--input-norm", default="none", choices=sorted(INPUT_NORMS),
                        help="the backbone.input_norm it was pretrained with (sets the configs' pixel mean/std)")
    args = parser.parse_args()
    try:
        state = load_verified(args.weights, legacy="trust")
    except DamagedArtifactError as e:
        parser.exit(2, f"{parser.prog}: error: cannot export damaged weights {e}; nothing was exported. Run the "
                       "pretraining that made them again (the same launch.py command): it sets the file aside and "
                       "trains anew\n")
    stem = Path(args.out) / f"{Path(args.weights).parent.name}-r{args.depth}"
    for path in (*export_detectron2(state, stem, args.depth, args.input_norm),
                 *export_mmseg(state, stem, args.depth, args.input_norm)):
        print(path)


if __name__ == "__main__":
    main()
