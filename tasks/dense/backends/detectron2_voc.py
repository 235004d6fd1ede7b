"""``task=voc_det backend=detectron2``: MoCo's detectron2 VOC benchmark on the suite's backbone.

Faster R-CNN R50-C4 fine-tuned on VOC07+12 trainval and scored on VOC07 test by detectron2's own
``DefaultTrainer`` and ``PascalVOCDetectionEvaluator``, the detectron2 config written here (``get_cfg()`` and
assignments) from the facts of MoCo's benchmark (facebookresearch/moco, detection/configs/Base-RCNN-C4-BN.yaml,
pascal_voc_R_50_C4_24k.yaml, pascal_voc_R_50_C4_24k_moco.yaml, detection/train_net.py):

  - GeneralizedRCNN, ResNet backbone to res4 (C4), ``Res5ROIHeads`` with one more norm layer after the res5
    head (MoCo's ``Res5ROIHeadsExtraNorm``; here ``GanrepRes5ROIHeadsExtraNorm``), 20 classes;
  - RESNETS.NORM naiveSyncBN (MoCo's config since Nov. 2020; SyncBN before) in backbone and res5 head,
    STRIDE_IN_1X1 False (torchvision's layout), FREEZE_AT 0 (everything fine-tuned);
  - RPN: 6000 / 1000 proposals before / after NMS at test; everything else detectron2's defaults;
  - 24k iterations of 16 images, base lr 0.02, momentum 0.9, weight decay 1e-4, x0.1 at 18k and 22k,
    linear warm-up over 100 iterations; train short side one of 480..800 (step 32), test 800, max 1333,
    horizontal flips; INPUT.FORMAT RGB; precise BN (200 iterations) after the last iteration;
  - AP (IoU .50:.95), AP50, AP75 by ``PascalVOCDetectionEvaluator`` (VOC07's 11-point AP, the mean over all
    20 classes), in percent.

The numbers come from the task config (launch/task/voc_det.yaml; ``lr`` is for batch 16, scaled linearly;
``lr_steps`` are fractions of ``iterations``), bounded by the preset's eval limits as backend=builtin bounds
them (tasks/limits.py), with the same seeded image subsets (``dense_subset``). The builtin detector's own
options (``fpn_channels``, ``box_head_dim``, ``rois_per_image``, ``proposals``, ``anchor_scale``) are not read:
R50-C4's are detectron2's defaults, as in MoCo's config.

The backbone goes to detectron2 through ``benchmark.export.export_detectron2`` (a ``.pkl`` of detectron2 names)
with the pixel mean / std of its ``input_norm`` (``pixel_statistics``), so detectron2 feeds it what it saw in
pretraining; after the model is built every exported tensor is checked to be in it. Only a torchvision-layout
ResNet-50 / -101 on RGB images fits (``backbone.arch=resnet50``): R50-C4's res5 head is the backbone's layer4
of bottleneck blocks.

Data: the suite's splits (``build_dataset``, so a missing set fails with its DatasetNotFoundError), their seeded
subsets written as scratch VOC folders in the work folder (links to Annotations / JPEGImages, an image list), so
that the evaluator scores exactly the chosen test images; detectron2's dataset dicts are made as its
``load_voc_instances`` makes them, by ``voc_dicts`` (its own cannot read a one-image list). Names in detectron2's
process-wide catalogs are unique to each call and removed afterwards. With ``ctx.work_root`` the run lives in a
stable folder (``work_dir``): ``resume_or_load(resume=True)`` continues a run that died from its last checkpoint
(every 5000 iterations, as MoCo) and evaluates a finished one again without training.

Where a run differs from MoCo's recipe is named by ``recipe(cfg)`` (the record's ``task_recipe``): on one
process the cross-GPU BN is plain BN (DEVIATIONS), and whatever the config or the preset's limits change.

detectron2 is an optional extra (``pip install 'ganrep-bench[detectron2]'``, tasks/dense/backends/__init__.py):
it is imported inside the functions only, so this module imports without it.
"""
from __future__ import annotations

import dataclasses
import functools
import json
import logging
import math
import os
import pickle
import time
import uuid
import xml.etree.ElementTree as ET
from pathlib import Path

import torch
from torch import nn

from benchmark.backbones import CifarResNet, TorchvisionResNet
from benchmark.data import build_dataset
from benchmark.data.dense_sets import dense_subset
from benchmark.data.voc_detection import CLASSES
from benchmark.export import export_detectron2, pixel_statistics
from tasks.dense.backends import backbone_arch, import_framework, work_dir
from tasks.limits import EvalLimits
from tasks.linear.features import backbone_fingerprint

log = logging.getLogger(__name__)

RECIPE_VERSION = 1  # bump when a change here changes what a run produces (it keys the resumable work folder)
FITTING_DEPTHS = (50, 101)  # bottleneck ResNets: R50-C4's res5 head is the backbone's layer4
ROI_HEADS_NAME = "GanrepRes5ROIHeadsExtraNorm"  # MoCo's Res5ROIHeadsExtraNorm, under a name of this suite

# MoCo's pascal_voc_R_50_C4_24k(_moco).yaml on its Base-RCNN-C4-BN.yaml, and detectron2's defaults it keeps
MOCO = {
    "iterations": 24000, "batch_size": 16, "lr": 0.02, "momentum": 0.9, "weight_decay": 1e-4,
    "warmup_iterations": 100, "steps": (18000, 22000),
    "min_size": (480, 512, 544, 576, 608, 640, 672, 704, 736, 768, 800), "test_size": 800, "max_size": 1333,
    "flip": True, "score_threshold": 0.05, "detections_per_image": 100,
    "train_split": "0712_trainval", "test_split": "07_test", "finetune_backbone": True,
    "norm": "naiveSyncBN", "precise_bn_iterations": 200, "checkpoint_period": 5000,
}

PROTOCOL = ("MoCo detectron2 VOC: Faster R-CNN R50-C4 (GeneralizedRCNN, Res5ROIHeads + an extra norm after res5), "
            "VOC07+12 trainval -> VOC07 test, 24k iterations of 16 images, base lr 0.02, momentum 0.9, weight decay "
            "1e-4, x0.1 at 18k / 22k, warm-up 100; short side 480..800 step 32 (test 800), max 1333, flips; "
            "naiveSyncBN in backbone and res5 head, STRIDE_IN_1X1 False, FREEZE_AT 0, precise BN; detectron2's "
            "DefaultTrainer and PascalVOCDetectionEvaluator (AP, AP50, AP75: VOC07 11-point, mean over the 20 "
            "classes); pixel mean / std those of the backbone's input_norm (MoCo: ImageNet's, its pretraining's)")

# Named deviations from MoCo's recipe. The first two hold for every run of this module in one process (recipe()
# lists what applies to a given config and preset); the others are templates filled when they apply.
DEVIATIONS = (
    ("one_process_norm", ("RESNETS.NORM BN in one process (MoCo: naiveSyncBN over 8 GPUs of 2 images; cross-process "
                          "BN needs a process group): the statistics are over the process's whole batch, and "
                          "aspect-ratio grouping makes batches of the whole batch rather than of 2 images")),
    ("seed", "one trial with SEED = cfg.seed (MoCo: a random seed, and its published numbers are means of 5 trials)"),
    ("frozen_backbone", ("finetune_backbone=false: the backbone frozen (FREEZE_AT 5: stem and res2..res4 as "
                         "FrozenBN, and the res5 head's blocks, the backbone's layer4, frozen too); only the "
                         "RPN, the extra norm and the box predictor train (MoCo: FREEZE_AT 0, all fine-tuned)")),
    ("precise_bn", "precise BN over {n} iterations, the run's length (MoCo: 200)"),
    ("lr_steps", ("lr steps at {steps} of {iterations} iterations (the fractions {fractions} give {raw}; detectron2 "
                  "needs distinct steps inside the run)")),
    ("subset_train", "trained on a seeded subset of {n} training images (eval.max_train_samples)"),
    ("subset_test", ("tested on a seeded subset of {n} test images (eval.max_test_samples); detectron2's AP is "
                     "still the mean over all 20 classes, a class without ground truth there scoring 0 (the "
                     "result's classes_scored says how many had some)")),
)
_DEVIATION = dict(DEVIATIONS)


# ------------------------------------------------------------------------------------------------ recipe
def _distributed_world_size() -> int:
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_world_size()
    return 1


@dataclasses.dataclass(frozen=True)
class _Schedule:
    """The solver numbers detectron2 gets from a (bounded) task config."""

    iterations: int
    batch_size: int
    lr: float  # for this batch: cfg.lr * batch / 16
    raw_steps: tuple  # int(fraction * iterations), as backend=builtin's schedule
    steps: tuple  # what detectron2 accepts: distinct, 0 < step < iterations
    precise_bn_iterations: int


def _schedule(cfg) -> _Schedule:
    iterations = int(cfg.iterations)
    if iterations < 1:
        raise ValueError(f"iterations={iterations}: detectron2 needs at least 1")
    raw = tuple(int(f * iterations) for f in cfg.lr_steps)
    steps = tuple(sorted({s for s in raw if 0 < s < iterations}))
    return _Schedule(iterations, int(cfg.batch_size), cfg.lr * cfg.batch_size / 16, raw, steps,
                     min(MOCO["precise_bn_iterations"], iterations))


def _config_deviations(cfg, schedule: _Schedule) -> list[str]:
    """Where the (bounded) task config's numbers differ from MoCo's."""
    out = []

    def differs(what: str, ours, theirs):
        if ours != theirs:
            out.append(f"{what} {ours} (MoCo: {theirs})")

    differs("iterations", schedule.iterations, MOCO["iterations"])
    if schedule.batch_size != MOCO["batch_size"]:
        out.append(f"batch {schedule.batch_size} (MoCo: {MOCO['batch_size']}), base lr scaled linearly to "
                   f"{schedule.lr:g} (MoCo: {MOCO['lr']} at {MOCO['batch_size']})")
    differs("lr for batch 16", cfg.lr, MOCO["lr"])
    differs("momentum", cfg.momentum, MOCO["momentum"])
    differs("weight decay", cfg.weight_decay, MOCO["weight_decay"])
    differs("warm-up iterations", cfg.warmup_iterations, MOCO["warmup_iterations"])
    if schedule.raw_steps == schedule.steps:  # else the lr_steps deviation says it
        differs("lr steps", schedule.steps, MOCO["steps"])
    differs("train short sides", tuple(cfg.min_size), MOCO["min_size"])
    differs("test short side", cfg.min_size[-1], MOCO["test_size"])
    differs("max size", cfg.max_size, MOCO["max_size"])
    differs("flip", cfg.flip, MOCO["flip"])
    differs("test score threshold", cfg.score_threshold, MOCO["score_threshold"])
    differs("detections per image", cfg.detections_per_image, MOCO["detections_per_image"])
    differs("train split", cfg.train_split, MOCO["train_split"])
    differs("test split", cfg.test_split, MOCO["test_split"])
    return out


def recipe(cfg, eval_cfg=None, world_size: int | None = None) -> dict:
    """What a record should say produced the number: the backend, MoCo's protocol and this run's deviations from
    it. ``cfg``: the task's VOCDetectionConfig; ``eval_cfg``: the preset's eval limits, when known (they bound the
    config as the run does); ``world_size``: processes (default: torch.distributed's, else 1). No detectron2 import."""
    limits = EvalLimits.of(eval_cfg)
    bounded = limits.bound(cfg, dense=True)
    schedule = _schedule(bounded)
    world = _distributed_world_size() if world_size is None else world_size
    deviations = []
    if world <= 1:
        deviations.append(_DEVIATION["one_process_norm"])
    deviations.append(_DEVIATION["seed"])
    if not bounded.finetune_backbone:
        deviations.append(_DEVIATION["frozen_backbone"])
    deviations += _config_deviations(bounded, schedule)
    if schedule.steps != schedule.raw_steps:
        deviations.append(_DEVIATION["lr_steps"].format(steps=list(schedule.steps), iterations=schedule.iterations,
                                                        fractions=list(bounded.lr_steps), raw=list(schedule.raw_steps)))
    if schedule.precise_bn_iterations < MOCO["precise_bn_iterations"]:
        deviations.append(_DEVIATION["precise_bn"].format(n=schedule.precise_bn_iterations))
    for split, key in (("train", "subset_train"), ("test", "subset_test")):
        if limits.samples(split) is not None:
            deviations.append(_DEVIATION[key].format(n=f"at most {limits.samples(split)}"))
    return {"backend": "detectron2", "protocol": PROTOCOL, "deviations": deviations}


# ----------------------------------------------------------------------------------------------- backbone
def check_backbone(backbone: nn.Module) -> int:
    """The depth of a backbone R50-C4 can take (a torchvision-layout ResNet-50 / -101 on 3 channels), else a
    ValueError naming ``backbone.arch``, what is wrong and what fits."""
    arch = backbone_arch(backbone)
    if not isinstance(backbone, TorchvisionResNet):
        why = ("a CIFAR stem (3x3 stride-1 conv, no max-pool), which detectron2's ResNet has no counterpart of, and "
               "basic blocks" if isinstance(backbone, CifarResNet) else f"a {type(backbone).__name__}, not a ResNet")
    elif backbone.depth not in FITTING_DEPTHS:
        why = f"a ResNet-{backbone.depth} of basic blocks (R50-C4's res5 head is a stage of bottleneck blocks)"
    elif backbone.in_channels != 3:
        why = f"{backbone.in_channels}-channel input (R50-C4 fine-tunes on RGB images)"
    else:
        return int(backbone.depth)
    raise ValueError(f"backbone.arch={arch} does not fit backend=detectron2: it is {why}. MoCo's Faster R-CNN R50-C4 "
                     f"needs a torchvision-layout ResNet-50 or -101 on 3 channels: use backbone.arch=resnet50 "
                     f"(backbone.in_channels 3), or backend=builtin")


def _exported_target(name: str) -> str:
    """Where detectron2's matching puts an exported tensor in GeneralizedRCNN: stem and res2..res4 in the
    backbone, res5 in the RoI heads."""
    return f"roi_heads.{name}" if name.startswith("res5.") else f"backbone.{name}"


def check_loaded(model: nn.Module, weights: Path) -> int:
    """Every tensor of the exported backbone is in ``model`` as written, and every pretrained part of the model
    (backbone, res5 head without the extra norm) got one; else a RuntimeError. Returns how many were checked."""
    with open(weights, "rb") as f:
        exported = pickle.load(f)["model"]
    state = getattr(model, "module", model).state_dict()
    problems = []
    for name, value in exported.items():
        target = _exported_target(name)
        if target not in state:
            problems.append(f"{name} -> {target} is not in the model")
        elif tuple(state[target].shape) != tuple(value.shape):
            problems.append(f"{name}: shape {tuple(value.shape)}, the model's {target} {tuple(state[target].shape)}")
        elif not torch.equal(state[target].detach().cpu(), torch.as_tensor(value).to(state[target].dtype)):
            problems.append(f"{name}: {target} differs from the exported tensor")
    targets = {_exported_target(n) for n in exported}
    pretrained = [k for k in state if k.startswith(("backbone.", "roi_heads.res5."))
                  and not k.startswith("roi_heads.res5.norm.") and not k.endswith("num_batches_tracked")]
    problems += [f"{k} got no exported tensor" for k in pretrained if k not in targets]
    if problems:
        shown = problems[:5] + ([f"... and {len(problems) - 5} more"] if len(problems) > 5 else [])
        raise RuntimeError(f"detectron2 did not load the exported backbone {weights} as written ({len(problems)} "
                           f"problems: {'; '.join(shown)}): benchmark.export's names and detectron2's ResNet disagree")
    return len(exported)


# ---------------------------------------------------------------------------------------------------- data
def _chosen(full, subset) -> list[int]:
    return list(subset.indices) if isinstance(subset, torch.utils.data.Subset) else list(range(len(full)))


def _scratch_voc(full, indices: list[int], folder: Path, split: str) -> list[tuple[Path, int]]:
    """VOC folders holding exactly the chosen images: per VOC year, ``folder/VOC<year>`` with links to the real
    Annotations / JPEGImages and ``ImageSets/Main/<split>.txt`` listing the chosen ids (in the chosen order).
    Returns (folder, year) pairs, VOC2007 first as the suite orders 07+12."""
    by_year: dict[Path, list[str]] = {}
    for i in indices:
        jpeg = Path(full.paths[i])
        by_year.setdefault(jpeg.parent.parent, []).append(jpeg.stem)
    made = []
    for source, ids in by_year.items():
        target = folder / source.name
        (target / "ImageSets" / "Main").mkdir(parents=True, exist_ok=True)
        for sub in ("Annotations", "JPEGImages"):
            link = target / sub
            if link.is_symlink() or link.exists():
                if link.is_symlink() and Path(os.readlink(link)) == (source / sub).resolve():
                    continue
                link.unlink()
            link.symlink_to((source / sub).resolve(), target_is_directory=True)
        (target / "ImageSets" / "Main" / f"{split}.txt").write_text("".join(f"{i}\n" for i in ids))
        made.append((target, int(source.name.removeprefix("VOC"))))
    return made


def voc_dicts(folder: Path, split: str) -> list[dict]:
    """detectron2's dataset dicts of the images listed in ``folder/ImageSets/Main/<split>.txt``, as its
    ``load_voc_instances`` makes them (size from the XML; every object, difficult ones included, as in its
    training; box (xmin - 1, ymin - 1, xmax, ymax) absolute XYXY, the half-open 0-based box of the 1-based
    inclusive XML). Ours because detectron2's reads the list with ``np.loadtxt``, which makes a one-image list a
    0-d array it cannot iterate (a one-image test subset)."""
    from detectron2.structures import BoxMode

    ids = (folder / "ImageSets" / "Main" / f"{split}.txt").read_text().split()
    dicts = []
    for image_id in ids:
        root = ET.parse(folder / "Annotations" / f"{image_id}.xml").getroot()
        annotations = []
        for obj in root.findall("object"):
            box = obj.find("bndbox")
            x1, y1, x2, y2 = (float(box.find(tag).text) for tag in ("xmin", "ymin", "xmax", "ymax"))
            annotations.append({"category_id": CLASSES.index(obj.find("name").text.strip()),
                                "bbox": [x1 - 1.0, y1 - 1.0, x2, y2], "bbox_mode": BoxMode.XYXY_ABS})
        dicts.append({"file_name": str(folder / "JPEGImages" / f"{image_id}.jpg"), "image_id": image_id,
                      "height": int(root.find("size/height").text), "width": int(root.find("size/width").text),
                      "annotations": annotations})
    return dicts


def _classes_scored(full, indices: list[int]) -> int:
    """Classes with a non-difficult ground-truth box among the chosen images (those voc_ap scores)."""
    present = set()
    for i in indices:
        target = full.annotations[i]
        present.update(int(c) for c in target["labels"][~target["difficult"]].tolist())
    return len(present)


# ----------------------------------------------------------------------------------------------- detectron2
def _register_roi_heads() -> str:
    """MoCo's Res5ROIHeadsExtraNorm (a norm layer after the res5 head, of RESNETS.NORM), registered once per
    process under ROI_HEADS_NAME (a second import of this module finds it there)."""
    from detectron2.layers import get_norm
    from detectron2.modeling.roi_heads import ROI_HEADS_REGISTRY, Res5ROIHeads

    if ROI_HEADS_NAME in ROI_HEADS_REGISTRY:
        return ROI_HEADS_NAME

    class GanrepRes5ROIHeadsExtraNorm(Res5ROIHeads):
        """Res5ROIHeads whose res5 stage ends in one more norm layer (MoCo's detection/train_net.py: the extra BN
        after res5 its paper describes), of RESNETS.NORM, new (weight 1, bias 0): the export has no tensor for it."""

        @classmethod
        def _build_res5_block(cls, cfg):
            res5, out_channels = super()._build_res5_block(cfg)
            res5.add_module("norm", get_norm(cfg.MODEL.RESNETS.NORM, out_channels))
            return res5, out_channels

    assert GanrepRes5ROIHeadsExtraNorm.__name__ == ROI_HEADS_NAME
    ROI_HEADS_REGISTRY.register(GanrepRes5ROIHeadsExtraNorm)
    return ROI_HEADS_NAME


def detectron2_config(cfg, schedule: _Schedule, *, depth: int, weights: Path, input_norm: str, device,
                      output_dir: Path, train_names: list[str], test_name: str, norm: str):
    """MoCo's detectron2 config (get_cfg() defaults + its Base-RCNN-C4-BN / pascal_voc_R_50_C4_24k(_moco)
    values), the numbers from the bounded task config."""
    from detectron2.config import get_cfg

    mean, std = pixel_statistics(input_norm)
    c = get_cfg()
    c.MODEL.META_ARCHITECTURE = "GeneralizedRCNN"
    c.MODEL.MASK_ON = False
    c.MODEL.WEIGHTS = str(weights)
    c.MODEL.DEVICE = str(device)
    c.MODEL.PIXEL_MEAN = list(mean)
    c.MODEL.PIXEL_STD = list(std)
    c.MODEL.BACKBONE.NAME = "build_resnet_backbone"
    c.MODEL.BACKBONE.FREEZE_AT = 0 if cfg.finetune_backbone else 5
    c.MODEL.RESNETS.DEPTH = depth
    c.MODEL.RESNETS.OUT_FEATURES = ["res4"]  # C4: the RPN and the RoI pooling on res4, res5 in the head
    c.MODEL.RESNETS.NORM = norm
    c.MODEL.RESNETS.STRIDE_IN_1X1 = False  # torchvision's layout: the stride in the 3x3 conv
    c.MODEL.RPN.IN_FEATURES = ["res4"]
    c.MODEL.RPN.PRE_NMS_TOPK_TEST = 6000
    c.MODEL.RPN.POST_NMS_TOPK_TEST = 1000
    c.MODEL.ROI_HEADS.NAME = _register_roi_heads()
    c.MODEL.ROI_HEADS.IN_FEATURES = ["res4"]
    c.MODEL.ROI_HEADS.NUM_CLASSES = len(CLASSES)
    c.MODEL.ROI_HEADS.SCORE_THRESH_TEST = float(cfg.score_threshold)
    c.TEST.DETECTIONS_PER_IMAGE = int(cfg.detections_per_image)
    c.INPUT.MIN_SIZE_TRAIN = tuple(int(s) for s in cfg.min_size)
    c.INPUT.MIN_SIZE_TRAIN_SAMPLING = "choice"
    c.INPUT.MAX_SIZE_TRAIN = int(cfg.max_size)
    c.INPUT.MIN_SIZE_TEST = int(cfg.min_size[-1])
    c.INPUT.MAX_SIZE_TEST = int(cfg.max_size)
    c.INPUT.FORMAT = "RGB"
    c.INPUT.RANDOM_FLIP = "horizontal" if cfg.flip else "none"
    c.DATASETS.TRAIN = tuple(train_names)
    c.DATASETS.TEST = (test_name,)
    c.DATALOADER.NUM_WORKERS = int(cfg.num_workers)
    c.SOLVER.IMS_PER_BATCH = schedule.batch_size
    c.SOLVER.BASE_LR = schedule.lr
    c.SOLVER.MOMENTUM = float(cfg.momentum)
    c.SOLVER.WEIGHT_DECAY = float(cfg.weight_decay)
    c.SOLVER.MAX_ITER = schedule.iterations
    c.SOLVER.STEPS = schedule.steps
    c.SOLVER.WARMUP_ITERS = int(cfg.warmup_iterations)
    c.SOLVER.CHECKPOINT_PERIOD = MOCO["checkpoint_period"]
    c.TEST.EVAL_PERIOD = 0  # evaluated once, after the last iteration
    c.TEST.PRECISE_BN.ENABLED = True
    c.TEST.PRECISE_BN.NUM_ITER = schedule.precise_bn_iterations
    c.SEED = int(cfg.seed)
    c.OUTPUT_DIR = str(output_dir)
    c.freeze()
    return c


def _trainer_class(freeze_res5: bool):
    """detectron2's DefaultTrainer, MoCo's way (its train_net.py's Trainer): the PascalVOC evaluator; writers
    without TensorBoard; with ``freeze_res5`` the res5 head's blocks (the backbone's layer4) frozen too."""
    from detectron2.engine import DefaultTrainer, HookBase
    from detectron2.engine.hooks import EvalHook
    from detectron2.evaluation import PascalVOCDetectionEvaluator
    from detectron2.layers import CNNBlockBase
    from detectron2.utils.events import CommonMetricPrinter, JSONWriter

    class TrainingDone(HookBase):
        """Notes when training (with precise BN and the final checkpoint) ends, before the evaluation."""

        def before_train(self):
            self.start = self.end = time.perf_counter()

        def after_train(self):
            self.end = time.perf_counter()

    class Trainer(DefaultTrainer):
        def build_hooks(self):
            hooks = super().build_hooks()
            self.clock = TrainingDone()
            at = next((i for i, h in enumerate(hooks) if isinstance(h, EvalHook)), len(hooks))
            return hooks[:at] + [self.clock] + hooks[at:]

        @classmethod
        def build_model(cls, cfg):
            model = super().build_model(cfg)
            if freeze_res5:
                for block in model.roi_heads.res5:
                    if isinstance(block, CNNBlockBase):
                        block.freeze()
            return model

        @classmethod
        def build_evaluator(cls, cfg, dataset_name, output_folder=None):
            return PascalVOCDetectionEvaluator(dataset_name)

        def build_writers(self):
            return [CommonMetricPrinter(self.max_iter), JSONWriter(os.path.join(self.cfg.OUTPUT_DIR, "metrics.json"))]

    return Trainer


SUMMARY = "ganrep_run.json"  # in the work folder: what a finished run reports besides the evaluation


def train_and_evaluate_detectron2(backbone: nn.Module, cfg, ctx, name: str) -> dict[str, float]:
    """Fine-tune MoCo's Faster R-CNN R50-C4 from ``backbone`` on ``cfg.train_split`` and score it on
    ``cfg.test_split`` through detectron2 (module docstring); with ``ctx.work_root`` a run that died resumes from
    its last checkpoint and a finished one is evaluated again without training."""
    depth = check_backbone(backbone)
    limits = EvalLimits.of(ctx.eval_cfg)
    cfg = limits.bound(cfg, dense=True)
    schedule = _schedule(cfg)
    data = {"name": "voc_detection", "root": ctx.datasets_root}
    train_full, test_full = build_dataset(data, cfg.train_split), build_dataset(data, cfg.test_split)
    train_idx = _chosen(train_full, dense_subset(train_full, limits.samples("train"), cfg.seed))
    test_idx = _chosen(test_full, dense_subset(test_full, limits.samples("test"), cfg.seed))
    import_framework("detectron2.engine", "detectron2")
    from detectron2.data import DatasetCatalog, MetadataCatalog
    from detectron2.utils import comm
    from detectron2.utils.env import seed_all_rng

    world = _distributed_world_size()
    norm = MOCO["norm"] if world > 1 else "BN"
    key = {**dataclasses.asdict(cfg), "recipe_version": RECIPE_VERSION, "world_size": world}
    registered = []
    d2_logger = logging.getLogger("detectron2")
    old_level = d2_logger.level
    if not d2_logger.isEnabledFor(logging.INFO) and not d2_logger.handlers:
        d2_logger.setLevel(logging.INFO)  # its records go to the suite's handlers (else it prints its own)
    try:
        with work_dir(ctx, name, "detectron2", backbone_fingerprint(backbone), key) as out:
            weights, _ = export_detectron2(backbone.state_dict(), out / "backbone", depth, backbone.input_norm.name)
            tag = f"ganrep_{name}_{uuid.uuid4().hex[:8]}"

            def register(role: str, split: str, indices: list[int], full) -> list[str]:
                names = []
                for folder, year in _scratch_voc(full, indices, out / "voc" / role, split):
                    dataset = f"{tag}_{role}_{year}"
                    DatasetCatalog.register(dataset, functools.partial(voc_dicts, folder, split))
                    # what PascalVOCDetectionEvaluator reads: the folder, its list, the year (2007: 11-point AP)
                    MetadataCatalog.get(dataset).set(thing_classes=list(CLASSES), dirname=str(folder), year=year,
                                                     split=split)
                    registered.append(dataset)
                    names.append(dataset)
                return names

            train_names = register("train", "trainval", train_idx, train_full)
            test_names = register("test", "test", test_idx, test_full)
            if len(test_names) != 1:  # PascalVOCDetectionEvaluator scores one VOC folder
                raise ValueError(f"test_split={cfg.test_split} joins {len(test_names)} VOC years; backend=detectron2 "
                                 "tests on one (MoCo: 07_test)")
            test_name = test_names[0]
            d2cfg = detectron2_config(cfg, schedule, depth=depth, weights=weights,
                                      input_norm=backbone.input_norm.name, device=ctx.device, output_dir=out,
                                      train_names=train_names, test_name=test_name, norm=norm)
            seed_all_rng(cfg.seed + comm.get_rank())
            trainer = _trainer_class(freeze_res5=not cfg.finetune_backbone)(d2cfg)
            trainer.resume_or_load(resume=True)  # the work folder's last checkpoint, else MODEL.WEIGHTS
            start = trainer.start_iter
            if start == 0:
                log.info("%s: detectron2 loaded all %d exported backbone tensors", name,
                         check_loaded(trainer.model, weights))
            else:
                log.info("%s: resuming detectron2's run in %s at iteration %d of %d", name, out, start,
                         schedule.iterations)
            trainer.train()  # evaluates after the last iteration (EvalHook), also when nothing is left to train
            seconds = trainer.clock.end - trainer.clock.start  # this call's training, without the evaluation
            results = getattr(trainer, "_last_eval_results", None) or trainer.test(d2cfg, trainer.model)
            summary_path = out / SUMMARY
            if start < schedule.iterations:
                summary = {"final_loss": float(trainer.storage.history("total_loss").latest()),
                           "train_seconds": seconds, "iterations": schedule.iterations, "resumed_at": start}
                if comm.is_main_process():
                    summary_path.write_text(json.dumps(summary, indent=1) + "\n")
            elif summary_path.is_file():
                summary = json.loads(summary_path.read_text())
            else:
                summary = {"final_loss": math.nan, "train_seconds": math.nan}
    finally:
        d2_logger.setLevel(old_level)
        for dataset in registered:
            DatasetCatalog.remove(dataset)
            MetadataCatalog.remove(dataset)

    bbox = (results or {}).get("bbox", {})  # empty on a process other than the main one (detectron2 gathers there)
    metrics = {k: float(bbox.get(k, math.nan)) for k in ("AP", "AP50", "AP75")}
    log.info("%s (detectron2 R50-C4): AP %.2f AP50 %.2f AP75 %.2f after %d iterations", name, metrics["AP"],
             metrics["AP50"], metrics["AP75"], schedule.iterations)
    return {**metrics, "iterations": float(schedule.iterations), "final_loss": float(summary["final_loss"]),
            "train_samples": float(len(train_idx)), "test_samples": float(len(test_idx)),
            "finetune_backbone": float(cfg.finetune_backbone),
            "classes_scored": float(_classes_scored(test_full, test_idx)),
            "train_seconds": float(summary["train_seconds"])}
