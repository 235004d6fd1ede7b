"""``task=ade20k_seg backend=mmseg``: mmsegmentation's UPerNet-R50 ADE20K recipe on the suite's ResNet-50.

The recipe is mmsegmentation 1.x's ``upernet_r50_4xb4-160k_ade20k-512x512`` (its bases models/upernet_r50,
datasets/ade20k, schedules/schedule_160k, default_runtime), written here as a config dict built from the task's
config (``mmseg_config``) and run by mmengine's ``Runner``; the numbers are mmseg's ``IoUMetric`` (mIoU, aAcc,
mAcc in percent, over the whole validation set at each image's own size):

  - model: ``EncoderDecoder``; ``SegDataPreProcessor`` (pad to the crop, 0 / 255, BGR -> RGB) whose mean / std are
    the pixel statistics the backbone was pretrained on (benchmark.export.pixel_statistics); a ResNet-50
    (style pytorch, SyncBN) initialised from the suite's weights (benchmark.export.export_mmseg, loaded by
    ``init_cfg=Pretrained`` and then compared tensor by tensor with the suite's backbone); ``UPerHead`` (stages
    0-3, pool scales 1, 2, 3, 6, ``decoder_channels``, dropout 0.1, 150 classes, cross-entropy) and an FCN
    auxiliary head on the third stage (in_index 2: 1024 -> 256, one conv, dropout 0.1, loss weight
    ``auxiliary_weight``; none at 0);
  - data: ``ADE20KDataset`` (reduce_zero_label); training: load, annotations, ``RandomResize`` (``scale`` x
    ``ratio_range``, keep ratio), ``RandomCrop`` (``crop_size``, cat_max_ratio 0.75), ``RandomFlip`` (0.5),
    ``PhotoMetricDistortion``; test: ``Resize`` to fit ``scale``, annotations at full size;
  - schedule: SGD (``lr``, ``momentum``, ``weight_decay``), ``PolyLR`` (power ``poly_power``, down to 1e-4) per
    iteration, ``IterBasedTrainLoop`` of ``iterations`` at ``batch_size`` images (mmseg: 4 GPUs x 4).

The preset's ``eval`` limits bound it exactly as they bound backend=builtin (tasks/limits.py: iterations, image
side, batch; seeded subsets of the same images, ``benchmark.data.dense_sets.dense_subset``). ``recipe(cfg)`` says
what a record should say produced the number, with every deviation from mmseg's recipe.

State lives in ``tasks.dense.backends.work_dir`` (stable under ``ctx.work_root``): the exported weights, mmengine's
logs and checkpoints (every 16k iterations and the last). A run that died resumes from its last checkpoint
(mmengine replays the data loader up to that iteration, as it does for any resumed mmseg run); a finished one
is evaluated again from its final checkpoint without training. mmengine's own checkpoints hold its
``HistoryBuffer`` and numpy arrays, which torch's weights-only ``torch.load`` refuses: those files, and only files
inside this run's work dir, are read with ``weights_only=False`` (``_trusted_load``; any other file, e.g. a
``load_from`` elsewhere, goes through mmengine's own weights-only read).
"""
from __future__ import annotations

import copy
import logging
import math
import os
import time
import uuid
import warnings
from pathlib import Path
from typing import Optional

import torch
from torch import nn

from benchmark.data import build_dataset
from benchmark.data.ade20k import N_CLASSES, SPLIT_FOLDERS
from benchmark.data.dense_sets import IGNORE_INDEX, dense_subset
from benchmark.data.image_sets import data_root
from benchmark.export import backbone_state, export_mmseg, pixel_statistics
from tasks.dense.backends import backbone_arch, import_framework, work_dir
from tasks.limits import EvalLimits

log = logging.getLogger(__name__)

DEPTH = 50  # the only ResNet the recipe fine-tunes
CHECKPOINT_INTERVAL = 16000  # mmseg's default_runtime / schedule_160k: a checkpoint every 16k iterations
ETA_MIN = 1e-4  # PolyLR's floor in schedule_160k
TRAIN_SECONDS = "ganrep_train_seconds"  # runtime info kept in mmengine's message hub (so resumed runs add up)
# what the recipe's own config makes mmseg 1.2 say on every run (kept out of the console)
KNOWN_WARNINGS = (r"``build_loss`` would be deprecated", r"Default ``avg_non_ignore`` is False",
                  r"`reduce_zero_label` will be deprecated", r"The draw is False")
PROTOCOL = ("mmsegmentation UPerNet R50 ADE20K 512x512 160k (configs/upernet/upernet_r50_4xb4-160k_ade20k-512x512.py"
            ", mmsegmentation 1.x through mmengine's Runner; IoUMetric mIoU / aAcc / mAcc, single scale)")
# the recipe's values of the task config's fields (launch/task/ade20k_seg.yaml); anything else is a deviation
RECIPE = {"iterations": 160000, "batch_size": 16, "lr": 0.01, "momentum": 0.9, "weight_decay": 5e-4,
          "poly_power": 0.9, "warmup_iterations": 0, "decoder_channels": 512, "scale": [2048, 512],
          "ratio_range": [0.5, 2.0], "crop_size": 512, "flip": True, "auxiliary_weight": 0.4,
          "finetune_backbone": True, "train_split": "train", "test_split": "val"}
ALWAYS = [
    "backbone: the suite's torchvision-layout ResNet-50 as mmseg's plain ResNet (style pytorch, 7x7 stem, no deep "
    "stem) initialised from the pretrained weights under test; the recipe's ResNetV1c (3-conv deep stem) with "
    "open-mmlab's ImageNet weights (open-mmlab://resnet50_v1c) has no counterpart in the suite",
    "pixel mean / std of the data preprocessor: the statistics the backbone was pretrained with "
    "(benchmark.export.pixel_statistics of backbone.input_norm), not ImageNet's",
    "one process: the recipe's SyncBN is converted to BatchNorm by mmengine's Runner (not distributed); its "
    "statistics are over the whole per-process batch (the recipe: SyncBN over 4 GPUs x 4 images)",
    "no validation during training (the recipe evaluates every 16k iterations); one evaluation of the final "
    "weights on the test split, the number mmseg's tables report",
    "fixed seed (randomness.seed = the task's seed; the recipe leaves it random)",
]


def recipe(cfg, eval_cfg=None) -> dict:
    """What produced the numbers of ``train_and_evaluate_mmseg(backbone, cfg, ...)``: the backend, the protocol
    and every deviation from mmseg's recipe (the fixed ones, then each config value that differs from it). With
    ``eval_cfg`` (the preset's ``eval`` section), the values the limits bound and the subsets they take."""
    deviations = list(ALWAYS)
    if eval_cfg:
        limits = EvalLimits.of(eval_cfg)
        cfg = limits.bound(cfg, dense=True)
        for split, n in (("training", limits.samples("train")), ("test", limits.samples("test"))):
            if n is not None:
                deviations.append(f"at most {n} {split} images (a seeded subset, eval.max_"
                                  f"{'train' if split == 'training' else 'test'}_samples)")
    for key, value in RECIPE.items():
        ours = getattr(cfg, key, value)
        if isinstance(ours, tuple):
            ours = list(ours)
        if ours != value:
            deviations.append(_difference(key, ours, value))
    if getattr(cfg, "batch_size", 16) == RECIPE["batch_size"]:
        deviations.append("batch: 16 images in one process (the recipe: 4 GPUs x 4)")
    return {"backend": "mmseg", "protocol": PROTOCOL, "deviations": deviations}


def _difference(key: str, ours, theirs) -> str:
    if key == "finetune_backbone":
        return ("frozen backbone (finetune_backbone=false: frozen_stages=4, stem and all four stages in eval mode "
                "with requires_grad False; only the heads train); the recipe fine-tunes it")
    if key == "auxiliary_weight" and not ours:
        return "no auxiliary FCN head (auxiliary_weight=0; the recipe: weight 0.4 on the third stage, in_index 2)"
    if key == "warmup_iterations":
        return f"a linear lr warm-up over {ours} iterations (mmengine LinearLR, from 1/{ours}); the recipe has none"
    if key == "flip" and not ours:
        return "no random flips (the recipe flips with probability 0.5)"
    return f"{key}={ours} (the recipe: {theirs})"


def check_backbone(backbone: nn.Module) -> None:
    """A ValueError unless ``backbone`` is the suite's torchvision-layout ResNet-50 on 3-channel images."""
    from benchmark.backbones import TorchvisionResNet

    fits = (isinstance(backbone, TorchvisionResNet) and getattr(backbone, "depth", None) == DEPTH
            and getattr(backbone, "in_channels", None) == 3)
    if not fits:
        channels = getattr(backbone, "in_channels", None)
        on = f" on {channels}-channel images" if channels not in (None, 3) else ""
        got = f"backbone.arch={backbone_arch(backbone)}{on}"
        raise ValueError(f"backend=mmseg fine-tunes mmsegmentation's ResNet-50 (torchvision layout, 3-channel "
                         f"images); got {got}. What fits: backbone.arch=resnet50 with 3 input channels; or run "
                         f"backend=builtin")


# -------------------------------------------------------------------------------------------------- the config

def mmseg_config(cfg, root: Path, train_indices: Optional[list], test_indices: Optional[list], checkpoint: Path,
                 input_norm: str, experiment_name: str) -> dict:
    """The recipe as an mmengine config dict (the keys ``Runner.from_cfg`` reads), built from ``cfg`` (already
    within the preset's limits); ``*_indices``: the images of each split kept (None = all)."""
    crop = (cfg.crop_size, cfg.crop_size)
    mean, std = pixel_statistics(input_norm)
    norm_cfg = dict(type="SyncBN", requires_grad=True)
    loss = dict(type="CrossEntropyLoss", use_sigmoid=False, loss_weight=1.0)
    auxiliary = None
    if cfg.auxiliary_weight:
        auxiliary = dict(type="FCNHead", in_channels=1024, in_index=2, channels=256, num_convs=1, concat_input=False,
                         dropout_ratio=0.1, num_classes=N_CLASSES, norm_cfg=norm_cfg, align_corners=False,
                         loss_decode=dict(loss, loss_weight=float(cfg.auxiliary_weight)))
    model = dict(
        type="EncoderDecoder",
        data_preprocessor=dict(type="SegDataPreProcessor", mean=mean, std=std, bgr_to_rgb=True, pad_val=0,
                               seg_pad_val=IGNORE_INDEX, size=crop),
        backbone=dict(type="ResNet", depth=DEPTH, num_stages=4, out_indices=(0, 1, 2, 3), dilations=(1, 1, 1, 1),
                      strides=(1, 2, 2, 2), norm_cfg=norm_cfg, norm_eval=False, style="pytorch", deep_stem=False,
                      contract_dilation=True, frozen_stages=-1 if cfg.finetune_backbone else 4,
                      init_cfg=dict(type="Pretrained", checkpoint=str(checkpoint))),
        decode_head=dict(type="UPerHead", in_channels=[256, 512, 1024, 2048], in_index=[0, 1, 2, 3],
                         pool_scales=(1, 2, 3, 6), channels=cfg.decoder_channels, dropout_ratio=0.1,
                         num_classes=N_CLASSES, norm_cfg=norm_cfg, align_corners=False, loss_decode=loss),
        auxiliary_head=auxiliary,
        train_cfg=dict(), test_cfg=dict(mode="whole"))

    scale = tuple(cfg.scale)
    train_pipeline = [
        dict(type="LoadImageFromFile"),
        dict(type="LoadAnnotations", reduce_zero_label=True),
        dict(type="RandomResize", scale=scale, ratio_range=tuple(cfg.ratio_range), keep_ratio=True),
        dict(type="RandomCrop", crop_size=crop, cat_max_ratio=0.75),
        dict(type="RandomFlip", prob=0.5 if cfg.flip else 0.0),
        dict(type="PhotoMetricDistortion"),
        dict(type="PackSegInputs"),
    ]
    test_pipeline = [
        dict(type="LoadImageFromFile"),
        dict(type="Resize", scale=scale, keep_ratio=True),
        dict(type="LoadAnnotations", reduce_zero_label=True),  # after the resize: scored at the image's own size
        dict(type="PackSegInputs"),
    ]
    workers = dict(num_workers=cfg.num_workers, persistent_workers=cfg.num_workers > 0)
    train_dataloader = dict(batch_size=cfg.batch_size, **workers, sampler=dict(type="InfiniteSampler", shuffle=True),
                            dataset=ade20k_dataset(root, cfg.train_split, train_indices, train_pipeline))
    test_dataloader = dict(batch_size=1, **workers, sampler=dict(type="DefaultSampler", shuffle=False),
                           dataset=ade20k_dataset(root, cfg.test_split, test_indices, test_pipeline))

    schedulers = [dict(type="PolyLR", eta_min=ETA_MIN, power=cfg.poly_power, begin=0, end=cfg.iterations,
                       by_epoch=False)]
    if cfg.warmup_iterations:  # not in the recipe; as backend=builtin: from 1/warmup to 1, times the poly decay
        schedulers.insert(0, dict(type="LinearLR", start_factor=1.0 / cfg.warmup_iterations, end_factor=1.0,
                                  begin=0, end=cfg.warmup_iterations, by_epoch=False))
    return dict(
        model=model,
        train_dataloader=train_dataloader,
        test_dataloader=test_dataloader,
        test_evaluator=dict(type="IoUMetric", iou_metrics=["mIoU"], ignore_index=IGNORE_INDEX),
        optim_wrapper=dict(type="OptimWrapper", optimizer=dict(type="SGD", lr=cfg.lr, momentum=cfg.momentum,
                                                                weight_decay=cfg.weight_decay), clip_grad=None),
        param_scheduler=schedulers,
        train_cfg=dict(type="IterBasedTrainLoop", max_iters=cfg.iterations, val_interval=cfg.iterations),
        test_cfg=dict(type="TestLoop"),
        default_hooks=dict(
            timer=dict(type="IterTimerHook"),
            logger=dict(type="LoggerHook", interval=50, log_metric_by_epoch=False),
            param_scheduler=dict(type="ParamSchedulerHook"),
            checkpoint=dict(type="CheckpointHook", by_epoch=False, interval=min(CHECKPOINT_INTERVAL, cfg.iterations),
                            max_keep_ckpts=1),
            sampler_seed=dict(type="DistSamplerSeedHook"),
            visualization=dict(type="SegVisualizationHook")),
        default_scope="mmseg",
        env_cfg=dict(cudnn_benchmark=True, dist_cfg=dict(backend="nccl"),
                     # the process's own start method: the Runner would force "fork" on the whole process
                     mp_cfg=dict(mp_start_method=torch.multiprocessing.get_start_method(), opencv_num_threads=0)),
        visualizer=dict(type="SegLocalVisualizer", vis_backends=[dict(type="LocalVisBackend")]),
        log_processor=dict(by_epoch=False),
        log_level="INFO",
        randomness=dict(seed=cfg.seed),
        experiment_name=experiment_name,
        launcher="none",
    )


def ade20k_dataset(root: Path, split: str, indices: Optional[list], pipeline: list) -> dict:
    folder = SPLIT_FOLDERS[split]
    dataset = dict(type="ADE20KDataset", data_root=str(root), reduce_zero_label=True, pipeline=pipeline,
                   data_prefix=dict(img_path=f"images/{folder}", seg_map_path=f"annotations/{folder}"))
    if indices is not None:
        dataset["indices"] = list(indices)
    return dataset


# ------------------------------------------------------------------------------------------------------ the run

def train_and_evaluate_mmseg(backbone: nn.Module, cfg, ctx, name: str) -> dict[str, float]:
    """mmseg's UPerNet-R50 ADE20K recipe on ``backbone`` (the suite's ResNet-50) within the preset's limits:
    {mIoU, pixel_accuracy (mmseg's aAcc), mAcc} in percent (mmseg rounds them to 2 decimals), iterations,
    final_loss (the last iteration's total loss, auxiliary included), train_samples, test_samples,
    finetune_backbone, train_seconds (of all the calls that trained this work dir)."""
    from tasks.linear.features import backbone_fingerprint

    check_backbone(backbone)
    # the suite's loader first: a missing dataset fails with its message, and it fixes the file order
    train_files = build_dataset({"name": "ade20k", "root": ctx.datasets_root}, cfg.train_split)
    test_files = build_dataset({"name": "ade20k", "root": ctx.datasets_root}, cfg.test_split)
    import_framework("mmseg", "mmseg")
    mmseg_utils = import_framework("mmseg.utils", "mmseg")

    limits = EvalLimits.of(ctx.eval_cfg)
    bounded = limits.bound(cfg, dense=True)
    # the images backend=builtin takes (pixel_protocol.fit_and_score): the same seeded subsets
    train_set = dense_subset(train_files, limits.samples("train"), bounded.seed)
    test_set = dense_subset(test_files, limits.samples("test"), bounded.seed)
    root = data_root(ctx.datasets_root) / "ADEChallengeData2016"

    with work_dir(ctx, name, "mmseg", backbone_fingerprint(backbone), cfg) as folder:
        folder = Path(folder)
        checkpoint, _ = export_mmseg(backbone.state_dict(), folder / "backbone-r50", DEPTH, backbone.input_norm.name)
        experiment = f"{name}-mmseg-{uuid.uuid4().hex[:12]}"  # mmengine's loggers and visualizers are per name
        config = mmseg_config(bounded, root, _indices(train_set), _indices(test_set), checkpoint,
                              backbone.input_norm.name, experiment)
        config["work_dir"] = str(folder)
        mmseg_utils.register_all_modules(init_default_scope=False)
        _check_files(config, train_set, test_set)
        expected = {k: v.detach().cpu() for k, v in backbone_state(backbone.state_dict()).items()}
        metrics, trained = _run(config, folder, expected, bounded.iterations, ctx.device, experiment)

    out = {"mIoU": float(metrics["mIoU"]), "pixel_accuracy": float(metrics["aAcc"]), "mAcc": float(metrics["mAcc"]),
           "iterations": float(bounded.iterations), "final_loss": float(trained["final_loss"]),
           "train_samples": float(len(train_set)), "test_samples": float(len(test_set)),
           "finetune_backbone": float(bounded.finetune_backbone), "train_seconds": float(trained["train_seconds"])}
    log.info("%s (backend=mmseg): mIoU %.2f, pixel accuracy %.2f, mAcc %.2f after %d iterations (%.0f s)", name,
             out["mIoU"], out["pixel_accuracy"], out["mAcc"], bounded.iterations, out["train_seconds"])
    return out


def _indices(subset) -> Optional[list]:
    return list(subset.indices) if isinstance(subset, torch.utils.data.Subset) else None


def _check_files(config: dict, train_set, test_set) -> None:
    """mmseg's datasets, as the config builds them, hold the files of the suite's subsets in the same order."""
    from mmseg.datasets import ADE20KDataset

    for key, suite in (("train_dataloader", train_set), ("test_dataloader", test_set)):
        spec = {k: v for k, v in config[key]["dataset"].items() if k not in ("type", "pipeline")}
        dataset = ADE20KDataset(**spec, pipeline=[], serialize_data=False)  # its ``indices`` applied, as in the run
        theirs = [(os.path.realpath(d["img_path"]), os.path.realpath(d["seg_map_path"]))
                  for d in map(dataset.get_data_info, range(len(dataset)))]
        base = suite.dataset if isinstance(suite, torch.utils.data.Subset) else suite
        order = _indices(suite) or range(len(base))
        ours = [(os.path.realpath(base.images[i]), os.path.realpath(base.label_maps[i])) for i in order]
        if theirs != ours:
            first = next((i for i, (a, b) in enumerate(zip(theirs, ours)) if a != b), min(len(theirs), len(ours)))
            raise RuntimeError(f"mmseg's ADE20K {key.split('_')[0]} set lists other files than the suite's loader "
                               f"({len(theirs)} vs {len(ours)} items; first difference at item {first}: "
                               f"{theirs[first:first + 1]} vs {ours[first:first + 1]})")


def _latest_checkpoint(folder: Path) -> Optional[Path]:
    """The checkpoint mmengine last wrote in ``folder`` (its ``last_checkpoint`` file), if it is still there."""
    pointer = folder / "last_checkpoint"
    if not pointer.is_file():
        return None
    named = Path(pointer.read_text().strip())
    for path in (named, folder / named.name):  # the folder may have moved since
        if path.is_file() and _inside(path, folder):
            return path
    return None


def _inside(path, folder) -> bool:
    return Path(os.path.realpath(path)).is_relative_to(os.path.realpath(folder))


def _trusted_load(path, folder: Path, map_location="cpu", mmap: bool = False):
    """A checkpoint mmengine wrote in this run's work dir ``folder`` (it pickles its HistoryBuffer and numpy
    arrays, which torch's weights-only load refuses); nothing outside ``folder`` is read this way."""
    if not _inside(path, folder):
        raise ValueError(f"{path} is not a checkpoint of the work dir {folder}; it is not loaded unrestricted")
    return torch.load(path, map_location=map_location, weights_only=False, mmap=mmap)


def _run(config: dict, folder: Path, expected: dict, iterations: int, device, experiment: str):
    """Train (or resume, or skip a finished run) and test through mmengine's Runner; (metrics, training info)."""
    import cv2
    from mmengine.config import Config
    from mmengine.hooks import Hook
    from mmengine.model import is_model_wrapper
    from mmengine.runner import Runner
    from mmengine.runner.checkpoint import _load_checkpoint_to_model

    class TrustedRunner(Runner):
        """Reads the checkpoints of its own work dir with weights_only=False (see ``_trusted_load``); any
        other file as mmengine does."""

        def load_checkpoint(self, filename, map_location="cpu", strict=False, revise_keys=((r"^module.", ""),)):
            if not _inside(filename, folder):
                return super().load_checkpoint(filename, map_location, strict, revise_keys)
            checkpoint = _trusted_load(filename, folder)  # as Runner.load_checkpoint, with the trusted read
            self.call_hook("after_load_checkpoint", checkpoint=checkpoint)
            model = self.model.module if is_model_wrapper(self.model) else self.model
            checkpoint = _load_checkpoint_to_model(model, checkpoint, strict, revise_keys=revise_keys)
            self._has_loaded = True
            return checkpoint

        def build_logger(self, log_level="INFO", log_file=None, **kwargs):
            """mmengine's logger, its INFO lines (environment, config, per-class table) only in the log file of
            the work dir; the console gets its warnings."""
            logger = super().build_logger(log_level, log_file, **kwargs)
            for handler in logger.handlers:
                if not isinstance(handler, logging.FileHandler):
                    handler.setLevel(max(handler.level, logging.WARNING))
            return logger

    class Progress(Hook):
        """Checks, before the first iteration, that the backbone holds the suite's weights; stops at a non-finite
        loss; adds up the training time in the message hub (saved in checkpoints, so a resumed run counts the
        earlier calls too)."""

        priority = "NORMAL"  # after RuntimeInfoHook, before CheckpointHook

        def __init__(self):
            self.start, self.base, self.steps = None, 0.0, 0

        def before_train(self, runner):
            self.base = float(runner.message_hub.get_info(TRAIN_SECONDS, 0.0))
            if runner.iter == 0:
                model = runner.model.module if is_model_wrapper(runner.model) else runner.model
                _check_loaded(model.backbone, expected)

        def before_train_iter(self, runner, batch_idx, data_batch=None):
            if self.start is None:
                self.start = time.perf_counter()

        def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
            self.steps += 1
            losses = {k: float(torch.as_tensor(v).detach()) for k, v in (outputs or {}).items()}
            if not math.isfinite(losses.get("loss", 0.0)):  # as backend=builtin (tasks/dense/finetune.py)
                raise FloatingPointError(f"{experiment}: loss is {losses['loss']} at iteration {runner.iter + 1} "
                                         f"({losses}); lower the lr")
            runner.message_hub.update_info(TRAIN_SECONDS, self.base + time.perf_counter() - self.start)

    latest = _latest_checkpoint(folder)
    done_at = int(_trusted_load(latest, folder, mmap=True)["meta"]["iter"]) if latest is not None else 0
    finished = latest is not None and done_at >= iterations
    # a fresh run neither loads nor resumes; a run that died resumes from its last checkpoint (mmengine: weights,
    # optimizer, schedulers, message hub, iteration); a finished one only loads its final weights to test them
    config = dict(config, load_from=str(latest) if latest is not None else None,
                  resume=latest is not None and not finished)
    if latest is not None:
        log.info("%s: %s from %s (iteration %d of %d)", experiment,
                 "evaluating the finished run" if finished else "resuming", latest, done_at, iterations)

    cudnn_benchmark, cv2_threads = torch.backends.cudnn.benchmark, cv2.getNumThreads()
    runner, progress = None, Progress()
    with warnings.catch_warnings():
        for message in KNOWN_WARNINGS:
            warnings.filterwarnings("ignore", message=message, category=UserWarning)
        try:
            # unformatted config text in logs and checkpoints: yapf takes a second per dump, five dumps a run
            runner = TrustedRunner.from_cfg(Config(copy.deepcopy(config), format_python_code=False))
            log.info("%s: mmsegmentation's log in %s", experiment, runner.log_dir)
            runner.model.to(device)  # mmengine puts the model on its own choice of device
            runner.register_hook(progress)
            if not finished:
                runner.train()
                hub = runner.message_hub
                final_loss = hub.get_scalar("train/loss").current()
                seconds = hub.get_info(TRAIN_SECONDS, 0.0)
            else:  # trained to the end before: its final weights are tested (runner.test loads load_from)
                hub = _trusted_load(latest, folder, mmap=True)["message_hub"]
                final_loss = hub["log_scalars"]["train/loss"].current()
                seconds = hub["runtime_info"].get(TRAIN_SECONDS, 0.0)
            metrics = runner.test()
        finally:  # what the Runner set for the whole process
            torch.backends.cudnn.benchmark = cudnn_benchmark
            cv2.setNumThreads(cv2_threads)
            _release(runner, experiment)
    return metrics, {"final_loss": float(final_loss), "train_seconds": float(seconds), "steps": progress.steps,
                     "start_iteration": done_at}


def _check_loaded(mmseg_backbone: nn.Module, expected: dict) -> None:
    """Every tensor of the suite's backbone equal to the one mmseg's ResNet holds, and no other weight left
    at its random initialisation (a silent name mismatch of the Pretrained init would train from scratch)."""
    theirs = {k: v.detach().cpu() for k, v in mmseg_backbone.state_dict().items()
              if not k.endswith("num_batches_tracked")}
    missing = sorted(set(expected) - set(theirs))
    untouched = sorted(set(theirs) - set(expected))
    different = sorted(k for k in set(expected) & set(theirs)
                       if expected[k].shape != theirs[k].shape
                       or not torch.equal(expected[k], theirs[k].to(expected[k].dtype)))
    if missing or untouched or different:
        raise RuntimeError(f"mmseg's ResNet-50 does not hold the suite's backbone weights after init: "
                           f"{len(missing)} not in mmseg's model (e.g. {missing[:3]}), {len(untouched)} of mmseg's "
                           f"not in the export (e.g. {untouched[:3]}), {len(different)} differ (e.g. {different[:3]})")


def _release(runner, experiment: str) -> None:
    """Close the run's log files and drop mmengine's per-name instances (logger, message hub, visualizer,
    default scope: all named ``<experiment>_<timestamp>``), so that nothing of this run outlives it in the
    process, even when the Runner failed half-built."""
    from mmengine.logging import MessageHub, MMLogger
    from mmengine.registry import DefaultScope
    from mmengine.visualization import Visualizer

    from mmseg.visualization import SegLocalVisualizer

    if runner is not None:
        # persistent DataLoader workers outlive the run otherwise; a later run in this process (a sweep's next
        # job) then stalled ~30 s forking its own beside them
        for loop in (getattr(runner, name, None) for name in ("_train_loop", "_val_loop", "_test_loop")):
            loader = getattr(loop, "dataloader", None)
            iterator = getattr(loader, "_iterator", None)
            if iterator is not None and hasattr(iterator, "_shutdown_workers"):
                iterator._shutdown_workers()
                loader._iterator = None
        for backend in getattr(runner.visualizer, "_vis_backends", {}).values():
            close = getattr(backend, "close", None)
            if close is not None:
                close()
    # each ManagerMixin class keeps its own instances
    for manager in (MMLogger, MessageHub, Visualizer, SegLocalVisualizer, DefaultScope):
        instances = getattr(manager, "_instance_dict", {})
        for name in [n for n in instances if n.startswith(experiment)]:
            instance = instances.pop(name)
            for handler in list(getattr(instance, "handlers", [])) if isinstance(instance, logging.Logger) else []:
                if isinstance(handler, logging.FileHandler):
                    handler.close()
                    instance.removeHandler(handler)
