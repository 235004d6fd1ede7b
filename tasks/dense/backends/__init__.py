"""Dense transfer through the frameworks the field uses: which backend runs a dense task?

``backend=builtin`` (the default, no extra install): torchvision's Faster R-CNN + FPN and
segmentation-models-pytorch's UPerNet (tasks/dense/detection.py, segmentation.py), which run offline and on
the Fashion-MNIST canvases. The optional backends run a paper protocol in its own framework, so that a number
can stand beside a published one:

- ``detectron2`` (``task=voc_det backend=detectron2``): MoCo's R50-C4 VOC protocol through detectron2's
  trainer and ``PascalVOCDetectionEvaluator`` (detectron2_voc.py);
- ``mmseg`` (``task=ade20k_seg backend=mmseg``): mmsegmentation's UPerNet R50 ADE20K recipe through
  mmengine's Runner and mmseg's ``IoUMetric`` (mmseg_ade20k.py).

Each is an optional extra imported only when chosen (``import_framework``); a missing one says how to install.
"""
from __future__ import annotations

import contextlib
import importlib
import tempfile
from pathlib import Path
from typing import Iterator

from benchmark.artifacts import config_hash
from benchmark.errors import UserError

INSTALL = {
    "detectron2": "pip install --find-links <folder of prebuilt wheels> 'ganrep-bench[detectron2]' (this "
                  "environment's CPU wheels: ../shared/wheels, see its README); on a CUDA cluster, detectron2 from "
                  "its repository (pip install --no-build-isolation 'git+https://github.com/facebookresearch/"
                  "detectron2.git' 'setuptools<81')",
    "mmseg": "pip install --find-links <folder of prebuilt wheels> 'ganrep-bench[mmseg]' (this environment's CPU "
             "wheels: ../shared/wheels, see its README); on a CUDA cluster, mmcv 2.1.0 from OpenMMLab's wheel index "
             "for your torch / CUDA (or built from source with MMCV_WITH_OPS=1), then mmengine==0.10.7 "
             "mmsegmentation==1.2.2 ftfy regex",
}


def backbone_arch(backbone) -> str:
    """The ``backbone.arch`` a backbone was built as (its registered builder's name), as far as the object says:
    what a backend's refusal names."""
    from benchmark.backbones import CifarResNet, TorchvisionResNet

    if isinstance(backbone, TorchvisionResNet):
        return f"resnet{backbone.depth}"
    if isinstance(backbone, CifarResNet):
        blocks = sum(len(getattr(backbone, f"layer{s + 1}")) for s in range(backbone.num_stages))
        return f"resnet{2 * blocks + 2}_cifar"
    return type(backbone).__name__


class MissingFrameworkError(UserError):
    """An optional framework a config chose (``backend=detectron2`` / ``mmseg``) is not installed."""


def import_framework(module: str, backend: str):
    """``importlib.import_module(module)``, or a MissingFrameworkError that says how to install ``backend``."""
    try:
        return importlib.import_module(module)
    except ImportError as e:
        raise MissingFrameworkError(f"backend={backend} needs {module}, which is not installed ({e}). Install it: "
                                    f"{INSTALL[backend]}; or run backend=builtin") from e


@contextlib.contextmanager
def work_dir(ctx, task_name: str, backend: str, backbone_key: str, cfg) -> Iterator[Path]:
    """Where a framework keeps its checkpoints and logs for one (backbone, task config): a stable folder
    ``<ctx.work_root>/<task>-<backend>-<hash>`` when the pipeline gives one, so a run that dies resumes from
    the framework's last checkpoint; else a temporary folder removed afterwards."""
    if ctx.work_root is None:
        with tempfile.TemporaryDirectory(prefix=f"{task_name}-{backend}-") as tmp:
            yield Path(tmp)
        return
    key = config_hash({"backbone": backbone_key, "cfg": cfg if isinstance(cfg, dict) else vars(cfg),
                       "eval": dict(ctx.eval_cfg or {})}, length=12)
    path = Path(ctx.work_root) / f"{task_name}-{backend}-{key}"
    path.mkdir(parents=True, exist_ok=True)
    yield path
