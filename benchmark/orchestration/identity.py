"""Run identity: the hashes that name a pretraining's weights and a run's record.

The *pretraining key* holds everything that shapes the trained weights (the method's options and
version, the backbone, the schedule, the seed, the generator and the real data it consumes) and not
the task, so ``task=a`` then ``task=b`` pretrain once; its hash names
``<paths.artifacts>/pretrain/<method>-<hash>/``. The *run key* adds the task and the preset's eval
limits (and the generator, for a task that reads it: ``Task.uses_generator``); its hash names the record
``<paths.results>/<preset>/<task>/<method>-<hash>.json``.

An anchor (a method that does not train and declares ``shaped_by``: raw pixels, the random-init backbone)
has no pretraining: its key (``anchor_key``, in place of the pretraining key) holds only what shapes its
features: the images it is shown (the data, which fixes their channels and size, and ``augment.crop_size``),
the seed, and the sections it names (random init: the backbone). So ``pretrain.*``, the method that asked
for it, the generator, the objective or the rest of ``augment`` never evaluate it again.

Where data lives (``root``, ``cache_dir``, ``download``) is not identity. Neither is an option declared
after records existed while it holds the value every earlier run had (``NEUTRAL_DEFAULTS``): declaring
a default must not re-key every cached artifact and record.
"""
from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from benchmark.artifacts import artifact_dir, config_hash
from benchmark.orchestration.resources import pretraining_processes
from benchmark.pretraining.distributed import objective_key
from benchmark.registry import METHODS, TASKS
from benchmark.reporting.records import record_path

DATA_LOCATION_KEYS = ("root", "cache_dir", "download")  # where data lives does not change results
# options declared after records existed, at the value every earlier run had, per config section
# (``method``: per method name)
NEUTRAL_DEFAULTS = {
    "pretrain": {"precision": "float32", "deterministic": False, "lr_schedule": "per_step", "steps_per_epoch": None,
                 "autocast": "bfloat16"},
    "backbone": {"zero_init_residual": False, "input_norm": "none"},
    "augment": {"crop_size": None, "synthetic": "per_sample", "blur_p": 0.5, "blur_kernel": None},
    "method": {"simsiam": {"projector_layers": 2}},
    "task": {"backend": "builtin", "auxiliary_weight": 0.4},
}


def plain(cfg) -> dict:
    """A resolved config as plain containers (a Hydra DictConfig is resolved first)."""
    return OmegaConf.to_container(cfg, resolve=True) if isinstance(cfg, DictConfig) else cfg


def method_config(cfg: dict, method_cls):
    """The method's config dataclass; an option declared after a record was written takes the value the
    record's run had (``NEUTRAL_DEFAULTS``), so every committed config still builds."""
    neutral = NEUTRAL_DEFAULTS["method"].get(cfg["method"]["name"], {})
    return method_cls.make_config({**neutral, **{k: v for k, v in cfg["method"].items() if k != "name"}})


def _data_identity(data_cfg: dict) -> dict:
    return {k: v for k, v in data_cfg.items() if k not in DATA_LOCATION_KEYS}


def _without_neutral(section: dict, neutral: dict) -> dict:
    return {k: v for k, v in section.items() if k not in neutral or v != neutral[k]}


def anchor_key(cfg: dict, method_cls) -> dict:
    """What shapes the features of a method that does not train and reads only the images (``shaped_by``):
    which images it is shown (the data's identity fixes their channels and size; ``augment.crop_size`` the
    size they are evaluated at where a task takes the pretraining size), the seed, and the config sections it
    names (random init: the backbone, without options at their ``NEUTRAL_DEFAULTS``)."""
    key = {"anchor": cfg["method"]["name"], "method_class": f"{method_cls.__module__}.{method_cls.__qualname__}",
           "method_version": method_cls.version, "seed": cfg["seed"],
           "images": {"data": _data_identity(cfg["data"]), "crop_size": (cfg.get("augment") or {}).get("crop_size")}}
    for section in method_cls.shaped_by:
        key[section] = _without_neutral(cfg[section], NEUTRAL_DEFAULTS.get(section, {}))
    return key


def pretraining_key(cfg: dict, method_cls) -> dict:
    """Everything that shapes the pretrained weights; its hash names the artifact. For an anchor (no training,
    ``shaped_by`` declared): ``anchor_key``, what shapes its features."""
    if not method_cls.needs_training and method_cls.shaped_by is not None:
        return anchor_key(cfg, method_cls)
    sources = method_cls.consumed_sources(method_config(cfg, method_cls))
    uses_generator, uses_real = "generator" in sources, "real" in sources
    key = {"method": _without_neutral(cfg["method"], NEUTRAL_DEFAULTS["method"].get(cfg["method"]["name"], {})),
           "backbone": _without_neutral(cfg["backbone"], NEUTRAL_DEFAULTS["backbone"]),
           "pretrain": _without_neutral(cfg["pretrain"], NEUTRAL_DEFAULTS["pretrain"]),
           "seed": cfg["seed"], "generator": cfg["generator"] if uses_generator else None,
           "data": _data_identity(cfg["data"]),  # fixes the image shape even when no real image is used
           "real_data_used": uses_real, "method_class": f"{method_cls.__module__}.{method_cls.__qualname__}",
           "method_version": method_cls.version}
    augment = _without_neutral(cfg.get("augment") or {}, NEUTRAL_DEFAULTS["augment"])
    if augment:  # a section declared after records existed: in the key only where it changes something
        key["augment"] = augment
    # several processes train what one does unless per-process statistics were asked for (a config from
    # before the ``distributed`` section existed was one process, where the switches change nothing)
    processes = pretraining_processes(cfg)
    data_parallel = objective_key(processes, **cfg["distributed"]) if processes > 1 else None
    if data_parallel is not None and method_cls.needs_training:
        key["data_parallel"] = data_parallel
    return key


def pretraining_hash(cfg: dict) -> str:
    return config_hash(pretraining_key(cfg, METHODS.get(cfg["method"]["name"])))


def run_key(cfg: dict) -> dict:
    key = {"pretraining": pretraining_key(cfg, METHODS.get(cfg["method"]["name"])),
           "task": _without_neutral(cfg["task"], NEUTRAL_DEFAULTS["task"]), "eval": cfg["eval"]}
    if TASKS.get(cfg["task"]["name"]).uses_generator:  # the task reads the generator whatever the method does
        key["task_generator"] = cfg["generator"]
    return key


def run_hash(cfg: dict) -> str:
    return config_hash(run_key(cfg))


def pretraining_dir(cfg: dict) -> Path:
    """Where this config's pretraining writes (weights, checkpoints, metrics)."""
    method_cls = METHODS.get(cfg["method"]["name"])
    return artifact_dir(cfg["paths"]["artifacts"], "pretrain", cfg["method"]["name"], pretraining_key(cfg, method_cls))


def pretrained_weights(cfg: dict) -> Path | None:
    """Where this config's pretrained weights are (or will be); None for a method that does not train."""
    if not METHODS.get(cfg["method"]["name"]).needs_training:
        return None
    return pretraining_dir(cfg) / "method.pt"


def expected_record_path(cfg: dict) -> Path:
    """Where the record of this config is (or will be) written."""
    cfg = plain(cfg)
    probe = {"preset": cfg["preset"], "task": cfg["task"]["name"], "method": cfg["method"]["name"],
             "run_hash": run_hash(cfg)}
    return record_path(Path(cfg["paths"]["results"]), probe)
