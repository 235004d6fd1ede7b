"""One experiment: build -> pretrain (or reuse) -> evaluate -> record -> leaderboards.

``launch.py`` composes the config with Hydra and calls ``run_experiment``. Pretraining is cached under
its pretraining hash (identity.py), which leaves out the task, so ``task=a`` then ``task=b`` pretrains
once. A record is written only after the task has finished: a run that fails leaves no partial record.
"""
from __future__ import annotations

import contextlib
import json
import logging
import platform
import time
from importlib.metadata import packages_distributions
from importlib.metadata import version as distribution_version
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import torch
from omegaconf import DictConfig

from benchmark import preemption
from benchmark.artifacts import atomic_write_text, config_hash, exclusive
from benchmark.verified_artifacts import DamagedArtifactError, load_or_set_aside, load_verified, save_verified
from benchmark.backbones import build_backbone
from benchmark.checkpoints import remove_checkpoints
from benchmark.data import build_dataset
from benchmark.generators import build_generator
from benchmark.interfaces import Generator, Method, MethodContext, Task, TaskContext
from benchmark.orchestration.anchors import anchor_configs
from benchmark.orchestration.quality_stage import generator_quality, matches, requested
from benchmark.orchestration.resources import resolve_device
from benchmark.orchestration.validation import validate_config
from benchmark.orchestration.identity import (
    expected_record_path,
    method_config,
    plain,
    pretraining_dir,
    pretraining_key,
    run_hash,
)
from benchmark.pretraining.augment import make_augment
from benchmark.pretraining.distributed import DataParallel, from_environment, launcher_rank
from benchmark.pretraining.engine import pretrain
from benchmark.registry import METHODS, TASKS
from benchmark.reporting.leaderboards import refresh_leaderboards
from benchmark.reporting.records import describe_device, git_commit, library_versions, write_record

log = logging.getLogger(__name__)
REPO_DIR = Path(__file__).resolve().parents[2]


def student_image_size(cfg: dict, real_train) -> int:
    """The student's input size: the augmentation's crop (``augment.crop_size``), else the real data's size."""
    return cfg["augment"]["crop_size"] or real_train.image_size


def check_generator_matches_data(generator, real_train, cfg: dict) -> None:
    """The backbone, augmentation and evaluation take the data's image shape; the generator must make it too.
    With ``augment.crop_size`` set, the augmentation resizes every image to it, so only the channels must agree
    (the STL-10 recipe: a 128 px generator, 96 px real images, 64 px crops)."""
    made = (generator.image_channels, generator.resolution)
    data = (real_train.channels, real_train.image_size)
    if cfg["augment"]["crop_size"]:
        made, data = made[:1] + (None,), data[:1] + (None,)
    if made != data:
        raise ValueError(
            f"generator {cfg['generator']['name']!r} makes {made[0]}-channel {made[1]} px images but data "
            f"{cfg['data']['name']!r} has {data[0]}-channel {data[1]} px images; choose data of the generator's "
            "shape (e.g. data=cifar10 for a CIFAR-10 StyleGAN2-ADA, generator=small_gan for any data set)")


@dataclass
class Built:
    """What one config builds before any pretraining."""

    device: torch.device
    parallel: DataParallel
    method_cls: type
    method: Method
    task: Task
    task_ctx: TaskContext
    generator: Optional[Generator]
    real_train: object  # the real pretraining set (InMemoryImages)


def build(cfg: dict, timings: dict, check_task: bool = True) -> Built:
    """The method (with its backbone and generator), the task and its context, before any pretraining."""
    parallel, device = from_environment(resolve_device(cfg["device"]), **cfg["distributed"])
    method_cls = METHODS.get(cfg["method"]["name"])
    method_cfg = method_config(cfg, method_cls)
    task = TASKS.get(cfg["task"]["name"])({k: v for k, v in cfg["task"].items() if k != "name"})

    real_train = build_dataset(cfg["data"], "train")  # fails early, with where it looked, if data is missing
    image_size = student_image_size(cfg, real_train)
    task_ctx = TaskContext(device=device, data_cfg=cfg["data"], cache_dir=cfg["paths"]["data_cache"],
                           eval_cfg=cfg["eval"], datasets_root=cfg["paths"].get("datasets"),
                           features_cache=str(Path(cfg["paths"]["artifacts"]) / "features"),
                           work_root=str(Path(cfg["paths"]["artifacts"]) / "tasks"),
                           image_channels=real_train.channels, image_size=image_size)
    if check_task:
        task.check_data(task_ctx)  # the evaluation data too, before any pretraining
    generator = None  # the one the method learns from
    method_uses_generator = "generator" in method_cls.consumed_sources(method_cfg)
    if method_uses_generator or task.uses_generator:
        t = time.time()
        built_generator = build_generator(cfg["generator"], cfg["data"], cfg["paths"]["artifacts"], device)
        timings["gan"] = time.time() - t
        timings["gan_reused"] = built_generator.reused
        check_generator_matches_data(built_generator, real_train, cfg)
        generator = built_generator if method_uses_generator else None
        if task.uses_generator:
            task_ctx.generator = built_generator

    torch.manual_seed(cfg["seed"])
    backbone = build_backbone(cfg["backbone"], real_train.channels)
    shard = (parallel.rank, parallel.world_size)
    augment_cfg = {k: v for k, v in cfg["augment"].items() if k != "crop_size"}
    ctx = MethodContext(backbone=backbone, generator=generator, image_channels=real_train.channels,
                        image_size=image_size,
                        make_augment=lambda source="real", **kw: make_augment(
                            image_size, real_train.channels, augment_cfg, source, shard=shard, **kw),
                        gather_batch=parallel.gather_batch)
    return Built(device=device, parallel=parallel, method_cls=method_cls, method=method_cls(method_cfg, ctx),
                 task=task, task_ctx=task_ctx, generator=generator, real_train=real_train)


def pretrain_or_load(cfg: dict, built: Built, timings: dict) -> dict:
    """Pretrain the method (checkpointed, cached by its pretraining hash) or load the cached weights;
    returns the training statistics.

    ``method.pt`` is a verified artifact (benchmark/verified_artifacts.py: a sha256 sidecar written before it): weights
    that are truncated or altered, or whose sidecar is, are named in a warning, moved aside to
    ``method.pt.damaged-<UTC time>`` and pretrained again, never loaded. Weights written before the sidecars
    existed are accepted once, with a warning, and their digest recorded then."""
    method, parallel = built.method, built.parallel
    if not built.method_cls.needs_training:
        return {}
    method_name = cfg["method"]["name"]
    out_dir = pretraining_dir(cfg)
    weights = out_dir / "method.pt"
    t = time.time()
    # Concurrent jobs of one pretraining (overlapping sweeps) train it once: the others wait here, then reuse
    # the weights (or resume its checkpoint, if it was preempted). A data-parallel run takes no lock: its
    # processes cannot wait on one between their collectives. Weights already there and intact need no lock
    # (nor a writable artifacts folder). Weights that fail this first check are moved aside only under the
    # lock, where no other job can be writing them (a data-parallel run's processes each check, and move).
    state = None
    if weights.exists():
        try:
            state = load_verified(weights)
        except DamagedArtifactError as e:
            log.info("pretrained weights %s do not verify (%s); checking again under the lock", weights, e.reason)
    lock = exclusive(out_dir / "pretraining") if not (parallel.distributed or state is not None) else None
    with lock or contextlib.nullcontext():
        if state is None:
            state = load_or_set_aside(weights, "pretrained weights", f"pretraining {method_name} again")
        timings["pretrain_reused"] = state is not None
        if state is not None:
            method.load_state_dict(state)
            log.info("reusing pretrained %s from %s", method_name, weights)
            train_stats = json.loads((out_dir / "train_stats.json").read_text())
        else:
            out_dir.mkdir(parents=True, exist_ok=True)
            if parallel.is_main:
                key = pretraining_key(cfg, built.method_cls)
                atomic_write_text(out_dir / "config.json", json.dumps(key, indent=2, default=str))
            log.info("pretraining %s -> %s%s", method_name, out_dir,
                     f" (process {parallel.rank} of {parallel.world_size})" if parallel.distributed else "")
            with preemption.running_steps():  # a preemption signal in the last step is handed on once saved
                train_stats = pretrain(method, built.generator, built.real_train, cfg["pretrain"], out_dir,
                                       built.device, cfg["seed"], parallel)
                if parallel.is_main:  # the statistics first: weights on disk always have theirs
                    atomic_write_text(out_dir / "train_stats.json", json.dumps(train_stats, indent=2))
                    save_verified(method.state_dict(), weights)
                    remove_checkpoints(out_dir)
    timings["pretrain"] = time.time() - t
    return train_stats


def run(cfg: dict) -> Optional[dict]:
    """Build, pretrain or reuse, evaluate: the record of this config (not written yet); None on a
    data-parallel helper process, whose part ends with pretraining."""
    t_start = time.time()
    timings = {}
    built = build(cfg, timings)
    train_stats = pretrain_or_load(cfg, built, timings)
    if not built.parallel.is_main:
        return None  # evaluation, the record and the boards are the first process's

    t = time.time()
    metrics = built.task.run(built.method.evaluation_backbone(), built.task_ctx)
    timings["evaluation"] = time.time() - t
    generator = built.generator
    quality = None
    if requested(cfg) and generator is not None:  # how good the generator this backbone learnt from is
        t = time.time()
        quality = generator_quality(cfg, generator, built.device)
        timings["quality"] = time.time() - t
    timings["total"] = time.time() - t_start
    return {
        "method": cfg["method"]["name"], "task": cfg["task"]["name"], "preset": cfg["preset"], "seed": cfg["seed"],
        "headline": built.task.headline, "higher_is_better": built.task.higher_is_better, "metrics": metrics,
        "trained": built.method_cls.needs_training, "generator": cfg["generator"]["name"] if generator else None,
        "generator_provenance": getattr(generator, "provenance", None) or None,  # e.g. the pickle's SHA-256
        "generator_quality": quality,  # quality.measure of that generator (quality_stage.py); None: not asked for
        "pretrain_hash": config_hash(pretraining_key(cfg, built.method_cls)), "run_hash": run_hash(cfg),
        "method_conventions": built.method.describe(), "method_source": method_source(built.method_cls),
        # the images the backbone was shown against the dataset's own (converted: e.g. RGB shown in gray)
        "evaluation_images": built.task.evaluation_images(built.task_ctx),
        "task_recipe": built.task.recipe(built.task_ctx),  # which framework and protocol produced the number
        "train_stats": train_stats, "timings": timings,
        "config": cfg, "git_commit": git_commit(REPO_DIR), "device": describe_device(built.device),
        "host": platform.node(), "versions": library_versions(),
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def method_source(method_cls: type) -> dict:
    """Where the method's code comes from: its module, and the installed distribution (name, version) that
    ships it (the plugin's entry point's, else the one that owns the module), so a plugin's result says
    which release of the plugin produced it."""
    module = method_cls.__module__
    source = {"module": module, "class": method_cls.__qualname__, "distribution": None, "version": None}
    found = METHODS.distribution(method_cls.name)
    if found is None:
        names = packages_distributions().get(module.split(".")[0], [])
        found = (names[0], distribution_version(names[0])) if names else None
    if found is not None:
        source["distribution"], source["version"] = found
    return source


def record_of(cfg: dict) -> Optional[dict]:
    """The record of this config: read back under skip_existing when it exists, else run and written."""
    existing = expected_record_path(cfg)
    if cfg.get("skip_existing") and existing.exists():
        if launcher_rank() != 0:
            return None  # a data-parallel helper process: the first process reports the record
        log.info("skip_existing: %s is already recorded in %s", cfg["method"]["name"], existing)
        record = json.loads(existing.read_text())
        if requested(cfg) and record.get("generator") and not matches(record.get("generator_quality"), cfg,
                                                                     record.get("generator_provenance")):
            add_generator_quality(cfg, record)
        return record
    record = run(cfg)
    if record is not None:
        log.info("result record: %s", write_record(Path(cfg["paths"]["results"]), record))
    return record


def add_generator_quality(cfg: dict, record: dict) -> None:
    """Measure the generator of an existing record (``quality.measure``, asked for after it was run) and
    rewrite the record with it; the run itself is not repeated."""
    device = resolve_device(cfg["device"])
    generator = build_generator(cfg["generator"], cfg["data"], cfg["paths"]["artifacts"], device)
    record["generator_quality"] = generator_quality(cfg, generator, device)
    log.info("added %s to %s", cfg["quality"]["measure"], write_record(Path(cfg["paths"]["results"]), record))


def ensure_anchors(cfg: dict) -> None:
    """Evaluate this config's anchors on its task, each unless it has a record already. An anchor's record is
    named by what shapes it alone (the task, the eval limits, the images it is shown, the seed, and random
    init's backbone: identity.anchor_key), so a change to pretrain.*, the method or the generator finds it."""
    for anchor_cfg in anchor_configs(cfg):
        anchor, task = anchor_cfg["method"]["name"], cfg["task"]["name"]
        existing = expected_record_path(anchor_cfg)
        if existing.exists():
            log.info("anchor %s already evaluated on %s (seed %s): %s", anchor, task, cfg["seed"], existing)
            continue
        log.info("evaluating the anchor %s on %s", anchor, task)
        write_record(Path(cfg["paths"]["results"]), run(anchor_cfg))


def run_experiment(hydra_cfg: DictConfig) -> Optional[dict]:
    """Run one (method, task) experiment and return its record; then refresh its leaderboards."""
    cfg = plain(hydra_cfg)
    validate_config(cfg)  # every bad value at once, before any data, GAN or pretraining work
    record = record_of(cfg)
    if record is None:
        return None  # a data-parallel helper process: its part (pretraining) is done
    ensure_anchors(cfg)
    board = refresh_leaderboards(cfg, record)
    metric = record["metrics"][record["headline"]]
    log.info("%s on %s: %s = %.2f; leaderboard: %s", record["method"], record["task"], record["headline"], metric, board)
    print(f"[ganrep] {record['method']} / {record['task']}: {record['headline']} = {metric:.2f} "
          f"(total {record['timings']['total']:.0f} s); leaderboard written to {board}")
    return record
