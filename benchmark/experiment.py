"""One experiment: build -> pretrain (or reuse) -> evaluate -> record -> leaderboard.

``launch.py`` composes the config with Hydra and calls ``run_experiment``. Pretraining is keyed by a
hash of everything that shapes the trained weights (method, the generator and real data it consumes,
backbone, schedule, seed) and not of the task, so ``task=a`` then ``task=b`` pretrains once.
A record is written only after the task has finished: a run that fails leaves no partial record.
"""
from __future__ import annotations

import contextlib
import copy
import json
import logging
import os
import platform
import time
from pathlib import Path

import torch
from omegaconf import DictConfig, OmegaConf

from benchmark import preemption
from benchmark.artifacts import artifact_dir, atomic_torch_save, atomic_write_text, config_hash, exclusive
from benchmark.augment import make_augment
from benchmark.backbones import build_backbone
from benchmark.boards import render_board, write_board_entry
from benchmark.suite_board import is_suite_record, render_suite_board
from benchmark.data import build_dataset
from benchmark.distributed import from_environment, launcher_rank, objective_key
from benchmark.engine import pretrain, remove_checkpoints
from benchmark.generators import build_generator
from benchmark.interfaces import MethodContext, TaskContext
from benchmark.leaderboard import ANCHOR_LABELS, render_leaderboard
from benchmark.registry import METHODS, TASKS
from benchmark.results import describe_device, git_commit, library_versions, record_path, write_record

log = logging.getLogger(__name__)
REPO_DIR = Path(__file__).resolve().parent.parent
DATA_LOCATION_KEYS = ("root", "cache_dir", "download")  # where data lives does not change results
ANCHOR_METHODS = tuple(ANCHOR_LABELS)  # methods/anchors.py


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError(f"device={name} was asked for but torch sees no CUDA device; use device=cpu or auto")
    return torch.device(name)


def _data_identity(data_cfg: dict) -> dict:
    return {k: v for k, v in data_cfg.items() if k not in DATA_LOCATION_KEYS}


def method_config(cfg: dict, method_cls):
    return method_cls.make_config({k: v for k, v in cfg["method"].items() if k != "name"})


def pretraining_processes(cfg: dict) -> int:
    """How many data-parallel processes pretrain this config: the cluster's pretraining job size, or the
    launcher's (torchrun) WORLD_SIZE when the run is in this process."""
    cluster = cfg.get("cluster") or {"name": "none"}
    if cluster["name"] == "slurm":
        return cluster.get("pretrain_nodes", 1) * max(1, cluster.get("pretrain_gpus_per_node", 1))
    if cluster["name"] == "local":
        return cluster.get("pretrain_processes", 1)
    return int(os.environ.get("WORLD_SIZE", "1"))


def pretraining_key(cfg: dict, method_cls) -> dict:
    """Everything that shapes the pretrained weights; its hash names the artifact."""
    sources = method_cls.consumed_sources(method_config(cfg, method_cls))
    uses_generator, uses_real = "generator" in sources, "real" in sources
    key = {"method": cfg["method"], "backbone": cfg["backbone"], "pretrain": cfg["pretrain"], "seed": cfg["seed"],
           "generator": cfg["generator"] if uses_generator else None,
           "data": _data_identity(cfg["data"]),  # fixes the image shape even when no real image is used
           "real_data_used": uses_real, "method_class": f"{method_cls.__module__}.{method_cls.__qualname__}",
           "method_version": method_cls.version}
    # several processes train what one does unless per-process statistics were asked for
    data_parallel = objective_key(pretraining_processes(cfg), **cfg.get("distributed", {}))
    if data_parallel is not None and method_cls.needs_training:
        key["data_parallel"] = data_parallel
    return key


def run_experiment(hydra_cfg: DictConfig) -> dict:
    """Run one (method, task) experiment and return its record; then refresh the preset's leaderboard."""
    cfg = OmegaConf.to_container(hydra_cfg, resolve=True)
    record = _record(cfg)
    if record is None:
        return None  # a data-parallel helper process: its part (pretraining) is done
    if cfg.get("anchors", True) and record["method"] not in ANCHOR_METHODS:
        for anchor in TASKS.get(cfg["task"]["name"]).anchors:
            _ensure_anchor(cfg, anchor)
    board = refresh_boards(cfg, record)
    metric = record["metrics"][record["headline"]]
    log.info("%s on %s: %s = %.2f; leaderboard: %s", record["method"], record["task"], record["headline"], metric, board)
    print(f"[ganrep] {record['method']} / {record['task']}: {record['headline']} = {metric:.2f} "
          f"(total {record['timings']['total']:.0f} s); leaderboard written to {board}")
    return record


def _record(cfg: dict) -> dict:
    """The record of this config: read back under skip_existing when it exists, else run and written."""
    existing = _expected_record_path(cfg)
    if cfg.get("skip_existing") and existing.exists():
        if launcher_rank() != 0:
            return None  # a data-parallel helper process: the first process reports the record
        log.info("skip_existing: %s is already recorded in %s", cfg["method"]["name"], existing)
        return json.loads(existing.read_text())
    record = _run(cfg)
    if record is not None:
        log.info("result record: %s", write_record(Path(cfg["paths"]["results"]), record))
    return record


def refresh_boards(cfg: dict, record: dict) -> Path:
    """Re-render the preset's leaderboard (and the suite / paper-table boards this record belongs to);
    returns the paper-table board if the record has one, else the preset's leaderboard."""
    boards = boards_of(cfg, record)
    paths = [render_board_file(board) for board in boards]
    return paths[-1] if boards[-1][0] == "table" else paths[0]


def boards_of(cfg: dict, record: dict) -> list[tuple]:
    """The boards this record appears on: (kind, results dir, leaderboards dir, name...), the preset's
    leaderboard first. Files the record's paper-table entry on the way."""
    results, leaderboards = cfg["paths"]["results"], cfg["paths"]["leaderboards"]
    boards = [("preset", results, leaderboards, cfg["preset"])]
    if is_suite_record(record):  # a column per member dataset, beside the paper's reported rows
        boards.append(("suite", results, leaderboards, record["task"]))
    if cfg.get("board") and cfg["board"].get("task", cfg["task"]["name"]) == cfg["task"]["name"]:
        write_board_entry(Path(results), cfg["preset"], cfg["board"], record)
        boards.append(("table", results, leaderboards, cfg["preset"], cfg["board"]["name"]))
    return boards


def render_board_file(board: tuple) -> Path:
    kind, results, leaderboards, *names = board
    render = {"preset": render_leaderboard, "suite": render_suite_board, "table": render_board}[kind]
    return render(Path(results), Path(leaderboards), *names)


# Stage entries for cluster jobs (benchmark/cluster.py): each takes a resolved config (a dict).
def pretrained_weights(cfg: dict) -> Path | None:
    """Where this config's pretrained weights are (or will be); None for a method that does not train."""
    method_cls = METHODS.get(cfg["method"]["name"])
    if not method_cls.needs_training:
        return None
    key = pretraining_key(cfg, method_cls)
    return artifact_dir(cfg["paths"]["artifacts"], "pretrain", cfg["method"]["name"], key) / "method.pt"


def pretraining_hash(cfg: dict) -> str:
    return config_hash(pretraining_key(cfg, METHODS.get(cfg["method"]["name"])))


def pretrain_only(cfg: dict) -> str:
    """Pretrain (or find cached) the backbone of this config, without evaluating; returns the weights' path."""
    cfg = _plain(cfg)
    weights = pretrained_weights(cfg)
    if weights is None or weights.exists():
        return str(weights)
    _prepare_and_pretrain(cfg)
    return str(weights)


def evaluate_only(cfg: dict) -> dict:
    """Evaluate this config on its task and write its record (its pretraining is expected to be cached);
    anchors and leaderboards are left to their own jobs."""
    cfg = _plain(cfg)
    weights = pretrained_weights(cfg)
    if weights is not None and not weights.exists() and not _expected_record_path(cfg).exists():
        log.warning("no pretrained weights at %s: this evaluation job pretrains first", weights)
    record = _record(cfg)
    if record is None:
        return {"process": "data-parallel helper: pretraining only"}
    return {"method": record["method"], "task": record["task"], "headline": record["headline"],
            "metric": record["metrics"][record["headline"]], "record": str(_expected_record_path(cfg))}


def refresh_all_boards(cfgs: list) -> list:
    """Re-render the boards of every config whose record exists (a failed evaluation leaves none), each
    board once however many records it shows."""
    boards, missing = {}, []
    for cfg in map(_plain, cfgs):
        path = _expected_record_path(cfg)
        if not path.exists():
            missing.append(f"{cfg['method']['name']}/{cfg['task']['name']} seed {cfg['seed']}")
            continue
        boards.update(dict.fromkeys(boards_of(cfg, json.loads(path.read_text()))))
    if missing:
        log.warning("no record (the evaluation failed or was cancelled) for: %s", ", ".join(missing))
    written = sorted({str(render_board_file(board)) for board in boards})
    print(f"[ganrep] leaderboards written: {', '.join(written)}; missing records: {len(missing)}")
    return written


def anchor_configs(cfg: dict) -> list:
    """The anchor configs this config's task is evaluated with (empty when anchors=false or it is an anchor)."""
    if not cfg.get("anchors", True) or cfg["method"]["name"] in ANCHOR_METHODS:
        return []
    out = []
    for anchor in TASKS.get(cfg["task"]["name"]).anchors:
        anchor_cfg = copy.deepcopy(cfg)
        anchor_cfg["method"] = {"name": anchor}
        out.append(anchor_cfg)
    return out


def expected_record_path(cfg: dict) -> Path:
    return _expected_record_path(_plain(cfg))


def _plain(cfg) -> dict:
    return OmegaConf.to_container(cfg, resolve=True) if isinstance(cfg, DictConfig) else cfg


def _ensure_anchor(cfg: dict, anchor: str) -> None:
    """Evaluate an anchor on this task unless a record of the same anchor config exists."""
    anchor_cfg = copy.deepcopy(cfg)
    anchor_cfg["method"] = {"name": anchor}
    if _expected_record_path(anchor_cfg).exists():
        log.info("anchor %s already evaluated on %s", anchor, cfg["task"]["name"])
        return
    log.info("evaluating the anchor %s on %s", anchor, cfg["task"]["name"])
    write_record(Path(cfg["paths"]["results"]), _run(anchor_cfg))


def _expected_record_path(cfg: dict) -> Path:
    """Where the record of this config is (or will be) written."""
    probe = {"preset": cfg["preset"], "task": cfg["task"]["name"], "method": cfg["method"]["name"],
             "run_hash": config_hash(_run_key(cfg))}
    return record_path(Path(cfg["paths"]["results"]), probe)


def _run_key(cfg: dict) -> dict:
    method_cls = METHODS.get(cfg["method"]["name"])
    return {"pretraining": pretraining_key(cfg, method_cls),
            "task": cfg["task"], "eval": cfg["eval"]}


def check_generator_matches_data(generator, real_train, cfg: dict) -> None:
    """The backbone, augmentation and evaluation take the data's image shape; the generator must make it too."""
    made = (generator.image_channels, generator.resolution)
    data = (real_train.channels, real_train.image_size)
    if made != data:
        raise ValueError(
            f"generator {cfg['generator']['name']!r} makes {made[0]}-channel {made[1]} px images but data "
            f"{cfg['data']['name']!r} has {data[0]}-channel {data[1]} px images; choose data of the generator's "
            "shape (e.g. data=cifar10 for a CIFAR-10 StyleGAN2-ADA, generator=small_gan for any data set)")


def _build(cfg: dict, timings: dict, check_task: bool = True) -> dict:
    """The method (with its backbone and generator), the task and its context, before any pretraining."""
    parallel, device = from_environment(resolve_device(cfg["device"]), **cfg.get("distributed", {}))
    method_name = cfg["method"]["name"]
    method_cls = METHODS.get(method_name)
    method_cfg = method_config(cfg, method_cls)
    task_cfg = {k: v for k, v in cfg["task"].items() if k != "name"}
    task = TASKS.get(cfg["task"]["name"])(task_cfg)

    real_train = build_dataset(cfg["data"], "train")  # fails early, with where it looked, if data is missing
    task_ctx = TaskContext(device=device, data_cfg=cfg["data"], cache_dir=cfg["paths"]["data_cache"],
                           eval_cfg=cfg["eval"], datasets_root=cfg["paths"].get("datasets"),
                           features_cache=str(Path(cfg["paths"]["artifacts"]) / "features"),
                           image_channels=real_train.channels, image_size=real_train.image_size)
    if check_task:
        task.check_data(task_ctx)  # the evaluation data too, before any pretraining
    generator = None
    if "generator" in method_cls.consumed_sources(method_cfg):
        t = time.time()
        generator = build_generator(cfg["generator"], cfg["data"], cfg["paths"]["artifacts"], device)
        timings["gan"] = time.time() - t
        timings["gan_reused"] = generator.reused
        check_generator_matches_data(generator, real_train, cfg)

    torch.manual_seed(cfg["seed"])
    backbone = build_backbone(cfg["backbone"], real_train.channels)
    shard = (parallel.rank, parallel.world_size)
    ctx = MethodContext(backbone=backbone, generator=generator, image_channels=real_train.channels,
                        image_size=real_train.image_size,
                        make_augment=lambda **kw: make_augment(real_train.image_size, real_train.channels,
                                                               shard=shard, **kw),
                        gather_batch=parallel.gather_batch)
    method = method_cls(method_cfg, ctx)
    return {"device": device, "method_cls": method_cls, "method": method, "task": task, "task_ctx": task_ctx,
            "generator": generator, "real_train": real_train, "key": _run_key(cfg)["pretraining"],
            "parallel": parallel}


def _pretrain_or_load(cfg: dict, built: dict, timings: dict) -> dict:
    """Pretrain the method (checkpointed, cached by its pretraining hash) or load the cached weights."""
    method_cls, method, parallel = built["method_cls"], built["method"], built["parallel"]
    if not method_cls.needs_training:
        return {}
    method_name = cfg["method"]["name"]
    out_dir = artifact_dir(cfg["paths"]["artifacts"], "pretrain", method_name, built["key"])
    weights = out_dir / "method.pt"
    t = time.time()
    # Concurrent jobs of one pretraining (overlapping sweeps) train it once: the others wait here, then reuse
    # the weights (or resume its checkpoint, if it was preempted). A data-parallel run takes no lock: its
    # processes cannot wait on one between their collectives. Weights already there need no lock (nor a
    # writable artifacts folder).
    lock = exclusive(out_dir / "pretraining") if not (parallel.distributed or weights.exists()) else None
    with lock or contextlib.nullcontext():
        timings["pretrain_reused"] = weights.exists()
        if weights.exists():
            method.load_state_dict(torch.load(weights, map_location="cpu"))
            log.info("reusing pretrained %s from %s", method_name, weights)
            train_stats = json.loads((out_dir / "train_stats.json").read_text())
        else:
            out_dir.mkdir(parents=True, exist_ok=True)
            if parallel.is_main:
                atomic_write_text(out_dir / "config.json", json.dumps(built["key"], indent=2, default=str))
            log.info("pretraining %s -> %s%s", method_name, out_dir,
                     f" (process {parallel.rank} of {parallel.world_size})" if parallel.distributed else "")
            with preemption.running_steps():  # a preemption signal in the last step is handed on once saved
                train_stats = pretrain(method, built["generator"], built["real_train"], cfg["pretrain"], out_dir,
                                       built["device"], cfg["seed"], parallel)
                if parallel.is_main:
                    atomic_torch_save(method.state_dict(), weights)
                    atomic_write_text(out_dir / "train_stats.json", json.dumps(train_stats, indent=2))
                    remove_checkpoints(out_dir)
    timings["pretrain"] = time.time() - t
    return train_stats


def _prepare_and_pretrain(cfg: dict) -> dict:
    timings = {}
    built = _build(cfg, timings, check_task=False)
    _pretrain_or_load(cfg, built, timings)
    return timings


def _run(cfg: dict) -> dict:
    t_start = time.time()
    timings = {}
    built = _build(cfg, timings)
    method_cls, method, task = built["method_cls"], built["method"], built["task"]
    method_name, generator, device, task_ctx = cfg["method"]["name"], built["generator"], built["device"], built["task_ctx"]
    pretrain_hash = config_hash(built["key"])
    train_stats = _pretrain_or_load(cfg, built, timings)
    if not built["parallel"].is_main:
        return None  # evaluation, the record and the boards are the first process's

    t = time.time()
    metrics = task.run(method.evaluation_backbone(), task_ctx)
    timings["evaluation"] = time.time() - t
    timings["total"] = time.time() - t_start
    return {
        "method": method_name, "task": cfg["task"]["name"], "preset": cfg["preset"], "seed": cfg["seed"],
        "headline": task.headline, "higher_is_better": task.higher_is_better, "metrics": metrics,
        "trained": method_cls.needs_training, "generator": cfg["generator"]["name"] if generator else None,
        "generator_provenance": getattr(generator, "provenance", None) or None,  # e.g. the pickle's SHA-256
        "pretrain_hash": pretrain_hash, "run_hash": config_hash(_run_key(cfg)),
        "method_conventions": method.describe(), "train_stats": train_stats, "timings": timings,
        "config": cfg, "git_commit": git_commit(REPO_DIR), "device": describe_device(device),
        "host": platform.node(), "versions": library_versions(),
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
